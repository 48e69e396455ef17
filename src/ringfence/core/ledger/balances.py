"""The balance and coverage checks: no limited account below zero, no balance past 2^128,
and no custody pool owing its clients more than its wallets hold, pending transfers counted
in the worst case. Pure functions over the accounts' and positions' state.
"""

from __future__ import annotations

from ringfence.core import limits
from ringfence.core.errors import Result
from ringfence.core.ledger.model import (
    Role,
    TransferRecord,
)
from ringfence.core.ledger.segregation import (
    rule_index,
    rule_key,
)
from ringfence.core.ledger.state import AccountState, Limit, PendingState, Position

_credit_normal = Limit.credit_normal
_debit_normal = Limit.debit_normal
_u128 = limits.amount_units_max


_client_roles = frozenset({Role.client_available, Role.client_collateral})


def check_balances(debit: AccountState, credit: AccountState, amount: int) -> Result | None:
    """No limited account may go below zero, pending debits (or credits) counted, and no
    balance field may pass 2^128."""
    debits = debit.debits_posted + debit.debits_pending + amount
    if debit.limit is _credit_normal and debits > debit.credits_posted:
        if debit.role in _client_roles:
            return Result.exceeds_available_balance
        return Result.exceeds_house_balance
    credits = credit.credits_posted + credit.credits_pending + amount
    if credit.limit is _debit_normal and credits > credit.debits_posted:
        if credit.is_custody:
            return Result.exceeds_wallet_holdings
        return Result.exceeds_house_balance
    if debits > _u128 or credits > _u128:
        return Result.overflows_balance
    return None


def excess_changes(
    debit: AccountState, credit: AccountState, amount: int
) -> list[tuple[Position, int, bool]]:
    """Per pool position touched: the change in excess and whether its wallets pay out."""
    changes: list[tuple[Position, int, bool]] = []
    debit_position = debit.position
    credit_position = credit.position
    if debit_position is not None:
        delta = amount if credit_position is not debit_position else 0
        changes.append((debit_position, delta, False))
    if credit_position is not None:
        if credit_position is debit_position:
            position, delta, _ = changes[0]
            outflow = credit.is_custody and not debit.is_custody
            changes[0] = (position, delta, outflow)
        else:
            changes.append((credit_position, -amount, credit.is_custody))
    return changes


def shortfalls_of(
    debit: AccountState, credit: AccountState, amount: int
) -> tuple[tuple[Position, int], ...]:
    return tuple(
        (position, -delta)
        for position, delta, _ in excess_changes(debit, credit, amount)
        if delta < 0
    )


def check_coverage(
    debit: AccountState, credit: AccountState, amount: int, pending: bool, exempt: bool
) -> Result | None:
    """Refuse what would leave a custody pool owing its clients more than its wallets hold.

    Counted in the worst case over open pending transfers. A pool already short (a recorded
    break) still accepts what does not make it shorter and does not pay out of its wallets.
    """
    if exempt:
        return None
    position = debit.position
    if position is credit.position:
        # Inside one pool: deposits, withdrawals, internal and wallet transfers leave the excess
        # as it is; only a payout from the pool's wallets matters, and only if already short.
        assert position is not None
        outflow = credit.is_custody and not debit.is_custody
        if outflow and position.enforced and position.excess_worst < 0:
            return Result.pool_coverage_would_break
        return None
    for position, delta, outflow in excess_changes(debit, credit, amount):
        if not position.enforced:
            continue
        worst_delta = delta if delta < 0 else (0 if pending else delta)
        if position.excess_worst + worst_delta < 0 and (worst_delta < 0 or outflow):
            return Result.pool_coverage_would_break
    return None


def check_post_coverage(
    original: TransferRecord,
    debit: AccountState,
    credit: AccountState,
    amount: int,
    pending: PendingState,
) -> Result | None:
    """Posting releases the pending shortfall and applies the posted part; check the result."""
    held = {id(position): shortfall for position, shortfall in pending.shortfalls}
    for position, delta, outflow in excess_changes(debit, credit, amount):
        if not position.enforced:
            continue
        excess_after = position.excess_worst + held.get(id(position), 0) + delta
        if excess_after < 0 and (delta < 0 or outflow):
            rule = rule_index.get(rule_key(original.code, debit.role, credit.role))
            if rule is not None and rule.coverage_exempt:
                continue
            return Result.pool_coverage_would_break
    return None

