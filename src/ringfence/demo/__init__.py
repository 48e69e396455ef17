"""The demo: a synthetic custodian and venue built through the services, and their day (day.py)."""
