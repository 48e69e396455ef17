-- ringfence schema 3: the wallet registry's journal entries.
--
-- Wallet definitions, designations, address assignments and encumbrances are journal entries
-- of kinds 6 to 9 (core/journal.py, EntryKind). They live only in the journal: the service
-- replays them on load, so there is no projection table to keep in step.

ALTER TABLE journal DROP CONSTRAINT IF EXISTS journal_kind_check;
ALTER TABLE journal ADD CONSTRAINT journal_kind_check CHECK (kind BETWEEN 1 AND 9);
