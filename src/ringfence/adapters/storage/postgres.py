"""The production store: PostgreSQL through psycopg 3, safe under many concurrent writers.

Schema. Versioned migrations (``migrations/NNNN_name.sql``, recorded in ``schema_migrations``)
build it: opening an empty database runs them all; an older schema is refused until
``ringfence db upgrade`` (``upgrade``) brings it up to date; a newer one is refused. Every u128
(ids, amounts, balances) is ``NUMERIC(39,0)`` with ``0 <= x < 2^128`` checked by the database,
read back as Python ``int`` (never ``Decimal``, never ``float``). The journal and the transfer
projection are append-only: triggers refuse UPDATE, DELETE and TRUNCATE to every role, and the
application role ``ringfence_app`` holds no such privilege on them.

Writers. An ``append`` is one READ COMMITTED transaction: the journal row (whose trigger takes
the schema's writer lock, ``pg_advisory_xact_lock``, then refuses an entry that does not extend
the head), the transfer rows by binary ``COPY`` (measured fastest: 3.5 µs a row against 10 µs
for ``INSERT ... SELECT unnest(...)`` and 12-30 µs for cutting rows out of the body in SQL), the
definitions and the optional checkpoint. Two processes can never fork the chain: the second
waits for the lock, sees the first's entry and is refused (``StorageError``); its service
reloads, and the caller resubmits (what committed answers ``exists``).

Readers. Reads between two writes share one REPEATABLE READ snapshot, opened by the first read
and closed by the next write: a service loading its state (definitions, checkpoint, journal
tail, head) sees one head, never a mix of two while another process appends.

Checkpoints are deltas as in SQLite. Under the writer lock a checkpoint older than the stored
one is skipped: the newer one already covers it, and the next delta of the writer that built
it still contains every account changed since the stored one.

Connection loss. Any failure of the connection raises ``StorageError`` and drops it; the next
call opens a fresh one. A commit whose acknowledgement was lost may or may not have landed: the
service reloads from the store, and a resubmitted batch gets ``exists`` for what committed.
"""

from __future__ import annotations

import contextlib
import re
import secrets
from collections.abc import Collection, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from importlib import resources
from typing import Any
from urllib.parse import parse_qsl, quote, urlencode, urlsplit, urlunsplit

import psycopg
from psycopg.conninfo import conninfo_to_dict, make_conninfo
from psycopg.types.numeric import IntLoader

from ringfence.adapters.storage.pipelined import PipelinedWriter
from ringfence.adapters.storage.rows import (
    definition_queries,
    definitions_from_rows,
    entry_of_row,
    head_of_row,
    known_entry_kinds,
)
from ringfence.core import limits
from ringfence.core.errors import HeadConflictError, StorageError
from ringfence.core.ledger.journal import Definition, EntryKind, JournalEntry, genesis_hash
from ringfence.core.ledger.model import (
    AccountDefinition,
    Break,
    Pool,
    TransferRecord,
)
from ringfence.core.money import Asset
from ringfence.service.ports import Checkpoint, PendingAppend, PendingRow

url_prefixes = ("postgresql://", "postgres://")
connect_timeout_s_default = 10
_u128_max = 2**128 - 1
# Ids looked up per statement; a batch holds at most 8,189, a checkpoint's pendings more.
_lookup_ids_max = 50_000
_copy_types = ["numeric"] * 6 + ["int8", "numeric", "int8", "int8", "int4", "int4", "int8"]
_transfer_columns = (
    "id, debit_account, credit_account, amount, pending_id, reference, timestamp, "
    "authoriser, timeout_s, asset, code, flags"
)
_copy_transfers = f"COPY transfers ({_transfer_columns}, seq) FROM STDIN (FORMAT BINARY)"
_lock_writer = "SELECT ringfence_lock_writer(current_schema())"
# Rows per page when reading a whole table: journal bodies run to 1 MiB each.
_entries_per_page = 64
_transfers_per_page = 10_000


