"""A SQLite file of its own beside the ledger's database, readable by its owner only.

API key hashes (``PATH.api-keys``), webhook secrets (``PATH.webhooks``) and remembered answers
(``PATH.idempotency``) are kept out of the ledger's database, which auditors and resolution
packs copy; each is a file made with owner-only permissions before SQLite first opens it, and
written durably (WAL, ``synchronous = FULL``). Every store that keeps one shares this: the
opening, one caller at a time (the server's threads share a store), and a SQLite failure
reported as a ``StorageError`` naming the file.
"""

from __future__ import annotations

import os
import sqlite3
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from ringfence.core.errors import StorageError

busy_timeout_ms = 10_000


class PrivateSqliteFile:
    """One connection to the file at ``path`` with ``schema`` applied; ``what`` names the
    file in errors ("API key file")."""

    def __init__(self, path: Path, schema: str, what: str) -> None:
        self.path = path
        self.what = what
        self._lock = threading.Lock()
        try:
            if not path.exists():
                # Made with owner-only permissions before SQLite opens it.
                os.close(os.open(path, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o600))
            self._db = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
            self._db.execute(f"PRAGMA busy_timeout = {busy_timeout_ms}")
            self._db.execute("PRAGMA journal_mode = WAL")
            self._db.execute("PRAGMA synchronous = FULL")
            self._db.execute(schema)
        except (OSError, sqlite3.Error) as error:
            raise StorageError(f"cannot open the {what} {path}: {error}") from None

    @contextmanager
    def locked(self) -> Iterator[sqlite3.Connection]:
        """The connection, to one caller at a time; a SQLite failure becomes a
        ``StorageError`` naming the file."""
        with self._lock:
            try:
                yield self._db
            except sqlite3.Error as error:
                raise StorageError(f"{self.what} {self.path}: {error}") from None

    @contextmanager
    def transaction(self) -> Iterator[sqlite3.Connection]:
        """``locked``, inside ``BEGIN IMMEDIATE``: committed when the block ends, rolled back
        when anything escapes it (a refusal such as a full store included)."""
        with self.locked() as db:
            db.execute("BEGIN IMMEDIATE")
            try:
                yield db
                db.execute("COMMIT")
            except BaseException:
                db.execute("ROLLBACK")
                raise

    def close(self) -> None:
        with self._lock:
            self._db.close()
