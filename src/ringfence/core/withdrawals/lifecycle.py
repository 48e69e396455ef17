"""A withdrawal's lifecycle: a state machine whose every step is a journaled event.

    requested ─> decided ─┬─> blocked                                   (final)
                          ├─> awaiting_approval ─(quorum)─┐
                          └─> approved <──────────────────┘
    approved ─> held ─> built ─> signed ─> broadcast ─> confirmed ─> posted   (final)
    awaiting_approval, approved, held, built, signed ─(rejection, expiry, failure)─> voided (final)
    voided with a spend built ─(its spend given up on the chain's side)─> spend released

*Held* is the ledger's pending transfer out of the client's account (or, for a sweep or a
rebalance, out of the pool's wallet); *posted* posts it, *voided* voids it (when there is one).
A broadcast transaction may still be mined, so nothing voids a withdrawal once broadcast: it
is confirmed and posted, or stays broadcast for an operator to resolve.

Four-eyes: the initiator never approves (nor counts toward a quorum), only the members of the
decision's groups approve, each once; a quorum is ``approvals_required`` distinct eligible
approvers and, when R2 applies, ``senior_approvals_required`` distinct members of the senior
group. Every event that is not allowed from the current state is refused by name; a refused
event changes nothing.

Like the wallet registry, the book decides each event and returns a ``Result``; the service
journals the accepted ones (codec.py) and replays them through the same method on load.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field, replace
from enum import StrEnum, unique
from typing import Final

from ringfence.core import limits
from ringfence.core.errors import Result
from ringfence.core.policy.decide import Decision
from ringfence.core.policy.document import Action
from ringfence.core.policy.movement import MovementKind
from ringfence.core.principals.records import PrincipalRole


@unique
class Status(StrEnum):
    requested = "requested"
    blocked = "blocked"
    awaiting_approval = "awaiting_approval"
    approved = "approved"
    held = "held"
    built = "built"
    signed = "signed"
    broadcast = "broadcast"
    confirmed = "confirmed"
    posted = "posted"
    voided = "voided"


final_statuses: Final = frozenset({Status.blocked, Status.posted, Status.voided})
voidable_statuses: Final = frozenset(
    {Status.awaiting_approval, Status.approved, Status.held, Status.built, Status.signed}
)
# Statuses in which the ledger holds the amount (a pending transfer that is still pending).
holding_statuses: Final = frozenset(
    {Status.held, Status.built, Status.signed, Status.broadcast, Status.confirmed}
)


@dataclass(frozen=True, slots=True)
class WithdrawalSpec:
    """What was asked: the body an id is bound to (the same id with another body is refused).
    Amounts in minor units: ``amount`` of ``asset``, ``fee_max`` of the chain's fee asset."""

    id: int
    kind: MovementKind
    initiator: str
    initiator_role: PrincipalRole
    pool: str
    wallet: str
    tier: str
    asset: str
    amount: int
    destination: str
    fee_max: int
    client: str = ""
    destination_wallet: str = ""

    def __post_init__(self) -> None:
        assert 0 < self.id <= limits.id_max
        assert 0 < self.amount <= limits.amount_units_max
        assert 0 <= self.fee_max <= limits.amount_units_max
        assert len(self.destination) <= limits.withdrawal_destination_bytes_max


# ---------------------------------------------------------------------- events


@dataclass(frozen=True, slots=True)
class Requested:
    spec: WithdrawalSpec
    at_ns: int


@dataclass(frozen=True, slots=True)
class Decided:
    """The policy's decision as journaled: its summary, who may approve (resolved from the
    policy version's groups when decided), when an awaiting withdrawal expires, and the trace
    (at most ``limits.policy_trace_lines_journaled_max`` lines)."""

    id: int
    decision: Decision
    eligible: frozenset[str]
    senior_eligible: frozenset[str]
    expires_at_ns: int
    at_ns: int


