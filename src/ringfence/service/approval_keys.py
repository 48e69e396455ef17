"""Approving from the command line: the approver's key file proves who acts and signs the
approval, so an approval given through ``ringfence withdrawals approve`` or ``ringfence policy
approve`` is always evidence (core/principals/approval.py).

The key file is the approver's principal key, the one ``--key`` already names to prove who
acts: a journaled principal has one key, and the same key signs its approvals. A signature
made elsewhere (an HSM, an air-gapped machine, over the bytes ``instruction`` prints) is given
instead with ``signature``; it is checked, never replaced.
"""

from __future__ import annotations

from typing import Any

from ringfence.core.policy.versions import policy_approval_message
from ringfence.core.principals.approval import ApprovalDecision
from ringfence.core.principals.authorisation import sign
from ringfence.core.withdrawals.codec import withdrawal_approval_message
from ringfence.service import policy, withdrawals
from ringfence.service.approvals import parse_signature
from ringfence.service.ledger import LedgerService
from ringfence.service.ports import PrincipalFiles

__all__ = ["approve_policy_with_key_file", "approve_withdrawal_with_key_file"]


def approve_withdrawal_with_key_file(
    ledger: LedgerService,
    files: PrincipalFiles,
    principal: str,
    key_file: str,
    withdrawal_id: int,
    *,
    signature: str | None = None,
) -> dict[str, Any]:
    """``principal``, proven by its key file, approves the withdrawal, signed with that key
    unless ``signature`` (hex) is given."""
    seed = files.read_key(key_file)
    actor = policy.actor_with_key(ledger, principal, seed)
    given = parse_signature(signature)
    if given is None:
        found = policy.books(ledger).withdrawals.withdrawals.get(withdrawal_id)
        if found is not None:  # an unknown one is the approval's to refuse, by name
            message = withdrawal_approval_message(
                ledger.ledger_id, found.spec, actor.name, ApprovalDecision.approve
            )
            given = sign(seed, message)
    return withdrawals.approve(ledger, actor, withdrawal_id, given)


def approve_policy_with_key_file(
    ledger: LedgerService,
    files: PrincipalFiles,
    principal: str,
    key_file: str,
    version: int,
    *,
    signature: str | None = None,
) -> dict[str, Any]:
    """``principal``, proven by its key file, approves the policy version, signed with that
    key unless ``signature`` (hex) is given."""
    seed = files.read_key(key_file)
    actor = policy.actor_with_key(ledger, principal, seed)
    given = parse_signature(signature)
    if given is None:
        found = policy.books(ledger).policies.versions.get(version)
        if found is not None:
            message = policy_approval_message(ledger.ledger_id, found, actor.name)
            given = sign(seed, message)
    return policy.approve(ledger, actor, version, given)