# ---------------------------------------------------------------------- migrations


@dataclass(frozen=True, slots=True)
class Migration:
    version: int
    name: str
    text: str


def migrations() -> list[Migration]:
    """The migrations shipped with this version, in order (``migrations/NNNN_name.sql``)."""
    found = []
    for item in resources.files("ringfence.adapters.storage").joinpath("migrations").iterdir():
        matched = re.fullmatch(r"(\d{4})_(\w+)\.sql", item.name)
        if matched:
            text = item.read_text(encoding="utf-8")
            found.append(Migration(int(matched[1]), matched[2], text))
    found.sort(key=lambda migration: migration.version)
    assert [m.version for m in found] == list(range(1, len(found) + 1)), "gap in migrations"
    return found


_head_conflict_text = "does not extend the journal head"  # the trigger's message
schema_version = len(migrations())


@dataclass(frozen=True, slots=True)
class SchemaStatus:
    """Where a database's schema stands against the migrations this version ships."""

    version: int  # 0: no ringfence schema yet
    latest: int
    applied: list[tuple[int, str, str]]  # (version, name, applied at, ISO 8601)
    pending: list[tuple[int, str]]

    @property
    def current(self) -> bool:
        return self.version == self.latest


def schema_status(url: str) -> SchemaStatus:
    """Read the schema's version without changing anything."""
    with _connect(url) as db:
        return _status(db)


def upgrade(url: str, target: int | None = None) -> list[int]:
    """Apply the pending migrations up to ``target`` (default: all); return those applied.

    Each runs in its own transaction under the writer lock, so writers wait and a failed
    migration leaves the schema at the version before it.
    """
    with _connect(url) as db:
        return _upgrade(db, schema_version if target is None else target)


def _status(db: psycopg.Connection[Any]) -> SchemaStatus:
    shipped = migrations()
    applied: list[tuple[int, str, str]] = []
    if _has_migrations_table(db):
        rows = db.execute(
            "SELECT version, name, applied_at FROM schema_migrations ORDER BY version"
        ).fetchall()
        applied = [(int(v), str(n), a.isoformat()) for v, n, a in rows]
    version = max((row[0] for row in applied), default=0)
    pending = [(m.version, m.name) for m in shipped if m.version > version]
    return SchemaStatus(version, len(shipped), applied, pending)


def _has_migrations_table(db: psycopg.Connection[Any]) -> bool:
    row = db.execute("SELECT to_regclass('schema_migrations') IS NOT NULL").fetchone()
    return bool(row and row[0])


def _upgrade(db: psycopg.Connection[Any], target: int) -> list[int]:
    if not 0 <= target <= schema_version:
        raise StorageError(f"no schema version {target} (this ringfence knows 1-{schema_version})")
    applied = []
    try:
        for migration in migrations():
            if migration.version > target:
                break
            with db.transaction():
                db.execute(_lock_writer_bootstrap)
                db.execute(
                    "CREATE TABLE IF NOT EXISTS schema_migrations (version INTEGER PRIMARY KEY,"
                    " name TEXT NOT NULL, applied_at TIMESTAMPTZ NOT NULL DEFAULT now())"
                )
                done = db.execute(
                    "SELECT 1 FROM schema_migrations WHERE version = %s", (migration.version,)
                ).fetchone()
                if done is None:
                    db.execute(migration.text.encode())
                    db.execute(
                        "INSERT INTO schema_migrations (version, name) VALUES (%s, %s)",
                        (migration.version, migration.name),
                    )
                    applied.append(migration.version)
    except psycopg.Error as error:
        raise StorageError(f"migration failed: {_describe(error)}") from error
    return applied


# Migrations run before ringfence_lock_writer exists, so they take the same lock directly.
_lock_writer_bootstrap = "SELECT pg_advisory_xact_lock(1919510118, hashtext(current_schema()))"


# ---------------------------------------------------------------------- connections


