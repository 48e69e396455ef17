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
import threading
from collections.abc import Collection, Iterator, Mapping, Sequence
from contextlib import contextmanager
from typing import Any

import psycopg

from ringfence.adapters.storage import postgres_metadata
from ringfence.adapters.storage.cuts_postgres import PostgresCut, postgres_cut
from ringfence.adapters.storage.locks import process_lock
from ringfence.adapters.storage.pipelined import PipelinedWriter
from ringfence.adapters.storage.postgres_rows import (
    insert_definitions,
    read_checkpoint,
    read_definitions,
    write_checkpoint,
)
from ringfence.adapters.storage.postgres_setup import (
    connect,
    connect_timeout_s_default,
    describe,
    has_migrations_table,
    migrations,
    redacted,
    schema_status,
    schema_version,
    scratch_ledger,
    server_settings,
    status_of,
    upgrade,
    upgrade_to,
    url_prefixes,
    url_with_schema,
)
from ringfence.adapters.storage.rows import (
    entry_of_row,
    head_of_row,
    known_entry_kinds,
    newest_within,
)
from ringfence.core import limits
from ringfence.core.errors import HeadConflictError, StorageError
from ringfence.core.ledger.journal import (
    Definition,
    EntryKind,
    JournalEntry,
    genesis_hash,
    metadata_pairs_of,
)
from ringfence.core.ledger.model import (
    TransferRecord,
)
from ringfence.service.ports import Checkpoint, PendingAppend, StoredPastState

__all__ = [
    "PostgresStore",
    "connect_timeout_s_default",
    "migrations",
    "redacted",
    "schema_status",
    "schema_version",
    "scratch_ledger",
    "server_settings",
    "upgrade",
    "url_prefixes",
    "url_with_schema",
]

_u128_max = 2**128 - 1
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


