"""The PostgreSQL cut of a stored ledger (``adapters/storage/cuts.py`` says what a cut is): the
coordinator's exported snapshot, adopted by every reader's transaction."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field

import psycopg
from psycopg import sql

from ringfence.adapters.storage.cuts import row_of, rows_sql
from ringfence.adapters.storage.postgres_setup import connect, describe, redacted
from ringfence.core.batch import ClientAccountRow, ClientRange
from ringfence.core.errors import SnapshotMovedError, StorageError


@dataclass(frozen=True, slots=True)
class PostgresCutReader:
    url: str = field(repr=False)
    snapshot: str
    seq: int
    clients: ClientRange

    def read(self) -> list[ClientAccountRow]:
        db = connect(self.url)
        try:
            db.execute("BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY")
            try:
                db.execute(sql.SQL("SET TRANSACTION SNAPSHOT {}").format(
                    sql.Literal(self.snapshot)))
            except psycopg.Error as error:
                raise SnapshotMovedError(
                    f"snapshot {self.snapshot} is gone (its run ended): {describe(error)}"
                ) from error
            query = rows_sql.format(first="%s", end="%s", seq="%s")
            cursor = db.execute(query, (self.clients.first, self.clients.end, self.seq, self.seq))
            return [row_of(values) for values in cursor]
        except psycopg.Error as error:
            raise StorageError(f"cannot read {redacted(self.url)}: {describe(error)}") from error
        finally:
            db.close()


@dataclass(frozen=True, slots=True)
class PostgresCut:
    url: str = field(repr=False)
    snapshot: str
    seq: int
    client_number_max: int

    def reader(self, clients: ClientRange) -> PostgresCutReader:
        return PostgresCutReader(self.url, self.snapshot, self.seq, clients)


@contextmanager
def postgres_cut(url: str) -> Iterator[PostgresCut]:
    """The database's cut at its checkpoint, as one exported snapshot held open until the
    context ends."""
    db = connect(url)
    try:
        db.execute("BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY")
        snapshot = db.execute("SELECT pg_export_snapshot()").fetchone()
        row = db.execute("SELECT value FROM meta WHERE key = 'checkpoint_seq'").fetchone()
        seq = 0 if row is None else int(row[0])
        number = db.execute("SELECT max(number) FROM clients WHERE seq <= %s", (seq,)).fetchone()
    except psycopg.Error as error:
        db.close()
        raise StorageError(f"cannot export a snapshot of {redacted(url)}: "
                           f"{describe(error)}") from error
    assert snapshot is not None
    assert number is not None
    try:
        yield PostgresCut(url, snapshot[0], seq, int(number[0] or 0))
    finally:
        db.close()  # ends the transaction, and with it the snapshot