def _conninfo(url: str) -> str:
    """The URL as libpq connection parameters, with a connect timeout unless one is given."""
    if not url.startswith(url_prefixes):
        raise StorageError(f"not a PostgreSQL URL: {redacted(url)!r} (expected postgresql://...)")
    try:
        given = conninfo_to_dict(url)
    except psycopg.Error as error:
        raise StorageError(f"bad PostgreSQL URL {redacted(url)!r}: {_describe(error)}") from error
    if "connect_timeout" in given:
        return url
    return make_conninfo(url, connect_timeout=connect_timeout_s_default)


def _connect(url: str) -> psycopg.Connection[Any]:
    try:
        db = psycopg.connect(_conninfo(url), autocommit=True)
    except psycopg.Error as error:
        raise StorageError(f"cannot connect to {redacted(url)}: {_describe(error)}") from error
    # NUMERIC(39,0) comes back as text digits, read straight into int: exact, never Decimal.
    db.adapters.register_loader("numeric", IntLoader)
    return db


def url_with_schema(url: str, schema: str) -> str:
    """``url`` with its ledger in ``schema`` (libpq ``options=-csearch_path=...``)."""
    assert re.fullmatch(r"[a-z_][a-z0-9_]*", schema), schema
    parts = urlsplit(url)
    query = [*parse_qsl(parts.query), ("options", f"-csearch_path={schema}")]
    return urlunsplit(parts._replace(query=urlencode(query, quote_via=quote)))


@contextmanager
def scratch_ledger(url: str, prefix: str) -> Iterator[str]:
    """A new empty schema in the database at ``url``, dropped afterwards; yields a URL naming
    it. Benchmarks use it to start each run on an empty ledger without creating databases."""
    schema = f"{prefix}_{secrets.token_hex(4)}"
    with _connect(url) as db:
        db.execute(f'CREATE SCHEMA "{schema}"')
    try:
        yield url_with_schema(url, schema)
    finally:
        with _connect(url) as db:
            db.execute(f'DROP SCHEMA "{schema}" CASCADE')


def server_settings(url: str) -> dict[str, str]:
    """The server's version and durability settings, for benchmark reports."""
    names = ["server_version", "fsync", "synchronous_commit", "wal_sync_method", "full_page_writes"]
    settings = {}
    with _connect(url) as db:
        for name in names:
            row = db.execute(f"SHOW {name}").fetchone()
            settings[name] = "" if row is None else str(row[0])
    return settings


def redacted(url: str) -> str:
    """The URL without its passwords, for messages: ``user:***@`` and, in the query string
    (where libpq takes them too), ``password=***`` and ``sslpassword=***``."""
    url = re.sub(r"(//[^/:@?#]*):[^/@?#]*@", r"\1:***@", url)
    return re.sub(r"(?i)([?&](?:ssl)?password=)[^&#]*", r"\1***", url)


def _describe(error: psycopg.Error) -> str:
    text = str(error).strip().splitlines()
    return text[0] if text else type(error).__name__


# ---------------------------------------------------------------------- the store


