"""Withdrawals through their lifecycle: requested, decided by the policy in force, approved
by a quorum, held in the ledger, paid on chain, posted; or voided.

Gather, decide, apply. A request gathers the facts the policy needs from the ledger and the
journal (service/withdrawal_facts.py), lets the core decide (core/policy/decide.py), and
journals the request with its decision. Once approved (at once, or by the last approval of
its quorum) the amount is held in the ledger as a pending transfer: out of the client's
account for a client's withdrawal, out of the pool's wallet for a sweep (to a house wallet)
or a rebalance (to another wallet of the pool); the ledger's own rules check it again
(available balance, pool coverage; service/withdrawal_ledger.py), unless a ``process`` pass
holds the withdrawals' lock, which then holds it itself. ``process`` then drives
each held withdrawal through the chain (service/withdrawal_payments.py), posts the hold once
confirmed, with the network fee the chain took, and voids it on a terminal failure. Every
step is its own journal entry.

Four-eyes: whoever asked for a withdrawal never approves it (``approver_is_initiator``),
whatever their role; that is checked first, so the refusal names the rule that applies.

Isolation as everywhere in the service: a client principal requests withdrawals only from
its own accounts and sees only its own withdrawals, without the decision's trace (which
reads the firm's policy); another's is ``withdrawal_not_found``.
"""

from __future__ import annotations

from typing import Any

from ringfence.core import limits
from ringfence.core.access.roles import Action, Actor, require
from ringfence.core.errors import InputError, Result
from ringfence.core.ledger.model import check_id, check_name
from ringfence.core.money import format_amount
from ringfence.core.policy.decide import decide
from ringfence.core.policy.document import Action as PolicyAction
from ringfence.core.principals.approval import ApprovalDecision
from ringfence.core.withdrawals.codec import withdrawal_approval_message, withdrawal_body_digest
from ringfence.core.withdrawals.lifecycle import (
    Approved,
    Decided,
    Rejected,
    Requested,
    Status,
    Withdrawal,
    WithdrawalEvent,
    awaiting_expired,
    fee_transfer_id,
    journaled,
)
from ringfence.service.access import Page, cursor_value, page_size, paged
from ringfence.service.approvals import refuse_unless_evidence, withdrawal_signatures_required
from ringfence.service.ledger import LedgerService
from ringfence.service.policy import books, journal_withdrawal_events
from ringfence.service.withdrawal_facts import (
    eligible_approvers,
    facts_for,
    movement_request,
    parse_request,
)
from ringfence.service.withdrawal_ledger import apply_all, hold_when_free
from ringfence.service.withdrawal_payments import confirmations_default, process

__all__ = [
    "approve",
    "confirmations_default",
    "instruction",
    "listed",
    "of_client",
    "parse_decision",
    "parse_id",
    "process",
    "queue",
    "reject",
    "request",
    "show",
]


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
    apply_all(found, events)
    journal_withdrawal_events(ledger, found, events, at_ns)
    withdrawal = found.withdrawals.withdrawals[spec.id]
    if withdrawal.status is Status.approved:
        withdrawal = hold_when_free(ledger, withdrawal)
    return {"result": Result.ok.value, **withdrawal_document(ledger, actor, withdrawal)}


def approve(
    ledger: LedgerService, actor: Actor, withdrawal_id: int, signature: bytes | None = None
) -> dict[str, Any]:
    """``actor`` approves: four-eyes, its role and the decision's groups decide whether it
    may; the last approval of the quorum places the hold. ``signature``: the approver's
    Ed25519 signature of the approval instruction (``instruction``), required when the
    policy that decided the withdrawal says ``approvals_signed`` and checked whenever given."""
    withdrawal = _visible(ledger, actor, withdrawal_id)
    if withdrawal.spec.initiator == actor.name:
        raise InputError(
            Result.approver_is_initiator,
            f"{actor.name} asked for withdrawal {withdrawal_id}: another must approve it",
        )
    require(actor, Action.approve_withdrawals)
    return _verdict(ledger, actor, withdrawal_id, signature, approve=True)


