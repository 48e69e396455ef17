"""Events: typed views of committed journal entries (``catalogue.py``) and the rules of their
webhook delivery (``webhooks.py``: subscriptions, positions, the retry schedule). Pure: the
journal is read, the clock asked and the HTTP requests made by the service and its adapters.
docs/events.md says why the journal itself is the outbox."""
