"""The venue's book in the journal: instruments, buckets, fills, positions and market data as
journal entries (``codec``), and the book rebuilt by replaying them (``book``). Pure."""
