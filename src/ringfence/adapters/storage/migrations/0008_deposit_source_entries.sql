-- ringfence schema 8: where each detected deposit came from on chain.
--
-- A deposit's transfer id is a hash of its chain, chain reference and address, so the chain
-- transaction cannot be read back from the transfer. Each credited deposit's reference
-- (``txid:vout`` on Bitcoin; the transaction hash, or ``hash:log_index`` for a token, on
-- Ethereum) is journaled as an entry of kind 16 (core/ledger/journal.py, EntryKind), a
-- registry entry replayed on load like the others: no projection table.

ALTER TABLE journal DROP CONSTRAINT IF EXISTS journal_kind_check;
ALTER TABLE journal ADD CONSTRAINT journal_kind_check CHECK (kind BETWEEN 1 AND 16);