def journaled(decision: Decision) -> Decision:
    """``decision`` with its trace as the journal keeps it: at most
    ``limits.policy_trace_lines_journaled_max`` lines, the last saying how many were left
    out (a policy of thousands of candidate rules explains each; the journal keeps the
    first ones and the count)."""
    lines_max = limits.policy_trace_lines_journaled_max
    trace = decision.trace
    if len(trace) <= lines_max:
        return decision
    kept = (*trace[: lines_max - 2], f"... {len(trace) - lines_max + 1} more lines", trace[-1])
    return replace(decision, trace=kept)


@dataclass(frozen=True, slots=True)
class Approved:
    """An approval; ``signature`` the approver's Ed25519 signature of the approval instruction
    (core/principals/approval.py), None for an approval journaled without one."""

    id: int
    approver: str
    at_ns: int
    signature: bytes | None = None


@dataclass(frozen=True, slots=True)
class Rejected:
    id: int
    by: str
    at_ns: int
    signature: bytes | None = None


@dataclass(frozen=True, slots=True)
class Step:
    """A step of the ledger or the chain: held (``transfer_id``: the pending transfer),
    built (``reference``: the spend's id), signed, broadcast (``reference``: the chain's
    transaction id), confirmed (``confirmations``), posted (``transfer_id``: the post)."""

    id: int
    status: Status
    at_ns: int
    transfer_id: int = 0
    reference: str = ""
    confirmations: int = 0


@dataclass(frozen=True, slots=True)
class Voided:
    """Rejected, expired or failed: ``reason`` is the code that says which (a ``Result``'s
    value: ``withdrawal_rejected``, ``withdrawal_expired``, the ledger's or the chain's
    refusal); ``transfer_id`` the void of the hold, 0 when there was none or the ledger had
    already released it (voided or expired outside the lifecycle, which the signing service
    refuses to pay: ``spend_hold_not_pending``)."""

    id: int
    reason: str
    at_ns: int
    transfer_id: int = 0


@dataclass(frozen=True, slots=True)
class SpendReleased:
    """The spend of a withdrawal voided before it was broadcast was given up on the chain's
    side (its outputs or nonce free again): until this is journaled, every ``process`` pass
    asks again (a chain that failed to give it up once is asked at the next)."""

    id: int
    at_ns: int


WithdrawalEvent = Requested | Decided | Approved | Rejected | Step | Voided | SpendReleased

_steps: Final = {
    Status.held: Status.approved,
    Status.built: Status.held,
    Status.signed: Status.built,
    Status.broadcast: Status.signed,
    Status.confirmed: Status.broadcast,
    Status.posted: Status.confirmed,
}


# ---------------------------------------------------------------------- the withdrawal


@dataclass(slots=True)
class Withdrawal:
    spec: WithdrawalSpec
    requested_at_ns: int
    status: Status = Status.requested
    decided: Decided | None = None
    approvals: list[tuple[str, int]] = field(default_factory=list)
    signatures: dict[str, bytes] = field(default_factory=dict)  # approver -> signature kept
    hold_id: int = 0
    spend_id: str = ""
    txid: str = ""
    confirmations: int = 0
    post_id: int = 0
    void_id: int = 0
    reason: str = ""
    history: list[tuple[Status, int]] = field(default_factory=list)
    spend_released: bool = False

    def approvers(self) -> list[str]:
        return [name for name, _ in self.approvals]

    @property
    def final(self) -> bool:
        return self.status in final_statuses


def quorum_reached(withdrawal: Withdrawal) -> bool:
    """Whether the distinct eligible approvers (never the initiator) make the quorum."""
    decided = withdrawal.decided
    assert decided is not None
    approvers = set(withdrawal.approvers()) - {withdrawal.spec.initiator}
    decision = decided.decision
    ordinary = len(approvers & decided.eligible) >= decision.approvals_required
    senior = len(approvers & decided.senior_eligible) >= decision.senior_approvals_required
    return ordinary and senior


