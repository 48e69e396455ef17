"""Signed approvals through the service: a policy that says ``approvals_signed`` refuses an
approval without its approver's signature over the approval instruction, and any approval
whose signature is not exactly that; a refusal journals nothing. Policies without the field
keep approving by name, as journals written before it do."""

from __future__ import annotations

import dataclasses
from typing import Any

import pytest
from tests.support import key_seed
from tests.support_policy import OTHER_ADDRESS, policy_text
from tests.support_withdrawals import ROOT, World, actor, publish_policy
from tests.support_withdrawals import withdrawal_world as build_world

from ringfence.adapters.clock import ManualClock
from ringfence.core.errors import InputError, Result
from ringfence.core.principals.approval import ApprovalDecision
from ringfence.core.principals.authorisation import sign
from ringfence.core.withdrawals.codec import withdrawal_approval_message
from ringfence.service import policy, withdrawals
from ringfence.service.audit import verify_store
from ringfence.service.ledger import LedgerService
from ringfence.service.policy import books


@pytest.fixture
def world(sqlite_service: LedgerService, clock: ManualClock) -> World:
    """The withdrawal world with a second policy version in force that requires signed
    approvals (the first, which governs its own successor's approval, did not)."""
    built = build_world(sqlite_service, clock)
    publish_policy(built.ledger, clock, policy_text(approvals_signed=True))
    return built


def large_withdrawal(world: World, withdrawal_id: int) -> dict[str, Any]:
    """Bob's 11 ETH to an address of no whitelist: two of treasury (ann, ben, cat) approve."""
    body = {"id": str(withdrawal_id), "pool": "main", "asset": "ETH", "amount": "11",
            "destination": OTHER_ADDRESS, "client": "bob"}  # fmt: skip
    answer = withdrawals.request(world.ledger, actor("ops"), body)
    assert answer["status"] == "awaiting_approval"
    assert answer["approval_signatures_required"] is True
    return answer


def signed_by(world: World, signer: str, withdrawal_id: int, approver: str = "") -> bytes:
    spec = books(world.ledger).withdrawals.withdrawals[withdrawal_id].spec
    message = withdrawal_approval_message(
        world.ledger.ledger_id, spec, approver or signer, ApprovalDecision.approve
    )
    return sign(key_seed(signer), message)


def refused_approval(world: World, withdrawal_id: int, signature: bytes | None) -> Result:
    seq = world.ledger.seq
    with pytest.raises(InputError) as caught:
        withdrawals.approve(world.ledger, actor("ann"), withdrawal_id, signature)
    assert world.ledger.seq == seq  # nothing journaled
    assert books(world.ledger).withdrawals.withdrawals[withdrawal_id].approvals == []
    return caught.value.code


def test_a_signed_approval_is_kept_and_the_audit_verifies_it(world: World) -> None:
    large_withdrawal(world, 20)
    answer = withdrawals.approve(world.ledger, actor("ann"), 20, signed_by(world, "ann", 20))
    assert answer["approvals"][0]["approver"] == "ann"
    assert answer["approvals"][0]["signed"] is True
    answer = withdrawals.approve(world.ledger, actor("ben"), 20, signed_by(world, "ben", 20))
    assert answer["status"] == "held"
    report = verify_store(world.ledger.store)
    assert report.ok, report.problems


def test_an_unsigned_approval_is_refused_where_the_policy_requires_one(world: World) -> None:
    large_withdrawal(world, 21)
    assert refused_approval(world, 21, None) is Result.approval_signature_required


def test_signatures_over_anything_but_this_approval_are_refused(world: World) -> None:
    large_withdrawal(world, 22)
    large_withdrawal(world, 23)
    spec = books(world.ledger).withdrawals.withdrawals[22].spec
    changed = dataclasses.replace(spec, amount=spec.amount * 10)
    attempts = {
        "another principal's key": signed_by(world, "ben", 22, approver="ann"),
        "another withdrawal": signed_by(world, "ann", 23),
        "a changed body": sign(key_seed("ann"), withdrawal_approval_message(
            world.ledger.ledger_id, changed, "ann", ApprovalDecision.approve)),
        "another ledger": sign(key_seed("ann"), withdrawal_approval_message(
            bytes(32), spec, "ann", ApprovalDecision.approve)),
        "a rejection": sign(key_seed("ann"), withdrawal_approval_message(
            world.ledger.ledger_id, spec, "ann", ApprovalDecision.reject)),
    }  # fmt: skip
    for what, signature in attempts.items():
        assert refused_approval(world, 22, signature) is Result.approval_signature_invalid, what


def test_the_printed_instruction_signed_elsewhere_approves(world: World) -> None:
    large_withdrawal(world, 24)
    shown = withdrawals.instruction(world.ledger, actor("audrey"), 24, "ann")
    assert shown["signatures_required"] is True
    offline = sign(key_seed("ann"), bytes.fromhex(shown["instruction"]))  # an HSM's part
    answer = withdrawals.approve(world.ledger, actor("ann"), 24, offline)
    assert answer["approvals"][0]["signed"] is True


