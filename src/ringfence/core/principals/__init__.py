"""Principals (who may act, in which role) and their signed authorisations."""
