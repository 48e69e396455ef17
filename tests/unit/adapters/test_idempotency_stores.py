"""Both idempotency stores: a key is answered once (the first answer stays), keys are per
principal, and only the most recent answers are kept."""

from __future__ import annotations

from pathlib import Path

import pytest

from ringfence.adapters.idempotency.memory import MemoryIdempotencyStore
from ringfence.adapters.idempotency.sqlite import SqliteIdempotencyStore
from ringfence.core import limits
from ringfence.service.ports import IdempotencyStore, RememberedResponse


@pytest.fixture(params=["memory", "sqlite"])
def store(request: pytest.FixtureRequest, tmp_path: Path) -> IdempotencyStore:
    if request.param == "memory":
        return MemoryIdempotencyStore()
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
