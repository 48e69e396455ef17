"""File formats kept beside the database, behind the service's ports (service/ports.py):
proof-of-reserves rounds, the venue's risk book, reconciliation inputs, JSON-lines files."""
