"""Journaled withdrawal decisions as evidence: the audit decides each one again.

A ``Decided`` event says what the policy decided on a request: allow, block, or N approvers
from named groups. The approvals that follow, and whether they must be signed, rest on it; so
a decision that the journal-key holder wrote by hand (a version that was never in force, an
``allow`` where the policy asks for approvers) would defeat the policy and its signed
approvals while every approval verifies. ``audit verify`` therefore replays each decision
before it is applied, on the books and the ledger as they stood when the withdrawal was
requested:

- the decision's policy version must be the version in force at the request's time (none in
  force: version 0, and the decision a block); an unknown version is a mismatch like any other;
- ``decide()`` (core/policy/decide.py) is run again on the request and the facts gathered from
  the replayed state (service/withdrawal_facts.py: the client's available balance, the pool's
  residual interest, the velocity windows over the earlier withdrawals, and for a sweep the
  prior day's residual interest and the day's sweeps from the journaled transfers before it),
  and its action, approvals, groups, senior approvals and group, rule, reason and notice, the
  eligible approvers it resolves and the approval expiry must be the journaled ones.

A difference is ``withdrawal_decision_mismatch`` naming the withdrawal and the field; the
replay goes on (a decision moves no balance). The trace is not compared: it is an
explanation, cut to ``limits.policy_trace_lines_journaled_max`` lines.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable

from ringfence.core.ledger.engine import Ledger
from ringfence.core.ledger.model import TransferRecord
from ringfence.core.policy.decide import decide
from ringfence.core.withdrawals.lifecycle import Decided, WithdrawalEvent, journaled
from ringfence.service.policy import MovementBooks
from ringfence.service.withdrawal_facts import eligible_approvers, facts_at, movement_request

__all__ = ["decision_problem"]

_compared = (
    "action",
    "approvals_required",
    "groups",
    "senior_approvals_required",
    "senior_group",
    "rule_id",
    "reason",
    "notice",
)


def decision_problem(
    found: MovementBooks,
    engine: Ledger,
    transfers: Callable[[], Iterable[TransferRecord]],
    event: WithdrawalEvent,
) -> str | None:
    """What is wrong with ``event`` if it is a decision the policy in force would not have
    made, described; None otherwise. Called before ``event`` is applied to ``found``."""
    if not isinstance(event, Decided):
        return None
    withdrawal = found.withdrawals.withdrawals.get(event.id)
    if withdrawal is None:
        return None  # the replay refuses it by name (withdrawal_not_found)
    what = f"withdrawal {event.id}"
    at_ns = withdrawal.requested_at_ns
    in_force = found.policies.in_force(at_ns)
    version = 0 if in_force is None else in_force.version
    given = event.decision
    if given.policy_version != version:
        return (
            f"{what}: decided under policy version {given.policy_version}; version {version} "
            f"was in force when it was requested ({at_ns} ns)"
        )
    if event.at_ns != at_ns:
        return f"{what}: decided at {event.at_ns} ns, requested at {at_ns} ns"
    policy = None if in_force is None else in_force.compiled
    request = movement_request(withdrawal.spec, at_ns)
    expected = journaled(decide(policy, request, facts_at(engine, found, request, transfers)))
    for name in _compared:
        if getattr(given, name) != getattr(expected, name):
            return (
                f"{what}: {name} is {getattr(given, name)!r} where policy version {version} "
                f"decides {getattr(expected, name)!r}"
            )
    eligible, seniors = eligible_approvers(policy, expected)
    if (event.eligible, event.senior_eligible) != (eligible, seniors):
        return f"{what}: its eligible approvers are not those of policy version {version}"
    timeout_s = policy.document.approval_timeout_s if policy is not None else 0
    if event.expires_at_ns != at_ns + timeout_s * 10**9:
        return f"{what}: expires at {event.expires_at_ns} ns, not after {timeout_s} s"
    return None
