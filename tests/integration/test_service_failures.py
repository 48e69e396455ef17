"""A ``LedgerService`` under failure, on every store: whatever fails, wherever, the service's
state afterwards is exactly what a fresh replay of the store's journal gives, and the store
passes the audit.

Method. ``FaultyStore`` wraps a real store and fails its k-th write step (``append``,
``append_begin``, a pending append's ``wait``, ``write_checkpoint``), either before the step
(nothing written) or after it (written, but the caller never hears so: a lost
acknowledgement), with a ``StorageError`` or with any other exception. For every k up to the
number of steps a scenario takes (``submit``, a ``submit_stream`` whose batches refer to each
other, a ``submit_all`` of two batches, a checkpoint every other batch), the scenario runs
on a fresh store until the failure, the service's state is compared with a replay from genesis,
the rest of the scenario runs to its end, and the state is compared again. The engine itself is
made to fail mid-batch the same way (``Ledger._apply_posted`` raising at its n-th call).
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Collection, Iterator, Mapping, Sequence
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest
from tests.support import (
    Custodian,
    assert_invariants,
    build_custodian,
    journal_signer,
    replay_from_genesis,
    state_snapshot,
)

from ringfence.adapters.clock import ManualClock
from ringfence.adapters.storage.memory import MemoryStore
from ringfence.adapters.storage.postgres import PostgresStore
from ringfence.adapters.storage.sqlite import SqliteStore
from ringfence.core import limits
from ringfence.core.errors import Result, StorageError
from ringfence.core.ledger.engine import Ledger
from ringfence.core.ledger.journal import EntryKind, JournalEntry
from ringfence.core.ledger.model import Transfer, TransferCode, TransferFlags, TransferRecord
from ringfence.service.audit import verify_store
from ringfence.service.ledger import LedgerService
from ringfence.service.ports import Checkpoint, LedgerStore, PendingAppend, StoredPastState

ok = Result.ok
_F = TransferFlags
_C = TransferCode


class InjectedError(Exception):
    """A failure that is not a ``StorageError``: the service must recover from any."""


StoreOpener = Callable[[], LedgerStore]


@pytest.fixture(params=["memory", "sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def new_store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[StoreOpener]:
    """Opens a new, empty store of one kind each time it is called."""
    opened: list[LedgerStore] = []
    counter = iter(range(10**6))

    def open_store() -> LedgerStore:
        store: LedgerStore
        if request.param == "memory":
            store = MemoryStore()
        elif request.param == "sqlite":
            store = SqliteStore(str(tmp_path / f"ledger-{next(counter)}.db"))
        else:
            store = PostgresStore(request.getfixturevalue("postgres_database").fresh_url())
        opened.append(store)
        return store

    yield open_store
    for store in opened:
        with contextlib.suppress(Exception):
            store.close()


class FaultyStore:
    """A store that fails its ``fail_at``-th write step, before or after doing it."""

    def __init__(
        self, inner: LedgerStore, fail_at: int, after: bool, error: type[Exception]
    ) -> None:
        self.inner = inner
        self.fail_at = fail_at  # 0: never
        self.after = after
        self.error = error
        self.steps = 0
        self.failed = False

    def _step(self, what: str, action: Callable[[], Any]) -> Any:
        self.steps += 1
        failing = self.steps == self.fail_at
        if failing and not self.after:
            self.failed = True
            raise self.error(f"injected before {what} (step {self.steps})")
        done = action()
        if failing:
            self.failed = True
            raise self.error(f"injected after {what} (step {self.steps})")
        return done

    def append(
        self,
        entry: JournalEntry,
        records: Sequence[TransferRecord] = (),
        definitions: Sequence[Any] = (),
        checkpoint: Checkpoint | None = None,
    ) -> None:
        self._step("append", lambda: self.inner.append(entry, records, definitions, checkpoint))

    def append_begin(self, entry: JournalEntry, records: Sequence[TransferRecord]) -> PendingAppend:
        pending = self._step("append_begin", lambda: self.inner.append_begin(entry, records))
        return _FaultyPending(self, pending)

    def write_checkpoint(self, checkpoint: Checkpoint) -> None:
        self._step("write_checkpoint", lambda: self.inner.write_checkpoint(checkpoint))

    def head(self) -> tuple[int, bytes]:
        return self.inner.head()

    def transfer_id_max(self) -> int:
        return self.inner.transfer_id_max()

    def entries(
        self, after_seq: int = 0, kinds: Collection[EntryKind] | None = None
    ) -> Iterator[JournalEntry]:
        return self.inner.entries(after_seq, kinds)

    def transfers(self, ids: Collection[int]) -> dict[int, TransferRecord]:
        return self.inner.transfers(ids)

    def checkpoint(self) -> Checkpoint:
        return self.inner.checkpoint()

    def past_states(
        self,
        seq_max: int = 2**63 - 1,
        count_max: int = limits.as_of_snapshots_max,
        bytes_max: int = limits.as_of_snapshot_bytes_max,
    ) -> list[StoredPastState]:
        return self.inner.past_states(seq_max, count_max, bytes_max)

    def keep_past_states(
        self, written: Sequence[StoredPastState], forgotten: Collection[int]
    ) -> bool:
        return self.inner.keep_past_states(written, forgotten)

    def projected_transfers(self) -> Iterator[TransferRecord]:
        return self.inner.projected_transfers()

    def transfer_metadata(self, ids: Collection[int]) -> dict[int, bytes]:
        return self.inner.transfer_metadata(ids)

    def transfers_with_metadata(
        self, metadata: Mapping[str, str], after_timestamp: int = 0
    ) -> Iterator[TransferRecord]:
        return self.inner.transfers_with_metadata(metadata, after_timestamp)

    def projected_metadata(self) -> Iterator[tuple[int, str, str]]:
        return self.inner.projected_metadata()

    def projected_definitions(self) -> Any:
        return self.inner.projected_definitions()

    def close(self) -> None:
        self.inner.close()


class _FaultyPending:
    def __init__(self, store: FaultyStore, pending: PendingAppend) -> None:
        self.store = store
        self.pending = pending

    def wait(self) -> None:
        self.store._step("wait", self.pending.wait)


def assert_matches_the_store(service: LedgerService, store: LedgerStore) -> None:
    """The service holds exactly what the store's journal gives, and the store is sound."""
    assert state_snapshot(service) == state_snapshot(replay_from_genesis(store))
    assert service.store.head() == (service.seq, service.hash)
    assert_invariants(service)
    report = verify_store(store)
    assert report.ok, report.problems


