"""Withdrawals through their lifecycle: requested, decided by the policy in force, approved
by a quorum, held in the ledger, paid on chain, posted; or voided.

Gather, decide, apply. A request gathers the facts the policy needs from the ledger and the
journal (service/withdrawal_facts.py), lets the core decide (core/policy/decide.py), and
journals the request with its decision. Once approved (at once, or by the last approval of
its quorum) the amount is held in the ledger as a pending transfer: out of the client's
account for a client's withdrawal, out of the pool's wallet for a sweep (to a house wallet)
or a rebalance (to another wallet of the pool); the ledger's own rules check it again
(available balance, pool coverage). ``process`` then drives each held withdrawal through the
chain (the ``WithdrawalChain`` port: build, sign, broadcast, confirmations), posts the hold
once confirmed, and voids it on a terminal failure. Every step is its own journal entry.

The ledger's transfer ids of a withdrawal's hold, post and void are derived from its id
(core/withdrawals/lifecycle.py), so a step retried after a crash finds its transfer
``exists`` instead of moving value twice.

Isolation as everywhere in the service: a client principal requests withdrawals only from
its own accounts and sees only its own withdrawals, without the decision's trace (which
reads the firm's policy); another's is ``withdrawal_not_found``.
"""

from __future__ import annotations

from typing import Any

from ringfence.core import limits
from ringfence.core.access.roles import Action, Actor, require
from ringfence.core.custody.spends import SpendOrder
from ringfence.core.errors import InputError, Result, StorageError
from ringfence.core.ledger.model import Transfer, TransferCode, TransferFlags, check_id
from ringfence.core.money import format_amount
from ringfence.core.policy.decide import decide
from ringfence.core.policy.document import Action as PolicyAction
from ringfence.core.policy.movement import MovementKind
from ringfence.core.withdrawals.lifecycle import (
    Approved,
    Decided,
    Rejected,
    Requested,
    Status,
    Step,
    Voided,
    Withdrawal,
    WithdrawalEvent,
    due_for_expiry,
    hold_transfer_id,
    journaled,
    post_transfer_id,
    void_transfer_id,
)
from ringfence.service.access import Page, cursor_value, page_size, paged
from ringfence.service.ledger import LedgerService
from ringfence.service.policy import MovementBooks, books, journal_withdrawal_events
from ringfence.service.ports import WithdrawalChain
from ringfence.service.withdrawal_facts import (
    client_account,
    custody_account,
    eligible_approvers,
    facts_for,
    movement_request,
    parse_request,
)

__all__ = [
    "approve",
    "confirmations_default",
    "listed",
    "parse_id",
    "process",
    "reject",
    "request",
    "show",
]

confirmations_default = limits.withdrawal_confirmations_default

_codes = {
    MovementKind.client_withdrawal: TransferCode.withdrawal,
    MovementKind.residual_sweep: TransferCode.sweep,
    MovementKind.rebalance: TransferCode.wallet_transfer,
}


def request(ledger: LedgerService, actor: Actor, document: object) -> dict[str, Any]:
    """Request a withdrawal (see ``withdrawal_facts.parse_request`` for the body); the same id
    and body again answers ``exists`` with the withdrawal as it stands."""
    require(actor, Action.request_withdrawals)
    found = books(ledger)
    at_ns = ledger.next_timestamp()
    policy_version = found.policies.in_force(at_ns)
    policy = None if policy_version is None else policy_version.compiled
    spec = parse_request(ledger, actor, document, policy)
    existing = found.withdrawals.withdrawals.get(spec.id)
    if existing is not None:
        if not _sees(actor, existing):
            raise InputError(Result.withdrawal_exists_with_different_body, str(spec.id))
        result = found.withdrawals.apply(Requested(spec, at_ns))
        if result is not Result.exists:
            raise InputError(result, str(spec.id))
        return {"result": result.value, **withdrawal_document(ledger, actor, existing)}
    movement = movement_request(spec, at_ns)
    decision = journaled(decide(policy, movement, facts_for(ledger, found, movement)))
    eligible, seniors = eligible_approvers(policy, decision)
    timeout_s = policy.document.approval_timeout_s if policy is not None else 0
    events: list[WithdrawalEvent] = [
        Requested(spec, at_ns),
        Decided(spec.id, decision, eligible, seniors, at_ns + timeout_s * 10**9, at_ns),
    ]
    _apply_all(found, events)
    journal_withdrawal_events(ledger, found, events, at_ns)
    withdrawal = found.withdrawals.withdrawals[spec.id]
    if withdrawal.status is Status.approved:
        _hold(ledger, withdrawal)
    return {"result": Result.ok.value, **withdrawal_document(ledger, actor, withdrawal)}


