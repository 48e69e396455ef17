"""The operator console: pages for the firm's staff (routes.py, views.py, templates/)."""
