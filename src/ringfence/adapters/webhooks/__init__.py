"""Webhooks: where subscriptions are kept (``sqlite.py``, ``memory.py``) and how a signed
message is posted to a receiver (``http.py``)."""
