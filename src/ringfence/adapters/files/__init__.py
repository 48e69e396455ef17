"""File stores behind the service's ports: what a firm keeps in a directory of its own
rather than in the ledger's database (proof-of-reserves rounds)."""
