"""core/insolvency/history.py: a move between products is a posted, linked withdrawal-deposit
pair of one client, and nothing else."""

from __future__ import annotations

from ringfence.core.insolvency import moves_between_pools
from ringfence.core.ledger.model import (
    AccountClass,
    AccountDefinition,
    TransferCode,
    TransferFlags,
    TransferRecord,
)

ACCOUNTS = {
    1: AccountDefinition(1, "BTC", AccountClass.client, "carol", "available", "earn"),
    2: AccountDefinition(2, "BTC", AccountClass.custody, "earn-hot", "hot", "earn"),
    3: AccountDefinition(3, "BTC", AccountClass.custody, "main-hot", "hot", "main"),
    4: AccountDefinition(4, "BTC", AccountClass.client, "carol", "available", "main"),
    5: AccountDefinition(5, "BTC", AccountClass.client, "erin", "available", "main"),
}
_W, _D = TransferCode.withdrawal, TransferCode.deposit
_L, _P = TransferFlags.linked, TransferFlags.pending


def record(id_: int, accounts: tuple[int, int], amount: int, code: int, at: int,
           *, flags: int = 0) -> TransferRecord:
    debit, credit = accounts
    return TransferRecord(id_, debit, credit, amount, 0, 0, at, 0, 0, 1, int(code), int(flags))


def moves(*records: TransferRecord) -> list[tuple[str, int, str, str]]:
    found = moves_between_pools(records, ACCOUNTS, {1: "BTC"})
    return [(m.client, m.units, m.from_pool, m.to_pool) for m in found]


def test_a_linked_pair_of_one_client_is_a_move() -> None:
    assert moves(record(10, (1, 2), 50, _W, 100, flags=_L), record(11, (3, 4), 50, _D, 101)) == [
        ("carol", 50, "earn", "main")
    ]


def test_anything_else_is_not() -> None:
    unlinked = (record(10, (1, 2), 50, _W, 100), record(11, (3, 4), 50, _D, 101))
    other_client = (record(10, (1, 2), 50, _W, 100, flags=_L), record(11, (3, 5), 50, _D, 101))
    other_amount = (record(10, (1, 2), 50, _W, 100, flags=_L), record(11, (3, 4), 49, _D, 101))
    not_next = (record(10, (1, 2), 50, _W, 100, flags=_L), record(11, (3, 4), 50, _D, 102))
    pending = (record(10, (1, 2), 50, _W, 100, flags=_L | _P), record(11, (3, 4), 50, _D, 101))
    for pair in (unlinked, other_client, other_amount, not_next, pending):
        assert moves(*pair) == [], pair
