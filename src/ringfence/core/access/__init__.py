"""Who may do what through the service: roles' permissions, the actor a request acts as, and
the shape of API keys (``roles.py``, ``keys.py``). Pure: no hashing of secrets, no clock."""
