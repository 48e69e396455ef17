"""File formats the service reads and writes, each behind a port of service/ports.py."""