class PostgresStore:
    """One connection to one ledger (a database, or a schema named by ``search_path``)."""

    def __init__(self, url: str, expected_version: int = schema_version) -> None:
        """Open the ledger at ``url``, creating its schema in an empty database.

        ``expected_version`` is the schema this code runs on; only the migration tests open an
        older one on purpose.
        """
        self.url = url
        self._expected_version = expected_version
        # Schemas before 5 have no signature column; only the migration tests open one.
        self._signature_column = ", signature" if expected_version >= 5 else ""
        self._db: psycopg.Connection[Any] | None = None
        self._snapshot_open = False
        # One writer thread, used only by append_begin (adapters/storage/pipelined.py).
        self._writer = PipelinedWriter()
        db = self._connection()
        try:
            if not _has_migrations_table(db):
                _upgrade(db, expected_version)
            status = _status(db)
        except psycopg.Error as error:
            self.close()
            raise StorageError(f"cannot read the schema: {_describe(error)}") from error
        except StorageError:
            self.close()
            raise
        if status.version != expected_version:
            self.close()
            advice = (
                "run `ringfence db upgrade`"
                if status.version < expected_version
                else ("this ringfence is older than the database")
            )
            raise StorageError(
                f"{redacted(url)}: schema version {status.version}, expected "
                f"{expected_version}: {advice}"
            )

    def _connection(self) -> psycopg.Connection[Any]:
        if self._db is None or self._db.closed:
            self._db = _connect(self.url)
            self._snapshot_open = False
        return self._db

    def _failed(self, error: psycopg.Error, what: str) -> StorageError:
        """Turn a driver error into ``StorageError``; a broken connection is dropped, so the
        next call opens a fresh one."""
        db = self._db
        if db is not None and (
            db.closed or db.broken or db.pgconn.status != psycopg.pq.ConnStatus.OK
        ):
            self._db = None
            self._snapshot_open = False
            with contextlib.suppress(psycopg.Error):
                db.close()
        elif db is not None and self._snapshot_open:
            try:
                self._end_snapshot()  # the failed read aborted the snapshot's transaction
            except psycopg.Error:
                self._db = None
                db.close()
        return StorageError(f"{what} failed: {_describe(error)}")

    def _reading(self) -> psycopg.Connection[Any]:
        """The connection, inside the read snapshot (opened by the first read after a write)."""
        self._writer.drain()
        db = self._connection()
        if not self._snapshot_open:
            db.execute("BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY")
            self._snapshot_open = True
        return db

    def _end_snapshot(self) -> None:
        if self._snapshot_open and self._db is not None:
            self._snapshot_open = False
            self._db.execute("COMMIT")

    # ------------------------------------------------------------------ writing

    def head(self) -> tuple[int, bytes]:
        try:
            row = (
                self._reading()
                .execute("SELECT seq, hash FROM journal ORDER BY seq DESC LIMIT 1")
                .fetchone()
            )
        except psycopg.Error as error:
            raise self._failed(error, "reading the head") from error
        return (0, genesis_hash) if row is None else head_of_row(row[0], row[1])

    def transfer_id_max(self) -> int:
        try:
            row = self._reading().execute("SELECT max(id) FROM transfers").fetchone()
        except psycopg.Error as error:
            raise self._failed(error, "reading the largest transfer id") from error
        return 0 if row is None or row[0] is None else int(row[0])

    def append(
        self,
        entry: JournalEntry,
        records: Sequence[TransferRecord] = (),
        definitions: Sequence[Definition] = (),
        checkpoint: Checkpoint | None = None,
    ) -> None:
        self._writer.drain()
        self._append(entry, records, definitions, checkpoint)

    def append_begin(self, entry: JournalEntry, records: Sequence[TransferRecord]) -> PendingAppend:
        """Start committing a transfer entry in the writer thread and return at once.

        The commit waits on the server most of the time, without Python's lock, while the
        engine executes the next batch; the caller must ``wait()`` before telling anyone the
        entry is durable. Any other call on the store waits for it first.
        """
        return self._writer.begin(lambda: self._append(entry, records, (), None))

    def _append(
        self,
        entry: JournalEntry,
        records: Sequence[TransferRecord],
        definitions: Sequence[Definition],
        checkpoint: Checkpoint | None,
    ) -> None:
        """One transaction: the journal row (its trigger takes the writer lock and checks the
        head), the transfer rows, the definitions and the checkpoint; all or nothing."""
        assert len(records) <= limits.batch_events_max
        try:
            self._end_snapshot()
            db = self._connection()
            with db.transaction():
                db.execute(
                    "INSERT INTO journal (seq, kind, timestamp, body, previous_hash, hash, "
                    f"records{self._signature_column}) VALUES (%s, %s, %s, %b, %b, %b, %s"
                    f"{', %b' if self._signature_column else ''})",
                    (
                        entry.seq,
                        int(entry.kind),
                        entry.timestamp,
                        entry.body,
                        entry.previous_hash,
                        entry.hash,
                        len(records),
                        *((entry.signature,) if self._signature_column else ()),
                    ),
                )
                if records:
                    self._copy_transfers(db, entry.seq, records)
                if definitions:
                    _insert_definitions(db, entry.kind, entry.seq, definitions)
                if checkpoint is not None:
                    _write_checkpoint(db, checkpoint)
        except psycopg.Error as error:
            failure = self._failed(error, f"append of entry {entry.seq}")
            if _head_conflict_text in str(error):  # the head trigger refused: nothing written
                raise HeadConflictError(str(failure)) from error
            raise failure from error

    @staticmethod
    def _copy_transfers(
        db: psycopg.Connection[Any], seq: int, records: Sequence[TransferRecord]
    ) -> None:
        with db.cursor() as cursor, cursor.copy(_copy_transfers) as copy:
            copy.set_types(_copy_types)
            write_row = copy.write_row
            for record in records:
                write_row((*record, seq))

    def write_checkpoint(self, checkpoint: Checkpoint) -> None:
        self._writer.drain()
        try:
            self._end_snapshot()
            db = self._connection()
            with db.transaction():
                db.execute(_lock_writer)
                _write_checkpoint(db, checkpoint)
        except psycopg.Error as error:
            raise self._failed(error, f"checkpoint {checkpoint.seq}") from error

    # ------------------------------------------------------------------ reading

    def entries(
        self, after_seq: int = 0, kinds: Collection[EntryKind] | None = None
    ) -> Iterator[JournalEntry]:
        condition = ""
        parameters: list[Any] = []
        if kinds is not None:
            # Rows of no known kind come too: reading them is how a reader learns of them.
            condition = (
                " AND (kind = ANY(%s::smallint[]) OR kind IS NULL"
                " OR NOT kind = ANY(%s::smallint[]))"
            )
            parameters.extend([[int(kind) for kind in kinds], list(known_entry_kinds)])
        query = (
            f"SELECT seq, kind, timestamp, body, previous_hash, hash{self._signature_column} "
            "FROM journal "
            f"WHERE seq > %s{condition} ORDER BY seq LIMIT {_entries_per_page}"
        )
        for row in self._pages(query, after_seq, parameters, "reading the journal"):
            yield entry_of_row(row)

    def _pages(
        self, query: str, after: int, parameters: list[Any], what: str
    ) -> Iterator[tuple[Any, ...]]:
        """Rows of ``query`` page by page, keyed on its first column (``%s`` is the last key
        seen), in the read snapshot: memory stays bounded whatever the table's size, and no
        cursor outlives a page (a cut connection leaves nothing open)."""
        while True:
            try:
                rows = self._reading().execute(query, [after, *parameters], binary=True).fetchall()
            except psycopg.Error as error:
                raise self._failed(error, what) from error
            yield from rows
            if not rows:
                return
            after = rows[-1][0]

    def transfers(self, ids: Collection[int]) -> dict[int, TransferRecord]:
        # An id outside u128 cannot have been committed: it is simply not found.
        keys = sorted({str(i) for i in ids if type(i) is int and 0 < i <= _u128_max})
        found: dict[int, TransferRecord] = {}
        if not keys:
            self._writer.drain()
            return found
        try:
            db = self._reading()
            for start in range(0, len(keys), _lookup_ids_max):
                part = keys[start : start + _lookup_ids_max]
                rows = db.execute(
                    f"SELECT {_transfer_columns} FROM transfers WHERE id = ANY(%s::numeric[])",
                    (part,),
                ).fetchall()
                for row in rows:
                    record = TransferRecord(*(int(value) for value in row))
                    found[record.id] = record
        except psycopg.Error as error:
            raise self._failed(error, "looking up transfers") from error
        return found

    def checkpoint(self) -> Checkpoint:
        try:
            return _read_checkpoint(self._reading())
        except psycopg.Error as error:
            raise self._failed(error, "reading the checkpoint") from error

    def projected_transfers(self) -> Iterator[TransferRecord]:
        # Binary rows, NUMERIC as text: its binary form would come back as Decimal.
        query = (
            "SELECT timestamp, id::text, debit_account::text, credit_account::text, "
            "amount::text, pending_id::text, reference::text, authoriser::text, timeout_s, "
            "asset, code, flags FROM transfers WHERE timestamp > %s ORDER BY timestamp "
            f"LIMIT {_transfers_per_page}"
        )
        for row in self._pages(query, -1, [], "reading the transfers"):
            n = [int(value) for value in row]
            yield TransferRecord(
                n[1], n[2], n[3], n[4], n[5], n[6], n[0], n[7], n[8], n[9], n[10], n[11]
            )

    def projected_definitions(self) -> dict[EntryKind, list[Definition]]:
        try:
            return _read_definitions(self._reading())
        except psycopg.Error as error:
            raise self._failed(error, "reading the definitions") from error

    def close(self) -> None:
        try:
            self._writer.close()
        finally:
            db, self._db = self._db, None
            self._snapshot_open = False
            if db is not None:
                db.close()



