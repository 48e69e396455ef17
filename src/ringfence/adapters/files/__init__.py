"""File formats read and written for the service, each behind a port of service/ports.py."""