def reject(
    ledger: LedgerService, actor: Actor, withdrawal_id: int, signature: bytes | None = None
) -> dict[str, Any]:
    """An eligible approver refuses it, or its initiator withdraws it: voided, nothing held.
    A signature (of the instruction with the decision ``reject``) is kept when given, and
    never required: a rejection moves nothing."""
    withdrawal = _visible(ledger, actor, withdrawal_id)
    if withdrawal.spec.initiator != actor.name:
        require(actor, Action.approve_withdrawals)
    return _verdict(ledger, actor, withdrawal_id, signature, approve=False)


def instruction(
    ledger: LedgerService, actor: Actor, withdrawal_id: int, approver: str = "",
    *, approve: bool = True,
) -> dict[str, Any]:
    """The approval instruction ``approver`` (default: ``actor``) signs to approve (or
    reject) a withdrawal, as hex, for a key that signs elsewhere (an HSM, an air-gapped
    machine). Staff's reading: approvers are staff."""
    require(actor, Action.read_withdrawals)
    require(actor, Action.read_policies)
    withdrawal = _visible(ledger, actor, withdrawal_id)
    approver = check_name(approver or actor.name, "approver")
    decision = ApprovalDecision.approve if approve else ApprovalDecision.reject
    message = withdrawal_approval_message(ledger.ledger_id, withdrawal.spec, approver, decision)
    return {
        "ok": True,
        "withdrawal": str(withdrawal_id),
        "approver": approver,
        "decision": decision.name,
        "ledger_id": ledger.ledger_id.hex(),
        "body_sha256": withdrawal_body_digest(withdrawal.spec).hex(),
        "signatures_required": withdrawal_signatures_required(books(ledger).policies, withdrawal),
        "instruction": message.hex(),
    }


def _verdict(
    ledger: LedgerService,
    actor: Actor,
    withdrawal_id: int,
    signature: bytes | None,
    *,
    approve: bool,
) -> dict[str, Any]:
    found = books(ledger)
    withdrawal = _visible(ledger, actor, withdrawal_id)
    at_ns = ledger.next_timestamp()
    if approve and awaiting_expired(withdrawal, at_ns):
        # ``process`` voids it at its next pass; until then no approval may revive it. Checked
        # here, not in the book: journals written before this check must still replay.
        raise InputError(
            Result.withdrawal_expired,
            f"withdrawal {withdrawal_id} expired at "
            f"{withdrawal.decided.expires_at_ns if withdrawal.decided else 0} (ns)",
        )
    decision = ApprovalDecision.approve if approve else ApprovalDecision.reject
    refuse_unless_evidence(
        ledger.ledger.principals,
        withdrawal_approval_message(ledger.ledger_id, withdrawal.spec, actor.name, decision),
        actor.name,
        signature,
        required=approve and withdrawal_signatures_required(found.policies, withdrawal),
        what=f"withdrawal {withdrawal_id}",
    )
    event: WithdrawalEvent = (
        Approved(withdrawal_id, actor.name, at_ns, signature) if approve
        else Rejected(withdrawal_id, actor.name, at_ns, signature)
    )  # fmt: skip
    result = found.withdrawals.apply(event)
    if result is not Result.ok:
        raise InputError(result, f"withdrawal {withdrawal_id} by {actor.name}")
    journal_withdrawal_events(ledger, found, [event], at_ns)
    if withdrawal.status is Status.approved:
        withdrawal = hold_when_free(ledger, withdrawal)
    return withdrawal_document(ledger, actor, withdrawal)


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