# ---------------------------------------------------------------------- statements


def _insert_definitions(
    db: psycopg.Connection[Any], kind: EntryKind, seq: int, definitions: Sequence[Definition]
) -> None:
    with db.cursor() as cursor:
        if kind is EntryKind.assets:
            cursor.executemany(
                "INSERT INTO assets VALUES (%s, %s, %s, %s, %s, %s, %s)",
                [
                    (a.code, a.number, a.scale, a.chain, a.contract, seq, ordinal)
                    for ordinal, a in enumerate(d for d in definitions if isinstance(d, Asset))
                ],
            )
        elif kind is EntryKind.clients:
            cursor.executemany(
                "INSERT INTO clients VALUES (%s, %s, %s)",
                [(d[0], d[1], seq) for d in definitions if isinstance(d, tuple)],
            )
        elif kind is EntryKind.pools:
            pools = [d for d in definitions if isinstance(d, Pool)]
            cursor.executemany(
                "INSERT INTO pools VALUES (%s, %s, %s, %s, %s, %s, %s)",
                [
                    (p.name, p.kind.value, p.terms.value, p.purpose.value, p.client, seq, n)
                    for n, p in enumerate(pools)
                ],
            )
        else:
            accounts = [d for d in definitions if isinstance(d, AccountDefinition)]
            cursor.executemany(
                "INSERT INTO accounts (id, asset, class, owner, kind, pool, seq, ordinal) "
                "VALUES (%s::numeric, %s, %s, %s, %s, %s, %s, %s)",
                [
                    (str(a.id), a.asset, a.account_class.value, a.owner, a.kind, a.pool, seq, n)
                    for n, a in enumerate(accounts)
                ],
            )


