"""The answers to writes made with an Idempotency-Key: in a SQLite file beside the database
(``sqlite.py``) or in memory (``memory.py``)."""