@dataclass(slots=True)
class WithdrawalBook:
    """The withdrawals by id, and their holds by the hold's transfer id (so that the general
    transfer paths tell a withdrawal's hold without reading every withdrawal): every
    withdrawal's derived hold id from its request on, since the hold's transfer commits
    before the step that records it."""

    withdrawals: dict[int, Withdrawal] = field(default_factory=dict)
    holds: dict[int, int] = field(default_factory=dict)

    def apply(self, event: WithdrawalEvent) -> Result:
        """Decide ``event``: ``ok`` (applied), ``exists`` (a request repeated with the same
        body: nothing changes) or the refusal, which changes nothing."""
        if isinstance(event, Requested):
            return self._request(event)
        found = self.withdrawals.get(event.id)
        if found is None:
            return Result.withdrawal_not_found
        if isinstance(event, Decided):
            return _decide(found, event)
        if isinstance(event, Approved):
            return _approve(found, event)
        if isinstance(event, Rejected):
            return _reject(found, event)
        if isinstance(event, SpendReleased):
            return _release(found)
        if isinstance(event, Step):
            result = _step(found, event)
            if result is Result.ok and event.status is Status.held:
                self.holds[event.transfer_id] = event.id
            return result
        return _void(found, event)

    def _request(self, event: Requested) -> Result:
        found = self.withdrawals.get(event.spec.id)
        if found is not None:
            same = found.spec == event.spec
            return Result.exists if same else Result.withdrawal_exists_with_different_body
        withdrawal = Withdrawal(event.spec, event.at_ns)
        withdrawal.history.append((Status.requested, event.at_ns))
        self.withdrawals[event.spec.id] = withdrawal
        # Its hold's id is known from its own (derived): indexed now, the general paths refuse
        # to post or void it even while it sits in the ledger before its step is journaled.
        self.holds[hold_transfer_id(event.spec.id)] = event.spec.id
        return Result.ok


def _moved(withdrawal: Withdrawal, status: Status, at_ns: int) -> Result:
    withdrawal.status = status
    withdrawal.history.append((status, at_ns))
    return Result.ok


def _decide(withdrawal: Withdrawal, event: Decided) -> Result:
    if withdrawal.status is not Status.requested:
        return _out_of_order(withdrawal)
    decision = event.decision
    withdrawal.decided = event
    if decision.action is Action.block:
        withdrawal.reason = decision.reason.value if decision.reason is not None else ""
        return _moved(withdrawal, Status.blocked, event.at_ns)
    if decision.action is Action.allow:
        return _moved(withdrawal, Status.approved, event.at_ns)
    return _moved(withdrawal, Status.awaiting_approval, event.at_ns)


def _out_of_order(withdrawal: Withdrawal) -> Result:
    if withdrawal.final:
        return Result.withdrawal_already_final
    return Result.withdrawal_step_out_of_order


def _eligibility(withdrawal: Withdrawal, name: str) -> Result | None:
    if withdrawal.status is not Status.awaiting_approval:
        return _out_of_order(withdrawal) if withdrawal.final else (
            Result.withdrawal_not_awaiting_approval
        )  # fmt: skip
    if name == withdrawal.spec.initiator:
        return Result.approver_is_initiator
    decided = withdrawal.decided
    assert decided is not None
    if name not in decided.eligible and name not in decided.senior_eligible:
        return Result.approver_not_eligible
    return None


def _approve(withdrawal: Withdrawal, event: Approved) -> Result:
    refused = _eligibility(withdrawal, event.approver)
    if refused is not None:
        return refused
    if event.approver in withdrawal.approvers():
        return Result.approval_duplicate
    withdrawal.approvals.append((event.approver, event.at_ns))
    if event.signature is not None:
        withdrawal.signatures[event.approver] = event.signature
    if quorum_reached(withdrawal):
        return _moved(withdrawal, Status.approved, event.at_ns)
    return Result.ok


