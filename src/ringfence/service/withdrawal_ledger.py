"""A withdrawal's side of the ledger: the hold placed once it is approved, its post once the
chain confirmed it (with the network fee the chain took), its void on a terminal failure; and
the journal step that records each.

The ledger's transfer ids of a withdrawal's hold, post, void and network fee are derived from
its id (core/withdrawals/lifecycle.py), so a step retried after a crash finds its transfer
``exists`` instead of moving value twice.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import fields

from ringfence.core import limits
from ringfence.core.errors import HeadConflictError, InputError, Result
from ringfence.core.ledger.model import (
    AccountClass,
    AccountDefinition,
    Transfer,
    TransferCode,
    TransferFlags,
)
from ringfence.core.money import Asset
from ringfence.core.policy.movement import MovementKind
from ringfence.core.withdrawals.lifecycle import (
    Status,
    Step,
    Voided,
    Withdrawal,
    WithdrawalEvent,
    WithdrawalSpec,
    fee_transfer_id,
    hold_transfer_id,
    post_transfer_id,
    void_transfer_id,
)
from ringfence.service.custody import derived_account_id
from ringfence.service.ledger import LedgerService
from ringfence.service.policy import MovementBooks, books, journal_withdrawal_events
from ringfence.service.withdrawal_facts import client_account, custody_account, native_asset

__all__ = [
    "apply_all",
    "codes",
    "fee_transfer",
    "hold",
    "hold_when_free",
    "resolve",
    "step",
    "void",
]

codes = {
    MovementKind.client_withdrawal: TransferCode.withdrawal,
    MovementKind.residual_sweep: TransferCode.sweep,
    MovementKind.rebalance: TransferCode.wallet_transfer,
}
network_fees_kind = "network_fees"
# The store's lock (``LedgerStore.exclusive``) whoever moves withdrawals holds: ``process``
# for its pass, a request or an approval for the hold it places.
withdrawals_lock = "withdrawals"
house_owner = "house"


def apply_all(found: MovementBooks, events: list[WithdrawalEvent]) -> None:
    for event in events:
        result = found.withdrawals.apply(event)
        assert result is Result.ok, (event, result)


def step(
    ledger: LedgerService, withdrawal: Withdrawal, make: Callable[[int], WithdrawalEvent]
) -> None:
    """Apply and journal one step made by ``make(at_ns)`` (after any ledger transfer it
    follows, so that its timestamp comes after the transfer's).

    The caller holds the withdrawals lock, so no other writer moves this withdrawal's steps;
    but a request or an approval (which do not take it) may append first. Then nothing was
    journaled: the ledger is caught up and the step made again on the books as they now
    stand, as ``submit`` does after a head conflict, so a pass never stops half-way (a hold
    in the ledger without its journaled step). ``withdrawal`` is kept as the books' own."""
    deadline_ns = ledger.clock.now_ns() + limits.head_conflict_wait_ns_max
    while True:
        try:
            _step_once(ledger, withdrawal, make)
            return
        except HeadConflictError:
            if ledger.clock.now_ns() >= deadline_ns:
                raise
        ledger.clock.sleep_ns(limits.head_conflict_backoff_ns_min)
        ledger.catch_up()


def _step_once(
    ledger: LedgerService, withdrawal: Withdrawal, make: Callable[[int], WithdrawalEvent]
) -> None:
    found = books(ledger)
    current = found.withdrawals.withdrawals[withdrawal.spec.id]
    at_ns = ledger.next_timestamp()
    event = make(at_ns)
    result = found.withdrawals.apply(event)
    assert result is Result.ok, (event, result)
    journal_withdrawal_events(ledger, found, [event], at_ns)
    if current is not withdrawal:  # the books were read again after a head conflict
        for name in (f.name for f in fields(Withdrawal)):
            setattr(withdrawal, name, getattr(current, name))
        found.withdrawals.withdrawals[withdrawal.spec.id] = withdrawal


def hold_when_free(ledger: LedgerService, withdrawal: Withdrawal) -> Withdrawal:
    """Hold an approved withdrawal now, unless another process moves the withdrawals (a
    ``process`` pass holds every approved one itself), so that two writers never race to
    place one hold; the withdrawal as it stands after."""
    with ledger.store.exclusive(withdrawals_lock) as taken:
        if not taken:
            return withdrawal
        ledger.catch_up()
        current = books(ledger).withdrawals.withdrawals[withdrawal.spec.id]
        if current.status is Status.approved:
            hold(ledger, current)
        return current


def hold(ledger: LedgerService, withdrawal: Withdrawal) -> None:
    """Hold the amount as a pending transfer; voided at once if the ledger refuses it."""
    spec = withdrawal.spec
    hold_id = hold_transfer_id(spec.id)
    source = custody_account(ledger, spec.wallet, spec.pool, spec.asset)
    if spec.kind is MovementKind.client_withdrawal:
        debit = _client_account(ledger, spec)
    else:
        debit = custody_account(
            ledger, spec.destination_wallet, _destination_pool(spec), spec.asset
        )
    pending = Transfer(hold_id, debit, source, spec.amount, codes[spec.kind], TransferFlags.pending)
    (result,) = ledger.submit([pending])
    if result.succeeded:
        step(ledger, withdrawal, lambda at: Step(spec.id, Status.held, at, transfer_id=hold_id))
    else:
        step(ledger, withdrawal, lambda at: Voided(spec.id, result.value, at))


def _destination_pool(spec: WithdrawalSpec) -> str:
    return "" if spec.kind is MovementKind.residual_sweep else spec.pool


def _client_account(ledger: LedgerService, spec: WithdrawalSpec) -> int:
    found = client_account(ledger, spec.client, spec.pool, spec.asset)
    if found is None:
        raise InputError(Result.account_not_found, f"{spec.client} in {spec.pool}")
    return found


def resolve(
    ledger: LedgerService, withdrawal: Withdrawal, post: bool, fee: Transfer | None = None
) -> tuple[Result, int, Result | None]:
    """Post (with the network fee, when given, in the same journal entry) or void the hold:
    the post's or void's result and id, and the fee's result. A fee the ledger refuses does
    not stop the post (they are not linked): the chain has moved and the ledger must say so;
    the fee left unbooked then shows as a reconciliation break of the paying wallet."""
    spec = withdrawal.spec
    flag = TransferFlags.post_pending if post else TransferFlags.void_pending
    transfer_id = (post_transfer_id if post else void_transfer_id)(spec.id)
    event = Transfer(transfer_id, 0, 0, None, codes[spec.kind], flag, pending_id=withdrawal.hold_id)
    results = ledger.submit([event] if fee is None else [event, fee])
    return results[0], transfer_id, (results[1] if fee is not None else None)


# The ledger released the hold already (voided or expired outside the lifecycle): nothing is
# left to void, and the withdrawal is voided without a void of its own.
_released = frozenset({Result.pending_transfer_already_voided, Result.pending_transfer_expired})


def void(ledger: LedgerService, withdrawal: Withdrawal, reason: str) -> None:
    """A terminal failure: void the hold (if any, and still held) and the withdrawal. A hold
    posted outside the lifecycle is not voided: ``InputError``, for an operator to resolve."""
    void_id = 0
    if withdrawal.hold_id:
        result, void_id, _ = resolve(ledger, withdrawal, post=False)
        if result in _released:
            void_id = 0
        elif not result.succeeded:
            raise InputError(result, f"voiding the hold of withdrawal {withdrawal.spec.id}")
    spec_id = withdrawal.spec.id
    step(ledger, withdrawal, lambda at: Voided(spec_id, reason, at, transfer_id=void_id))


# ---------------------------------------------------------------------- the network fee


def fee_transfer(ledger: LedgerService, spec: WithdrawalSpec, fee: int) -> Transfer | None:
    """The network fee the chain took for ``spec``, as the ledger books it: ``network_fee``
    from the paying wallet's custody account of the chain's native asset (a token's
    withdrawal pays its gas in Ether) to the house's network fees, which the pool's residual
    interest pays for. None for no fee; ``InputError`` when the ledger has nowhere to book it
    (no native asset of the chain, no custody account of it for the wallet)."""
    if fee == 0:
        return None
    native = native_asset(ledger, ledger.ledger.assets[spec.asset])
    if native.contract:
        raise InputError(
            Result.asset_not_found, f"no asset of {native.chain}'s own to book its fee in"
        )
    source = custody_account(ledger, spec.wallet, spec.pool, native.code)
    house = _network_fees_account(ledger, native)
    return Transfer(
        fee_transfer_id(spec.id), house, source, fee, TransferCode.network_fee, TransferFlags.none
    )


def _network_fees_account(ledger: LedgerService, asset: Asset) -> int:
    """The house's network fees account of ``asset``: the ledger's own, else one defined now
    (with an id derived from what it is, so defining it again finds the same)."""
    for state in ledger.ledger.accounts.values():
        d = state.definition
        if (d.account_class, d.kind, d.pool, d.asset) == (
            AccountClass.house, network_fees_kind, "", asset.code,
        ):  # fmt: skip
            return d.id
    account_id = derived_account_id(AccountClass.house, house_owner, network_fees_kind, "",
                                    asset.code)  # fmt: skip
    definition = AccountDefinition(
        account_id, asset.code, AccountClass.house, house_owner, network_fees_kind, ""
    )
    (result,) = ledger.define_accounts([definition])
    if not result.succeeded:
        raise InputError(result, f"the house's network fees account of {asset.code}")
    return account_id
