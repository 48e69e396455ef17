"""File formats kept beside the database: proof-of-reserves rounds, the venue's risk book."""
