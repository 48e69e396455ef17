"""The ledger: accounts, transfers, the segregation rules, the journal and its wire forms."""
