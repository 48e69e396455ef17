"""Paying held withdrawals on chain: each pass of ``process`` moves every open withdrawal as
far as it goes now, through the ``WithdrawalChain`` port (build from the pool's own wallet,
sign after the signer's checks, broadcast, count confirmations), and posts it in the ledger
once confirmed, with the network fee the chain took (``network_fee``, from the paying
wallet's custody account of the chain's native asset to the house's network fees).

Just before a signature is asked for, the destination and the network fee are decided again
on the facts of that moment (service/withdrawal_checks.py): a destination no longer allowed,
or a fee bound the house's residual interest in the pool cannot cover, refuses it.

A named refusal (those two, or the chain's: a transaction that is not exactly its order, a
hold the ledger no longer keeps, a signer that refuses) voids the withdrawal and its hold,
and gives up its transaction if one was built (``abandon``, journaled once done; one that
fails is asked again by every later pass until it is done); a chain that cannot be reached
leaves it where it is, for the next pass.

Passes are one at a time per ledger: ``process`` holds the store's ``withdrawals`` lock
(``LedgerStore.exclusive``) for its pass, and a second one, from another process, gets
``withdrawals_busy`` at once, having done nothing.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from ringfence.core import limits
from ringfence.core.access.roles import Action, Actor, require
from ringfence.core.custody.spends import SpendOrder
from ringfence.core.errors import InputError, Result, StorageError
from ringfence.core.money import format_amount
from ringfence.core.withdrawals.lifecycle import (
    SpendReleased,
    Status,
    Step,
    Withdrawal,
    WithdrawalEvent,
    due_for_expiry,
    spend_kept,
    voidable_statuses,
)
from ringfence.service.ledger import LedgerService
from ringfence.service.policy import books, journal_withdrawal_events
from ringfence.service.ports import WithdrawalChain
from ringfence.service.withdrawal_checks import check_before_signing
from ringfence.service.withdrawal_facts import native_asset
from ringfence.service.withdrawal_ledger import (
    apply_all,
    fee_transfer,
    hold,
    resolve,
    step,
    void,
    withdrawals_lock,
)

__all__ = ["confirmations_default", "process", "process_requested", "spend_order"]

confirmations_default = limits.withdrawal_confirmations_default
_chain_steps = frozenset({Status.held, Status.built, Status.signed, Status.broadcast})


def spend_order(withdrawal: Withdrawal) -> SpendOrder:
    """What the chain side must pay for a held withdrawal, and the hold that backs it."""
    spec = withdrawal.spec
    assert withdrawal.hold_id, f"withdrawal {spec.id} is not held"
    return SpendOrder(
        str(spec.id), spec.pool, spec.asset, spec.amount, spec.destination, spec.fee_max,
        spec.wallet, withdrawal.hold_id,
    )  # fmt: skip


def process(
    ledger: LedgerService,
    actor: Actor,
    chain: WithdrawalChain | None,
    confirmations_required: int = confirmations_default,
) -> dict[str, Any]:
    """One pass over the open withdrawals: expire those whose approvals did not come in
    time; hold approved ones the ledger has not held yet; move each held one as far along
    the chain as it goes now (none without a chain); post those confirmed
    ``confirmations_required`` times, with their network fee."""
    require(actor, Action.process_withdrawals)
    if (
        type(confirmations_required) is not int
        or not 0 < confirmations_required <= limits.withdrawal_confirmations_max
    ):
        raise InputError(
            Result.withdrawal_confirmations_invalid,
            f"{confirmations_required!r} blocks: 1 to {limits.withdrawal_confirmations_max}",
        )
    with ledger.store.exclusive(withdrawals_lock) as taken:
        if not taken:
            raise InputError(
                Result.withdrawals_busy,
                "another process is moving this ledger's withdrawals: nothing was done; "
                "run again once it is done",
            )
        ledger.catch_up()  # start from what the last holder of the lock journaled
        return _pass_over(ledger, chain, confirmations_required)


def _pass_over(
    ledger: LedgerService, chain: WithdrawalChain | None, blocks: int
) -> dict[str, Any]:
    """``process``'s pass, the lock held. Each withdrawal is read from the books afresh before
    it moves: a step journaled by this pass may have rebuilt them."""
    report: dict[str, list[Any]] = {"expired": [], "held": [], "advanced": [], "voided": [],
                                    "waiting": [], "posted": [], "released": []}  # fmt: skip
    for withdrawal in due_for_expiry(books(ledger).withdrawals, ledger.clock.now_ns()):
        void(ledger, withdrawal, Result.withdrawal_expired.value)
        report["expired"].append(str(withdrawal.spec.id))
    for withdrawal_id in list(books(ledger).withdrawals.withdrawals):
        withdrawal = books(ledger).withdrawals.withdrawals[withdrawal_id]
        if withdrawal.status is Status.approved:
            hold(ledger, withdrawal)
            report["held"].append(str(withdrawal_id))
        if chain is None:
            continue
        if withdrawal.status in _chain_steps:
            _pass(ledger, withdrawal, chain, blocks, report)
        elif spend_kept(withdrawal):
            _abandon(ledger, withdrawal, chain, report)
    return {"ok": True, **report}


def process_requested(
    ledger: LedgerService,
    actor: Actor,
    chain_of: Callable[[LedgerService], WithdrawalChain | None],
    document: object,
) -> dict[str, Any]:
    """``process`` as the REST API asks for it: ``{"confirmations": N}`` (optional, a JSON
    integer), read strictly; the chain is made only for an actor who may process."""
    require(actor, Action.process_withdrawals)
    if not isinstance(document, dict):
        raise InputError(Result.request_body_malformed, "a JSON object")
    unknown = sorted(set(document) - {"confirmations"})
    if unknown:
        raise InputError(Result.field_unknown, unknown[0])
    blocks = document.get("confirmations", confirmations_default)
    if type(blocks) is not int:
        raise InputError(Result.withdrawal_confirmations_invalid, f"{blocks!r}: a JSON integer")
    return process(ledger, actor, chain_of(ledger), blocks)


def _pass(
    ledger: LedgerService,
    withdrawal: Withdrawal,
    chain: WithdrawalChain,
    blocks: int,
    report: dict[str, list[Any]],
) -> None:
    before, withdrawal_id = withdrawal.status, str(withdrawal.spec.id)
    try:
        posted = _advance(ledger, withdrawal, chain, blocks)
    except InputError as refusal:
        if withdrawal.status not in voidable_statuses:
            # Broadcast: the transaction may yet be mined (or was, and reverted), so nothing
            # voids it here; it stays broadcast, reported, for an operator to resolve.
            report["waiting"].append({"id": withdrawal_id, "detail": str(refusal)})
            return
        try:
            void(ledger, withdrawal, refusal.code.value)
        except InputError as stuck:  # a hold posted around the lifecycle: an operator's
            report["waiting"].append({"id": withdrawal_id, "detail": f"{refusal}; {stuck}"})
            return
        report["voided"].append({"id": withdrawal_id, "reason": refusal.code.value})
        _abandon(ledger, withdrawal, chain, report)
        return
    except StorageError as failure:
        report["waiting"].append({"id": withdrawal_id, "detail": str(failure)})
        return
    if withdrawal.status is not before:
        report["advanced"].append({"id": withdrawal_id, "status": withdrawal.status.value})
    if posted is not None:
        report["posted"].append(posted)


def _abandon(
    ledger: LedgerService,
    withdrawal: Withdrawal,
    chain: WithdrawalChain,
    report: dict[str, list[Any]],
) -> None:
    """Give up the spend of a withdrawal voided before it was broadcast: kept, its outputs or
    its nonce would stay reserved for a transaction that is never sent, and every later
    spend of the wallet would go without them (Bitcoin) or wait behind it (Ethereum). Done,
    it is journaled (``SpendReleased``); failed, it is reported, and every later pass tries
    again until it is done. Voided before any spend was built (the chain refused the build),
    there is nothing to give up and nothing is asked or journaled."""
    if not spend_kept(withdrawal):
        return
    spec_id, spend_id = withdrawal.spec.id, withdrawal.spend_id
    try:
        chain.abandon(spend_order(withdrawal), spend_id)
    except (InputError, StorageError) as failure:
        detail = f"voided; its spend {spend_id} is still kept: {failure}"
        report["waiting"].append({"id": str(spec_id), "detail": detail})
        return
    step(ledger, withdrawal, lambda at: SpendReleased(spec_id, at))
    report["released"].append({"id": str(spec_id), "spend_id": spend_id})


def _advance(
    ledger: LedgerService, withdrawal: Withdrawal, chain: WithdrawalChain, blocks: int
) -> dict[str, Any] | None:
    """Build, sign, broadcast as far as the chain goes now; post once confirmed (what was
    posted, then: the withdrawal and its network fee)."""
    order, spec_id = spend_order(withdrawal), withdrawal.spec.id
    if withdrawal.status is Status.held:
        spend_id = _reference(chain.build(order))
        step(ledger, withdrawal, lambda at: Step(spec_id, Status.built, at, reference=spend_id))
    if withdrawal.status is Status.built:
        check_before_signing(ledger, withdrawal)  # the destination and the fee, as of now
        chain.sign(order, withdrawal.spend_id)
        step(ledger, withdrawal, lambda at: Step(spec_id, Status.signed, at))
    if withdrawal.status is Status.signed:
        txid = _reference(chain.broadcast(order, withdrawal.spend_id))
        step(ledger, withdrawal, lambda at: Step(spec_id, Status.broadcast, at, reference=txid))
    if withdrawal.status is not Status.broadcast:
        return None
    seen = chain.confirmations(order, withdrawal.txid)
    if seen < blocks:
        return None
    return _post(ledger, withdrawal, chain, order, seen)


def _post(
    ledger: LedgerService,
    withdrawal: Withdrawal,
    chain: WithdrawalChain,
    order: SpendOrder,
    seen: int,
) -> dict[str, Any]:
    spec = withdrawal.spec
    fee = chain.fee_paid(order, withdrawal.txid)
    if type(fee) is not int or not 0 <= fee <= limits.amount_units_max:
        raise StorageError(f"the chain reported a fee of {fee!r} for {withdrawal.txid}")
    unbooked: Result | None = None
    try:
        fee_event = fee_transfer(ledger, spec, fee)
    except InputError as refusal:  # the chain has moved: post all the same, say so
        fee_event, unbooked = None, refusal.code
    result, post_id, fee_result = resolve(ledger, withdrawal, post=True, fee=fee_event)
    if not result.succeeded:
        raise StorageError(f"the ledger refused to post withdrawal {spec.id}: {result}")
    confirmed = min(seen, limits.withdrawal_confirmations_max)
    found = books(ledger)
    at_ns = ledger.next_timestamp()
    events: list[WithdrawalEvent] = [
        Step(spec.id, Status.confirmed, at_ns, confirmations=confirmed),
        Step(spec.id, Status.posted, at_ns, transfer_id=post_id),
    ]
    apply_all(found, events)
    journal_withdrawal_events(ledger, found, events, at_ns)
    native = native_asset(ledger, ledger.ledger.assets[spec.asset])
    return {
        "id": str(spec.id),
        "network_fee": format_amount(fee, native),
        "network_fee_asset": native.code,
        "network_fee_result": (unbooked or fee_result or Result.ok).value,
    }


def _reference(text: object) -> str:
    """A spend's or a transaction's id as the chain gave it: printable ASCII that fits."""
    if (
        not isinstance(text, str)
        or not 0 < len(text) <= limits.withdrawal_reference_bytes_max
        or not text.isascii()
        or not text.isprintable()
    ):
        raise InputError(Result.withdrawal_reference_invalid, repr(text)[:100])
    return text
