-- ringfence schema 6: principals and their keys in the journal.
--
-- Principals (who may authorise a client's movement, with which Ed25519 key, endorsed by which
-- admin) are journal entries of kind 13 (core/journal.py, EntryKind; kind 12 is reserved for
-- the journal's own keys). Like the registry's entries they live only in the journal and are
-- replayed on load, so there is no projection table. The evidence of each authorised transfer
-- (the principal's number and signature) travels in its entry's body, after the records the
-- transfer rows are copied from.

ALTER TABLE journal DROP CONSTRAINT IF EXISTS journal_kind_check;
ALTER TABLE journal ADD CONSTRAINT journal_kind_check CHECK (kind BETWEEN 1 AND 13);
