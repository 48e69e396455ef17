"""Custody: wallets, addresses, holdings and proof of control (pure; no I/O)."""
