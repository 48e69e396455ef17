"""Past reads after a restart, from the snapshots of the past persisted beside the ledger
(service/ledger/past_seal.py), answer exactly what a full replay answers: for random days of
deposits, withdrawals, pending transfers and internal transfers, a first service reads some
past entries in a random order (taking snapshots and persisting them, at most ``snapshots_max``),
and a restarted service, which takes none of its own, reads every past entry from the ones it
loaded; each answer is the one read right after that entry was written, and the one a replay
from the journal's start gives. On SQLite and on PostgreSQL."""

from __future__ import annotations

import random
import tempfile
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from tests.conftest import PostgresDatabase
from tests.property.test_as_of import _day_by_day, _read, days
from tests.support import journal_signer

from ringfence.adapters.clock import ManualClock
from ringfence.adapters.storage.postgres import PostgresStore
from ringfence.adapters.storage.sqlite import SqliteStore
from ringfence.service.ledger import LedgerService
from ringfence.service.ledger.past import PastStates
from ringfence.service.ports import LedgerStore

# Opens the same ledger again each time it is called.
StoreOpener = Callable[[], LedgerStore]


@contextmanager
def _sqlite_ledger() -> Iterator[StoreOpener]:
    with tempfile.TemporaryDirectory(prefix="ringfence-as-of-") as folder:
        path = str(Path(folder) / "ledger.db")
        yield lambda: SqliteStore(path)


def _check_restarted_reads(
    open_store: StoreOpener,
    batches: list[tuple[list, int]],
    snapshots_max: int,
    chooser: random.Random,
) -> None:
    ledger = LedgerService(open_store(), ManualClock(10**18), journal_signer())
    ledger.past_states = PastStates(transfers_between=1, snapshots_max=snapshots_max)
    seen = list(_day_by_day(ledger, batches).items())
    chooser.shuffle(seen)
    for seq, then in seen[: chooser.randint(1, len(seen))]:
        assert _read(ledger, as_of_seq=str(seq)) == then
    held = len(ledger.past_states)
    ledger.close()

    restarted = LedgerService(open_store(), ManualClock(10**18), journal_signer())
    try:
        assert len(restarted.store.past_states()) == held <= snapshots_max
        # It takes no snapshot of its own: every one it starts from was persisted.
        restarted.past_states = PastStates(transfers_between=10**9, snapshots_max=snapshots_max)
        chooser.shuffle(seen)
        for seq, then in seen:
            assert _read(restarted, as_of_seq=str(seq)) == then
        assert len(restarted.past_states) == held
        restarted.past_states = PastStates(snapshots_max=0)  # the journal from its start
        for seq, then in seen:
            assert _read(restarted, as_of_seq=str(seq)) == then
    finally:
        restarted.close()


@settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(days, st.integers(0, 4), st.randoms(use_true_random=False))
def test_a_restarted_past_read_on_sqlite_is_a_full_replay(
    batches: list[tuple[list, int]], snapshots_max: int, chooser: random.Random
) -> None:
    with _sqlite_ledger() as open_store:
        _check_restarted_reads(open_store, batches, snapshots_max, chooser)


@pytest.mark.postgres
@settings(
    max_examples=12,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
)
@given(days, st.integers(0, 4), st.randoms(use_true_random=False))
def test_a_restarted_past_read_on_postgres_is_a_full_replay(
    postgres_database: PostgresDatabase,
    batches: list[tuple[list, int]],
    snapshots_max: int,
    chooser: random.Random,
) -> None:
    url = postgres_database.fresh_url()
    _check_restarted_reads(lambda: PostgresStore(url), batches, snapshots_max, chooser)
