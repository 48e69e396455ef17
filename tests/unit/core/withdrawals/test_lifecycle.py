"""A withdrawal's lifecycle: each step allowed only from its state, four-eyes approvals, and
the journal's records of every event."""

from __future__ import annotations

from dataclasses import replace

import pytest
from tests.support_policy import ALICE_ADDRESS

from ringfence.core import limits
from ringfence.core.errors import Result
from ringfence.core.ledger.journal import EntryKind, header_bytes, header_for
from ringfence.core.policy.decide import Decision
from ringfence.core.policy.document import Action
from ringfence.core.policy.movement import MovementKind
from ringfence.core.principals.records import PrincipalRole
from ringfence.core.withdrawals.codec import decode_withdrawal_events, encode_withdrawal_events
from ringfence.core.withdrawals.lifecycle import (
    Approved,
    Decided,
    Rejected,
    Requested,
    SpendReleased,
    Status,
    Step,
    Voided,
    WithdrawalBook,
    WithdrawalSpec,
    due_for_expiry,
    hold_transfer_id,
    journaled,
    spend_kept,
)

SPEC = WithdrawalSpec(
    7, MovementKind.client_withdrawal, "alice", PrincipalRole.client, "main", "main-hot", "hot",
    "ETH", 10**18, ALICE_ADDRESS, 10**16, client="alice",
)  # fmt: skip
TREASURY = frozenset({"ann", "ben", "cat", "alice"})  # the initiator in a group never counts


def needing(approvals: int, senior: int = 0, action: Action = Action.require) -> Decided:
    decision = Decision(
        action, approvals, ("treasury",), "large", ("rule large matched",), 3, senior,
        "executives" if senior else "", bool(senior),
        Result.blocked_by_rule if action is Action.block else None,
    )  # fmt: skip
    seniors = frozenset({"ceo", "cfo"}) if senior else frozenset()
    return Decided(SPEC.id, decision, TREASURY, seniors, 100, 2)


def book_with(decided: Decided) -> WithdrawalBook:
    book = WithdrawalBook()
    assert book.apply(Requested(SPEC, 1)) is Result.ok
    assert book.apply(decided) is Result.ok
    return book


def test_the_happy_path_from_request_to_posted() -> None:
    book = book_with(needing(2))
    withdrawal = book.withdrawals[SPEC.id]
    assert withdrawal.status is Status.awaiting_approval
    assert book.apply(Approved(SPEC.id, "ann", 3)) is Result.ok
    assert withdrawal.status is Status.awaiting_approval
    assert book.apply(Approved(SPEC.id, "ben", 4)) is Result.ok
    assert withdrawal.status is Status.approved
    steps = [
        Step(SPEC.id, Status.held, 5, transfer_id=11),
        Step(SPEC.id, Status.built, 6, reference="spend-1"),
        Step(SPEC.id, Status.signed, 7),
        Step(SPEC.id, Status.broadcast, 8, reference="0xabc"),
        Step(SPEC.id, Status.confirmed, 9, confirmations=3),
        Step(SPEC.id, Status.posted, 10, transfer_id=12),
    ]
    for step in steps:
        assert book.apply(step) is Result.ok
    assert (withdrawal.hold_id, withdrawal.spend_id, withdrawal.txid) == (11, "spend-1", "0xabc")
    assert (withdrawal.confirmations, withdrawal.post_id) == (3, 12)
    assert [status for status, _ in withdrawal.history] == [
        Status.requested, Status.awaiting_approval, Status.approved, Status.held, Status.built,
        Status.signed, Status.broadcast, Status.confirmed, Status.posted,
    ]  # fmt: skip
    assert withdrawal.final
    assert book.apply(Voided(SPEC.id, "late", 11, 13)) is Result.withdrawal_already_final


def test_allow_approves_at_once_and_block_is_final() -> None:
    assert book_with(needing(0, action=Action.allow)).withdrawals[7].status is Status.approved
    blocked = book_with(needing(0, action=Action.block)).withdrawals[7]
    assert (blocked.status, blocked.reason) == (Status.blocked, "blocked_by_rule")


