"""HTML pages: the demo report, the reconciliation page, client statements, the verifier."""