# ---------------------------------------------------------------------- bad fields

BAD_REFERENCES = [2**128, -1, "7", 7.0, None]


@pytest.mark.parametrize("reference", BAD_REFERENCES, ids=repr)
@pytest.mark.parametrize("how", ["submit", "submit_stream", "submit_all"])
def test_a_malformed_reference_on_a_deposit_changes_nothing(
    new_store: StoreOpener, how: str, reference: object
) -> None:
    store = new_store()
    service = LedgerService(store, ManualClock(), journal_signer())
    c = build_custodian(service)
    assert service.submit([c.house_funding(1, 10_000)]) == [ok]
    deposit = replace(c.deposit(2, "alice", 500), reference=reference)  # type: ignore[arg-type]
    neighbour = c.deposit(3, "bob", 40)
    if how == "submit":
        results = service.submit([deposit, neighbour])
    elif how == "submit_stream":
        results = [r for batch in service.submit_stream([[deposit], [neighbour]]) for r in batch]
    else:
        results = service.submit_all([deposit, neighbour])
    assert_matches_the_store(service, store)
    assert results == [Result.reference_must_be_u128, ok]
    assert service.balance(c.client("alice")).balance == 0
    # No phantom balance to withdraw, and nothing phantom saved on close.
    withdrawal = c.withdrawal(4, "alice", 500)
    assert service.submit([withdrawal]) == [Result.exceeds_available_balance]
    service.close()
    reopened = LedgerService(reopen(store), ManualClock(), journal_signer())
    assert reopened.balance(c.client("alice")).balance == 0
    assert reopened.balance(c.client("bob")).balance == 40
    reopened.close()


