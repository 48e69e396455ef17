"""The demo: a synthetic custodian and venue built through the services (its own layer)."""