def _reject(withdrawal: Withdrawal, event: Rejected) -> Result:
    """An eligible approver refuses it, or its initiator withdraws it: voided, no hold."""
    if event.by == withdrawal.spec.initiator and withdrawal.status is Status.awaiting_approval:
        refused = None
    else:
        refused = _eligibility(withdrawal, event.by)
    if refused is not None:
        return refused
    withdrawal.reason = Result.withdrawal_rejected.value
    return _moved(withdrawal, Status.voided, event.at_ns)


def _step(withdrawal: Withdrawal, event: Step) -> Result:
    before = _steps.get(event.status)
    assert before is not None, f"{event.status} is no step"
    if withdrawal.status is not before:
        return _out_of_order(withdrawal)
    if event.status is Status.held:
        withdrawal.hold_id = event.transfer_id
    elif event.status is Status.built:
        withdrawal.spend_id = event.reference
    elif event.status is Status.broadcast:
        withdrawal.txid = event.reference
    elif event.status is Status.confirmed:
        withdrawal.confirmations = event.confirmations
    elif event.status is Status.posted:
        withdrawal.post_id = event.transfer_id
    return _moved(withdrawal, event.status, event.at_ns)


def _void(withdrawal: Withdrawal, event: Voided) -> Result:
    if withdrawal.status not in voidable_statuses:
        return _out_of_order(withdrawal)
    if event.transfer_id != 0 and withdrawal.status not in holding_statuses:
        return Result.withdrawal_step_out_of_order  # a hold is voided, and only a hold
    withdrawal.void_id = event.transfer_id
    withdrawal.reason = event.reason
    return _moved(withdrawal, Status.voided, event.at_ns)


def spend_kept(withdrawal: Withdrawal) -> bool:
    """Voided with a spend built and not yet given up: its outputs or nonce stay reserved."""
    return (
        withdrawal.status is Status.voided
        and bool(withdrawal.spend_id)
        and not withdrawal.spend_released
    )


def _release(withdrawal: Withdrawal) -> Result:
    if not spend_kept(withdrawal):
        return Result.withdrawal_step_out_of_order
    withdrawal.spend_released = True
    return Result.ok


def awaiting_expired(withdrawal: Withdrawal, at_ns: int) -> bool:
    """Still awaiting approval at ``at_ns``, past its approval's expiry."""
    decided = withdrawal.decided
    return (
        withdrawal.status is Status.awaiting_approval
        and decided is not None
        and decided.expires_at_ns <= at_ns
    )


def due_for_expiry(book: WithdrawalBook, at_ns: int) -> list[Withdrawal]:
    """Withdrawals still awaiting approval past their expiry."""
    return [w for w in book.withdrawals.values() if awaiting_expired(w, at_ns)]


def _derived_transfer_id(withdrawal_id: int, purpose: bytes) -> int:
    """A u128 transfer id named by the withdrawal and what the transfer does, so that a step
    retried after a crash finds its transfer ``exists`` instead of committing another."""
    key = b"ringfence.withdrawal\0" + purpose + b"\0" + withdrawal_id.to_bytes(16, "big")
    return int.from_bytes(hashlib.sha256(key).digest()[:16], "big") or 1


def hold_transfer_id(withdrawal_id: int) -> int:
    return _derived_transfer_id(withdrawal_id, b"hold")


def post_transfer_id(withdrawal_id: int) -> int:
    return _derived_transfer_id(withdrawal_id, b"post")


def void_transfer_id(withdrawal_id: int) -> int:
    return _derived_transfer_id(withdrawal_id, b"void")


def fee_transfer_id(withdrawal_id: int) -> int:
    """The ``network_fee`` transfer of what the chain took to pay the withdrawal."""
    return _derived_transfer_id(withdrawal_id, b"network-fee")
