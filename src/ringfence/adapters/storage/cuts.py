"""Cuts of a stored ledger for batch runs (the ``BalanceCut`` port): one consistent view of
the client balances, read range by range by tasks in other processes, or other machines.

The balances a store keeps are its last checkpoint's (the service checkpoints before a run, so
the cut is at the head). Each reader opens its own connection, reads the accounts of one range
of client numbers, and closes it:

- PostgreSQL: the coordinator opens a REPEATABLE READ transaction and exports its snapshot
  (``pg_export_snapshot()``); every reader's transaction adopts it (``SET TRANSACTION
  SNAPSHOT``), so all of them see one state of the database while writers go on. The snapshot
  lives as long as the coordinator's transaction: a reader that comes after it is refused.
- SQLite: one file cannot hand a read transaction to other processes, so each reader opens its
  own and checks that the file's checkpoint is still the cut's entry; the balances only change
  when a checkpoint is written, so a reader that finds the same entry reads the same state,
  and one that finds another raises ``SnapshotMovedError`` (the run keeps nothing).

Both read only rows defined at or before the cut's entry. Readers are plain dataclasses: Dask
pickles them to its workers, which import this module. The PostgreSQL cut lives in
``cuts_postgres.py``, so that opening an SQLite file does not load psycopg.
"""

from __future__ import annotations

import sqlite3
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ringfence.core.batch import ClientAccountRow, ClientRange
from ringfence.core.errors import SnapshotMovedError, StorageError

# Client accounts of a range of client numbers, defined by the cut's entry, in client order.
rows_sql = (
    "SELECT c.number, c.name, a.asset, a.pool, a.credits_posted, a.debits_posted "
    "FROM accounts a JOIN clients c ON c.name = a.owner "
    "WHERE a.class = 'client' AND c.number >= {first} AND c.number < {end} "
    "AND a.seq <= {seq} AND c.seq <= {seq} ORDER BY c.number"
)


def row_of(values: tuple[Any, ...]) -> ClientAccountRow:
    number, name, asset, pool, credits, debits = values
    return ClientAccountRow(number, name, asset, pool, int(credits) - int(debits))


# ---------------------------------------------------------------------- SQLite


def _open_read_only(path: str) -> sqlite3.Connection:
    uri = f"{Path(path).resolve().as_uri()}?mode=ro"
    try:
        db = sqlite3.connect(uri, uri=True, isolation_level=None)
        db.execute("PRAGMA busy_timeout = 10000")
    except sqlite3.Error as error:
        raise StorageError(f"cannot open {path} to read: {error}") from error
    return db


def _checkpoint_seq(db: sqlite3.Connection) -> int:
    row = db.execute("SELECT value FROM meta WHERE key = 'checkpoint_seq'").fetchone()
    return 0 if row is None else int(row[0])


@dataclass(frozen=True, slots=True)
class SqliteCutReader:
    path: str
    seq: int
    clients: ClientRange

    def read(self) -> list[ClientAccountRow]:
        db = _open_read_only(self.path)
        try:
            db.execute("BEGIN")
            found = _checkpoint_seq(db)
            if found != self.seq:
                raise SnapshotMovedError(
                    f"{self.path} is checkpointed at entry {found}, the run's cut at {self.seq}")
            query = rows_sql.format(first="?", end="?", seq="?")
            return [row_of(values) for values in db.execute(
                query, (self.clients.first, self.clients.end, self.seq, self.seq))]
        except sqlite3.Error as error:
            raise StorageError(f"cannot read {self.path}: {error}") from error
        finally:
            db.close()


@dataclass(frozen=True, slots=True)
class SqliteCut:
    path: str
    seq: int
    client_number_max: int

    def reader(self, clients: ClientRange) -> SqliteCutReader:
        return SqliteCutReader(self.path, self.seq, clients)


def sqlite_cut(path: str) -> SqliteCut:
    """The file's cut at its checkpoint."""
    db = _open_read_only(path)
    try:
        db.execute("BEGIN")
        seq = _checkpoint_seq(db)
        row = db.execute("SELECT max(number) FROM clients WHERE seq <= ?", (seq,)).fetchone()
    except sqlite3.Error as error:
        raise StorageError(f"cannot read {path}: {error}") from error
    finally:
        db.close()
    return SqliteCut(path, seq, row[0] or 0)
