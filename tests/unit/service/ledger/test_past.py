"""Snapshots of the past (service/ledger/past.py): a state replayed from a snapshot is the one
replayed from the journal's start, and the snapshots stay within their bounds (count, rows),
the definitions kept or not."""

from __future__ import annotations

from dataclasses import replace

import pytest
from tests.support import build_custodian, journal_signer, state_snapshot

from ringfence.adapters.clock import ManualClock
from ringfence.adapters.storage.memory import MemoryStore
from ringfence.service.ledger import LedgerService
from ringfence.service.ledger.past import PastStates

days = 8


@pytest.fixture
def ledger() -> LedgerService:
    """The small custodian, then a deposit to alice and one to bob a day."""
    clock = ManualClock(10**18)
    service = LedgerService(MemoryStore(), clock, journal_signer())
    custodian = build_custodian(service)
    for day in range(days):
        deposits = [custodian.deposit(2 * day + 1, "alice", 10 + day)]
        deposits.append(custodian.deposit(2 * day + 2, "bob", 20 + day))
        assert all(result.succeeded for result in service.submit(deposits))
        clock.advance(seconds=60)
    return service


def replayed(ledger: LedgerService, past: PastStates, seq: int) -> object:
    return state_snapshot(past.engine_at(ledger.store, seq, ledger.ledger.ledger_id))


@pytest.mark.parametrize(
    ("snapshots_max", "rows_max"), [(256, 10**6), (2, 10**6), (256, 10), (256, 200)]
)
def test_from_a_snapshot_as_from_the_start_within_bounds(
    ledger: LedgerService, snapshots_max: int, rows_max: int
) -> None:
    seqs = range(ledger.seq - days, ledger.seq)
    from_start = {seq: replayed(ledger, PastStates(snapshots_max=0), seq) for seq in seqs}
    past = PastStates(transfers_between=1, snapshots_max=snapshots_max, rows_max=rows_max)
    for seq in [seqs[-1], *seqs, *reversed(seqs)]:
        assert replayed(ledger, past, seq) == from_start[seq], seq
        assert len(past) <= snapshots_max
    rows = len(ledger.ledger.accounts) + len(ledger.ledger.pendings)
    if rows > rows_max:
        assert len(past) == 0  # no state small enough to keep
    else:
        assert len(past) == min(snapshots_max, days - 1, rows_max // rows)
        assert past.nearest(seqs[-1]) is not None


def test_the_snapshots_kept_stay_spread_over_the_journal(ledger: LedgerService) -> None:
    past = PastStates(transfers_between=1, snapshots_max=3)
    past.engine_at(ledger.store, ledger.seq - 1, ledger.ledger.ledger_id)
    kept = [seq for seq in range(ledger.seq) if (found := past.nearest(seq)) and found.seq == seq]
    assert len(kept) == 3
    assert kept[0] == ledger.seq - days + 1  # the first day's, never forgotten
    assert kept[-1] == ledger.seq - 1


def test_a_cure_replayed_from_a_snapshot_does_not_change_the_snapshot() -> None:
    # The engine cures a break in place: a snapshot restored without copying its breaks was
    # changed by the later read that replayed the cure, and the next read at its point failed.
    clock = ManualClock(10**18)
    service = LedgerService(MemoryStore(), clock, journal_signer())
    c = build_custodian(service)
    for batch in ([c.deposit(1, "alice", 100)], [c.misdirected(2, "bob", 50)]):
        assert all(r.succeeded for r in service.submit(batch))
        clock.advance(seconds=60)
    opened = service.seq
    for batch in ([c.deposit(3, "alice", 5)], [c.break_cure(4, 2, 50)],
                  [c.deposit(5, "alice", 7)]):  # fmt: skip
        assert all(r.succeeded for r in service.submit(batch))
        clock.advance(seconds=60)
    ledger_id = service.ledger.ledger_id
    truth = state_snapshot(PastStates(snapshots_max=0).engine_at(service.store, opened, ledger_id))
    past = PastStates(transfers_between=1)
    assert state_snapshot(past.engine_at(service.store, opened, ledger_id)) == truth
    past.engine_at(service.store, service.seq - 1, ledger_id)  # replays the cure from `opened`
    assert state_snapshot(past.engine_at(service.store, opened, ledger_id)) == truth


def test_an_account_defined_later_does_not_reach_an_earlier_snapshot() -> None:
    # A read at a late point keeps snapshots at earlier entries; they must not hold the
    # accounts defined after them, or a read between the two is refused as a contradiction.
    clock = ManualClock(10**18)
    service = LedgerService(MemoryStore(), clock, journal_signer())
    c = build_custodian(service)
    points = []
    for day in range(6):
        if day == 3:
            alice = next(a for a in c.accounts if a.id == c.client("alice"))
            assert service.define_accounts([replace(alice, id=10**30 + 7)])
        assert all(r.succeeded for r in service.submit([c.deposit(2 * day + 1, "alice", 10)]))
        points.append(service.seq)
        clock.advance(seconds=60)
    ledger_id = service.ledger.ledger_id
    past = PastStates(transfers_between=1)
    past.engine_at(service.store, points[-1], ledger_id)
    from_start = PastStates(snapshots_max=0)
    for point in points[:3]:
        got = state_snapshot(past.engine_at(service.store, point, ledger_id))
        assert got == state_snapshot(from_start.engine_at(service.store, point, ledger_id))
