"""Fixtures shared by every test: a hand-moved clock and ledger services over each store.

Builders of a small custodian and the invariant checks live in ``tests/support.py``
(``from tests.support import build_custodian``).
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from tests.support import Custodian, build_custodian

from ringfence.adapters.clock import ManualClock
from ringfence.adapters.storage.memory import MemoryStore
from ringfence.adapters.storage.sqlite import SqliteStore
from ringfence.service.ledger_service import LedgerService


@pytest.fixture
def clock() -> ManualClock:
    """A clock that moves only when a test says so (``clock.advance(seconds=10)``)."""
    return ManualClock()


@pytest.fixture
def memory_service(clock: ManualClock) -> LedgerService:
    """An empty ledger over an in-memory store."""
    return LedgerService(MemoryStore(), clock)


@pytest.fixture
def sqlite_path(tmp_path: Path) -> str:
    return str(tmp_path / "ringfence.db")


@pytest.fixture
def sqlite_service(sqlite_path: str, clock: ManualClock) -> Iterator[LedgerService]:
    """An empty ledger over a SQLite file in the test's own folder; closed afterwards."""
    store = SqliteStore(sqlite_path)
    service = LedgerService(store, clock)
    yield service
    store.close()


@pytest.fixture
def custodian(memory_service: LedgerService) -> Custodian:
    """The small custodian of ``tests/support.py``, defined in ``memory_service``."""
    return build_custodian(memory_service)
