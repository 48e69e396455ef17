"""File formats on the local file system, behind the service's ports (service/ports.py)."""
