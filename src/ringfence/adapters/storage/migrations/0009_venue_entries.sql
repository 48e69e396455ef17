-- ringfence schema 9: the venue's book in the journal.
--
-- Instruments (with the book's settings), margin buckets (with the takers of close orders),
-- fills, positions set by a settlement or a liquidation, and market data with the volatility
-- model's closes and postings are journaled as entries of kinds 17-21 (core/ledger/journal.py,
-- EntryKind; core/venue/codec.py encodes them), replayed on load: no projection table. A fill
-- entry and the transfers entry of its fees are appended in one transaction.

ALTER TABLE journal DROP CONSTRAINT IF EXISTS journal_kind_check;
ALTER TABLE journal ADD CONSTRAINT journal_kind_check CHECK (kind BETWEEN 1 AND 21);
