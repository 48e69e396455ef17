"""Point-in-time reads answer what was answered then: for random days of deposits,
withdrawals, pending transfers (some expiring), internal transfers signed by their payers and
refused transfers, the balances and positions read ``as_of_seq`` each past entry, or ``as_of``
its time, are exactly the ones read right after that entry was written; also when the reads
start from snapshots of the past (service/ledger/past.py) taken after every entry, a few kept,
read in any order."""

from __future__ import annotations

import random

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from tests.support import build_custodian, journal_signer

from ringfence.adapters.clock import ManualClock
from ringfence.adapters.storage.memory import MemoryStore
from ringfence.core.access.roles import Actor
from ringfence.core.ledger.model import Transfer, TransferFlags
from ringfence.core.principals.records import PrincipalRole
from ringfence.service import access
from ringfence.service.ledger import LedgerService
from ringfence.service.ledger.past import PastStates

STAFF = Actor("auditor", PrincipalRole.auditor)
CLIENTS = ("alice", "bob")
moves = st.lists(
    st.tuples(
        st.sampled_from(("deposit", "withdrawal", "pending", "internal")),
        st.sampled_from(CLIENTS),
        st.integers(1, 80),
    ),
    min_size=1,
    max_size=6,
)
days = st.lists(st.tuples(moves, st.integers(0, 3)), min_size=1, max_size=6)


def _read(ledger: LedgerService, **point: str) -> tuple[object, object]:
    balances = access.balances(ledger, STAFF, limit=1000, **point)
    return balances["items"], access.positions(ledger, STAFF, **point)


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(days)
def test_a_past_read_is_what_was_read_then(batches: list[tuple[list, int]]) -> None:
    ledger = LedgerService(MemoryStore(), ManualClock(10**18), journal_signer())
    for seq, then in _day_by_day(ledger, batches).items():
        assert _read(ledger, as_of_seq=str(seq)) == then
        timestamp = next(ledger.store.entries(after_seq=seq - 1)).timestamp
        assert _read(ledger, as_of=str(timestamp)) == then


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(days, st.integers(0, 3), st.randoms(use_true_random=False))
def test_a_past_read_from_a_snapshot_is_what_was_read_then(
    batches: list[tuple[list, int]], snapshots_max: int, chooser: random.Random
) -> None:
    ledger = LedgerService(MemoryStore(), ManualClock(10**18), journal_signer())
    ledger.past_states = PastStates(transfers_between=1, snapshots_max=snapshots_max)
    seen = list(_day_by_day(ledger, batches).items())
    for _ in range(2):  # the second round starts from the snapshots the first one took
        chooser.shuffle(seen)
        for seq, then in seen:
            assert _read(ledger, as_of_seq=str(seq)) == then
    assert len(ledger.past_states) <= snapshots_max


def _day_by_day(ledger: LedgerService, batches: list[tuple[list, int]]) -> dict[int, object]:
    """The custodian, then each day's batch: what was read after each entry, by its seq."""
    clock = ledger.clock
    assert isinstance(clock, ManualClock)
    custodian = build_custodian(ledger)
    seen = {ledger.seq: _read(ledger)}
    next_id = 1
    for batch, wait_s in batches:
        transfers: list[Transfer] = []
        for kind, client, amount in batch:
            other = CLIENTS[1 - CLIENTS.index(client)]
            if kind == "deposit":
                transfers.append(custodian.deposit(next_id, client, amount))
            elif kind == "internal":
                transfers.append(custodian.internal(next_id, client, other, amount))
            else:
                pending = kind == "pending"
                flags = TransferFlags.pending if pending else TransferFlags.none
                transfers.append(custodian.withdrawal(next_id, client, amount, flags=flags,
                                                      timeout_s=2 if pending else 0))  # fmt: skip
            next_id += 1
        ledger.submit(transfers)
        clock.advance(seconds=wait_s)
        seen[ledger.seq] = _read(ledger)
    return seen
