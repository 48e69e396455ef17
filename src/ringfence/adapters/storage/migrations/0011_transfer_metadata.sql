-- ringfence schema 11: transfers' metadata.
--
-- A transfer may carry a few key/value pairs (a deposit's chain txid, an external reference, a
-- memo: core/ledger/metadata.py). They are part of the journal body (the metadata section after
-- the evidence, core/ledger/journal.py), so they are hashed and signed with their entry; this
-- table is their projection, one row per pair keyed by the transfer's timestamp (as the
-- transfer's own row is), for lists filtered by pair through an index instead of a walk of
-- every transfer. Append-only like the transfer projection; ``audit verify`` compares every
-- row with the journal. Journals written before hold no metadata: the table starts empty.

CREATE TABLE transfer_metadata (
    timestamp BIGINT NOT NULL CHECK (timestamp >= 0),
    key TEXT COLLATE "C" NOT NULL CHECK (length(key) BETWEEN 1 AND 32),
    value TEXT NOT NULL CHECK (octet_length(value) BETWEEN 1 AND 256),
    PRIMARY KEY (timestamp, key)
);
CREATE INDEX transfer_metadata_by_pair ON transfer_metadata (key, value, timestamp);

CREATE TRIGGER transfer_metadata_is_append_only BEFORE UPDATE OR DELETE ON transfer_metadata
    FOR EACH ROW EXECUTE FUNCTION ringfence_refuse_change();
CREATE TRIGGER transfer_metadata_is_not_truncated BEFORE TRUNCATE ON transfer_metadata
    FOR EACH STATEMENT EXECUTE FUNCTION ringfence_refuse_change();

DO $$
DECLARE
    here TEXT := quote_ident(current_schema());
BEGIN
    IF EXISTS (SELECT FROM pg_roles WHERE rolname = 'ringfence_app') THEN
        EXECUTE 'GRANT SELECT, INSERT ON ' || here || '.transfer_metadata TO ringfence_app';
        EXECUTE 'REVOKE UPDATE, DELETE, TRUNCATE ON ' || here || '.transfer_metadata '
            || 'FROM ringfence_app';
    END IF;
END $$;
