"""What the ledger's history says about movements out of a pool's wallets: the past facts a
policy decision needs, and the past movements a draft policy is replayed on.

A *movement* is a committed transfer that takes value out of a pool's wallet on chain:

    withdrawal       client(P) -> custody(P wallet)     a client's withdrawal
    sweep            custody(house) <- custody(P wallet) the house sweeping residual interest
    wallet_transfer  custody(P) <- custody(P)           a rebalance between a pool's wallets

counted when it is first committed: a plain posting, or a pending hold (the lifecycle's); the
hold's later post or void is not another movement. Fees (client to house revenue) stay in the
pool's wallets until swept and are not movements; nor are deposits, top-ups or cures.

``PoolPositions`` replays posted balances in journal order: each pool's residual interest
(custody holdings less client liabilities, per asset) and each client account's available
balance (posted, less pending debits). ``VelocityBook`` sums earlier movements over a window
in logarithmic time.
"""

from __future__ import annotations

import bisect
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Final

from ringfence.core.ledger.model import (
    AccountClass,
    AccountDefinition,
    TransferCode,
    TransferFlags,
    TransferRecord,
)
from ringfence.core.policy.movement import MovementKind, Per, WindowKey

_pending: Final = int(TransferFlags.pending)
_post: Final = int(TransferFlags.post_pending)
_void: Final = int(TransferFlags.void_pending)
_kinds_by_code: Final = {
    int(TransferCode.withdrawal): MovementKind.client_withdrawal,
    int(TransferCode.sweep): MovementKind.residual_sweep,
    int(TransferCode.wallet_transfer): MovementKind.rebalance,
}
day_ns: Final = 86_400 * 10**9


def day_start_ns(at_ns: int) -> int:
    """The start (00:00 UTC) of the day ``at_ns`` falls in."""
    return at_ns - at_ns % day_ns


@dataclass(frozen=True, slots=True)
class PastMovement:
    """A movement as the ledger recorded it: ``wallet`` (and its ``tier``) is the source,
    ``destination_wallet`` the firm's wallet receiving a sweep or a rebalance."""

    transfer_id: int
    at_ns: int
    kind: MovementKind
    pool: str
    wallet: str
    tier: str
    asset: str
    amount: int
    client: str = ""
    destination_wallet: str = ""


def movement_of(
    record: TransferRecord, accounts: Mapping[int, AccountDefinition]
) -> PastMovement | None:
    """The movement ``record`` is, or None (see the module docstring)."""
    kind = _kinds_by_code.get(record.code)
    if kind is None or record.flags & (_post | _void):
        return None
    debit, credit = accounts[record.debit_account], accounts[record.credit_account]
    if kind is MovementKind.client_withdrawal:
        return PastMovement(
            record.id, record.timestamp, kind, credit.pool, credit.owner, credit.kind,
            credit.asset, record.amount, client=debit.owner,
        )  # fmt: skip
    if not credit.pool or (kind is MovementKind.rebalance and debit.pool != credit.pool):
        return None  # a house wallet's own move: no pool's assets leave
    return PastMovement(
        record.id, record.timestamp, kind, credit.pool, credit.owner, credit.kind, credit.asset,
        record.amount, destination_wallet=debit.owner,
    )  # fmt: skip


@dataclass(slots=True)
class PoolPositions:
    """Posted balances replayed record by record (see the module docstring)."""

    accounts: Mapping[int, AccountDefinition]
    residual: dict[tuple[str, str], int] = field(default_factory=dict)  # (pool, asset)
    available: dict[int, int] = field(default_factory=dict)  # client account -> units
    pending: dict[int, TransferRecord] = field(default_factory=dict)  # holds still open

    def apply(self, record: TransferRecord) -> None:
        flags = record.flags
        if flags & _pending:
            self.pending[record.id] = record
            self._reserve(record.debit_account, record.amount)
            return
        if flags & (_post | _void):
            held = self.pending.pop(record.pending_id, None)
            if held is not None:
                self._reserve(held.debit_account, -held.amount)
            if flags & _void:
                return
        self._post(record.debit_account, -record.amount)
        self._post(record.credit_account, record.amount)

    def _reserve(self, account_id: int, amount: int) -> None:
        if self.accounts[account_id].account_class is AccountClass.client:
            self.available[account_id] = self.available.get(account_id, 0) - amount

    def _post(self, account_id: int, credit: int) -> None:
        """``credit`` (negative for a debit) on ``account_id``."""
        account = self.accounts[account_id]
        if not account.pool:
            return
        key = (account.pool, account.asset)
        if account.account_class is AccountClass.client:  # a liability: credit-normal
            self.available[account_id] = self.available.get(account_id, 0) + credit
            self.residual[key] = self.residual.get(key, 0) - credit
        elif account.account_class is AccountClass.custody:  # a holding: debit-normal
            self.residual[key] = self.residual.get(key, 0) - credit


def swept_since(
    records: Iterable[TransferRecord],
    accounts: Mapping[int, AccountDefinition],
    pool: str,
    asset: str,
    since_ns: int,
) -> int:
    """The pool's sweeps of ``asset`` committed at or after ``since_ns``, holds included and
    voided holds taken off again."""
    total = 0
    counted: dict[int, int] = {}
    for record in records:
        if record.timestamp < since_ns:
            continue
        if record.flags & _void and record.pending_id in counted:
            total -= counted.pop(record.pending_id)
            continue
        movement = movement_of(record, accounts)
        if movement is None or movement.kind is not MovementKind.residual_sweep:
            continue
        if (movement.pool, movement.asset) == (pool, asset):
            total += movement.amount
            if record.flags & _pending:
                counted[record.id] = movement.amount
    return total


@dataclass(slots=True)
class VelocityBook:
    """Earlier movements by (per, whose, asset, kind), with their running sums, in time
    order; a window's sum is two binary searches."""

    _times: dict[tuple[Per, str, str, MovementKind], list[int]] = field(default_factory=dict)
    _sums: dict[tuple[Per, str, str, MovementKind], list[int]] = field(default_factory=dict)

    def add(
        self, at_ns: int, kind: MovementKind, asset: str, amount: int, whose: Mapping[Per, str]
    ) -> None:
        for per in Per:
            key = (per, whose.get(per, ""), asset, kind)
            times = self._times.setdefault(key, [])
            sums = self._sums.setdefault(key, [0])
            assert not times or times[-1] <= at_ns  # added in time order
            times.append(at_ns)
            sums.append(sums[-1] + amount)

    def window_sums(
        self,
        keys: Iterable[WindowKey],
        at_ns: int,
        kind: MovementKind,
        asset: str,
        whose: Mapping[Per, str],
    ) -> dict[WindowKey, int]:
        """For each (window, per): the movements in (at - window, at] of that key."""
        found: dict[WindowKey, int] = {}
        for window_s, per in keys:
            key = (per, whose.get(per, ""), asset, kind)
            times = self._times.get(key)
            if not times:
                found[(window_s, per)] = 0
                continue
            sums = self._sums[key]
            low = bisect.bisect_right(times, at_ns - window_s * 10**9)
            high = bisect.bisect_right(times, at_ns)
            found[(window_s, per)] = sums[high] - sums[low]
        return found


def whose(client: str, initiator: str, pool: str) -> dict[Per, str]:
    """The values a velocity window groups movements by."""
    return {Per.client: client, Per.initiator: initiator, Per.pool: pool, Per.firm: ""}
