"""The pure domain: money, limits, result codes, the ledger engine and its journal. No I/O."""
