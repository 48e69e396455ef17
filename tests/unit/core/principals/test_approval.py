"""The approval instruction: fixed bytes (golden), every field bound, and its check against the
registry of principals (the right key, active, over exactly this instruction)."""

from __future__ import annotations

import dataclasses

import pytest
from tests.support import ADMIN, key_seed, principal_for

from ringfence.core.errors import Result
from ringfence.core.policy.movement import MovementKind
from ringfence.core.principals.approval import (
    ApprovalDecision,
    ApprovalSubject,
    approval_message,
    approval_verdict,
)
from ringfence.core.principals.authorisation import sign
from ringfence.core.principals.records import (
    Principal,
    PrincipalChange,
    PrincipalRole,
    Principals,
    PrincipalStatus,
    endorse,
)
from ringfence.core.withdrawals.codec import withdrawal_approval_message, withdrawal_body_digest
from ringfence.core.withdrawals.lifecycle import WithdrawalSpec

LEDGER = bytes(range(32))
SPEC = WithdrawalSpec(
    7, MovementKind.client_withdrawal, "ops", PrincipalRole.operator, "main", "main-hot", "hot",
    "ETH", 15 * 10**17, "0x52908400098527886E0F7030069857D2E4169EE7", 10**16, "alice",
)  # fmt: skip


def test_the_instruction_is_fixed_byte_for_byte() -> None:
    message = approval_message(
        LEDGER, approver="ann", subject=ApprovalSubject.withdrawal,
        decision=ApprovalDecision.approve, subject_id=7, body_digest=bytes([0xAB]) * 32,
    )  # fmt: skip
    assert message == bytes.fromhex(
        "72696e6766656e63652f617070726f76616c2f76310000000000000000000000"  # domain tag
        "000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f"  # ledger id
        "616e6e0000000000000000000000000000000000000000000000000000000000"  # approver
        "0101" + "00" * 14  # subject, decision, padding
        + "00000000000000000000000000000007"  # subject id
        "abababababababababababababababababababababababababababababababab"  # body digest
    )
    assert len(message) == 160


def test_the_withdrawal_body_digest_is_fixed() -> None:
    assert withdrawal_body_digest(SPEC).hex() == (
        "e0c0dbd589586bf235ee112d222af127a3a95e2ee091cb9af275933634c31b0e"
    )


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("amount", 15 * 10**17 + 1),
        ("destination", "0xfB6916095ca1df60bB79Ce92cE3Ea74c37c5d359"),
        ("fee_max", 10**16 + 1),
        ("client", "bob"),
        ("wallet", "main-cold"),
        ("pool", "other"),
        ("initiator", "mallory"),
        ("kind", MovementKind.rebalance),
    ],
)
def test_every_field_of_the_body_changes_its_digest(field: str, value: object) -> None:
    changed = dataclasses.replace(SPEC, **{field: value})
    assert withdrawal_body_digest(changed) != withdrawal_body_digest(SPEC)


def test_every_field_of_the_instruction_changes_its_bytes() -> None:
    base = withdrawal_approval_message(LEDGER, SPEC, "ann", ApprovalDecision.approve)
    others = [
        withdrawal_approval_message(bytes(32), SPEC, "ann", ApprovalDecision.approve),
        withdrawal_approval_message(LEDGER, SPEC, "ben", ApprovalDecision.approve),
        withdrawal_approval_message(LEDGER, SPEC, "ann", ApprovalDecision.reject),
        withdrawal_approval_message(
            LEDGER, dataclasses.replace(SPEC, id=8), "ann", ApprovalDecision.approve
        ),
    ]
    assert len({base, *others}) == 5


def registry() -> Principals:
    principals = Principals()
    changes = [PrincipalChange(principal_for(ADMIN, PrincipalRole.admin), None)]
    changes += [
        endorse(LEDGER, ADMIN, key_seed(ADMIN), principal_for(name, PrincipalRole.approver))
        for name in ("ann", "ben")
    ]
    for timestamp, change in enumerate(changes, start=1):
        assert principals.apply(change, (), LEDGER, timestamp)[0] is Result.ok
    return principals


MESSAGE = withdrawal_approval_message(LEDGER, SPEC, "ann", ApprovalDecision.approve)


def test_a_signature_by_the_approvers_key_over_the_instruction_stands() -> None:
    signature = sign(key_seed("ann"), MESSAGE)
    for required in (True, False):
        verdict = approval_verdict(registry(), MESSAGE, "ann", signature, required=required)
        assert verdict is Result.ok


