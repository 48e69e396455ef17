"""Point-in-time reads answer what was answered then: for random days of deposits,
withdrawals, pending transfers (some expiring), internal transfers signed by their payers and
refused transfers, the balances and positions read ``as_of_seq`` each past entry, or ``as_of``
its time, are exactly the ones read right after that entry was written."""

from __future__ import annotations

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
    clock = ManualClock(10**18)
    ledger = LedgerService(MemoryStore(), clock, journal_signer())
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
    for seq, then in seen.items():
        assert _read(ledger, as_of_seq=str(seq)) == then
        timestamp = next(ledger.store.entries(after_seq=seq - 1)).timestamp
        assert _read(ledger, as_of=str(timestamp)) == then
