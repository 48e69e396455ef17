"""Approval evidence: the canonical approval instruction an approver signs, and its check.

A withdrawal's four-eyes approval and a policy version's governance approval were journaled as
names, which whoever holds the journal key could make up. An approval is evidence when it
carries the approver's Ed25519 signature (the key of the approver's journaled principal,
core/principals/records.py: the same registry, endorsement and key format as authorisations)
over a fixed-width, domain-tagged encoding of what is approved. The signer (an approver's tool:
``ringfence withdrawals approve``, an HSM fed the bytes ``ringfence withdrawals instruction``
prints) and the checkers (the service before it journals an approval, and ``audit verify``
replaying the journal) build the message with one function, ``approval_message``.

The instruction (160 bytes, big-endian, zero-padded names)::

    domain tag    32  b"ringfence/approval/v1"
    ledger id     32  the hash of the ledger's first journal entry (as for authorisations)
    approver      32  the approving principal's name
    subject        1  1 a withdrawal, 2 a policy version
    decision       1  1 approve, 2 reject
    zero padding  14
    subject id    16  the withdrawal's id, or the policy version's number (u128)
    body digest   32  SHA-256 of the withdrawal's request body (core/withdrawals/codec.py,
                      ``withdrawal_body_digest``), or of the policy version's document

The body digest binds the approval to exactly what was asked: an approval of withdrawal 7
paying 1 BTC to one address says nothing about a withdrawal 7 whose amount or destination a
writer changed afterwards. The ledger id keeps an approval given in one ledger (a test ledger,
a staging copy) from being replayed in another; the domain tag keeps these signatures apart
from authorisations and endorsements made with the same key.
"""

from __future__ import annotations

import struct
from enum import IntEnum, unique
from typing import Final

from ringfence.core import limits
from ringfence.core.errors import Result
from ringfence.core.principals.authorisation import padded_name, signature_verifies
from ringfence.core.principals.records import Principals

approval_domain: Final = b"ringfence/approval/v1".ljust(32, b"\0")
no_signature: Final = bytes(limits.ed25519_signature_bytes)  # how the journal says "unsigned"

_instruction: Final = struct.Struct(">32s32s32sBB14x16s32s")
assert _instruction.size == limits.approval_message_bytes


@unique
class ApprovalSubject(IntEnum):
    """What an approval is of; the numbers are signed and fixed forever."""

    withdrawal = 1
    policy_version = 2


@unique
class ApprovalDecision(IntEnum):
    """What the approver decided; the numbers are signed and fixed forever."""

    approve = 1
    reject = 2


def approval_message(
    ledger_id: bytes,
    *,
    approver: str,
    subject: ApprovalSubject,
    decision: ApprovalDecision,
    subject_id: int,
    body_digest: bytes,
) -> bytes:
    """The canonical approval instruction an approver signs (see the module docstring)."""
    assert len(ledger_id) == 32
    assert len(body_digest) == 32
    assert 0 < subject_id <= limits.id_max
    return _instruction.pack(
        approval_domain,
        ledger_id,
        padded_name(approver),
        subject,
        decision,
        subject_id.to_bytes(16, "big"),
        body_digest,
    )


def approval_verdict(
    principals: Principals,
    message: bytes,
    approver: str,
    signature: bytes | None,
    *,
    required: bool,
) -> Result:
    """Whether an approval by ``approver`` stands as evidence: ``ok``, or
    ``approval_signature_required`` (none given where the policy requires one) or
    ``approval_signature_invalid`` (not a signature of ``message`` by the active key that
    ``approver``'s principal holds in ``principals`` as it stands: at the time of the
    approval when the audit replays the journal). A signature given where none is required
    is checked all the same: evidence that does not verify is never kept."""
    assert len(message) == limits.approval_message_bytes
    if signature is None:
        return Result.approval_signature_required if required else Result.ok
    state = principals.by_name.get(approver)
    if state is None or not state.active:
        return Result.approval_signature_invalid
    if not signature_verifies(state.principal.public_key, message, signature):
        return Result.approval_signature_invalid
    return Result.ok
