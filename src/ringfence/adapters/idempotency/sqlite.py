"""Remembered answers in a SQLite file of their own beside the database
(``PATH.idempotency``), created readable by its owner only (an answer can hold what only its
caller should see, such as a webhook secret), so a retry after a restart still answers as the
first request did. The most recent ``limits.idempotency_responses_max`` are kept: each keep
forgets the oldest beyond it, in the same transaction."""

from __future__ import annotations

import os
import sqlite3
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from ringfence.core import limits
from ringfence.core.errors import StorageError
from ringfence.service.ports import RememberedResponse

_schema = """
CREATE TABLE IF NOT EXISTS responses (
    number INTEGER PRIMARY KEY AUTOINCREMENT,
    principal TEXT NOT NULL,
    key TEXT NOT NULL,
    fingerprint BLOB NOT NULL,
    status INTEGER NOT NULL,
    body BLOB NOT NULL,
    UNIQUE (principal, key)
) STRICT
"""


class SqliteIdempotencyStore:
    def __init__(self, path: Path) -> None:
        self.path = path
        self._lock = threading.Lock()
        try:
            if not path.exists():
                os.close(os.open(path, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o600))
            self._db = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
            self._db.execute("PRAGMA busy_timeout = 10000")
            self._db.execute("PRAGMA journal_mode = WAL")
            self._db.execute("PRAGMA synchronous = FULL")
            self._db.execute(_schema)
        except (OSError, sqlite3.Error) as error:
            raise StorageError(f"cannot open the idempotency file {path}: {error}") from None

    def find(self, principal: str, key: str) -> RememberedResponse | None:
        with self._locked():
            row = self._db.execute(
                "SELECT fingerprint, status, body FROM responses WHERE principal = ? AND key = ?",
                (principal, key),
            ).fetchone()
        return None if row is None else RememberedResponse(bytes(row[0]), row[1], bytes(row[2]))

    def keep(self, principal: str, key: str, response: RememberedResponse) -> None:
        with self._locked():
            self._db.execute("BEGIN IMMEDIATE")
            try:
                self._db.execute(
                    "INSERT OR IGNORE INTO responses (principal, key, fingerprint, status, body) "
                    "VALUES (?, ?, ?, ?, ?)",
                    (principal, key, response.fingerprint, response.status, response.body),
                )
                self._db.execute(
                    "DELETE FROM responses WHERE number <= "
                    "(SELECT max(number) FROM responses) - ?",
                    (limits.idempotency_responses_max,),
                )
                self._db.execute("COMMIT")
            except BaseException:
                self._db.execute("ROLLBACK")
                raise

    def close(self) -> None:
        with self._lock:
            self._db.close()

    @contextmanager
    def _locked(self) -> Iterator[None]:
        with self._lock:
            try:
                yield
            except sqlite3.Error as error:
                raise StorageError(f"idempotency file {self.path}: {error}") from None