def approve(ledger: LedgerService, actor: Actor, withdrawal_id: int) -> dict[str, Any]:
    """``actor`` approves: four-eyes and the decision's groups decide whether it may; the last
    approval of the quorum places the hold."""
    require(actor, Action.approve_withdrawals)
    return _verdict(ledger, actor, withdrawal_id, approve=True)


def reject(ledger: LedgerService, actor: Actor, withdrawal_id: int) -> dict[str, Any]:
    """An eligible approver refuses it, or its initiator withdraws it: voided, nothing held."""
    withdrawal = _visible(ledger, actor, withdrawal_id)
    if withdrawal.spec.initiator != actor.name:
        require(actor, Action.approve_withdrawals)
    return _verdict(ledger, actor, withdrawal_id, approve=False)


def _verdict(
    ledger: LedgerService, actor: Actor, withdrawal_id: int, *, approve: bool
) -> dict[str, Any]:
    found = books(ledger)
    withdrawal = _visible(ledger, actor, withdrawal_id)
    at_ns = ledger.next_timestamp()
    event: WithdrawalEvent = (
        Approved(withdrawal_id, actor.name, at_ns) if approve
        else Rejected(withdrawal_id, actor.name, at_ns)
    )  # fmt: skip
    result = found.withdrawals.apply(event)
    if result is not Result.ok:
        raise InputError(result, f"withdrawal {withdrawal_id} by {actor.name}")
    journal_withdrawal_events(ledger, found, [event], at_ns)
    if withdrawal.status is Status.approved:
        _hold(ledger, withdrawal)
    return withdrawal_document(ledger, actor, withdrawal)


def _apply_all(found: MovementBooks, events: list[WithdrawalEvent]) -> None:
    for event in events:
        result = found.withdrawals.apply(event)
        assert result is Result.ok, (event, result)


def _step(ledger: LedgerService, withdrawal: Withdrawal, make: Any) -> None:
    """Apply and journal one step made by ``make(at_ns)`` (after any ledger transfer it
    follows, so that its timestamp comes after the transfer's)."""
    found = books(ledger)
    at_ns = ledger.next_timestamp()
    event = make(at_ns)
    result = found.withdrawals.apply(event)
    assert result is Result.ok, (event, result)
    journal_withdrawal_events(ledger, found, [event], at_ns)


# ---------------------------------------------------------------------- the ledger's side


def _hold(ledger: LedgerService, withdrawal: Withdrawal) -> None:
    """Hold the amount as a pending transfer; voided at once if the ledger refuses it."""
    spec = withdrawal.spec
    hold_id = hold_transfer_id(spec.id)
    source = custody_account(ledger, spec.wallet, spec.pool, spec.asset)
    if spec.kind is MovementKind.client_withdrawal:
        debit = _client_account(ledger, withdrawal)
    else:
        debit = custody_account(
            ledger, spec.destination_wallet, _destination_pool(spec), spec.asset
        )
    hold = Transfer(hold_id, debit, source, spec.amount, _codes[spec.kind], TransferFlags.pending)
    (result,) = ledger.submit([hold])
    if result.succeeded:
        _step(ledger, withdrawal, lambda at: Step(spec.id, Status.held, at, transfer_id=hold_id))
    else:
        _step(ledger, withdrawal, lambda at: Voided(spec.id, result.value, at))


def _destination_pool(spec: Any) -> str:
    return "" if spec.kind is MovementKind.residual_sweep else spec.pool


def _client_account(ledger: LedgerService, withdrawal: Withdrawal) -> int:
    spec = withdrawal.spec
    found = client_account(ledger, spec.client, spec.pool, spec.asset)
    if found is None:
        raise InputError(Result.account_not_found, f"{spec.client} in {spec.pool}")
    return found


def _resolve(ledger: LedgerService, withdrawal: Withdrawal, post: bool) -> tuple[Result, int]:
    spec = withdrawal.spec
    flag = TransferFlags.post_pending if post else TransferFlags.void_pending
    transfer_id = (post_transfer_id if post else void_transfer_id)(spec.id)
    event = Transfer(
        transfer_id, 0, 0, None, _codes[spec.kind], flag, pending_id=withdrawal.hold_id
    )
    (result,) = ledger.submit([event])
    return result, transfer_id


