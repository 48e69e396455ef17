"""Remembered answers in the PostgreSQL database of the ledger itself: a table
``idempotency_responses`` in the ledger's schema, beside the journal, so that a retry after a
restart, or sent to another server over the same ledger, answers as the first request did.

No migration builds the table: it holds no part of the ledger (nothing is derived from it, and
``audit verify`` never reads it) and is created, if missing, when the store opens, with its
rights granted to the application role ``ringfence_app`` when that role exists. It is not
append-only: each keep forgets the oldest answers beyond ``limits.idempotency_responses_max``
in the same transaction.

Keys are per principal (``principal``, ``key`` is the primary key); a key is answered once:
the first answer stays (``ON CONFLICT DO NOTHING``), even when two servers race to keep one.
The answer is kept after the call it answers has committed, in a transaction of its own: a
crash in between leaves the key unanswered and the retry runs again, which the ledger makes
harmless (each transfer answers ``exists``).

One connection, behind a lock (the port is thread-safe); any failure of it raises
``StorageError`` and drops it, and the next call opens a fresh one.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import psycopg

from ringfence.adapters.storage.postgres_setup import connect, describe
from ringfence.core import limits
from ringfence.core.errors import StorageError
from ringfence.service.ports import RememberedResponse

_schema = """
CREATE TABLE IF NOT EXISTS idempotency_responses (
    number BIGINT GENERATED ALWAYS AS IDENTITY,
    principal TEXT NOT NULL,
    key TEXT NOT NULL,
    fingerprint BYTEA NOT NULL CHECK (length(fingerprint) = 32),
    status INTEGER NOT NULL CHECK (status BETWEEN 100 AND 599),
    body BYTEA NOT NULL,
    kept_at TIMESTAMPTZ NOT NULL DEFAULT now(),
    PRIMARY KEY (principal, key)
);
CREATE INDEX IF NOT EXISTS idempotency_responses_by_number ON idempotency_responses (number);
DO $$
BEGIN
    IF EXISTS (SELECT FROM pg_roles WHERE rolname = 'ringfence_app') THEN
        EXECUTE 'GRANT SELECT, INSERT, DELETE ON ' || quote_ident(current_schema())
            || '.idempotency_responses TO ringfence_app';
    END IF;
END $$;
"""

# Two servers opening one ledger at once would race on CREATE TABLE IF NOT EXISTS (it is not
# atomic in PostgreSQL): the opening takes a lock of its own, per schema, for the transaction.
_lock_opening = "SELECT pg_advisory_xact_lock(1919510119, hashtext(current_schema()))"


class PostgresIdempotencyStore:
    def __init__(self, url: str) -> None:
        self.url = url
        self._lock = threading.Lock()
        self._db: psycopg.Connection[Any] | None = None
        with self._lock, self._transaction() as db:
            db.execute(_lock_opening)
            db.execute(_schema.encode())

    def find(self, principal: str, key: str) -> RememberedResponse | None:
        with self._lock, self._transaction() as db:
            row = db.execute(
                "SELECT fingerprint, status, body FROM idempotency_responses "
                "WHERE principal = %s AND key = %s",
                (principal, key),
            ).fetchone()
        return None if row is None else RememberedResponse(bytes(row[0]), row[1], bytes(row[2]))

    def keep(self, principal: str, key: str, response: RememberedResponse) -> None:
        with self._lock, self._transaction() as db:
            db.execute(
                "INSERT INTO idempotency_responses (principal, key, fingerprint, status, body) "
                "VALUES (%s, %s, %s, %s, %s) ON CONFLICT DO NOTHING",
                (principal, key, response.fingerprint, response.status, response.body),
            )
            db.execute(
                "DELETE FROM idempotency_responses WHERE number <= "
                "(SELECT max(number) FROM idempotency_responses) - %s",
                (limits.idempotency_responses_max,),
            )

    def close(self) -> None:
        with self._lock:
            if self._db is not None:
                self._db.close()
                self._db = None

    @contextmanager
    def _transaction(self) -> Iterator[psycopg.Connection[Any]]:
        """One transaction on the store's connection (opened if there is none); a failure of
        PostgreSQL becomes ``StorageError`` and drops the connection."""
        try:
            if self._db is None or self._db.closed:
                self._db = connect(self.url)
            with self._db.transaction():
                yield self._db
        except psycopg.Error as error:
            if self._db is not None:
                self._db.close()
                self._db = None
            raise StorageError(f"idempotency answers: {describe(error)}") from error
