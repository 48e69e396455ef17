"""Remembered answers in a SQLite file of their own beside the database
(``PATH.idempotency``), created readable by its owner only (an answer can hold what only its
caller should see, such as a webhook secret), so a retry after a restart still answers as the
first request did. The most recent ``limits.idempotency_responses_max`` are kept: each keep
forgets the oldest beyond it, in the same transaction."""

from __future__ import annotations

from pathlib import Path

from ringfence.adapters.private_sqlite import PrivateSqliteFile
from ringfence.core import limits
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
        self._file = PrivateSqliteFile(path, _schema, "idempotency file")

    def find(self, principal: str, key: str) -> RememberedResponse | None:
        with self._file.locked() as db:
            row = db.execute(
                "SELECT fingerprint, status, body FROM responses WHERE principal = ? AND key = ?",
                (principal, key),
            ).fetchone()
        return None if row is None else RememberedResponse(bytes(row[0]), row[1], bytes(row[2]))

    def keep(self, principal: str, key: str, response: RememberedResponse) -> None:
        with self._file.transaction() as db:
            db.execute(
                "INSERT OR IGNORE INTO responses (principal, key, fingerprint, status, body) "
                "VALUES (?, ?, ?, ?, ?)",
                (principal, key, response.fingerprint, response.status, response.body),
            )
            db.execute(
                "DELETE FROM responses WHERE number <= (SELECT max(number) FROM responses) - ?",
                (limits.idempotency_responses_max,),
            )

    def close(self) -> None:
        self._file.close()
