"""What the ledger's posted history says about moves between products.

The segregation rules have no code that moves a client's value from one pool to another: a
client who leaves the earn product for custody is paid out of the earn pool (``withdrawal``,
client(earn) -> custody(earn wallet)) and paid into the custody pool (``deposit``,
custody(custody wallet) -> client(custody)), posted as a *linked pair* so that the client is
never in neither pool or in both (demo/day.py does exactly this). A move between products is
therefore a posted withdrawal with the ``linked`` flag, immediately followed (the next
timestamp) by a posted deposit of the same amount of the same asset to the same client in
another pool. Pending reservations and voids are not postings and never count: the ledger,
not what an app displayed, decides what moved (BlockFi, D.N.J. 2023).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from ringfence.core.ledger.model import (
    AccountClass,
    AccountDefinition,
    TransferCode,
    TransferFlags,
    TransferRecord,
)

_not_postings = int(TransferFlags.pending | TransferFlags.void_pending)
_linked = int(TransferFlags.linked)
_withdrawal = int(TransferCode.withdrawal)
_deposit = int(TransferCode.deposit)


@dataclass(frozen=True, slots=True)
class Move:
    """``units`` of ``asset`` that ``client`` moved from ``from_pool`` to ``to_pool``."""

    client: str
    asset: str
    units: int
    from_pool: str
    to_pool: str
    timestamp: int  # the deposit's: when the value arrived in ``to_pool``
    withdrawal_id: int
    deposit_id: int


def is_posting(record: TransferRecord) -> bool:
    """A record that changed posted balances: not a pending reservation, not a void."""
    return record.flags & _not_postings == 0


def moves_between_pools(
    records: Iterable[TransferRecord],
    accounts: Mapping[int, AccountDefinition],
    asset_codes: Mapping[int, str],
) -> list[Move]:
    """Every linked withdrawal-then-deposit pair of one client between two pools, in order.

    ``records`` are committed transfers in timestamp order; ``accounts`` defines every account
    they name. Only the codes and accounts are read, so a pass over millions of records costs
    one comparison for most of them.
    """
    moves: list[Move] = []
    leaving: TransferRecord | None = None
    for record in records:
        if leaving is not None:
            move = _pair(leaving, record, accounts, asset_codes)
            if move is not None:
                moves.append(move)
        leaving = None
        if record.code == _withdrawal and record.flags & _linked and is_posting(record):
            leaving = record
    return moves


def _pair(
    leaving: TransferRecord,
    arriving: TransferRecord,
    accounts: Mapping[int, AccountDefinition],
    asset_codes: Mapping[int, str],
) -> Move | None:
    if arriving.code != _deposit or not is_posting(arriving):
        return None
    if arriving.timestamp != leaving.timestamp + 1 or arriving.amount != leaving.amount:
        return None
    source = accounts[leaving.debit_account]
    target = accounts[arriving.credit_account]
    assert source.account_class is AccountClass.client
    assert target.account_class is AccountClass.client
    if source.owner != target.owner or source.pool == target.pool:
        return None
    assert source.asset == target.asset == asset_codes[arriving.asset]
    return Move(
        source.owner,
        target.asset,
        arriving.amount,
        source.pool,
        target.pool,
        arriving.timestamp,
        leaving.id,
        arriving.id,
    )
