"""The idempotency stores (memory, an SQLite file, a PostgreSQL table): a key is answered once
(the first answer stays), keys are per principal, and only the most recent answers are kept."""

from __future__ import annotations

from pathlib import Path

import pytest

from ringfence.adapters.idempotency.memory import MemoryIdempotencyStore
from ringfence.adapters.idempotency.postgres import PostgresIdempotencyStore
from ringfence.adapters.idempotency.sqlite import SqliteIdempotencyStore
from ringfence.core import limits
from ringfence.service.ports import IdempotencyStore, RememberedResponse


@pytest.fixture(params=["memory", "sqlite", "postgres"])
def store(request: pytest.FixtureRequest, tmp_path: Path) -> IdempotencyStore:
    if request.param == "memory":
        return MemoryIdempotencyStore()
    if request.param == "postgres":
        return PostgresIdempotencyStore(request.getfixturevalue("postgres_url"))
    return SqliteIdempotencyStore(tmp_path / "books.db.idempotency")


def answer(n: int) -> RememberedResponse:
    return RememberedResponse(bytes([n]) * 32, 200, b'{"n": %d}' % n)


def test_the_first_answer_stays_and_keys_are_per_principal(store: IdempotencyStore) -> None:
    store.keep("ops/operator/", "k", answer(1))
    store.keep("ops/operator/", "k", answer(2))
    assert store.find("ops/operator/", "k") == answer(1)
    assert store.find("alice/client/alice", "k") is None
    store.close()


def test_only_the_most_recent_answers_are_kept(
    store: IdempotencyStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(limits, "idempotency_responses_max", 3)
    for n in range(5):
        store.keep("ops/operator/", f"k{n}", answer(n))
    kept = [n for n in range(5) if store.find("ops/operator/", f"k{n}") is not None]
    assert kept == [2, 3, 4]
    store.close()


def test_postgres_answers_outlive_the_store_and_a_lost_connection(postgres_url: str) -> None:
    """Kept in the ledger's database: a second store (another server, or the same after a
    restart) finds them, and a dropped connection is reopened by the next call."""
    first = PostgresIdempotencyStore(postgres_url)
    first.keep("ops/operator/", "k", answer(1))
    first.close()
    second = PostgresIdempotencyStore(postgres_url)
    try:
        assert second.find("ops/operator/", "k") == answer(1)
        assert second._db is not None
        second._db.close()
        second.keep("ops/operator/", "k2", answer(2))
        assert second.find("ops/operator/", "k2") == answer(2)
    finally:
        second.close()
