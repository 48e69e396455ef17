"""The SQLite store's schema: its tables and triggers, one version number, and the upgrades it
knows (journals from before signing get a signature column; journals from before metadata get
the empty ``transfer_metadata`` table, which ``CREATE ... IF NOT EXISTS`` makes on open, and their
version moves on so that an older ringfence, which cannot read a metadata section, refuses them).

The transfer projection's columns are cut out of each journal body by a trigger
(``journal_projects_transfers``): ``schema_statements`` writes the cuts from the record's
fixed layout, so SQL and the journal codec cannot disagree.
"""

from __future__ import annotations

from ringfence.core.ledger.journal import header_bytes
from ringfence.core.limits import transfer_record_bytes

schema_version = 5
signatures_added_in = 4
metadata_added_in = 5
add_signature_column = (
    "ALTER TABLE journal ADD COLUMN "
    "signature BLOB NOT NULL DEFAULT x'' CHECK (length(signature) IN (0, 64))"
)

_schema = """
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value ANY NOT NULL) STRICT;
CREATE TABLE IF NOT EXISTS journal (
    seq INTEGER PRIMARY KEY,
    kind INTEGER NOT NULL,
    timestamp INTEGER NOT NULL,
    body BLOB NOT NULL,
    previous_hash BLOB NOT NULL CHECK (length(previous_hash) = 32),
    hash BLOB NOT NULL CHECK (length(hash) = 32),
    records INTEGER NOT NULL CHECK (records >= 0),
    signature BLOB NOT NULL DEFAULT x'' CHECK (length(signature) IN (0, 64))
) STRICT;
CREATE TABLE IF NOT EXISTS transfers (
    timestamp BLOB PRIMARY KEY CHECK (length(timestamp) = 8),
    id BLOB NOT NULL UNIQUE CHECK (length(id) = 16),
    debit_account BLOB NOT NULL,
    credit_account BLOB NOT NULL,
    amount BLOB NOT NULL CHECK (length(amount) = 16),
    pending_id BLOB NOT NULL,
    reference BLOB NOT NULL,
    authoriser BLOB NOT NULL,
    timeout_s BLOB NOT NULL,
    asset BLOB NOT NULL,
    code BLOB NOT NULL,
    flags BLOB NOT NULL,
    seq INTEGER NOT NULL
) STRICT, WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS transfer_metadata (
    timestamp BLOB NOT NULL CHECK (length(timestamp) = 8),
    key TEXT NOT NULL,
    value TEXT NOT NULL,
    PRIMARY KEY (timestamp, key)
) STRICT, WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS transfer_metadata_by_pair ON transfer_metadata (key, value, timestamp);
CREATE TABLE IF NOT EXISTS assets (
    code TEXT PRIMARY KEY, number INTEGER NOT NULL UNIQUE, scale INTEGER NOT NULL,
    chain TEXT NOT NULL, contract TEXT NOT NULL, seq INTEGER NOT NULL
) STRICT;
CREATE TABLE IF NOT EXISTS clients (
    name TEXT PRIMARY KEY, number INTEGER NOT NULL UNIQUE, seq INTEGER NOT NULL
) STRICT;
CREATE TABLE IF NOT EXISTS pools (
    name TEXT PRIMARY KEY, kind TEXT NOT NULL, terms TEXT NOT NULL, purpose TEXT NOT NULL,
    client TEXT NOT NULL, seq INTEGER NOT NULL
) STRICT;
CREATE TABLE IF NOT EXISTS accounts (
    id ANY PRIMARY KEY,
    asset TEXT NOT NULL, class TEXT NOT NULL, owner TEXT NOT NULL, kind TEXT NOT NULL,
    pool TEXT NOT NULL, seq INTEGER NOT NULL,
    debits_pending ANY NOT NULL DEFAULT 0,
    debits_posted ANY NOT NULL DEFAULT 0,
    credits_pending ANY NOT NULL DEFAULT 0,
    credits_posted ANY NOT NULL DEFAULT 0
) STRICT;
CREATE INDEX IF NOT EXISTS accounts_by_owner ON accounts (owner);
CREATE TABLE IF NOT EXISTS pending_transfers (
    id ANY PRIMARY KEY, expires_at INTEGER NOT NULL, status INTEGER NOT NULL
) STRICT;
CREATE TABLE IF NOT EXISTS breaks (
    id ANY PRIMARY KEY, pool TEXT NOT NULL, asset INTEGER NOT NULL, amount ANY NOT NULL,
    cured ANY NOT NULL, opened_at INTEGER NOT NULL
) STRICT;
CREATE TABLE IF NOT EXISTS reversals (id ANY PRIMARY KEY, amount ANY NOT NULL) STRICT;
CREATE TABLE IF NOT EXISTS past_states (
    seq INTEGER PRIMARY KEY, entry_hash BLOB NOT NULL, body BLOB NOT NULL,
    signature BLOB NOT NULL
) STRICT;
CREATE TRIGGER IF NOT EXISTS journal_no_update BEFORE UPDATE ON journal
    BEGIN SELECT RAISE(ABORT, 'the journal is append-only'); END;
CREATE TRIGGER IF NOT EXISTS journal_no_delete BEFORE DELETE ON journal
    BEGIN SELECT RAISE(ABORT, 'the journal is append-only'); END;
CREATE TRIGGER IF NOT EXISTS transfers_no_update BEFORE UPDATE ON transfers
    BEGIN SELECT RAISE(ABORT, 'transfers are immutable; post a reversal'); END;
CREATE TRIGGER IF NOT EXISTS transfers_no_delete BEFORE DELETE ON transfers
    BEGIN SELECT RAISE(ABORT, 'transfers are immutable; post a reversal'); END;
CREATE TRIGGER IF NOT EXISTS transfer_metadata_no_update BEFORE UPDATE ON transfer_metadata
    BEGIN SELECT RAISE(ABORT, 'transfers are immutable; post a reversal'); END;
CREATE TRIGGER IF NOT EXISTS transfer_metadata_no_delete BEFORE DELETE ON transfer_metadata
    BEGIN SELECT RAISE(ABORT, 'transfers are immutable; post a reversal'); END;
CREATE TABLE IF NOT EXISTS record_numbers (n INTEGER PRIMARY KEY) STRICT;
CREATE TRIGGER IF NOT EXISTS journal_extends_head BEFORE INSERT ON journal
    BEGIN SELECT RAISE(ABORT, 'entry does not extend the journal head') WHERE
        NEW.seq IS NOT coalesce((SELECT max(seq) FROM journal), 0) + 1
        OR NEW.previous_hash IS NOT
            coalesce((SELECT hash FROM journal ORDER BY seq DESC LIMIT 1), zeroblob(32)); END;
CREATE TRIGGER IF NOT EXISTS journal_projects_transfers AFTER INSERT ON journal
    WHEN NEW.records > 0
    BEGIN INSERT INTO transfers ({columns}, seq) SELECT {cuts}, NEW.seq FROM record_numbers
        WHERE n < NEW.records; END;
"""


transfer_columns = (
    "id, debit_account, credit_account, amount, pending_id, reference, timestamp, "
    "authoriser, timeout_s, asset, code, flags"
)


def _projection_columns() -> tuple[str, str]:
    """The transfer columns, and the ``substr`` cuts that read each out of a journal body."""
    offsets = {
        "timestamp": (96, 8),
        "id": (0, 16),
        "debit_account": (16, 16),
        "credit_account": (32, 16),
        "amount": (48, 16),
        "pending_id": (64, 16),
        "reference": (80, 16),
        "authoriser": (104, 8),
        "timeout_s": (112, 4),
        "asset": (116, 4),
        "code": (120, 2),
        "flags": (122, 2),
    }
    start = header_bytes + 1  # substr() counts from 1
    cuts = ", ".join(
        f"substr(NEW.body, {start} + n * {transfer_record_bytes} + {offset}, {width})"
        for offset, width in offsets.values()
    )
    return ", ".join(offsets), cuts


def schema_statements() -> list[str]:
    columns, cuts = _projection_columns()
    text = _schema.replace("{columns}", columns).replace("{cuts}", cuts)
    return [statement + ";" for statement in text.split(";\n") if statement.strip()]
