-- ringfence schema 1: the hash-chained journal, its projections and the checkpoint tables.
--
-- Every u128 (ids, amounts, balances) is the domain u128: NUMERIC(39,0) with 0 <= x < 2^128,
-- exact and checked by the database. The journal and the transfer projection are append-only:
-- triggers refuse UPDATE, DELETE and TRUNCATE. An entry that does not extend the chain head is
-- refused by the trigger journal_extends_head, which first takes the writer lock of this
-- schema (pg_advisory_xact_lock), so concurrent writers are serialised and the chain stays one.

CREATE DOMAIN u128 AS NUMERIC(39, 0)
    CHECK (VALUE >= 0 AND VALUE < 340282366920938463463374607431768211456);

CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);

CREATE TABLE journal (
    seq BIGINT PRIMARY KEY CHECK (seq > 0),
    kind SMALLINT NOT NULL CHECK (kind BETWEEN 1 AND 5),
    timestamp BIGINT NOT NULL CHECK (timestamp >= 0),
    body BYTEA NOT NULL CHECK (length(body) >= 32),
    previous_hash BYTEA NOT NULL CHECK (length(previous_hash) = 32),
    hash BYTEA NOT NULL CHECK (length(hash) = 32),
    records INTEGER NOT NULL CHECK (records >= 0)
);
-- Bodies are hashes and fixed-width integers: compressing them costs time and saves nothing.
ALTER TABLE journal ALTER COLUMN body SET STORAGE EXTERNAL;

CREATE TABLE transfers (
    timestamp BIGINT PRIMARY KEY CHECK (timestamp >= 0),
    id u128 NOT NULL UNIQUE,
    debit_account u128 NOT NULL,
    credit_account u128 NOT NULL,
    amount u128 NOT NULL,
    pending_id u128 NOT NULL,
    reference u128 NOT NULL,
    authoriser u128 NOT NULL CHECK (authoriser < 18446744073709551616),
    timeout_s BIGINT NOT NULL CHECK (timeout_s BETWEEN 0 AND 4294967295),
    asset BIGINT NOT NULL CHECK (asset BETWEEN 0 AND 4294967295),
    code INTEGER NOT NULL CHECK (code BETWEEN 0 AND 65535),
    flags INTEGER NOT NULL CHECK (flags BETWEEN 0 AND 65535),
    seq BIGINT NOT NULL
);

CREATE TABLE assets (
    code TEXT PRIMARY KEY,
    number BIGINT NOT NULL UNIQUE CHECK (number BETWEEN 0 AND 4294967295),
    scale SMALLINT NOT NULL CHECK (scale BETWEEN 0 AND 38),
    chain TEXT NOT NULL,
    contract TEXT NOT NULL,
    seq BIGINT NOT NULL,
    ordinal INTEGER NOT NULL
);
CREATE TABLE clients (
    name TEXT PRIMARY KEY,
    number BIGINT NOT NULL UNIQUE CHECK (number > 0),
    seq BIGINT NOT NULL
);
CREATE TABLE pools (
    name TEXT PRIMARY KEY,
    kind TEXT NOT NULL,
    terms TEXT NOT NULL,
    purpose TEXT NOT NULL,
    client TEXT NOT NULL,
    seq BIGINT NOT NULL,
    ordinal INTEGER NOT NULL
);
CREATE TABLE accounts (
    id u128 PRIMARY KEY,
    asset TEXT NOT NULL,
    class TEXT NOT NULL,
    owner TEXT NOT NULL,
    kind TEXT NOT NULL,
    pool TEXT NOT NULL,
    seq BIGINT NOT NULL,
    ordinal INTEGER NOT NULL,
    debits_pending u128 NOT NULL DEFAULT 0,
    debits_posted u128 NOT NULL DEFAULT 0,
    credits_pending u128 NOT NULL DEFAULT 0,
    credits_posted u128 NOT NULL DEFAULT 0
);
CREATE INDEX accounts_by_owner ON accounts (owner);
CREATE TABLE pending_transfers (
    id u128 PRIMARY KEY,
    expires_at BIGINT NOT NULL,
    status SMALLINT NOT NULL
);
CREATE TABLE breaks (
    id u128 PRIMARY KEY,
    pool TEXT NOT NULL,
    asset BIGINT NOT NULL,
    amount u128 NOT NULL,
    cured u128 NOT NULL,
    opened_at BIGINT NOT NULL
);
CREATE TABLE reversals (id u128 PRIMARY KEY, amount u128 NOT NULL);

CREATE FUNCTION ringfence_refuse_change() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION '% is append-only: % refused (post a reversal instead)',
        TG_TABLE_NAME, TG_OP USING ERRCODE = 'insufficient_privilege';
END $$;

CREATE TRIGGER journal_is_append_only BEFORE UPDATE OR DELETE ON journal
    FOR EACH ROW EXECUTE FUNCTION ringfence_refuse_change();
CREATE TRIGGER journal_is_not_truncated BEFORE TRUNCATE ON journal
    FOR EACH STATEMENT EXECUTE FUNCTION ringfence_refuse_change();
CREATE TRIGGER transfers_are_append_only BEFORE UPDATE OR DELETE ON transfers
    FOR EACH ROW EXECUTE FUNCTION ringfence_refuse_change();
CREATE TRIGGER transfers_are_not_truncated BEFORE TRUNCATE ON transfers
    FOR EACH STATEMENT EXECUTE FUNCTION ringfence_refuse_change();

-- The writer lock: one transaction at a time appends to (or checkpoints) this schema's journal.
-- Keyed by the schema, so ledgers in separate schemas of one database do not wait on each other.
CREATE FUNCTION ringfence_lock_writer(schema_name TEXT) RETURNS void LANGUAGE sql AS $$
    SELECT pg_advisory_xact_lock(1919510118, hashtext(schema_name))
$$;

-- Runs under the writer lock; in READ COMMITTED each query here takes a fresh snapshot, so it
-- sees the head another writer committed while this one waited for the lock.
CREATE FUNCTION ringfence_journal_extends_head() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    head_seq BIGINT;
    head_hash BYTEA;
BEGIN
    PERFORM ringfence_lock_writer(TG_TABLE_SCHEMA);
    SELECT seq, hash INTO head_seq, head_hash FROM journal ORDER BY seq DESC LIMIT 1;
    IF NOT FOUND THEN
        head_seq := 0;
        head_hash := '\x0000000000000000000000000000000000000000000000000000000000000000';
    END IF;
    IF NEW.seq <> head_seq + 1 OR NEW.previous_hash <> head_hash THEN
        RAISE EXCEPTION 'entry % does not extend the journal head %', NEW.seq, head_seq
            USING ERRCODE = 'serialization_failure';
    END IF;
    RETURN NEW;
END $$;

CREATE TRIGGER journal_extends_head BEFORE INSERT ON journal
    FOR EACH ROW EXECUTE FUNCTION ringfence_journal_extends_head();