def _void(ledger: LedgerService, withdrawal: Withdrawal, reason: str) -> None:
    """A terminal failure: void the hold (if any) and the withdrawal."""
    void_id = 0
    if withdrawal.hold_id:
        result, void_id = _resolve(ledger, withdrawal, post=False)
        if not result.succeeded:
            raise InputError(result, f"voiding the hold of withdrawal {withdrawal.spec.id}")
    spec_id = withdrawal.spec.id
    _step(ledger, withdrawal, lambda at: Voided(spec_id, reason, at, transfer_id=void_id))


# ---------------------------------------------------------------------- the chain's side


def spend_order(withdrawal: Withdrawal) -> SpendOrder:
    spec = withdrawal.spec
    return SpendOrder(
        str(spec.id), spec.pool, spec.asset, spec.amount, spec.destination, spec.fee_max
    )


def process(
    ledger: LedgerService,
    actor: Actor,
    chain: WithdrawalChain | None,
    confirmations_required: int = limits.withdrawal_confirmations_default,
) -> dict[str, Any]:
    """One pass over the open withdrawals: expire those whose approvals did not come in
    time; hold approved ones the ledger has not held yet; move each held one as far along
    the chain as it goes now (none without a chain); post those confirmed
    ``confirmations_required`` times. A named refusal from the chain (a transaction that is
    not exactly its order, a signer that refuses) voids the withdrawal and its hold; a chain
    that cannot be reached leaves it where it is, to try again."""
    require(actor, Action.process_withdrawals)
    if not 0 < confirmations_required <= limits.withdrawal_confirmations_max:
        raise InputError(Result.withdrawal_reference_invalid, f"{confirmations_required} blocks")
    found = books(ledger)
    report: dict[str, list[Any]] = {"expired": [], "held": [], "advanced": [], "voided": [],
                                    "waiting": []}  # fmt: skip
    for withdrawal in due_for_expiry(found.withdrawals, ledger.clock.now_ns()):
        _void(ledger, withdrawal, Result.withdrawal_expired.value)
        report["expired"].append(str(withdrawal.spec.id))
    for withdrawal in list(found.withdrawals.withdrawals.values()):
        if withdrawal.status is Status.approved:
            _hold(ledger, withdrawal)
            report["held"].append(str(withdrawal.spec.id))
        if chain is None or withdrawal.status not in _chain_steps:
            continue
        before = withdrawal.status
        try:
            _advance(ledger, withdrawal, chain, confirmations_required)
        except InputError as refusal:
            _void(ledger, withdrawal, refusal.code.value)
            report["voided"].append({"id": str(withdrawal.spec.id), "reason": refusal.code.value})
            continue
        except StorageError as failure:
            report["waiting"].append({"id": str(withdrawal.spec.id), "detail": str(failure)})
            continue
        if withdrawal.status is not before:
            report["advanced"].append(
                {"id": str(withdrawal.spec.id), "status": withdrawal.status.value}
            )
    return {"ok": True, **report}


_chain_steps = frozenset({Status.held, Status.built, Status.signed, Status.broadcast})


def _advance(
    ledger: LedgerService, withdrawal: Withdrawal, chain: WithdrawalChain, blocks: int
) -> None:
    order, spec_id = spend_order(withdrawal), withdrawal.spec.id
    if withdrawal.status is Status.held:
        spend_id = _reference(chain.build(order))
        _step(ledger, withdrawal, lambda at: Step(spec_id, Status.built, at, reference=spend_id))
    if withdrawal.status is Status.built:
        chain.sign(order, withdrawal.spend_id)
        _step(ledger, withdrawal, lambda at: Step(spec_id, Status.signed, at))
    if withdrawal.status is Status.signed:
        txid = _reference(chain.broadcast(order, withdrawal.spend_id))
        _step(ledger, withdrawal, lambda at: Step(spec_id, Status.broadcast, at, reference=txid))
    if withdrawal.status is Status.broadcast:
        seen = chain.confirmations(order, withdrawal.txid)
        if seen < blocks:
            return
        result, post_id = _resolve(ledger, withdrawal, post=True)
        if not result.succeeded:
            raise StorageError(f"the ledger refused to post withdrawal {spec_id}: {result}")
        confirmed = min(seen, limits.withdrawal_confirmations_max)
        found = books(ledger)
        at_ns = ledger.next_timestamp()
        events: list[WithdrawalEvent] = [
            Step(spec_id, Status.confirmed, at_ns, confirmations=confirmed),
            Step(spec_id, Status.posted, at_ns, transfer_id=post_id),
        ]
        _apply_all(found, events)
        journal_withdrawal_events(ledger, found, events, at_ns)


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


