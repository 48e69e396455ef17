-- ringfence schema 5: every journal entry signed with the journal key.
--
-- An entry's signature is the journal key's Ed25519 signature over its sequence number and
-- hash (core/journal.py, head_message); the key is declared in the journal by entries of kind
-- 12 (journal_keys). Entries written before a journal's first key keep an empty signature:
-- the first key's declaration vouches for them, because its hash chains over them.

ALTER TABLE journal ADD COLUMN signature BYTEA NOT NULL DEFAULT ''::bytea
    CHECK (length(signature) IN (0, 64));
ALTER TABLE journal DROP CONSTRAINT IF EXISTS journal_kind_check;
ALTER TABLE journal ADD CONSTRAINT journal_kind_check CHECK (kind BETWEEN 1 AND 12);
