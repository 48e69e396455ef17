"""Approving from the command line: the approval is always evidence (core/principals/
approval.py), signed with the approver's key file or given with a signature made elsewhere.

The key file is the approver's principal key, the one ``--key`` already names to prove who
acts: a journaled principal has one key, and the same key signs its approvals. A signature
made elsewhere (an HSM, an air-gapped machine, over the bytes ``instruction`` prints) is given
instead with ``signature``, and then no key file is needed: the approver is named
(``--principal``) and the signature, verified against that principal's active key over an
instruction that names it, this withdrawal (or policy version) and this ledger, is the proof
of who acts, as strong as the key file's (both prove the holder of the same key). It is
checked before anything is journaled, never replaced; one that does not verify is
``approval_signature_invalid`` and changes nothing.
"""

from __future__ import annotations

from typing import Any

from ringfence.core.access.roles import Actor
from ringfence.core.errors import InputError, Result
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
    key_file: str | None,
    withdrawal_id: int,
    *,
    signature: str | None = None,
) -> dict[str, Any]:
    """``principal`` approves the withdrawal: proven by its key file and signed with that key
    unless ``signature`` (hex) is given; with no key file, proven by ``signature``."""
    actor, seed, given = _approver(ledger, files, principal, key_file, signature)
    if given is None:
        assert seed is not None
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
    key_file: str | None,
    version: int,
    *,
    signature: str | None = None,
) -> dict[str, Any]:
    """``principal`` approves the policy version: proven by its key file and signed with that
    key unless ``signature`` (hex) is given; with no key file, proven by ``signature``."""
    actor, seed, given = _approver(ledger, files, principal, key_file, signature)
    if given is None:
        assert seed is not None
        found = policy.books(ledger).policies.versions.get(version)
        if found is not None:
            message = policy_approval_message(ledger.ledger_id, found, actor.name)
            given = sign(seed, message)
    return policy.approve(ledger, actor, version, given)


def _approver(
    ledger: LedgerService,
    files: PrincipalFiles,
    principal: str,
    key_file: str | None,
    signature: str | None,
) -> tuple[Actor, bytes | None, bytes | None]:
    """Who approves, the key file's seed (None without one) and the signature given (None
    without one). Without a key file the signature is required: the approval service then
    verifies it against the principal's active key before journaling anything."""
    given = parse_signature(signature)
    if key_file is not None:
        seed = files.read_key(key_file)
        return policy.actor_with_key(ledger, principal, seed), seed, given
    if given is None:
        raise InputError(
            Result.approval_signature_required,
            f"{principal}: give --key (to sign with it) or --signature (made elsewhere)",
        )
    return _actor_named(ledger, principal), None, given


def _actor_named(ledger: LedgerService, name: str) -> Actor:
    """The journaled, active principal ``name``, not yet proven: only for an approval its own
    signature proves (checked by the approval service against this principal's active key)."""
    state = ledger.ledger.principals.by_name.get(name)
    if state is None:
        raise InputError(Result.principal_not_found, name)
    if not state.active:
        raise InputError(Result.principal_key_revoked, name)
    principal = state.principal
    return Actor(principal.name, principal.role, principal.client)