# ---------------------------------------------------------------------- reading


def _sees(actor: Actor, withdrawal: Withdrawal) -> bool:
    return not actor.is_client or withdrawal.spec.client == actor.client


def _visible(ledger: LedgerService, actor: Actor, withdrawal_id: int) -> Withdrawal:
    found = books(ledger).withdrawals.withdrawals.get(withdrawal_id)
    if found is None or not _sees(actor, found):
        raise InputError(Result.withdrawal_not_found, str(withdrawal_id))
    return found


def show(ledger: LedgerService, actor: Actor, withdrawal_id: int) -> dict[str, Any]:
    require(actor, Action.read_withdrawals)
    return withdrawal_document(ledger, actor, _visible(ledger, actor, withdrawal_id))


def listed(
    ledger: LedgerService,
    actor: Actor,
    *,
    status: str = "",
    client: str = "",
    cursor: str | None = None,
    limit: int | None = None,
) -> Page:
    """Withdrawals the actor sees, by id, filtered by status and client."""
    require(actor, Action.read_withdrawals)
    if status and status not in Status.__members__:
        raise InputError(Result.query_parameter_invalid, f"status {status!r}")
    if client and (actor.is_client and client != actor.client):
        raise InputError(Result.client_not_found, client)
    after, size = cursor_value(cursor), page_size(limit)
    chosen = sorted(
        (
            w
            for w in books(ledger).withdrawals.withdrawals.values()
            if w.spec.id > after
            and _sees(actor, w)
            and (not status or w.status.value == status)
            and (not client or w.spec.client == client)
        ),
        key=lambda w: w.spec.id,
    )
    return paged(((w.spec.id, withdrawal_document(ledger, actor, w)) for w in chosen), size)


def withdrawal_document(
    ledger: LedgerService, actor: Actor, withdrawal: Withdrawal
) -> dict[str, Any]:
    spec = withdrawal.spec
    assets = ledger.ledger.assets
    document: dict[str, Any] = {
        "id": str(spec.id),
        "kind": spec.kind.value,
        "status": withdrawal.status.value,
        "client": spec.client or None,
        "pool": spec.pool,
        "wallet": spec.wallet,
        "asset": spec.asset,
        "amount": format_amount(spec.amount, assets[spec.asset]),
        "destination": spec.destination,
        "destination_wallet": spec.destination_wallet or None,
        "initiator": spec.initiator,
        "requested_at_ns": str(withdrawal.requested_at_ns),
        "reason": withdrawal.reason or None,
        "hold_transfer": _id_text(withdrawal.hold_id),
        "post_transfer": _id_text(withdrawal.post_id),
        "void_transfer": _id_text(withdrawal.void_id),
        "spend_id": withdrawal.spend_id or None,
        "txid": withdrawal.txid or None,
        "confirmations": withdrawal.confirmations,
        "history": [{"status": s.value, "at_ns": str(at)} for s, at in withdrawal.history],
    }
    decided = withdrawal.decided
    if decided is not None:
        document["decision"] = _decision_document(decided, full=not actor.is_client)
    if not actor.is_client:
        document["approvals"] = [
            {"approver": name, "at_ns": str(at)} for name, at in withdrawal.approvals
        ]
    return document


def _decision_document(decided: Decided, full: bool) -> dict[str, Any]:
    d = decided.decision
    shown: dict[str, Any] = {
        "action": d.action.value,
        "reason": d.reason.value if d.reason is not None else None,
        "approvals_required": d.approvals_required,
        "senior_approvals_required": d.senior_approvals_required,
        "expires_at_ns": str(decided.expires_at_ns) if d.action is PolicyAction.require else None,
    }
    if full:
        shown.update(
            {
                "rule": d.rule_id or None,
                "policy_version": d.policy_version,
                "groups": list(d.groups),
                "senior_group": d.senior_group or None,
                "notice": d.notice,
                "eligible": sorted(decided.eligible),
                "senior_eligible": sorted(decided.senior_eligible),
                "trace": list(d.trace),
            }
        )
    return shown


def _id_text(transfer_id: int) -> str | None:
    return str(transfer_id) if transfer_id else None


def parse_id(text: str) -> int:
    """A withdrawal's id from a path or a command line (decimal digits, 1..2^128-1)."""
    return check_id(text, "withdrawal id")
