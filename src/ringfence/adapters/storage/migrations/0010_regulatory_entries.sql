-- ringfence schema 10: regulatory checks in the journal.
--
-- A residual-interest deadline check is journaled as an entry of kind 22
-- (core/ledger/journal.py, EntryKind.residual_deadlines; records in
-- core/regulatory/records.py) with the facts its statuses are computed from, so that a breach
-- is an event of the journal; kind 23 is the sub-custodian register (17-21 are the venue's, schema
-- 9), so the check admits every kind up to 23. No projection table: the entries are
-- read from the journal.

ALTER TABLE journal DROP CONSTRAINT IF EXISTS journal_kind_check;
ALTER TABLE journal ADD CONSTRAINT journal_kind_check CHECK (kind BETWEEN 1 AND 23);