@pytest.mark.parametrize(
    ("approver", "code"),
    [
        ("alice", Result.approver_is_initiator),
        ("mallory", Result.approver_not_eligible),
    ],
)
def test_four_eyes_on_a_withdrawal(approver: str, code: Result) -> None:
    book = book_with(needing(1))
    assert book.apply(Approved(SPEC.id, approver, 3)) is code
    assert book.withdrawals[SPEC.id].approvals == []


def test_a_double_approval_is_refused() -> None:
    book = book_with(needing(2))
    assert book.apply(Approved(SPEC.id, "ann", 3)) is Result.ok
    assert book.apply(Approved(SPEC.id, "ann", 4)) is Result.approval_duplicate
    assert book.withdrawals[SPEC.id].approvers() == ["ann"]


def test_seniors_are_needed_on_top_of_the_ordinary_quorum() -> None:
    book = book_with(needing(1, senior=2))
    book.apply(Approved(SPEC.id, "ann", 3))
    book.apply(Approved(SPEC.id, "ceo", 4))
    assert book.withdrawals[SPEC.id].status is Status.awaiting_approval
    book.apply(Approved(SPEC.id, "cfo", 5))
    assert book.withdrawals[SPEC.id].status is Status.approved


def test_every_step_out_of_order_is_refused_by_name() -> None:
    book = book_with(needing(1))
    assert book.apply(Step(SPEC.id, Status.held, 3, transfer_id=1)) is (
        Result.withdrawal_step_out_of_order
    )
    book.apply(Approved(SPEC.id, "ann", 3))
    assert book.apply(Approved(SPEC.id, "ben", 3)) is Result.withdrawal_not_awaiting_approval
    assert book.apply(Step(SPEC.id, Status.signed, 3)) is Result.withdrawal_step_out_of_order
    assert book.apply(needing(1)) is Result.withdrawal_step_out_of_order
    assert book.apply(Approved(99, "ann", 3)) is Result.withdrawal_not_found


def test_a_hold_is_voided_and_only_a_hold() -> None:
    book = book_with(needing(0, action=Action.allow))
    assert book.apply(Voided(SPEC.id, "x", 3, transfer_id=5)) is Result.withdrawal_step_out_of_order
    book.apply(Step(SPEC.id, Status.held, 3, transfer_id=1))
    assert book.apply(Voided(SPEC.id, "exceeds_wallet_holdings", 4, 2)) is Result.ok
    withdrawal = book.withdrawals[SPEC.id]
    assert (withdrawal.status, withdrawal.void_id) == (Status.voided, 2)


def test_a_hold_the_ledger_already_released_is_voided_without_a_void() -> None:
    book = book_with(needing(0, action=Action.allow))
    book.apply(Step(SPEC.id, Status.held, 3, transfer_id=1))
    assert book.apply(Voided(SPEC.id, "spend_hold_not_pending", 4)) is Result.ok
    withdrawal = book.withdrawals[SPEC.id]
    assert (withdrawal.status, withdrawal.void_id) == (Status.voided, 0)


def test_a_broadcast_withdrawal_is_never_voided() -> None:
    book = book_with(needing(0, action=Action.allow))
    for step in (
        Step(SPEC.id, Status.held, 3, transfer_id=1),
        Step(SPEC.id, Status.built, 3, reference="s"),
        Step(SPEC.id, Status.signed, 3),
        Step(SPEC.id, Status.broadcast, 3, reference="t"),
    ):
        book.apply(step)
    assert book.apply(Voided(SPEC.id, "x", 4, 2)) is Result.withdrawal_step_out_of_order


def test_a_voided_withdrawals_spend_is_released_once_and_only_then() -> None:
    book = book_with(needing(0, action=Action.allow))
    book.apply(Step(SPEC.id, Status.held, 3, transfer_id=1))
    assert book.apply(SpendReleased(SPEC.id, 4)) is Result.withdrawal_step_out_of_order
    book.apply(Step(SPEC.id, Status.built, 4, reference="s"))
    assert book.apply(SpendReleased(SPEC.id, 4)) is Result.withdrawal_step_out_of_order  # kept
    book.apply(Voided(SPEC.id, "spend_fee_exceeds_bound", 5, 2))
    withdrawal = book.withdrawals[SPEC.id]
    assert spend_kept(withdrawal)
    assert book.apply(SpendReleased(SPEC.id, 6)) is Result.ok
    assert not spend_kept(withdrawal)
    assert book.apply(SpendReleased(SPEC.id, 7)) is Result.withdrawal_step_out_of_order
    assert book.holds == {hold_transfer_id(SPEC.id): SPEC.id, 1: SPEC.id}


