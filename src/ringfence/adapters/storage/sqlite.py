"""The embedded store: one SQLite file in WAL mode with ``synchronous=FULL``.

Every ``append`` is one ``BEGIN IMMEDIATE`` transaction holding the journal entry, its
projection rows and, when due, a checkpoint; it is durable when ``COMMIT`` returns. Throughput
comes from the caller's batching (one transaction and one fsync per batch of up to 8,189
transfers), never from relaxing durability.

The transfer projection's columns are the journal record's own fixed-width big-endian fields
(16 bytes for ids and amounts, 8 for timestamps): lossless for the whole u128 range, and byte
order is numeric order, so ``ORDER BY`` and ``max()`` work. The rows are cut out of the journal
body by SQLite itself in one statement, which lets the whole commit run in a writer thread
without the Python lock while the engine executes the next batch (see ``append_begin``).
Definition tables and checkpointed balances use ``ANY`` columns: integers below 2^63, decimal
text above. The journal and the transfer projection are append-only: triggers refuse UPDATE
and DELETE.
"""

from __future__ import annotations

import sqlite3
import threading
from collections.abc import Collection, Iterator, Mapping, Sequence
from contextlib import contextmanager
from pathlib import Path

from ringfence.adapters.storage import sqlite_metadata
from ringfence.adapters.storage.cuts import SqliteCut, sqlite_cut
from ringfence.adapters.storage.locks import file_lock, process_lock
from ringfence.adapters.storage.pipelined import PipelinedWriter
from ringfence.adapters.storage.rows import (
    definition_queries,
    definitions_from_rows,
    entry_of_row,
    head_of_row,
    known_entry_kinds,
    newest_within,
)
from ringfence.adapters.storage.sqlite_schema import (
    add_signature_column,
    metadata_added_in,
    schema_statements,
    schema_version,
    signatures_added_in,
    transfer_columns,
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
    AccountDefinition,
    Break,
    Pool,
    TransferRecord,
)
from ringfence.core.money import Asset
from ringfence.service.ports import Checkpoint, PendingAppend, PendingRow, StoredPastState

__all__ = ["SqliteStore", "path_of", "schema_version"]

# How long an append waits for another process's write; the snapshots of the past, derived,
# wait limits.as_of_persist_busy_ms instead and give up (``keep_past_states``).
_busy_timeout_ms = 10_000
_busy_codes = frozenset({sqlite3.SQLITE_BUSY, sqlite3.SQLITE_LOCKED})

_int64_max = 2**63 - 1
_u128_max = 2**128 - 1


def _to_sql(value: int) -> int | str:
    """A u128 as SQLite keeps it losslessly: integer below 2^63, decimal text above."""
    return value if value <= _int64_max else str(value)


def _from_sql(value: int | str) -> int:
    return value if type(value) is int else int(value)


def path_of(url: str) -> str:
    """``sqlite:///relative.db`` or ``sqlite:////absolute/path.db`` to a filesystem path."""
    prefix = "sqlite:///"
    if not url.startswith(prefix) or len(url) == len(prefix):
        raise StorageError(f"not a SQLite URL: {url!r} (expected sqlite:///PATH)")
    return url[len(prefix) :]