def _numbers(values: Collection[int]) -> list[str]:
    """u128 values as decimal text, cast to NUMERIC by the statement: exact at every size."""
    return [str(value) for value in values]


def _write_checkpoint(db: psycopg.Connection[Any], checkpoint: Checkpoint) -> None:
    """Write a delta checkpoint, unless a newer one is already stored (see the module's
    docstring). The caller holds the writer lock."""
    row = db.execute("SELECT value FROM meta WHERE key = 'checkpoint_seq'").fetchone()
    if row is not None and int(row[0]) > checkpoint.seq:
        return
    balances = checkpoint.balances
    if balances:
        columns = list(zip(*balances.values(), strict=True))
        db.execute(
            "UPDATE accounts AS a SET debits_pending = u.dp, debits_posted = u.dq, "
            "credits_pending = u.cp, credits_posted = u.cq FROM unnest(%s::numeric[], "
            "%s::numeric[], %s::numeric[], %s::numeric[], %s::numeric[]) AS u(id, dp, dq, cp, cq)"
            " WHERE a.id = u.id",
            [_numbers(balances), *(_numbers(column) for column in columns)],
        )
    pendings = list(checkpoint.pendings.values())
    if pendings:
        db.execute(
            "INSERT INTO pending_transfers SELECT * FROM unnest(%s::numeric[], %s::int8[], "
            "%s::int2[]) ON CONFLICT (id) DO UPDATE SET expires_at = excluded.expires_at, "
            "status = excluded.status",
            [
                _numbers([p.id for p in pendings]),
                [p.expires_at for p in pendings],
                [p.status for p in pendings],
            ],
        )
    _write_breaks(db, list(checkpoint.breaks.values()))
    if checkpoint.reversed:
        db.execute(
            "INSERT INTO reversals SELECT * FROM unnest(%s::numeric[], %s::numeric[]) "
            "ON CONFLICT (id) DO UPDATE SET amount = excluded.amount",
            [_numbers(checkpoint.reversed), _numbers(checkpoint.reversed.values())],
        )
    db.execute(
        "INSERT INTO meta VALUES ('checkpoint_seq', %s), ('checkpoint_timestamp_last', %s) "
        "ON CONFLICT (key) DO UPDATE SET value = excluded.value",
        (str(checkpoint.seq), str(checkpoint.timestamp_last)),
    )