def test_a_request_indexes_its_hold_before_the_hold_is_placed() -> None:
    """The hold's transfer commits before its step is journaled: the general transfer paths
    must know it for the withdrawal's from the start (service/reserved_transfers.py)."""
    book = book_with(needing(2))
    assert book.withdrawals[SPEC.id].hold_id == 0
    assert book.holds == {hold_transfer_id(SPEC.id): SPEC.id}


def test_rejection_by_an_approver_or_the_initiator_voids() -> None:
    book = book_with(needing(2))
    assert book.apply(Rejected(SPEC.id, "mallory", 3)) is Result.approver_not_eligible
    assert book.apply(Rejected(SPEC.id, "cat", 3)) is Result.ok
    assert book.withdrawals[SPEC.id].reason == "withdrawal_rejected"
    withdrawn = book_with(needing(2))
    assert withdrawn.apply(Rejected(SPEC.id, "alice", 3)) is Result.ok


def test_a_request_again_is_exists_and_another_body_is_refused() -> None:
    book = book_with(needing(1))
    assert book.apply(Requested(SPEC, 9)) is Result.exists
    assert book.apply(Requested(replace(SPEC, amount=2), 9)) is (
        Result.withdrawal_exists_with_different_body
    )


def test_awaiting_withdrawals_expire() -> None:
    book = book_with(needing(1))
    assert due_for_expiry(book, 99) == []
    assert due_for_expiry(book, 100) == [book.withdrawals[SPEC.id]]


def test_every_event_round_trips_through_the_journal() -> None:
    long_line = "x" * 250
    decided = needing(2, senior=1)
    decided = replace(
        decided, decision=replace(decided.decision, trace=("first", long_line, "last"))
    )
    events = [
        Requested(SPEC, 1),
        Requested(replace(SPEC, id=8, kind=MovementKind.residual_sweep, client="",
                          destination_wallet="house-hot", initiator_role=PrincipalRole.operator),
                  1),
        decided,
        Approved(SPEC.id, "ann", 3),
        Rejected(SPEC.id, "ben", 4),
        Step(SPEC.id, Status.held, 5, transfer_id=2**128 - 1),
        Step(SPEC.id, Status.broadcast, 6, reference="0x" + "ab" * 32),
        Step(SPEC.id, Status.confirmed, 7, confirmations=12),
        Voided(SPEC.id, "withdrawal_expired", 8, transfer_id=3),
        SpendReleased(SPEC.id, 9),
    ]  # fmt: skip
    body = encode_withdrawal_events(4, 10, events)
    assert (len(body) - header_bytes) % 128 == 0
    assert decode_withdrawal_events(body) == events


def test_a_torn_body_does_not_decode() -> None:
    body = encode_withdrawal_events(4, 10, [Requested(SPEC, 1)])
    with pytest.raises(ValueError, match="torn"):
        decode_withdrawal_events(body[:-1])
    alone = header_for(EntryKind.withdrawals, 4, 10, 1, 0) + body[header_bytes : header_bytes + 128]
    with pytest.raises(ValueError, match="record 0"):
        decode_withdrawal_events(alone)
    swapped = (
        header_for(EntryKind.withdrawals, 4, 10, 3, 0)
        + body[header_bytes + 128 :]
        + (body[header_bytes : header_bytes + 128])
    )
    with pytest.raises(ValueError, match="out of place"):
        decode_withdrawal_events(swapped)


def test_a_long_trace_is_journaled_with_its_first_lines_its_count_and_its_verdict() -> None:
    decided = needing(1)
    trace = (*(f"rule r{n}: no" for n in range(1_000)), "rule last matched")
    decision = journaled(replace(decided.decision, trace=trace))
    assert len(decision.trace) == limits.policy_trace_lines_journaled_max
    assert decision.trace[-2:] == ("... 746 more lines", "rule last matched")
    assert decision.trace[:2] == trace[:2]
    assert journaled(decided.decision) == decided.decision
    body = encode_withdrawal_events(4, 10, [replace(decided, decision=decision)])
    assert decode_withdrawal_events(body)[0] == replace(decided, decision=decision)