class SqliteStore:
    def __init__(self, path: str, create: bool = True) -> None:
        """Open the ledger in the file at ``path``. With ``create`` a missing or empty file
        gets the schema; without, anything but an existing ringfence database is refused
        (``StorageError``) and left exactly as it was."""
        self.path = path
        self._locks: dict[str, threading.Lock] = {}  # for a database in memory only
        parent = Path(path).parent
        if not parent.exists():
            raise StorageError(f"folder {parent} does not exist")
        # One writer thread, used only by append_begin (adapters/storage/pipelined.py).
        self._writer = PipelinedWriter()
        try:
            self._db = self._connect(create)
            self._configure()
        except sqlite3.Error as error:
            self._writer.close()
            raise StorageError(f"cannot open {path}: {error}") from error

    def _connect(self, create: bool) -> sqlite3.Connection:
        if create:
            return sqlite3.connect(self.path, isolation_level=None, check_same_thread=False)
        uri = f"{Path(self.path).resolve().as_uri()}?mode=rw"
        db = sqlite3.connect(uri, uri=True, isolation_level=None, check_same_thread=False)
        # Read before anything is set: an empty file stays empty (WAL mode would write it).
        found = db.execute("SELECT count(*) FROM sqlite_master WHERE name = 'journal'").fetchone()
        if found[0] == 0:
            db.close()
            self._writer.close()
            raise StorageError(
                f"{self.path} is not a ringfence database (create one with `ringfence init`)"
            )
        return db

    def _configure(self) -> None:
        db = self._db
        db.execute(f"PRAGMA busy_timeout = {_busy_timeout_ms}")
        mode = db.execute("PRAGMA journal_mode = WAL").fetchone()[0]
        if mode != "wal":
            raise StorageError(f"{self.path}: WAL journal mode unavailable ({mode})")
        db.execute("PRAGMA synchronous = FULL")
        db.execute("PRAGMA cache_size = -65536")
        db.execute("BEGIN IMMEDIATE")
        try:
            for statement in schema_statements():
                db.execute(statement)
            if db.execute("SELECT count(*) FROM record_numbers").fetchone()[0] == 0:
                numbers = range(limits.batch_events_max)
                db.executemany("INSERT INTO record_numbers VALUES (?)", ((n,) for n in numbers))
            version = db.execute("SELECT value FROM meta WHERE key = 'schema_version'").fetchone()
            if version is None:
                db.execute("INSERT INTO meta VALUES ('schema_version', ?)", (schema_version,))
            elif signatures_added_in - 1 <= version[0] < schema_version:
                if version[0] < signatures_added_in:
                    # Journals from before signing: their entries keep an empty signature,
                    # vouched for by the journal key's first declaration (authenticity.py).
                    db.execute(add_signature_column)
                # Journals from before metadata hold none: the table made above stays empty.
                assert metadata_added_in == schema_version
                db.execute(
                    "UPDATE meta SET value = ? WHERE key = 'schema_version'", (schema_version,)
                )
            elif version[0] != schema_version:
                raise StorageError(f"{self.path}: schema version {version[0]} is not supported")
            db.execute("COMMIT")
        except BaseException:
            db.execute("ROLLBACK")
            raise

    # ------------------------------------------------------------------ writing

    def head(self) -> tuple[int, bytes]:
        self._writer.drain()
        return self._head()

    def _head(self) -> tuple[int, bytes]:
        row = self._db.execute("SELECT seq, hash FROM journal ORDER BY seq DESC LIMIT 1").fetchone()
        return (0, genesis_hash) if row is None else head_of_row(row[0], row[1])

    def transfer_id_max(self) -> int:
        self._writer.drain()
        row = self._db.execute("SELECT max(id) FROM transfers").fetchone()
        return 0 if row[0] is None else int.from_bytes(row[0], "big")

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
        """Both entries (and the checkpoint) in one ``BEGIN IMMEDIATE`` transaction."""
        assert companion.seq == entry.seq + 1
        assert companion.previous_hash == entry.hash
        assert len(records) <= limits.batch_events_max
        self._writer.drain()
        with self._transaction(f"append of entries {entry.seq} and {companion.seq}"):
            self._db.execute(_insert_entry_sql, _row_of(entry, len(records)))
            sqlite_metadata.insert_metadata(
                self._db, metadata_pairs_of(entry.body, records) if records else []
            )
            self._db.execute(_insert_entry_sql, _row_of(companion, 0))
            if checkpoint is not None:
                self._write_checkpoint(checkpoint)

    def append_begin(self, entry: JournalEntry, records: Sequence[TransferRecord]) -> PendingAppend:
        """Start committing a transfer entry in the writer thread and return at once.

        The caller may compute meanwhile (the commit holds no Python lock: its statements cut
        the rows out of the journal body inside SQLite) but must ``wait()`` before telling
        anyone the entry is durable. Any other call on the store waits for it first.
        """
        return self._writer.begin(lambda: self._append(entry, records, (), None))

    def _append(
        self,
        entry: JournalEntry,
        records: Sequence[TransferRecord],
        definitions: Sequence[Definition],
        checkpoint: Checkpoint | None,
    ) -> None:
        """One transaction. The database itself refuses an entry that does not extend the head
        (trigger ``journal_extends_head``) and cuts the transfer rows out of the body (trigger
        ``journal_projects_transfers``), so an entry with nothing else to write is a single
        statement, committed as it ends, during which the Python lock is free. Metadata pairs,
        variable in length, are written beside it (``sqlite_metadata.insert_metadata``)."""
        assert len(records) <= limits.batch_events_max
        db = self._db
        row = _row_of(entry, len(records))
        pairs = metadata_pairs_of(entry.body, records) if records else []
        if not definitions and checkpoint is None and not pairs:
            try:
                db.execute(_insert_entry_sql, row)
            except sqlite3.Error as error:
                raise _append_error(entry.seq, error) from error
            return
        with self._transaction(f"append of entry {entry.seq}"):
            db.execute(_insert_entry_sql, row)
            sqlite_metadata.insert_metadata(db, pairs)
            if definitions:
                self._insert_definitions(entry.kind, entry.seq, definitions)
            if checkpoint is not None:
                self._write_checkpoint(checkpoint)

    @contextmanager
    def _transaction(self, what: str) -> Iterator[None]:
        """``BEGIN IMMEDIATE`` ... ``COMMIT``, rolled back on any error; SQLite's errors become
        ``StorageError`` naming ``what``."""
        db = self._db
        try:
            db.execute("BEGIN IMMEDIATE")
            try:
                yield
                db.execute("COMMIT")
            except BaseException:
                if db.in_transaction:
                    db.execute("ROLLBACK")
                raise
        except sqlite3.Error as error:
            if _head_conflict_text in str(error):
                raise HeadConflictError(f"{what} refused: {error}") from error
            raise StorageError(f"{what} failed: {error}") from error

    def _insert_definitions(
        self, kind: EntryKind, seq: int, definitions: Sequence[Definition]
    ) -> None:
        db = self._db
        if kind is EntryKind.assets:
            db.executemany(
                "INSERT INTO assets VALUES (?, ?, ?, ?, ?, ?)",
                [
                    (a.code, a.number, a.scale, a.chain, a.contract, seq)
                    for a in _assets(definitions)
                ],
            )
        elif kind is EntryKind.clients:
            db.executemany(
                "INSERT INTO clients VALUES (?, ?, ?)",
                [(name, number, seq) for name, number in _clients(definitions)],
            )
        elif kind is EntryKind.pools:
            db.executemany(
                "INSERT INTO pools VALUES (?, ?, ?, ?, ?, ?)",
                [
                    (p.name, p.kind.value, p.terms.value, p.purpose.value, p.client, seq)
                    for p in _pools(definitions)
                ],
            )
        else:
            db.executemany(
                "INSERT INTO accounts (id, asset, class, owner, kind, pool, seq) "
                "VALUES (?, ?, ?, ?, ?, ?, ?)",
                [
                    (_to_sql(a.id), a.asset, a.account_class.value, a.owner, a.kind, a.pool, seq)
                    for a in _accounts(definitions)
                ],
            )

    def write_checkpoint(self, checkpoint: Checkpoint) -> None:
        self._writer.drain()
        with self._transaction(f"checkpoint {checkpoint.seq}"):
            self._write_checkpoint(checkpoint)

    def _write_checkpoint(self, checkpoint: Checkpoint) -> None:
        db = self._db
        db.executemany(
            "UPDATE accounts SET debits_pending = ?, debits_posted = ?, credits_pending = ?, "
            "credits_posted = ? WHERE id = ?",
            [
                (_to_sql(b[0]), _to_sql(b[1]), _to_sql(b[2]), _to_sql(b[3]), _to_sql(i))
                for i, b in checkpoint.balances.items()
            ],
        )
        db.executemany(
            "INSERT OR REPLACE INTO pending_transfers VALUES (?, ?, ?)",
            [(_to_sql(p.id), p.expires_at, p.status) for p in checkpoint.pendings.values()],
        )
        db.executemany(
            "INSERT OR REPLACE INTO breaks VALUES (?, ?, ?, ?, ?, ?)",
            [
                (_to_sql(b.id), b.pool, b.asset, _to_sql(b.amount), _to_sql(b.cured), b.opened_at)
                for b in checkpoint.breaks.values()
            ],
        )
        db.executemany(
            "INSERT OR REPLACE INTO reversals VALUES (?, ?)",
            [(_to_sql(i), _to_sql(a)) for i, a in checkpoint.reversed.items()],
        )
        db.executemany(
            "INSERT OR REPLACE INTO meta VALUES (?, ?)",
            [
                ("checkpoint_seq", checkpoint.seq),
                ("checkpoint_timestamp_last", str(checkpoint.timestamp_last)),
            ],
        )

    def keep_past_states(
        self, written: Sequence[StoredPastState], forgotten: Collection[int]
    ) -> bool:
        """The snapshots of the past (service/ledger/past_seal.py), outside any append: waiting
        at most ``limits.as_of_persist_busy_ms`` for another writer, not the appends' wait."""
        self._writer.drain()
        self._db.execute(f"PRAGMA busy_timeout = {limits.as_of_persist_busy_ms}")
        try:
            with self._transaction("keeping the snapshots of the past"):
                self._db.executemany(
                    "DELETE FROM past_states WHERE seq = ?", [(s,) for s in forgotten]
                )
                self._db.executemany(
                    "INSERT OR REPLACE INTO past_states VALUES (?, ?, ?, ?)",
                    [(p.seq, p.entry_hash, p.body, p.signature) for p in written],
                )
        except StorageError as error:
            cause = error.__cause__
            if isinstance(cause, sqlite3.Error) and cause.sqlite_errorcode & 0xFF in _busy_codes:
                return False
            raise
        finally:
            self._db.execute(f"PRAGMA busy_timeout = {_busy_timeout_ms}")
        return True

    # ------------------------------------------------------------------ reading

    def past_states(
        self,
        seq_max: int = 2**63 - 1,
        count_max: int = limits.as_of_snapshots_max,
        bytes_max: int = limits.as_of_snapshot_bytes_max,
    ) -> list[StoredPastState]:
        self._writer.drain()
        sizes = self._db.execute(
            "SELECT seq, length(body) FROM past_states WHERE seq BETWEEN 1 AND ? "
            "AND length(body) <= ? ORDER BY seq DESC LIMIT ?",
            (seq_max, bytes_max, count_max),
        )
        chosen = newest_within(sizes.fetchall(), bytes_max)
        rows = self._db.execute(
            "SELECT seq, entry_hash, body, signature FROM past_states "
            f"WHERE seq IN ({', '.join('?' * len(chosen))}) ORDER BY seq DESC",
            chosen,
        )
        return [StoredPastState(*row) for row in rows]

    def entries(
        self, after_seq: int = 0, kinds: Collection[EntryKind] | None = None
    ) -> Iterator[JournalEntry]:
        self._writer.drain()
        query = (
            "SELECT seq, kind, timestamp, body, previous_hash, hash, signature FROM journal "
            "WHERE seq > ?"
        )
        parameters: list[int] = [after_seq]
        if kinds is not None:
            # Rows of no known kind come too: reading them is how a reader learns of them.
            query += (
                f" AND (kind IN ({', '.join('?' * len(kinds))}) OR kind IS NULL"
                f" OR kind NOT IN ({', '.join('?' * len(known_entry_kinds))}))"
            )
            parameters.extend(int(kind) for kind in kinds)
            parameters.extend(known_entry_kinds)
        cursor = self._db.execute(query + " ORDER BY seq", parameters)
        for row in cursor:
            yield entry_of_row(row)

    def transfers(self, ids: Collection[int]) -> dict[int, TransferRecord]:
        self._writer.drain()
        # An id outside u128 cannot have been committed: it is simply not found.
        keys = [i.to_bytes(16, "big") for i in ids if type(i) is int and 0 < i <= _u128_max]
        found: dict[int, TransferRecord] = {}
        chunk = 8_000
        for start in range(0, len(keys), chunk):
            part = keys[start : start + chunk]
            cursor = self._db.execute(
                f"SELECT {transfer_columns} FROM transfers "
                f"WHERE id IN ({', '.join('?' * len(part))})",
                part,
            )
            for row in cursor:
                record = _record_of(row)
                found[record.id] = record
        return found

    def transfer_metadata(self, ids: Collection[int]) -> dict[int, bytes]:
        self._writer.drain()
        return sqlite_metadata.transfer_metadata(self._db, ids)

    def transfers_with_metadata(
        self, metadata: Mapping[str, str], after_timestamp: int = 0
    ) -> Iterator[TransferRecord]:
        self._writer.drain()
        for row in sqlite_metadata.transfers_with_metadata(self._db, metadata, after_timestamp):
            yield _record_of(row)

    def projected_metadata(self) -> Iterator[tuple[int, str, str]]:
        self._writer.drain()
        yield from sqlite_metadata.projected_metadata(self._db)

    def checkpoint(self) -> Checkpoint:
        self._writer.drain()
        db = self._db
        meta = dict(db.execute("SELECT key, value FROM meta"))
        checkpoint = Checkpoint(
            int(meta.get("checkpoint_seq", 0)), int(meta.get("checkpoint_timestamp_last", 0))
        )
        for row in db.execute(
            "SELECT id, debits_pending, debits_posted, credits_pending, credits_posted "
            "FROM accounts"
        ):
            balances = (_from_sql(row[1]), _from_sql(row[2]), _from_sql(row[3]), _from_sql(row[4]))
            if any(balances):
                checkpoint.balances[_from_sql(row[0])] = balances
        for row in db.execute("SELECT id, expires_at, status FROM pending_transfers"):
            checkpoint.pendings[_from_sql(row[0])] = PendingRow(_from_sql(row[0]), row[1], row[2])
        for row in db.execute("SELECT id, pool, asset, amount, cured, opened_at FROM breaks"):
            checkpoint.breaks[_from_sql(row[0])] = Break(
                _from_sql(row[0]), row[1], row[2], _from_sql(row[3]), _from_sql(row[4]), row[5]
            )
        for row in db.execute("SELECT id, amount FROM reversals"):
            checkpoint.reversed[_from_sql(row[0])] = _from_sql(row[1])
        return checkpoint

    def projected_transfers(self) -> Iterator[TransferRecord]:
        self._writer.drain()
        cursor = self._db.execute(f"SELECT {transfer_columns} FROM transfers ORDER BY timestamp")
        for row in cursor:
            yield _record_of(row)

    def projected_definitions(self) -> dict[EntryKind, list[Definition]]:
        self._writer.drain()
        order = {EntryKind.clients: "number"}
        return definitions_from_rows(
            lambda kind: self._db.execute(
                f"{definition_queries[kind]} ORDER BY {order.get(kind, 'seq, rowid')}"
            )
        )

    @contextmanager
    def cut(self) -> Iterator[SqliteCut]:
        """The file at its checkpoint (``adapters/storage/cuts.py``)."""
        self._writer.drain()
        yield sqlite_cut(self.path)

    @contextmanager
    def exclusive(self, name: str) -> Iterator[bool]:
        """``flock`` on ``<database>.<name>.lock`` (adapters/storage/locks.py)."""
        self._writer.drain()
        if self.path == ":memory:" or not self.path:
            lock = process_lock(self._locks.setdefault(name, threading.Lock()))
        else:
            lock = file_lock(f"{self.path}.{name}.lock")
        with lock as taken:
            yield taken

    def close(self) -> None:
        try:
            self._writer.close()
        finally:
            self._db.close()


