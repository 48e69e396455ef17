"""Approvals as evidence: reading a signature given with an approval, refusing one that is not
evidence, and finding the journaled approvals that are not (``audit verify``).

The instruction and its check are the core's (core/principals/approval.py); the withdrawal and
policy services (service/withdrawals.py, service/policy.py) call ``refuse_unless_evidence``
before they journal an approval, so a refused approval changes nothing, and the audit calls
``approval_problems`` on every ``withdrawals`` and ``policies`` entry it replays, with the
registry of principals as it stood at that entry: an approval is checked against the key its
approver had when it was given, whatever became of that key later.

Whether a signature is required is the policy's (``approvals_signed``): for a withdrawal, the
version that decided it (journaled with the decision); for a policy version, the governing
version when the approval was given (core/policy/versions.py). Both are fixed once journaled,
so the service and the audit always agree on it.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import Final

from ringfence.core import limits
from ringfence.core.errors import InputError, Result
from ringfence.core.policy.versions import (
    PolicyApproved,
    PolicyBook,
    PolicyEvent,
    policy_approval_message,
)
from ringfence.core.principals.approval import ApprovalDecision, approval_verdict
from ringfence.core.principals.records import Principals
from ringfence.core.withdrawals.codec import withdrawal_approval_message
from ringfence.core.withdrawals.lifecycle import (
    Approved,
    Rejected,
    Withdrawal,
    WithdrawalBook,
    WithdrawalEvent,
)

__all__ = [
    "approval_problems",
    "parse_signature",
    "refuse_unless_evidence",
    "signature_in_body",
    "withdrawal_signatures_required",
]

_signature_pattern: Final = re.compile(f"[0-9a-f]{{{2 * limits.ed25519_signature_bytes}}}")


def parse_signature(text: object) -> bytes | None:
    """A signature as given (128 lowercase hex digits), or None when none was given."""
    if text is None or text == "":
        return None
    if not isinstance(text, str) or not _signature_pattern.fullmatch(text):
        raise InputError(
            Result.approval_signature_invalid,
            f"a signature is {2 * limits.ed25519_signature_bytes} lowercase hex digits",
        )
    return bytes.fromhex(text)


def signature_in_body(body: object) -> bytes | None:
    """The signature of a REST approval's body: none, ``{}`` or ``{"signature": "<hex>"}``."""
    if body is None:
        return None
    if not isinstance(body, dict):
        raise InputError(Result.request_body_malformed, 'a JSON object {"signature": "<hex>"}')
    unknown = sorted(set(body) - {"signature"})
    if unknown:
        raise InputError(Result.field_unknown, unknown[0])
    return parse_signature(body.get("signature"))


def refuse_unless_evidence(
    principals: Principals,
    message: bytes,
    approver: str,
    signature: bytes | None,
    *,
    required: bool,
    what: str,
) -> None:
    """Raise the core's refusal (``approval_signature_required``,
    ``approval_signature_invalid``) unless the approval stands as evidence."""
    verdict = approval_verdict(principals, message, approver, signature, required=required)
    if verdict is not Result.ok:
        raise InputError(verdict, f"{what} by {approver}")


def withdrawal_signatures_required(policies: PolicyBook, withdrawal: Withdrawal) -> bool:
    """Whether the policy version that decided ``withdrawal`` requires signed approvals."""
    decided = withdrawal.decided
    if decided is None:
        return False
    version = policies.versions.get(decided.decision.policy_version)
    return version is not None and version.document.approvals_signed


def approval_problems(
    policies: PolicyBook,
    withdrawals: WithdrawalBook,
    principals: Principals,
    ledger_id: bytes,
    events: Sequence[WithdrawalEvent | PolicyEvent],
) -> list[str]:
    """The approvals among ``events`` (just replayed into the books) that are not evidence,
    each described: a signature that does not verify against the approver's key in
    ``principals`` as it stands, or none where the governing policy required one."""
    problems: list[str] = []
    for event in events:
        if isinstance(event, (Approved, Rejected)):
            withdrawal = withdrawals.withdrawals[event.id]
            approver, decision, required = (
                (event.approver, ApprovalDecision.approve,
                 withdrawal_signatures_required(policies, withdrawal))
                if isinstance(event, Approved)
                else (event.by, ApprovalDecision.reject, False)
            )  # fmt: skip
            message = withdrawal_approval_message(ledger_id, withdrawal.spec, approver, decision)
            what = f"withdrawal {event.id}: {decision.name} by {approver}"
        elif isinstance(event, PolicyApproved):
            version = policies.versions[event.version]
            approver = event.approver
            required = policies.approvals_signed(version, event.at_ns)
            message = policy_approval_message(ledger_id, version, approver)
            what = f"policy version {event.version}: approve by {approver}"
        else:
            continue
        verdict = approval_verdict(
            principals, message, approver, event.signature, required=required
        )
        if verdict is not Result.ok:
            problems.append(f"{what}: {verdict.value}")
    return problems
