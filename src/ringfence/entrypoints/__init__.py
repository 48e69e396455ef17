"""What people and programs call: the ``ringfence`` CLI and, later, the REST API."""
