"""Webhook subscriptions in a SQLite file of their own, beside the ledger's database
(``PATH.webhooks``), created readable by its owner only: it holds the signing secrets, which
have no place in the database that auditors and resolution packs copy (docs/events.md).

Each delivery moves a subscription's cursor with one committed update, so a restarted worker
resumes after the last event a receiver acknowledged. ``update`` is a compare-and-set on the
version, so an admin's replay and the worker's progress never overwrite each other."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from ringfence.adapters.private_sqlite import PrivateSqliteFile
from ringfence.core import limits
from ringfence.core.errors import InputError, Result
from ringfence.core.events.catalogue import Position
from ringfence.core.events.webhooks import Subscription, SubscriptionState

_schema = """
CREATE TABLE IF NOT EXISTS webhooks (
    id TEXT PRIMARY KEY,
    url TEXT NOT NULL,
    types TEXT NOT NULL,
    secret TEXT NOT NULL,
    created_at_ns INTEGER NOT NULL,
    position_seq INTEGER NOT NULL,
    position_index INTEGER NOT NULL,
    state TEXT NOT NULL,
    attempts INTEGER NOT NULL,
    next_attempt_ns INTEGER NOT NULL,
    last_error TEXT NOT NULL,
    delivered INTEGER NOT NULL,
    version INTEGER NOT NULL
) STRICT
"""
_columns = (
    "id, url, types, secret, created_at_ns, position_seq, position_index, state, attempts, "
    "next_attempt_ns, last_error, delivered, version"
)


class SqliteWebhookStore:
    """Thread-safe: the delivery worker and the request threads share it."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._file = PrivateSqliteFile(path, _schema, "webhook file")

    def add(self, subscription: Subscription) -> None:
        with self._file.transaction() as db:
            (count,) = db.execute("SELECT count(*) FROM webhooks").fetchone()
            if count >= limits.webhook_subscriptions_max:
                raise InputError(
                    Result.webhook_subscriptions_exceeded,
                    f"at most {limits.webhook_subscriptions_max}",
                )
            db.execute(
                f"INSERT INTO webhooks ({_columns}) VALUES ({', '.join('?' * 13)})",
                _row_of(subscription),
            )

    def get(self, subscription_id: str) -> Subscription | None:
        with self._file.locked() as db:
            row = db.execute(
                f"SELECT {_columns} FROM webhooks WHERE id = ?", (subscription_id,)
            ).fetchone()
        return None if row is None else _subscription_of(row)

    def records(self) -> list[Subscription]:
        with self._file.locked() as db:
            rows = db.execute(
                f"SELECT {_columns} FROM webhooks ORDER BY created_at_ns, id"
            ).fetchall()
        return [_subscription_of(row) for row in rows]

    def update(self, subscription: Subscription) -> bool:
        s = subscription
        with self._file.locked() as db:
            changed = db.execute(
                "UPDATE webhooks SET position_seq = ?, position_index = ?, state = ?, "
                "attempts = ?, next_attempt_ns = ?, last_error = ?, delivered = ?, version = ? "
                "WHERE id = ? AND version = ?",
                (s.position.seq, s.position.index, s.state.value, s.attempts, s.next_attempt_ns,
                 s.last_error, s.delivered, s.version, s.id, s.version - 1),
            ).rowcount  # fmt: skip
        return changed == 1

    def remove(self, subscription_id: str) -> bool:
        with self._file.locked() as db:
            found = db.execute("DELETE FROM webhooks WHERE id = ?", (subscription_id,))
            return found.rowcount == 1

    def close(self) -> None:
        self._file.close()


def _row_of(s: Subscription) -> tuple[Any, ...]:
    return (
        s.id, s.url, json.dumps(list(s.types)), s.secret, s.created_at_ns, s.position.seq,
        s.position.index, s.state.value, s.attempts, s.next_attempt_ns, s.last_error,
        s.delivered, s.version,
    )  # fmt: skip


def _subscription_of(row: tuple[Any, ...]) -> Subscription:
    (id_, url, types, secret, created_at_ns, seq, index, state, attempts, next_attempt_ns,
     last_error, delivered, version) = row  # fmt: skip
    return Subscription(
        id_, url, tuple(json.loads(types)), secret, created_at_ns, Position(seq, index),
        SubscriptionState(state), attempts, next_attempt_ns, last_error, delivered, version,
    )  # fmt: skip