def queue(ledger: LedgerService, actor: Actor, recent_max: int = 50) -> dict[str, Any]:
    """The approval queue staff work from: the withdrawals awaiting approval, oldest first
    (at most a page of them; ``awaiting_total`` counts them all), each with its decision's
    trace (which reads the firm's policy, so staff only), and the latest ``recent_max``
    others, newest first, whatever became of them."""
    require(actor, Action.read_withdrawals)
    require(actor, Action.read_policies)
    assert 0 < recent_max <= limits.api_page_size_max
    every = list(books(ledger).withdrawals.withdrawals.values())
    awaiting = [w for w in every if w.status is Status.awaiting_approval]
    awaiting.sort(key=lambda w: (w.requested_at_ns, w.spec.id))
    others = [w for w in every if w.status is not Status.awaiting_approval]
    others.sort(key=lambda w: (w.requested_at_ns, w.spec.id), reverse=True)
    shown = awaiting[: limits.api_page_size_max]
    return {
        "ok": True,
        "awaiting_total": len(awaiting),
        "awaiting": [_awaiting_document(ledger, actor, w) for w in shown],
        "recent": [withdrawal_document(ledger, actor, w) for w in others[:recent_max]],
    }


def _awaiting_document(
    ledger: LedgerService, actor: Actor, withdrawal: Withdrawal
) -> dict[str, Any]:
    """A withdrawal of the queue; where its policy requires signed approvals, with the
    instruction ``actor`` would sign to approve it (hex), for a signature made elsewhere."""
    document = withdrawal_document(ledger, actor, withdrawal)
    if document["approval_signatures_required"]:
        message = withdrawal_approval_message(
            ledger.ledger_id, withdrawal.spec, actor.name, ApprovalDecision.approve
        )
        document["approval_instruction"] = message.hex()
    return document


def of_client(
    ledger: LedgerService, actor: Actor, client: str, count: int = limits.api_page_size_max
) -> dict[str, Any]:
    """A client's withdrawals, newest first (the latest ``count``; ``total`` counts them all),
    as ``actor`` sees them: a client its own, without the policy's trace."""
    require(actor, Action.read_withdrawals)
    if actor.is_client and client != actor.client:
        raise InputError(Result.client_not_found, client)
    assert 0 < count <= limits.api_page_size_max
    chosen = [w for w in books(ledger).withdrawals.withdrawals.values() if w.spec.client == client]
    chosen.sort(key=lambda w: (w.requested_at_ns, w.spec.id), reverse=True)
    return {
        "total": len(chosen),
        "items": [withdrawal_document(ledger, actor, w) for w in chosen[:count]],
    }


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
        "tier": spec.tier,
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
            {"approver": name, "at_ns": str(at), "signed": name in withdrawal.signatures}
            for name, at in withdrawal.approvals
        ]
        document["approval_signatures_required"] = withdrawal_signatures_required(
            books(ledger).policies, withdrawal
        )
        document["network_fee"] = _network_fee(ledger, withdrawal)
    return document


def _network_fee(ledger: LedgerService, withdrawal: Withdrawal) -> dict[str, str] | None:
    """The network fee the ledger booked when the withdrawal was posted (the house pays it,
    so a client's view leaves it out), or None."""
    if withdrawal.status is not Status.posted:
        return None
    fee_id = fee_transfer_id(withdrawal.spec.id)
    record = ledger.store.transfers([fee_id]).get(fee_id)
    if record is None:
        return None
    asset = ledger.ledger.accounts[record.credit_account].definition.asset
    return {
        "transfer": str(fee_id),
        "asset": asset,
        "amount": format_amount(record.amount, ledger.ledger.assets[asset]),
    }


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


def parse_decision(text: str) -> bool:
    """``approve`` (True) or ``reject`` (False): the decision an instruction is for."""
    if text not in ("approve", "reject"):
        raise InputError(Result.query_parameter_invalid, f"decision {text!r}: approve or reject")
    return text == "approve"


def parse_id(text: str) -> int:
    """A withdrawal's id from a path or a command line (decimal digits, 1..2^128-1)."""
    return check_id(text, "withdrawal id")