def reopen(store: LedgerStore) -> LedgerStore:
    """The same data through a new handle (a memory store is its own)."""
    if isinstance(store, MemoryStore):
        store.closed = False
        return store
    if isinstance(store, SqliteStore):
        return SqliteStore(store.path)
    assert isinstance(store, PostgresStore)
    return PostgresStore(store.url)


@pytest.mark.parametrize(
    "event",
    [
        {"id": 2},
        None,
        "transfer",
        Transfer(2, 1, 2, 5, _C.deposit, timeout_s=-1),
        Transfer(2, "1", 2, 5, _C.deposit),  # type: ignore[arg-type]
        Transfer(2**128 * 10, 1, 2, 5, _C.deposit),
        Transfer(2, 1, 2, 5, _C.deposit, authorised_by=5),  # type: ignore[arg-type]
        Transfer(2, 1, 2, 5, _C.deposit, asset=["BTC"]),  # type: ignore[arg-type]
        Transfer(2, 1, 2, 5, _C.deposit, pending_id=[1]),  # type: ignore[arg-type]
    ],
    ids=repr,
)
def test_any_malformed_event_gets_a_code_and_changes_nothing(
    new_store: StoreOpener, event: Any
) -> None:
    store = new_store()
    service = LedgerService(store, ManualClock(), journal_signer())
    c = build_custodian(service)
    assert service.submit([c.house_funding(1, 10_000)]) == [ok]
    before = state_snapshot(service)
    results = service.submit([c.deposit(10, "bob", 5, flags=_F.linked), event, c.fee(11, "bob", 1)])
    assert results[0] is Result.linked_event_failed
    assert not results[1].succeeded
    assert results[2] is Result.exceeds_available_balance  # the chain's deposit never happened
    assert state_snapshot(service) == before
    assert_matches_the_store(service, store)


# ---------------------------------------------------------------------- injected failures


def scenario_steps(
    service: LedgerService, c: Custodian, clock: ManualClock
) -> list[Callable[[], object]]:
    """The scenario's operations as callables, so that a failed one can be run again."""
    stream = [
        [c.deposit(4, "bob", 300), c.misdirected(5, "carol", 40)],
        [Transfer(6, c.client("bob"), c.wallet(), 100, _C.reversal, reference=4)],  # needs 4
        [c.break_cure(7, 5, 40), c.fee(8, "alice", 9)],
        [Transfer(9, 0, 0, 200, _C.withdrawal, _F.post_pending, pending_id=3)],
    ]
    events = [c.deposit(100 + i, "erin", 1) for i in range(limits.batch_events_max + 20)]
    events[5] = c.internal(105, "alice", "bob", 3, flags=_F.linked)
    events[6] = c.internal(106, "bob", "alice", 1)

    def advance(seconds: int) -> Callable[[], None]:
        return lambda: clock.advance(seconds=seconds)

    return [
        lambda: service.submit([c.house_funding(1, 10**9), c.deposit(2, "alice", 5_000)]),
        lambda: service.submit([c.withdrawal(3, "alice", 700, flags=_F.pending, timeout_s=5)]),
        advance(1),
        lambda: list(service.submit_stream(stream)),
        advance(10),
        lambda: service.submit_all(events),
        lambda: service.submit([c.withdrawal(10**6, "erin", 50)]),
    ]


def count_steps(opener: StoreOpener) -> int:
    """How many write steps the scenario takes when nothing fails."""
    store = FaultyStore(opener(), 0, False, StorageError)
    clock = ManualClock()
    service = LedgerService(store, clock, journal_signer(), checkpoint_interval_batches=2)  # type: ignore[arg-type]
    c = build_custodian(service)
    store.steps = 0
    for step in scenario_steps(service, c, clock):
        step()
    return store.steps