_head_conflict_text = "does not extend the journal head"  # the trigger's message
# ``exclusive``: advisory locks keyed by the ledger's schema and the lock's name.
_try_lock_sql = "SELECT pg_try_advisory_lock(hashtext(current_schema()), hashtext(%s))"
_unlock_sql = "SELECT pg_advisory_unlock(hashtext(current_schema()), hashtext(%s))"


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
        self._lock_db: psycopg.Connection[Any] | None = None  # for ``exclusive`` only
        self._locks: dict[str, threading.Lock] = {}  # ``exclusive``'s own, per name
        self._snapshot_open = False
        # One writer thread, used only by append_begin (adapters/storage/pipelined.py).
        self._writer = PipelinedWriter()
        db = self._connection()
        try:
            if not has_migrations_table(db):
                upgrade_to(db, expected_version)
            status = status_of(db)
        except psycopg.Error as error:
            self.close()
            raise StorageError(f"cannot read the schema: {describe(error)}") from error
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
            self._db = connect(self.url)
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
        return StorageError(f"{what} failed: {describe(error)}")

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

    def append_joined(
        self,
        entry: JournalEntry,
        records: Sequence[TransferRecord],
        companion: JournalEntry,
        checkpoint: Checkpoint | None = None,
    ) -> None:
        """Both entries, the transfer rows and the checkpoint in one transaction."""
        assert companion.seq == entry.seq + 1
        assert companion.previous_hash == entry.hash
        self._writer.drain()
        self._append(entry, records, (), checkpoint, companion)

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
        companion: JournalEntry | None = None,
    ) -> None:
        """One transaction: the journal row (its trigger takes the writer lock and checks the
        head), the transfer rows, the companion entry, the definitions and the checkpoint;
        all or nothing."""
        assert len(records) <= limits.batch_events_max
        try:
            self._end_snapshot()
            db = self._connection()
            with db.transaction():
                self._insert_entry(db, entry, len(records))
                if records:
                    self._copy_transfers(db, entry.seq, records)
                    postgres_metadata.insert_metadata(db, metadata_pairs_of(entry.body, records))
                if companion is not None:
                    self._insert_entry(db, companion, 0)
                if definitions:
                    insert_definitions(db, entry.kind, entry.seq, definitions)
                if checkpoint is not None:
                    write_checkpoint(db, checkpoint)
        except psycopg.Error as error:
            failure = self._failed(error, f"append of entry {entry.seq}")
            if _head_conflict_text in str(error):  # the head trigger refused: nothing written
                raise HeadConflictError(str(failure)) from error
            raise failure from error

    def _insert_entry(self, db: psycopg.Connection[Any], entry: JournalEntry, records: int) -> None:
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
                records,
                *((entry.signature,) if self._signature_column else ()),
            ),
        )

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
                write_checkpoint(db, checkpoint)
        except psycopg.Error as error:
            raise self._failed(error, f"checkpoint {checkpoint.seq}") from error

    def keep_past_states(
        self, written: Sequence[StoredPastState], forgotten: Collection[int]
    ) -> bool:
        """The snapshots of the past (service/ledger/past_seal.py), outside any append (no
        other writer holds their rows: each service writes only at reads of its own)."""
        self._writer.drain()
        try:
            self._end_snapshot()
            db = self._connection()
            with db.transaction(), db.cursor() as cursor:
                cursor.execute("DELETE FROM past_states WHERE seq = ANY(%s)", (list(forgotten),))
                cursor.executemany(
                    "INSERT INTO past_states VALUES (%s, %s, %s, %s) ON CONFLICT (seq) DO UPDATE "
                    "SET entry_hash = EXCLUDED.entry_hash, body = EXCLUDED.body, "
                    "signature = EXCLUDED.signature",
                    [(p.seq, p.entry_hash, p.body, p.signature) for p in written],
                )
        except psycopg.Error as error:
            raise self._failed(error, "keeping the snapshots of the past") from error
        return True

    # ------------------------------------------------------------------ reading

    def past_states(
        self,
        seq_max: int = 2**63 - 1,
        count_max: int = limits.as_of_snapshots_max,
        bytes_max: int = limits.as_of_snapshot_bytes_max,
    ) -> list[StoredPastState]:
        try:
            db = self._reading()
            sizes = db.execute(
                "SELECT seq, octet_length(body) FROM past_states WHERE seq BETWEEN 1 AND %s "
                "AND octet_length(body) <= %s ORDER BY seq DESC LIMIT %s",
                (seq_max, bytes_max, count_max),
            ).fetchall()
            chosen = newest_within([(int(s), int(n)) for s, n in sizes], bytes_max)
            rows = db.execute(
                "SELECT seq, entry_hash, body, signature FROM past_states WHERE seq = ANY(%s) "
                "ORDER BY seq DESC",
                (chosen,),
            )
            return [StoredPastState(int(a), bytes(b), bytes(c), bytes(d)) for a, b, c, d in rows]
        except psycopg.Error as error:
            raise self._failed(error, "reading the snapshots of the past") from error

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
            for start in range(0, len(keys), limits.store_lookup_ids_max):
                part = keys[start : start + limits.store_lookup_ids_max]
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

    def transfer_metadata(self, ids: Collection[int]) -> dict[int, bytes]:
        keys = sorted({str(i) for i in ids if type(i) is int and 0 < i <= _u128_max})
        if not keys:
            self._writer.drain()
            return {}
        try:
            return postgres_metadata.transfer_metadata(self._reading(), keys)
        except psycopg.Error as error:
            raise self._failed(error, "looking up transfers' metadata") from error

    def transfers_with_metadata(
        self, metadata: Mapping[str, str], after_timestamp: int = 0
    ) -> Iterator[TransferRecord]:
        """A page at a time (``postgres_metadata.pairs_query``), in the read snapshot."""
        query, parameters = postgres_metadata.pairs_query(metadata, _transfers_per_page)
        for row in self._pages(query, max(after_timestamp, 0), parameters, "listing by metadata"):
            n = [int(value) for value in row]
            yield TransferRecord(
                n[1], n[2], n[3], n[4], n[5], n[6], n[0], n[7], n[8], n[9], n[10], n[11]
            )

    def projected_metadata(self) -> Iterator[tuple[int, str, str]]:
        after: tuple[int, str] = (-1, "")
        while True:
            try:
                rows = postgres_metadata.projected_page(self._reading(), after, _transfers_per_page)
            except psycopg.Error as error:
                raise self._failed(error, "reading the transfers' metadata") from error
            yield from rows
            if not rows:
                return
            after = (rows[-1][0], rows[-1][1])

    def checkpoint(self) -> Checkpoint:
        try:
            return read_checkpoint(self._reading())
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
            return read_definitions(self._reading())
        except psycopg.Error as error:
            raise self._failed(error, "reading the definitions") from error

    @contextmanager
    def cut(self) -> Iterator[PostgresCut]:
        """One exported snapshot at the checkpoint (``adapters/storage/cuts_postgres.py``)."""
        self._writer.drain()
        with postgres_cut(self.url) as cut:
            yield cut

    @contextmanager
    def exclusive(self, name: str) -> Iterator[bool]:
        """A lock of this store's first (tried, per name), then a session advisory lock on
        (the ledger's schema, ``name``): the advisory locks of one session stack, so without
        the first a second caller of this store (a nested call, another thread) would take it
        again where SQLite's and memory's answer that it is taken."""
        with process_lock(self._locks.setdefault(name, threading.Lock())) as mine:
            if not mine:
                yield False
                return
            with self._advisory_lock(name) as taken:
                yield taken

    @contextmanager
    def _advisory_lock(self, name: str) -> Iterator[bool]:
        """A session advisory lock on (the ledger's schema, ``name``), on a connection of the
        store's kept for locks only (the writes' own connection is never the one a lock dies
        with), released at the context's end; a holder that dies leaves none behind. The read
        snapshot ends first, so that reads inside see what the previous holder committed."""
        self._writer.drain()
        key = (name,)
        try:
            if self._snapshot_open:
                self._end_snapshot()
            if self._lock_db is None or self._lock_db.closed:
                self._lock_db = connect(self.url)
            row = self._lock_db.execute(_try_lock_sql, key).fetchone()
        except psycopg.Error as error:
            self._drop_lock_connection()
            raise StorageError(f"taking the lock {name} failed: {describe(error)}") from error
        assert row is not None
        taken, db = bool(row[0]), self._lock_db
        try:
            yield taken
        finally:
            if taken and db is self._lock_db and not db.closed:
                try:
                    db.execute(_unlock_sql, key)
                except psycopg.Error:
                    self._drop_lock_connection()  # its session's end releases the lock

    def _drop_lock_connection(self) -> None:
        db, self._lock_db = self._lock_db, None
        if db is not None:
            with contextlib.suppress(psycopg.Error):
                db.close()

    def close(self) -> None:
        self._drop_lock_connection()
        try:
            self._writer.close()
        finally:
            db, self._db = self._db, None
            self._snapshot_open = False
            if db is not None:
                db.close()
