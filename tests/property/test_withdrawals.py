"""Four-eyes on withdrawals: whatever principals approve, in whatever order, the initiator
never approves, and no quorum is reached with fewer than N distinct eligible approvers."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st
from tests.support_policy import ALICE_ADDRESS

from ringfence.core.errors import Result
from ringfence.core.policy.decide import Decision
from ringfence.core.policy.document import Action
from ringfence.core.policy.movement import MovementKind
from ringfence.core.principals.records import PrincipalRole
from ringfence.core.withdrawals.lifecycle import (
    Approved,
    Decided,
    Requested,
    Status,
    WithdrawalBook,
    WithdrawalSpec,
)

PEOPLE = tuple(f"p{index}" for index in range(8))


@settings(max_examples=300, deadline=None)
@given(
    initiator=st.sampled_from(PEOPLE),
    eligible=st.frozensets(st.sampled_from(PEOPLE)),
    seniors=st.frozensets(st.sampled_from(PEOPLE)),
    required=st.integers(1, 4),  # a decision that requires approvals requires one at least
    senior_required=st.integers(0, 2),
    approvals=st.lists(st.sampled_from(PEOPLE), max_size=20),
)
def test_four_eyes(
    *,
    initiator: str,
    eligible: frozenset[str],
    seniors: frozenset[str],
    required: int,
    senior_required: int,
    approvals: list[str],
) -> None:
    spec = WithdrawalSpec(
        1, MovementKind.client_withdrawal, initiator, PrincipalRole.operator, "main",
        "main-hot", "hot", "ETH", 1, ALICE_ADDRESS, 0, client="alice",
    )  # fmt: skip
    decision = Decision(
        Action.require, required, ("g",), "r", (), 1, senior_required,
        "s" if senior_required else "",
    )  # fmt: skip
    book = WithdrawalBook()
    book.apply(Requested(spec, 1))
    book.apply(Decided(1, decision, eligible, seniors, 10**18, 1))
    withdrawal = book.withdrawals[1]
    for at, approver in enumerate(approvals, start=2):
        was_awaiting = withdrawal.status is Status.awaiting_approval
        before = list(withdrawal.approvals)
        result = book.apply(Approved(1, approver, at))
        if approver == initiator and was_awaiting:
            assert result is Result.approver_is_initiator
        if result is not Result.ok:
            assert withdrawal.approvals == before  # a refusal changes nothing
        assert initiator not in withdrawal.approvers()
        approvers = withdrawal.approvers()
        assert len(approvers) == len(set(approvers))  # nobody counts twice
        assert set(approvers) <= eligible | seniors
        if withdrawal.status is Status.approved:
            assert len(set(approvers) & eligible) >= required
            assert len(set(approvers) & seniors) >= senior_required
    distinct_ordinary = (eligible - {initiator}) & set(approvals)
    distinct_senior = (seniors - {initiator}) & set(approvals)
    reachable = len(distinct_ordinary) >= required and len(distinct_senior) >= senior_required
    assert (withdrawal.status is Status.approved) == reachable
