"""service/ledger.py: nothing is acknowledged before it is durable, memory never runs
ahead of the store, and reopening gives back the same ledger."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest
from tests.support import (
    BTC,
    EARN,
    MAIN,
    VAULT,
    Custodian,
    assert_invariants,
    build_custodian,
    journal_signer,
    replay_from_genesis,
    state_snapshot,
)

from ringfence.adapters.clock import ManualClock
from ringfence.adapters.storage.memory import MemoryStore
from ringfence.adapters.storage.sqlite import SqliteStore
from ringfence.core import limits
from ringfence.core.errors import HeadConflictError, InputError, Result, StorageError
from ringfence.core.ledger.journal import EntryKind, JournalEntry, decode_transfers
from ringfence.core.ledger.model import (
    AccountClass,
    AccountDefinition,
    Pool,
    PoolKind,
    Terms,
    Transfer,
    TransferCode,
    TransferFlags,
    TransferRecord,
)
from ringfence.core.money import Asset
from ringfence.core.risk.settlement import Fill
from ringfence.core.venue.codec import encode_fills
from ringfence.service.ledger import LedgerService
from ringfence.service.ports import LedgerStore

_F = TransferFlags
_C = TransferCode
ok = Result.ok


@pytest.fixture
def service(memory_service: LedgerService, custodian: Custodian) -> LedgerService:
    """A memory service with the custodian defined and some money in it."""
    c = custodian
    results = memory_service.submit(
        [c.house_funding(1, 100_000), c.deposit(2, "alice", 1_000), c.deposit(3, "bob", 500)]
    )
    assert results == [ok] * 3
    return memory_service


def transfer_entries(store: LedgerStore) -> list[tuple[list[int], list[int]]]:
    """Each transfer entry as (committed ids, expired ids)."""
    entries = []
    for entry in store.entries(kinds=[EntryKind.transfers]):
        _, records, expiries = decode_transfers(entry.body)
        entries.append(([r.id for r in records], [e.pending_id for e in expiries]))
    return entries


# ---------------------------------------------------------------------- batches


def test_a_batch_is_durable_when_its_results_return(
    service: LedgerService, custodian: Custodian
) -> None:
    results = service.submit([custodian.deposit(10, "carol", 5), custodian.deposit(11, "carol", 0)])
    assert results == [ok, Result.amount_must_not_be_zero]
    assert service.store.transfers([10, 11]).keys() == {10}
    assert transfer_entries(service.store)[-1] == ([10], [])
    assert service.store.head() == (service.seq, service.hash)


def test_a_batch_of_refusals_writes_no_entry(service: LedgerService, custodian: Custodian) -> None:
    head = service.store.head()
    assert service.submit([custodian.deposit(10, "carol", 0)]) == [Result.amount_must_not_be_zero]
    assert service.store.head() == head


def test_an_expiry_is_journaled_even_when_every_event_is_refused(
    service: LedgerService, custodian: Custodian, clock: ManualClock
) -> None:
    c = custodian
    assert service.submit([c.withdrawal(10, "alice", 100, flags=_F.pending, timeout_s=30)]) == [ok]
    clock.advance(seconds=31)
    assert service.submit([c.deposit(11, "carol", 0)]) == [Result.amount_must_not_be_zero]
    assert transfer_entries(service.store)[-1] == ([], [10])
    assert service.balance(c.client("alice")).debits_pending == 0


def test_an_empty_or_oversized_batch_is_refused_whole(
    service: LedgerService, custodian: Custodian
) -> None:
    head = service.store.head()
    with pytest.raises(InputError) as empty:
        service.submit([])
    assert empty.value.code is Result.batch_empty
    too_many = [custodian.deposit(10 + i, "carol", 1) for i in range(limits.batch_events_max + 1)]
    with pytest.raises(InputError) as large:
        service.submit(too_many)
    assert large.value.code is Result.batch_too_large
    assert service.store.head() == head


@pytest.mark.parametrize("length", [limits.batch_events_max + 1, 9_001])
def test_a_chain_longer_than_a_batch_is_refused_whole_and_the_rest_goes_on(
    service: LedgerService, custodian: Custodian, length: int
) -> None:
    c = custodian
    before = [c.deposit(10 + i, "carol", 1) for i in range(limits.batch_events_max - 5)]
    chain = [c.deposit(100_000 + i, "erin", 1, flags=_F.linked) for i in range(length - 1)]
    chain.append(c.deposit(100_000 + length, "erin", 1))  # closes the chain
    after = [c.deposit(200_000 + i, "frank", 2) for i in range(10)]
    head = service.store.head()
    results = service.submit_all([*before, *chain, *after])
    assert service.store.transfers([e.id for e in chain]) == {}
    assert results == [ok] * len(before) + [Result.linked_chain_too_long] * length + [ok] * 10
    assert service.balance(c.client("erin")).balance == 0
    assert service.balance(c.client("frank")).balance == 20
    assert service.store.head()[0] == head[0] + 2  # the events around it, in two batches


def test_a_chain_as_long_as_a_batch_commits_whole(
    service: LedgerService, custodian: Custodian
) -> None:
    c = custodian
    size = limits.batch_events_max
    chain = [c.deposit(100_000 + i, "erin", 1, flags=_F.linked) for i in range(size - 1)]
    chain.append(c.deposit(100_000 + size, "erin", 1))
    results = service.submit_all([c.deposit(10, "carol", 1), *chain, c.deposit(11, "carol", 1)])
    assert results == [ok] * (size + 2)
    assert service.balance(c.client("erin")).balance == size
    committed = transfer_entries(service.store)[-3:]
    assert [len(ids) for ids, _ in committed] == [1, size, 1]  # the chain alone in its batch


def test_submit_all_keeps_results_in_order(service: LedgerService, custodian: Custodian) -> None:
    events = [custodian.deposit(10 + i, "carol", 1 + i % 2) for i in range(9_000)]
    events[5] = custodian.deposit(15, "carol", 0)
    results = service.submit_all(events)
    assert len(results) == 9_000
    assert results[5] is Result.amount_must_not_be_zero
    assert results.count(ok) == 8_999
    assert service.balance(custodian.client("carol")).credits_posted == sum(
        1 + i % 2 for i in range(9_000) if i != 5
    )


def test_a_stream_sees_what_its_earlier_batches_committed(
    service: LedgerService, custodian: Custodian
) -> None:
    c = custodian
    batches = [
        [c.withdrawal(10, "alice", 100, flags=_F.pending), c.deposit(11, "bob", 10)],
        [Transfer(12, 0, 0, 60, _C.withdrawal, _F.post_pending, pending_id=10)],
        [
            c.deposit(11, "bob", 10),
            Transfer(13, c.client("bob"), c.wallet(), 10, _C.reversal, reference=11),
        ],
        [c.deposit(11, "bob", 11)],
    ]
    results = list(service.submit_stream(batches))
    assert results == [[ok, ok], [ok], [Result.exists, ok], [Result.exists_with_different_amount]]
    assert service.balance(c.client("alice")).debits_posted == 60
    assert service.ledger.reversed == {11: 10}
    assert state_snapshot(replay_from_genesis(service.store)) == state_snapshot(service)


# ---------------------------------------------------------------------- bad input, every store


@pytest.fixture(params=["memory", "sqlite"])
def any_service(
    request: pytest.FixtureRequest, tmp_path: Path, clock: ManualClock
) -> Iterator[LedgerService]:
    store: LedgerStore = (
        MemoryStore() if request.param == "memory" else SqliteStore(str(tmp_path / "x.db"))
    )
    service = LedgerService(store, clock, journal_signer())
    yield service
    store.close()


@pytest.mark.parametrize(
    ("changes", "code"),
    [
        ({"id": 0}, Result.id_must_not_be_zero),
        ({"id": -1}, Result.id_must_not_be_negative),
        ({"id": 2**128}, Result.id_must_be_below_2_128),
        ({"id": "7"}, Result.id_must_be_integer),
        ({"reference": -1}, Result.reference_must_be_u128),
        ({"reference": 2**128}, Result.reference_must_be_u128),
        ({"reference": "7"}, Result.reference_must_be_u128),
        ({"reference": 7}, Result.reversed_transfer_not_found),
    ],
    ids=[
        *("id-zero", "id-negative", "id-huge", "id-text"),
        *("ref-negative", "ref-huge", "ref-text", "ref-missing"),
    ],
)
def test_a_bad_id_or_reference_is_refused_by_every_store(
    any_service: LedgerService, changes: dict[str, object], code: Result
) -> None:
    c = build_custodian(any_service)
    assert any_service.submit([c.deposit(5, "alice", 100)]) == [ok]
    event = Transfer(6, c.client("alice"), c.wallet(), 10, _C.reversal, reference=5)
    event = replace(event, **changes)  # type: ignore[arg-type]
    before = state_snapshot(any_service)
    assert any_service.submit([event]) == [code]
    assert state_snapshot(any_service) == before


# ---------------------------------------------------------------------- failures and reopening


def test_a_failed_append_is_not_acknowledged_and_leaves_memory_as_the_store(
    service: LedgerService, custodian: Custodian
) -> None:
    store = service.store
    assert isinstance(store, MemoryStore)
    before = state_snapshot(service)
    store.fail_next_append = True
    with pytest.raises(StorageError):
        service.submit([custodian.deposit(10, "carol", 5), custodian.fee(11, "alice", 3)])
    assert state_snapshot(service) == before
    assert store.transfers([10, 11]) == {}
    assert service.submit([custodian.deposit(10, "carol", 5)]) == [ok]
    assert_invariants(service)


def _fills_entry(results: list[Result]) -> tuple[EntryKind, Any] | None:
    """A companion entry (a fills entry of one fill) when every event committed."""
    if not all(r is ok for r in results):
        return None
    fills = [Fill(1, "alice-x", "perp", 1, 1)]
    return EntryKind.fills, lambda seq, at: encode_fills(seq, at, fills)


def test_a_joined_batch_lands_with_its_entry_or_not_at_all(
    service: LedgerService, custodian: Custodian
) -> None:
    store = service.store
    assert isinstance(store, MemoryStore)
    seq = service.seq
    assert service.submit_joined([custodian.deposit(10, "carol", 5)], _fills_entry) == [ok]
    kinds = [e.kind for e in store.entries(after_seq=seq)]
    assert kinds == [EntryKind.transfers, EntryKind.fills]
    # A refused batch has no companion (and writes nothing); an accepted one that fails to
    # commit writes neither entry, and memory stays as the store.
    refused = custodian.deposit(10, "carol", 6)  # the same id, another amount
    assert service.submit_joined([refused], _fills_entry) == [Result.exists_with_different_amount]
    assert service.seq == seq + 2
    before = state_snapshot(service)
    store.fail_next_append = True
    with pytest.raises(StorageError):
        service.submit_joined([custodian.deposit(11, "carol", 5)], _fills_entry)
    assert state_snapshot(service) == before
    assert service.seq == seq + 2
    assert store.transfers([11]) == {}
    assert service.submit_joined([custodian.deposit(11, "carol", 5)], _fills_entry) == [ok]
    assert [e.kind for e in store.entries(after_seq=seq + 2)] == [
        EntryKind.transfers, EntryKind.fills]
    assert_invariants(service)


def test_a_failed_commit_in_a_stream_leaves_no_trace_in_the_checkpoint(
    clock: ManualClock, tmp_path: Path
) -> None:
    store = MemoryStore()
    service = LedgerService(store, clock, journal_signer(), checkpoint_interval_batches=1)
    c = build_custodian(service)
    assert service.submit([c.house_funding(1, 10_000), c.deposit(2, "alice", 500)]) == [ok, ok]

    def batches() -> Iterator[list[Transfer]]:
        yield [c.misdirected(3, "bob", 50)]
        store.fail_next_append = True  # the second batch's commit will fail
        yield [c.break_cure(4, 3, 50)]

    with pytest.raises(StorageError):
        list(service.submit_stream(batches()))
    assert store.transfers([3, 4]).keys() == {3}
    assert service.ledger.breaks[3].cured == 0  # the cure was never durable
    assert store.checkpoint().breaks[3].cured == 0
    assert_invariants(service)


@pytest.mark.parametrize("close", [True, False], ids=["closed", "abandoned"])
def test_reopening_gives_the_same_ledger(
    service: LedgerService, custodian: Custodian, clock: ManualClock, close: bool
) -> None:
    c = custodian
    service.submit(
        [
            c.withdrawal(10, "alice", 100, flags=_F.pending, timeout_s=60),
            c.misdirected(11, "bob", 40),
            c.fee(12, "alice", 30),
            c.deposit(13, "carol", 20, pool=EARN),
        ]
    )
    before = state_snapshot(service)
    if close:
        service.checkpoint()
        assert service.store.checkpoint().seq == service.store.head()[0]
    reopened = LedgerService(service.store, clock, journal_signer())
    assert state_snapshot(reopened) == before
    clock.advance(seconds=61)
    assert reopened.submit([c.deposit(14, "dave", 1, pool=VAULT)]) == [ok]
    assert reopened.ledger.pendings[10].status.name == "expired"


def test_journal_timestamps_keep_increasing_across_a_reopen(clock: ManualClock) -> None:
    store = MemoryStore()
    service = LedgerService(store, clock, journal_signer())
    c = build_custodian(service)  # four definitions entries, the clock standing still
    reopened = LedgerService(store, clock, journal_signer())
    assert reopened.submit([c.house_funding(1, 10)]) == [ok]
    timestamps = [entry.timestamp for entry in store.entries()]
    assert timestamps == sorted(set(timestamps))


def test_timestamps_increase_even_when_the_clock_goes_back(
    service: LedgerService, custodian: Custodian, clock: ManualClock
) -> None:
    clock.time_ns -= 10**12
    assert service.submit([custodian.deposit(10, "carol", 1)]) == [ok]
    timestamps = [entry.timestamp for entry in service.store.entries()]
    assert timestamps == sorted(set(timestamps))


# ---------------------------------------------------------------------- definitions


def test_definitions_are_idempotent_and_refuse_another_body(memory_service: LedgerService) -> None:
    service = memory_service
    assert service.define_assets([BTC, BTC]) == [ok, Result.exists]
    assert service.define_assets([Asset("BTC", 6, 1)]) == [
        Result.definition_exists_with_different_body
    ]
    assert service.define_assets([Asset("XBT", 8, 1)]) == [
        Result.definition_exists_with_different_body
    ]
    assert service.define_clients(["alice", "alice", "bob"]) == [ok, Result.exists, ok]
    main = Pool(MAIN, PoolKind.omnibus, Terms.custody)
    assert service.define_pools([main]) == [ok]
    assert service.define_pools([Pool(MAIN, PoolKind.omnibus, Terms.title_transfer)]) == [
        Result.definition_exists_with_different_body
    ]
    assert service.define_pools([Pool("v", PoolKind.individual, Terms.custody, client="zed")]) == [
        Result.client_not_found
    ]
    assert service.define_pools([Pool("v", PoolKind.individual, Terms.custody, client="bob")]) == [
        ok
    ]
    account = AccountDefinition(1, "BTC", AccountClass.client, "alice", "available", MAIN)
    results = service.define_accounts(
        [
            account,
            account,
            AccountDefinition(1, "BTC", AccountClass.client, "bob", "available", MAIN),
            AccountDefinition(2, "ETH", AccountClass.client, "alice", "available", MAIN),
            AccountDefinition(3, "BTC", AccountClass.client, "zed", "available", MAIN),
            AccountDefinition(4, "BTC", AccountClass.client, "alice", "available", "nowhere"),
            AccountDefinition(5, "BTC", AccountClass.client, "alice", "available", "v"),
            AccountDefinition(6, "BTC", AccountClass.custody, "v-hot", "hot", "v"),
        ]
    )
    assert results == [
        ok,
        Result.exists,
        Result.definition_exists_with_different_body,
        Result.asset_not_found,
        Result.client_not_found,
        Result.pool_not_found,
        Result.client_not_in_pool,
        ok,
    ]
    reopened = LedgerService(service.store, ManualClock(), journal_signer())
    assert reopened.ledger.accounts.keys() == {1, 6}
    assert reopened.ledger.clients.keys() == {"alice", "bob"}


def test_a_bad_client_name_defines_none_of_the_request(memory_service: LedgerService) -> None:
    with pytest.raises(InputError):
        memory_service.define_clients(["carol", "Not A Name"])
    assert "carol" not in memory_service.ledger.clients
    assert memory_service.define_clients(["carol"]) == [ok]  # defined once, durably


def test_an_asset_the_journal_cannot_hold_is_refused_without_a_trace(
    memory_service: LedgerService,
) -> None:
    with pytest.raises(InputError):
        memory_service.define_assets([Asset("BTC", 8, 1, chain="bitcoïn")])
    assert "BTC" not in memory_service.ledger.assets


# ---------------------------------------------------------------------- reading


def test_balances_filter_by_client_pool_and_asset(
    service: LedgerService, custodian: Custodian
) -> None:
    alice = {b.account.id for b in service.balances(client="alice")}
    assert custodian.client("alice") in alice
    assert custodian.client("alice", asset="ETH") in alice
    assert all(b.account.owner == "alice" for b in service.balances(client="alice"))
    main_btc = list(service.balances(pool=MAIN, asset="BTC"))
    assert {b.account.id for b in main_btc} == {
        a.id for a in custodian.accounts if a.pool == MAIN and a.asset == "BTC"
    }
    balance = service.balance(custodian.client("alice"))
    assert (balance.credits_posted, balance.balance) == (1_000, 1_000)
    wallet = service.balance(custodian.wallet())
    assert wallet.balance == 1_500  # debit-normal: read on the debit side
    with pytest.raises(InputError):
        service.balance(424_242)


def test_positions_and_breaks_are_listed_in_a_stable_order(
    service: LedgerService, custodian: Custodian
) -> None:
    c = custodian
    assert service.submit([c.misdirected(10, "bob", 5)]) == [ok]
    assert service.submit([c.misdirected(11, "dave", 7, pool=VAULT)]) == [ok]
    keys = [(p.pool.name, p.asset) for p in service.positions()]
    assert keys == sorted(keys)
    assert [b.id for b in service.breaks()] == [10, 11]


def test_a_writer_that_was_overtaken_decides_its_batch_again(tmp_path: Path) -> None:
    """Two services on one SQLite file: the second's view is stale when it submits; the store
    refuses its entry (head conflict, nothing written), it reloads and decides again."""
    path = str(tmp_path / "two.db")
    first = LedgerService(SqliteStore(path), ManualClock(), journal_signer())
    custodian = build_custodian(first)
    second = LedgerService(SqliteStore(path), ManualClock(2_000_000_000 * 10**9), journal_signer())
    assert first.submit([custodian.deposit(9_001, "alice", 500)]) == [Result.ok]
    # The second service has not seen 9_001; its first try is refused by the store's head
    # check, then it reloads (seeing 9_001) and commits on top.
    assert second.submit([custodian.deposit(9_002, "alice", 700)]) == [Result.ok]
    assert second.submit([custodian.deposit(9_001, "alice", 500)]) == [Result.exists]
    alice = custodian.client("alice")
    assert second.balance(alice).balance == first.balance(alice).balance + 700
    first.close()
    second.close()


class Overtaken(MemoryStore):
    """A store on which another writer appends first, ``times`` times in a row: each of the
    service's appends until then lands a transfer of the other writer's and is refused."""

    def __init__(self, times: int) -> None:
        super().__init__()
        self.times = times
        self.other: LedgerService | None = None
        self.custodian: Custodian | None = None

    def append_begin(self, entry: JournalEntry, records: Sequence[TransferRecord]) -> Any:
        other, self.other = self.other, None  # the other writer's own append goes through
        if self.times and other is not None and self.custodian is not None:
            self.times -= 1
            other_id = 500_000 + self.times
            assert other.submit([self.custodian.deposit(other_id, "bob", 1)]) == [ok]
        self.other = other
        return super().append_begin(entry, records)


def test_a_writer_overtaken_many_times_backs_off_and_commits_on_its_merits() -> None:
    store = Overtaken(times=0)
    clock = ManualClock()
    service = LedgerService(store, clock, journal_signer())
    c = build_custodian(service)
    other = LedgerService(store, ManualClock(2 * 10**18), journal_signer())
    store.other, store.custodian = other, c
    store.times = 40  # more than any fixed number of quick retries would survive
    started = clock.now_ns()
    assert service.submit([c.deposit(10, "alice", 5)]) == [ok]
    assert service.head_conflicts == 40
    assert service.balance(c.client("bob")).balance == 40  # it saw every other entry
    waited = clock.now_ns() - started  # the pauses moved the manual clock: nobody waited
    assert waited >= 40 * limits.head_conflict_backoff_ns_max // 2 // 2
    assert waited <= 40 * limits.head_conflict_backoff_ns_max


def test_a_writer_overtaken_without_end_gives_up_after_the_wait_limit() -> None:
    store = Overtaken(times=0)
    clock = ManualClock()
    service = LedgerService(store, clock, journal_signer())
    c = build_custodian(service)
    other = LedgerService(store, ManualClock(2 * 10**18), journal_signer())
    store.other, store.custodian = other, c
    store.times = 10**6
    started = clock.now_ns()
    with pytest.raises(HeadConflictError):
        service.submit([c.deposit(10, "alice", 5)])
    assert clock.now_ns() - started >= limits.head_conflict_wait_ns_max
    assert service.store.transfers([10]) == {}
    assert service.balance(c.client("bob")).balance == service.head_conflicts
