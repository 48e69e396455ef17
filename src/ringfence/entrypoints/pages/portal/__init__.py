"""The client portal: pages for the ``client`` role (routes.py, views.py, templates/)."""