def test_no_signature_stands_only_where_none_is_required() -> None:
    assert approval_verdict(registry(), MESSAGE, "ann", None, required=False) is Result.ok
    verdict = approval_verdict(registry(), MESSAGE, "ann", None, required=True)
    assert verdict is Result.approval_signature_required


@pytest.mark.parametrize(
    "signature",
    [
        sign(key_seed("ben"), MESSAGE),  # another principal's key
        sign(key_seed("ann"), withdrawal_approval_message(
            LEDGER, dataclasses.replace(SPEC, id=8), "ann", ApprovalDecision.approve)),
        sign(key_seed("ann"), withdrawal_approval_message(
            LEDGER, dataclasses.replace(SPEC, amount=10**20), "ann", ApprovalDecision.approve)),
        sign(key_seed("ann"), withdrawal_approval_message(
            bytes(32), SPEC, "ann", ApprovalDecision.approve)),  # another ledger
        sign(key_seed("ann"), withdrawal_approval_message(
            LEDGER, SPEC, "ann", ApprovalDecision.reject)),  # another decision
        bytes(64),
    ],
    ids=["other key", "other withdrawal", "changed body", "other ledger", "reject", "zeros"],
)  # fmt: skip
def test_a_signature_over_anything_else_is_invalid(signature: bytes) -> None:
    for required in (True, False):
        verdict = approval_verdict(registry(), MESSAGE, "ann", signature, required=required)
        assert verdict is Result.approval_signature_invalid


def test_an_approver_without_an_active_key_signs_nothing() -> None:
    signature = sign(key_seed("ann"), MESSAGE)
    for name in ("cat", "ann"):  # cat has no principal; ann's key is revoked below
        principals = registry()
        current = principals.by_name["ann"].principal
        revoked = Principal("ann", current.role, current.public_key, "", PrincipalStatus.revoked)
        change = endorse(LEDGER, ADMIN, key_seed(ADMIN), revoked)
        assert principals.apply(change, (), LEDGER, 9)[0] is Result.ok
        message = withdrawal_approval_message(LEDGER, SPEC, name, ApprovalDecision.approve)
        verdict = approval_verdict(principals, message, name, signature, required=False)
        assert verdict is Result.approval_signature_invalid


def test_approval_records_written_before_signatures_read_as_unsigned() -> None:
    """The signature sits in what was the approval records' zero padding: a record of the
    old layout (``>B16sB32sQ70x``) decodes as an approval without one, and a signature makes
    the round trip."""
    import struct

    from ringfence.core.ledger.framing import framed
    from ringfence.core.ledger.journal import EntryKind
    from ringfence.core.policy.codec import decode_policy_events, encode_policy_events
    from ringfence.core.policy.versions import PolicyApproved
    from ringfence.core.withdrawals.codec import decode_withdrawal_events, encode_withdrawal_events
    from ringfence.core.withdrawals.lifecycle import Approved

    old = struct.Struct(">B16sB32sQ70x").pack(8, (7).to_bytes(16, "big"), 1, b"ann", 99)
    body = framed(EntryKind.withdrawals, 5, 99, [old])
    assert decode_withdrawal_events(body) == [Approved(7, "ann", 99, None)]
    assert encode_withdrawal_events(5, 99, [Approved(7, "ann", 99)]) == body
    signed = Approved(7, "ann", 99, sign(key_seed("ann"), MESSAGE))
    assert decode_withdrawal_events(encode_withdrawal_events(5, 99, [signed])) == [signed]
    old_policy = struct.Struct(">BI32sQ83x").pack(3, 2, b"ann", 99)
    body = framed(EntryKind.policies, 5, 99, [old_policy])
    assert decode_policy_events(body) == [PolicyApproved(2, "ann", 99, None)]
    signed_policy = PolicyApproved(2, "ann", 99, bytes(range(64)))
    assert decode_policy_events(encode_policy_events(5, 99, [signed_policy])) == [signed_policy]


def test_approvals_signed_is_read_strictly_and_absent_means_false() -> None:
    import json

    from tests.support_policy import policy_document

    from ringfence.core.errors import InputError
    from ringfence.core.money import Asset
    from ringfence.core.policy.document import parse_policy

    assets = {"BTC": Asset("BTC", 8, 1, "bitcoin"), "ETH": Asset("ETH", 18, 2, "ethereum")}
    assert parse_policy(json.dumps(policy_document()).encode(), assets).approvals_signed is False
    signed = json.dumps(policy_document(approvals_signed=True)).encode()
    assert parse_policy(signed, assets).approvals_signed is True
    for value in (1, "true", None):
        with pytest.raises(InputError) as caught:
            parse_policy(json.dumps(policy_document(approvals_signed=value)).encode(), assets)
        assert caught.value.code is Result.policy_document_malformed