def test_a_policy_version_approval_needs_its_signature_too(world: World) -> None:
    version = int(policy.draft(world.ledger, ROOT, policy_text(approval_timeout_s=600))["version"])
    seq = world.ledger.seq
    with pytest.raises(InputError) as caught:
        policy.approve(world.ledger, actor("ann"), version)
    assert caught.value.code is Result.approval_signature_required
    wrong = bytes.fromhex(policy.instruction(world.ledger, ROOT, version, "ben")["instruction"])
    with pytest.raises(InputError) as caught:
        policy.approve(world.ledger, actor("ann"), version, sign(key_seed("ann"), wrong))
    assert caught.value.code is Result.approval_signature_invalid
    assert world.ledger.seq == seq
    for name in ("ann", "ben"):
        shown = policy.instruction(world.ledger, ROOT, version, name)
        assert shown["signatures_required"] is True
        signature = sign(key_seed(name), bytes.fromhex(shown["instruction"]))
        answer = policy.approve(world.ledger, actor(name), version, signature)
    assert [row["signed"] for row in answer["approvals"]] == [True, True]
    assert answer["state"] == "approved"
    assert verify_store(world.ledger.store).ok


def test_without_the_field_approvals_by_name_go_on_and_a_bad_signature_is_still_refused(
    sqlite_service: LedgerService, clock: ManualClock
) -> None:
    world = build_world(sqlite_service, clock)  # its policy says nothing of signatures
    body = {"id": "30", "pool": "main", "asset": "ETH", "amount": "11",
            "destination": OTHER_ADDRESS, "client": "bob"}  # fmt: skip
    assert withdrawals.request(world.ledger, actor("ops"), body)["status"] == "awaiting_approval"
    with pytest.raises(InputError) as caught:
        withdrawals.approve(world.ledger, actor("ann"), 30, signed_by(world, "ben", 30, "ann"))
    assert caught.value.code is Result.approval_signature_invalid
    answer = withdrawals.approve(world.ledger, actor("ann"), 30)
    assert answer["approvals"][0]["signed"] is False
    assert answer["approval_signatures_required"] is False
    assert verify_store(world.ledger.store).ok


def test_a_service_holding_the_journal_key_that_skips_the_check_is_named_by_the_audit(
    world: World,
) -> None:
    """A taken-over service journals approvals of its own making, chained and signed with the
    journal key like any entry: an unsigned withdrawal approval where the policy requires a
    signature, and a policy version's approval signed by the wrong key."""
    from ringfence.core.ledger.journal import EntryKind
    from ringfence.core.policy.codec import encode_policy_events
    from ringfence.core.policy.versions import PolicyApproved
    from ringfence.core.withdrawals.lifecycle import Approved
    from ringfence.service.policy import journal_withdrawal_events

    large_withdrawal(world, 25)
    ledger = world.ledger
    at_ns = ledger.next_timestamp()
    forged = Approved(25, "ann", at_ns)
    found = books(ledger)
    assert found.withdrawals.apply(forged) is Result.ok
    journal_withdrawal_events(ledger, found, [forged], at_ns)
    withdrawal_entry = ledger.seq
    version = int(policy.draft(ledger, ROOT, policy_text(approval_timeout_s=900))["version"])
    at_ns = ledger.next_timestamp()
    wrong = sign(key_seed("ben"), b"not the instruction")
    event = PolicyApproved(version, "ann", at_ns, wrong)
    ledger.append_entry(
        EntryKind.policies, at_ns, lambda seq: encode_policy_events(seq, at_ns, [event])
    )
    report = verify_store(ledger.store)
    assert [(p.kind, p.where) for p in report.problems] == [
        ("approval_signature_invalid", f"journal entry {withdrawal_entry}"),
        ("approval_signature_invalid", f"journal entry {ledger.seq}"),
    ]
    assert "approval_signature_required" in report.problems[0].detail
    assert f"policy version {version}: approve by ann" in report.problems[1].detail


def test_an_approval_is_checked_against_the_key_its_approver_had_then(world: World) -> None:
    """ann approves with her key, then her key is rotated: the audit still verifies that
    approval (the registry as it stood), and her old key approves nothing more."""
    import hashlib

    from tests.support import ADMIN

    from ringfence.core.principals.authorisation import public_key_of
    from ringfence.core.principals.records import Principal, PrincipalRole, endorse

    large_withdrawal(world, 26)
    large_withdrawal(world, 27)
    withdrawals.approve(world.ledger, actor("ann"), 26, signed_by(world, "ann", 26))
    new_seed = hashlib.sha256(b"ann's next key").digest()
    rotated = Principal("ann", PrincipalRole.approver, public_key_of(new_seed))
    change = endorse(world.ledger.ledger_id, ADMIN, key_seed(ADMIN), rotated)
    assert world.ledger.change_principals([change]) == [Result.ok]
    assert refused_approval(world, 27, signed_by(world, "ann", 27)) is (
        Result.approval_signature_invalid
    )
    spec = books(world.ledger).withdrawals.withdrawals[27].spec
    message = withdrawal_approval_message(
        world.ledger.ledger_id, spec, "ann", ApprovalDecision.approve
    )
    withdrawals.approve(world.ledger, actor("ann"), 27, sign(new_seed, message))
    report = verify_store(world.ledger.store)
    assert report.ok, report.problems
