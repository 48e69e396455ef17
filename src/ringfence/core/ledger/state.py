"""Mutable in-memory state the ledger engine keeps between batches.

These are the engine's working records, not public values: balances per account, each pool's
holdings and liabilities per asset, pending transfers and open breaks. They are rebuilt from a
checkpoint plus the journal's tail when a store is opened, and checked against a full replay by
``audit verify``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import IntEnum, unique

from ringfence.core.ledger.model import (
    AccountClass,
    AccountDefinition,
    Pool,
    Role,
    Terms,
    TransferRecord,
)


@unique
class Limit(IntEnum):
    """Which side of an account may not exceed the other, pending debits or credits included."""

    none = 0
    credit_normal = 1  # debits (posted + pending) must not exceed posted credits
    debit_normal = 2  # credits (posted + pending) must not exceed posted debits


_limits = {
    Role.client_available: Limit.credit_normal,
    Role.client_collateral: Limit.credit_normal,
    Role.custody_pool: Limit.debit_normal,
    Role.custody_house: Limit.debit_normal,
    Role.house_revenue: Limit.credit_normal,
    Role.house_capital: Limit.credit_normal,
    Role.house_insurance: Limit.credit_normal,
    Role.house_loans: Limit.debit_normal,
    Role.house_network_fees: Limit.none,
    Role.system_clearing: Limit.none,
}
assert set(_limits) == set(Role)


@dataclass(slots=True)
class Position:
    """One pool's position in one asset: what its wallets hold against what it owes clients.

    ``shortfall_pending`` is the most that open pending transfers could still take from the
    pool's excess if every one of them were posted: the coverage check counts it, so no way of
    resolving pending transfers can leave a custody pool short.
    """

    pool: Pool
    asset: int
    holdings: int = 0
    liabilities: int = 0
    shortfall_pending: int = 0
    breaks_outstanding: int = 0
    enforced: bool = field(init=False)  # only custody pools are segregated

    def __post_init__(self) -> None:
        self.enforced = self.pool.terms is Terms.custody

    @property
    def excess_worst(self) -> int:
        return self.holdings - self.liabilities - self.shortfall_pending

    @property
    def residual_interest(self) -> int:
        return self.holdings - self.liabilities


@dataclass(slots=True, eq=False)
class AccountState:
    """One account's definition with its four balances and what the engine needs at hand."""

    definition: AccountDefinition
    id: int
    asset: int
    role: Role
    role_bits_debit: int  # the role shifted into the debit place of a rule key
    pool: str  # empty: the house
    limit: Limit
    position: Position | None
    is_custody: bool
    owner_number: int  # client number for client accounts, else 0
    debits_pending: int = 0
    debits_posted: int = 0
    credits_pending: int = 0
    credits_posted: int = 0

    @classmethod
    def build(
        cls, definition: AccountDefinition, asset: int, position: Position | None, owner: int
    ) -> AccountState:
        role = definition.role
        assert (position is not None) == bool(definition.pool)
        return cls(
            definition,
            definition.id,
            asset,
            role,
            int(role) << 4,
            definition.pool,
            _limits[role],
            position,
            definition.account_class is AccountClass.custody,
            owner,
        )

    @property
    def balance(self) -> int:
        """Posted balance on the account's normal side (may be negative only without limit)."""
        if self.limit is Limit.debit_normal or self.role is Role.house_network_fees:
            return self.debits_posted - self.credits_posted
        return self.credits_posted - self.debits_posted

    def balances(self) -> tuple[int, int, int, int]:
        return (self.debits_pending, self.debits_posted, self.credits_pending, self.credits_posted)


@unique
class PendingStatus(IntEnum):
    pending = 1
    posted = 2
    voided = 3
    expired = 4


@dataclass(slots=True, eq=False)
class PendingState:
    record: TransferRecord
    expires_at: int  # 0: never
    status: PendingStatus = PendingStatus.pending
    # Worst-case excess this pending transfer holds back, per pool position it touches.
    shortfalls: tuple[tuple[Position, int], ...] = field(default=())
