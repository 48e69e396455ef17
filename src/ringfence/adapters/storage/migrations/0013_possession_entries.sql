-- ringfence schema 13: possession checks in the journal.
--
-- A recorded possession check is journaled as an entry of kind 24
-- (core/ledger/journal.py, EntryKind.possession_checks; records in
-- core/regulatory/possession_breaks.py) with the possession breaks it opened, carried or
-- closed, so that a break keeps its first-seen time and age from check to check. The check
-- admits every kind up to 24. No projection table: the entries are read from the journal.

ALTER TABLE journal DROP CONSTRAINT IF EXISTS journal_kind_check;
ALTER TABLE journal ADD CONSTRAINT journal_kind_check CHECK (kind BETWEEN 1 AND 24);
