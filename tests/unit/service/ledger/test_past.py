"""Snapshots of the past (service/ledger/past.py): a state replayed from a snapshot is the one
replayed from the journal's start, and the snapshots stay within their bounds (count, rows),
the definitions kept or not."""

from __future__ import annotations

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