_insert_entry_sql = (
    "INSERT INTO journal (seq, kind, timestamp, body, previous_hash, hash, records, signature) "
    "VALUES (?, ?, ?, ?, ?, ?, ?, ?)"
)
_head_conflict_text = "does not extend the journal head"  # the trigger's message


def _row_of(entry: JournalEntry, record_count: int) -> tuple[object, ...]:
    return (
        entry.seq,
        int(entry.kind),
        entry.timestamp,
        entry.body,
        entry.previous_hash,
        entry.hash,
        record_count,
        entry.signature,
    )


def _append_error(seq: int, error: sqlite3.Error) -> StorageError:
    """A refusal by the head trigger is a conflict (nothing written: retry); all else is not."""
    if _head_conflict_text in str(error):
        return HeadConflictError(f"entry {seq} refused: another writer appended first")
    return StorageError(f"append of entry {seq} failed: {error}")


def _record_of(row: tuple[bytes, ...]) -> TransferRecord:
    return TransferRecord(*(int.from_bytes(value, "big") for value in row))


def _assets(definitions: Sequence[Definition]) -> list[Asset]:
    return [d for d in definitions if isinstance(d, Asset)]


def _clients(definitions: Sequence[Definition]) -> list[tuple[str, int]]:
    return [d for d in definitions if isinstance(d, tuple)]


def _pools(definitions: Sequence[Definition]) -> list[Pool]:
    return [d for d in definitions if isinstance(d, Pool)]


def _accounts(definitions: Sequence[Definition]) -> list[AccountDefinition]:
    return [d for d in definitions if isinstance(d, AccountDefinition)]
