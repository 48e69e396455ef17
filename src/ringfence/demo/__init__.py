"""The demo: a synthetic custodian and venue run through the services for one day."""
