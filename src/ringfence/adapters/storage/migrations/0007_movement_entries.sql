-- ringfence schema 7: withdrawal policies and withdrawals in the journal.
--
-- Policy versions (drafted, approved, published) are journal entries of kind 14 and
-- withdrawals through their lifecycle (requested, decided, approved, held, built, signed,
-- broadcast, confirmed, posted, voided) of kind 15 (core/ledger/journal.py, EntryKind). Like
-- the registry's entries they live only in the journal and are replayed on load, so there is
-- no projection table; a withdrawal's ledger hold is an ordinary pending transfer.

ALTER TABLE journal DROP CONSTRAINT IF EXISTS journal_kind_check;
ALTER TABLE journal ADD CONSTRAINT journal_kind_check CHECK (kind BETWEEN 1 AND 15);