@pytest.mark.slow
@pytest.mark.slowest
@pytest.mark.parametrize("after", [False, True], ids=["before", "after"])
def test_a_failure_at_any_write_step_leaves_the_service_equal_to_a_replay(
    new_store: StoreOpener, after: bool
) -> None:
    steps = count_steps(new_store)
    assert steps >= 12  # appends, waits and checkpoints of every operation
    for fail_at in range(1, steps + 1):
        inner = new_store()
        error = StorageError if fail_at % 2 else InjectedError  # the service recovers from any
        store = FaultyStore(inner, 0, after, error)
        clock = ManualClock()
        service = LedgerService(store, clock, journal_signer(), checkpoint_interval_batches=2)  # type: ignore[arg-type]
        c = build_custodian(service)
        store.steps, store.fail_at = 0, fail_at
        for step in scenario_steps(service, c, clock):
            try:
                step()
            except (StorageError, InjectedError):
                assert store.failed
                assert state_snapshot(service) == state_snapshot(replay_from_genesis(inner))
                assert service.store.head() == (service.seq, service.hash)
                step()  # the caller resubmits; what landed answers ``exists``
        assert store.failed, f"step {fail_at} of {steps} was never reached"
        assert_matches_the_store(service, inner)
        assert service.balance(c.client("erin")).balance == limits.batch_events_max + 18 - 50


@pytest.mark.slow
@pytest.mark.parametrize("fail_at", [1, 2, 3, 8_000, 8_190])
def test_an_engine_failure_mid_batch_leaves_the_service_equal_to_a_replay(
    new_store: StoreOpener, monkeypatch: pytest.MonkeyPatch, fail_at: int
) -> None:
    store = new_store()
    clock = ManualClock()
    service = LedgerService(store, clock, journal_signer(), checkpoint_interval_batches=2)
    c = build_custodian(service)
    assert service.submit([c.house_funding(1, 10**9), c.deposit(2, "alice", 5_000)]) == [ok, ok]
    calls = [0]
    apply_posted = Ledger._apply_posted

    def failing(self: Ledger, *arguments: Any) -> None:
        calls[0] += 1
        if calls[0] == fail_at:
            raise InjectedError(f"engine failure at its {fail_at}th posting")
        apply_posted(self, *arguments)

    monkeypatch.setattr(Ledger, "_apply_posted", failing)
    events = [c.deposit(100 + i, "erin", 1) for i in range(limits.batch_events_max + 20)]
    with pytest.raises(InjectedError):
        service.submit_all(events)
    assert_matches_the_store(service, store)
    monkeypatch.undo()
    assert set(service.submit_all(events)) <= {ok, Result.exists}
    assert_matches_the_store(service, store)
    assert service.balance(c.client("erin")).balance == len(events)


def test_a_caller_that_stops_a_stream_early_leaves_nothing_unwritten_in_memory(
    new_store: StoreOpener,
) -> None:
    store = new_store()
    service = LedgerService(store, ManualClock(), journal_signer())
    c = build_custodian(service)
    batches = [[c.house_funding(1, 10**6)], [c.deposit(2, "alice", 5)], [c.deposit(3, "bob", 7)]]
    stream = service.submit_stream(batches)
    assert next(stream) == [ok]  # batch 2 is executed and being written; batch 3 is not begun
    stream.close()
    assert_matches_the_store(service, store)
    assert service.submit([c.deposit(3, "bob", 7)]) == [ok]
    assert_matches_the_store(service, store)


def test_a_service_whose_rebuild_failed_rebuilds_before_its_next_use(
    new_store: StoreOpener,
) -> None:
    inner = new_store()
    store = FaultyStore(inner, 0, True, StorageError)
    service = LedgerService(store, ManualClock(), journal_signer())  # type: ignore[arg-type]
    c = build_custodian(service)
    reads = {"failing": False}
    entries = store.entries

    def unreadable(after_seq: int = 0, kinds: Collection[EntryKind] | None = None) -> Any:
        if reads["failing"]:
            raise StorageError("injected: the store cannot be read either")
        return entries(after_seq, kinds)

    store.entries = unreadable  # type: ignore[method-assign]
    store.steps, store.fail_at = 0, 1
    reads["failing"] = True
    with pytest.raises(StorageError, match="injected after append_begin"):
        service.submit([c.house_funding(1, 10**6), c.deposit(2, "alice", 5)])
    reads["failing"] = False
    assert service.balance(c.client("alice")).balance == 5  # it landed: the rebuild sees it
    assert_matches_the_store(service, inner)
