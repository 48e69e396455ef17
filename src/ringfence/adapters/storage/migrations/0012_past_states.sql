-- ringfence schema 12: snapshots of the past, persisted.
--
-- The service's snapshots of the engine's whole state at past journal entries, which past
-- (as_of) reads replay from (service/ledger/past.py), kept beside the ledger so that a
-- restarted service starts from them. Each is encoded, bound to its entry's hash and signed
-- with the journal key (service/ledger/past_seal.py); the service checks every one on load and
-- ignores one that fails. Derived state, like the checkpoint tables: the application role may
-- write and forget them; at most limits.as_of_snapshots_max are kept.

CREATE TABLE past_states (
    seq BIGINT PRIMARY KEY CHECK (seq > 0),
    entry_hash BYTEA NOT NULL,
    body BYTEA NOT NULL,
    signature BYTEA NOT NULL
);

DO $$
DECLARE
    here TEXT := quote_ident(current_schema());
BEGIN
    IF EXISTS (SELECT FROM pg_roles WHERE rolname = 'ringfence_app') THEN
        EXECUTE 'GRANT SELECT, INSERT, UPDATE, DELETE ON ' || here || '.past_states '
            || 'TO ringfence_app';
    END IF;
END $$;
