"""The ledger's history as movements and replayed balances: checked against the engine's own
positions and balances after a day of deposits, fees, holds, posts, voids and sweeps."""

from __future__ import annotations

from tests.support import Custodian

from ringfence.core.ledger.model import Transfer, TransferFlags
from ringfence.core.policy.movement import MovementKind, Per
from ringfence.core.withdrawals.history import (
    PoolPositions,
    VelocityBook,
    movement_of,
    swept_since,
    whose,
)
from ringfence.service.ledger import LedgerService
from ringfence.service.policy import transfer_records

P, POST, VOID = TransferFlags.pending, TransferFlags.post_pending, TransferFlags.void_pending


def day_of_transfers(custodian: Custodian) -> list[Transfer]:
    c = custodian
    return [
        c.deposit(1, "alice", 1_000),
        c.deposit(2, "bob", 500),
        c.fee(3, "alice", 50),
        c.withdrawal(4, "alice", 100, flags=P),
        c.withdrawal(5, "bob", 200, flags=P),
        Transfer(6, 0, 0, None, c.withdrawal(6, "bob", 1).code, POST, pending_id=4),
        Transfer(7, 0, 0, None, c.withdrawal(7, "bob", 1).code, VOID, pending_id=5),
        c.sweep(8, 20, flags=P),
        c.sweep(9, 10),
        c.deposit(10, "dave", 300, pool="vault-dave"),
        c.withdrawal(11, "dave", 30, pool="vault-dave"),
    ]


def test_replayed_balances_are_the_engines(
    memory_service: LedgerService, custodian: Custodian
) -> None:
    house = custodian.house_funding(99, 10_000)
    assert all(r.succeeded for r in memory_service.submit([house, *day_of_transfers(custodian)]))
    accounts = {a.id: a.definition for a in memory_service.ledger.accounts.values()}
    positions = PoolPositions(accounts)
    records = list(transfer_records(memory_service.store))
    for record in records:
        positions.apply(record)
    for position in memory_service.positions():
        asset = memory_service.ledger.assets_by_number[position.asset].code
        key = (position.pool.name, asset)
        assert positions.residual.get(key, 0) == position.residual_interest, key
    for state in memory_service.ledger.accounts.values():
        if state.definition.account_class.value == "client":
            expected = state.credits_posted - state.debits_posted - state.debits_pending
            assert positions.available.get(state.id, 0) == expected, state.definition


def test_movements_are_first_commits_of_withdrawals_sweeps_and_rebalances(
    memory_service: LedgerService, custodian: Custodian
) -> None:
    memory_service.submit([custodian.house_funding(99, 10_000), *day_of_transfers(custodian)])
    accounts = {a.id: a.definition for a in memory_service.ledger.accounts.values()}
    records = list(transfer_records(memory_service.store))
    moved = [m for r in records if (m := movement_of(r, accounts)) is not None]
    assert [(m.transfer_id, m.kind) for m in moved] == [
        (4, MovementKind.client_withdrawal),
        (5, MovementKind.client_withdrawal),
        (8, MovementKind.residual_sweep),
        (9, MovementKind.residual_sweep),
        (11, MovementKind.client_withdrawal),
    ]
    assert (moved[0].client, moved[0].wallet, moved[0].tier) == ("alice", "main-hot", "hot")
    assert (moved[2].pool, moved[2].destination_wallet) == ("main", "house-hot")
    assert swept_since(records, accounts, "main", "BTC", 0) == 30
    void = Transfer(12, 0, 0, None, custodian.sweep(12, 1).code, VOID, pending_id=8)
    memory_service.submit([void])
    records = list(transfer_records(memory_service.store))
    assert swept_since(records, accounts, "main", "BTC", 0) == 10


def test_velocity_windows_sum_the_earlier_movements_in_them() -> None:
    book = VelocityBook()
    alice, bob = whose("alice", "ops", "main"), whose("bob", "ops", "main")
    kind = MovementKind.client_withdrawal
    book.add(10, kind, "BTC", 5, alice)
    book.add(20, kind, "BTC", 7, bob)
    book.add(30, kind, "ETH", 100, alice)
    book.add(40, kind, "BTC", 11, alice)
    keys = [(1, Per.client), (1, Per.firm), (1, Per.initiator)]  # one-second windows
    assert book.window_sums(keys, 10**9 + 10, kind, "BTC", alice) == {
        (1, Per.client): 11, (1, Per.firm): 18, (1, Per.initiator): 18,
    }  # fmt: skip
    assert book.window_sums(keys, 40, kind, "BTC", alice)[(1, Per.client)] == 16
    assert book.window_sums(keys, 40, MovementKind.rebalance, "BTC", alice)[(1, Per.firm)] == 0
