"""Ledger stores: in memory and SQLite, behind ``ringfence.service.ports.LedgerStore``."""