def _write_breaks(db: psycopg.Connection[Any], breaks: list[Break]) -> None:
    if not breaks:
        return
    db.execute(
        "INSERT INTO breaks SELECT * FROM unnest(%s::numeric[], %s::text[], %s::int8[], "
        "%s::numeric[], %s::numeric[], %s::int8[]) ON CONFLICT (id) DO UPDATE SET "
        "pool = excluded.pool, asset = excluded.asset, amount = excluded.amount, "
        "cured = excluded.cured, opened_at = excluded.opened_at",
        [
            _numbers([b.id for b in breaks]),
            [b.pool for b in breaks],
            [b.asset for b in breaks],
            _numbers([b.amount for b in breaks]),
            _numbers([b.cured for b in breaks]),
            [b.opened_at for b in breaks],
        ],
    )


def _read_checkpoint(db: psycopg.Connection[Any]) -> Checkpoint:
    meta = dict(db.execute("SELECT key, value FROM meta").fetchall())
    checkpoint = Checkpoint(
        int(meta.get("checkpoint_seq", 0)), int(meta.get("checkpoint_timestamp_last", 0))
    )
    for row in db.execute(
        "SELECT id, debits_pending, debits_posted, credits_pending, credits_posted "
        "FROM accounts WHERE debits_pending > 0 OR debits_posted > 0 OR credits_pending > 0 "
        "OR credits_posted > 0"
    ):
        checkpoint.balances[int(row[0])] = (int(row[1]), int(row[2]), int(row[3]), int(row[4]))
    for row in db.execute("SELECT id, expires_at, status FROM pending_transfers"):
        checkpoint.pendings[int(row[0])] = PendingRow(int(row[0]), int(row[1]), int(row[2]))
    for row in db.execute("SELECT id, pool, asset, amount, cured, opened_at FROM breaks"):
        checkpoint.breaks[int(row[0])] = Break(
            int(row[0]), row[1], int(row[2]), int(row[3]), int(row[4]), int(row[5])
        )
    for row in db.execute("SELECT id, amount FROM reversals"):
        checkpoint.reversed[int(row[0])] = int(row[1])
    return checkpoint


def _read_definitions(db: psycopg.Connection[Any]) -> dict[EntryKind, list[Definition]]:
    order = {EntryKind.clients: "number"}
    return definitions_from_rows(
        lambda kind: db.execute(
            f"{definition_queries[kind]} ORDER BY {order.get(kind, 'seq, ordinal')}"
        )
    )
