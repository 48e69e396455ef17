-- ringfence schema 4: reconciliation runs and break actions in the journal.
--
-- Each reconciliation run (its coverage lines and the breaks it opened, aged or cured) and
-- each operator's action on a break are journal entries of kinds 10 and 11 (core/journal.py,
-- EntryKind; core/recon/codec.py encodes them). Like the registry's entries they live only in
-- the journal, hash-chained with everything else, and are replayed on load.

ALTER TABLE journal DROP CONSTRAINT IF EXISTS journal_kind_check;
ALTER TABLE journal ADD CONSTRAINT journal_kind_check CHECK (kind BETWEEN 1 AND 11);
