"""Withdrawals through the service over SQLite: request, decision, approvals, the ledger's
hold, the chain's steps (a recording double), posting and voiding, each step journaled."""

from __future__ import annotations

from typing import Any

import pytest
from tests.support_policy import ALICE_ADDRESS, HOUSE_ADDRESS, OTHER_ADDRESS, SHARED_ADDRESS
from tests.support_withdrawals import ETH, MAIN_HOT_ADDRESS, RecordingChain, World, actor
from tests.support_withdrawals import withdrawal_world as build_world

from ringfence.adapters.clock import ManualClock
from ringfence.adapters.storage.sqlite import SqliteStore
from ringfence.core.custody.spends import SpendOrder
from ringfence.core.errors import InputError, IntegrityError, Result
from ringfence.core.ledger.journal import EntryKind
from ringfence.core.withdrawals.codec import encode_withdrawal_events
from ringfence.core.withdrawals.lifecycle import Approved, hold_transfer_id
from ringfence.service import withdrawals
from ringfence.service.audit import verify_store
from ringfence.service.ledger import LedgerService
from ringfence.service.policy import books


@pytest.fixture
def world(sqlite_service: LedgerService, clock: ManualClock) -> World:
    return build_world(sqlite_service, clock)


def alice_withdrawal(withdrawal_id: int, amount: str = "1.5", **more: Any) -> dict[str, Any]:
    return {"id": str(withdrawal_id), "pool": "main", "asset": "ETH", "amount": amount,
            "destination": ALICE_ADDRESS, **more}  # fmt: skip


def available(world: World, client: str) -> int:
    state = world.ledger.ledger.accounts[world.custodian.client(client, asset="ETH")]
    return state.credits_posted - state.debits_posted - state.debits_pending


def refused(call: Any, *args: Any) -> Result:
    with pytest.raises(InputError) as caught:
        call(*args)
    return caught.value.code


def test_a_whitelisted_withdrawal_is_held_at_once_and_posted_once_confirmed(world: World) -> None:
    answer = withdrawals.request(world.ledger, actor("alice"), alice_withdrawal(1))
    assert (answer["result"], answer["status"]) == ("ok", "held")
    assert answer["hold_transfer"] == str(hold_transfer_id(1))
    assert available(world, "alice") == 16 * ETH - 15 * ETH // 10  # 20 deposited, 4 fee
    chain = RecordingChain(fee=ETH // 1000)
    wallet = world.ledger.ledger.accounts[world.custodian.wallet("main", "ETH")]
    paid_before = wallet.credits_posted
    report = withdrawals.process(world.ledger, actor("ops"), chain)
    assert report["advanced"] == [{"id": "1", "status": "posted"}]
    assert report["posted"] == [{"id": "1", "network_fee": "0.001000000000000000",
                                 "network_fee_asset": "ETH", "network_fee_result": "ok"}]
    assert [step for step, _ in chain.calls] == [
        "build", "sign", "broadcast", "confirmations", "fee_paid",
    ]  # fmt: skip
    shown = withdrawals.show(world.ledger, actor("ops"), 1)
    assert [row["status"] for row in shown["history"]] == [
        "requested", "approved", "held", "built", "signed", "broadcast", "confirmed", "posted",
    ]  # fmt: skip
    account = world.ledger.ledger.accounts[world.custodian.client("alice", asset="ETH")]
    assert (account.debits_pending, account.debits_posted) == (0, 4 * ETH + 15 * ETH // 10)
    # The fee came out of the paying wallet (the pool's residual interest) to the house.
    assert wallet.credits_posted - paid_before == 15 * ETH // 10 + ETH // 1000
    fees = world.ledger.ledger.accounts[world.custodian.house("network_fees", "ETH")]
    assert fees.debits_posted == ETH // 1000
    assert shown["network_fee"]["amount"] == "0.001000000000000000"
    assert "network_fee" not in withdrawals.show(world.ledger, actor("alice"), 1)
    assert withdrawals.process(world.ledger, actor("ops"), chain)["advanced"] == []


def test_two_approvers_from_the_group_and_never_the_initiator(world: World) -> None:
    request = alice_withdrawal(2, "11", destination=OTHER_ADDRESS, client="bob")
    answer = withdrawals.request(world.ledger, actor("ops"), request)
    assert (answer["status"], answer["decision"]["rule"]) == ("awaiting_approval", "large")
    assert answer["decision"]["eligible"] == ["ann", "ben", "cat"]
    # Four-eyes is named first: the initiator is refused as such, whatever its role.
    assert refused(withdrawals.approve, world.ledger, actor("ops"), 2) is (
        Result.approver_is_initiator
    )
    assert refused(withdrawals.approve, world.ledger, actor("carl"), 2) is Result.role_forbidden
    assert refused(withdrawals.approve, world.ledger, actor("ceo"), 2) is (
        Result.approver_not_eligible
    )
    assert withdrawals.approve(world.ledger, actor("ann"), 2)["status"] == "awaiting_approval"
    assert refused(withdrawals.approve, world.ledger, actor("ann"), 2) is Result.approval_duplicate
    assert available(world, "bob") == 20 * ETH  # nothing held before the quorum
    approved = withdrawals.approve(world.ledger, actor("ben"), 2)
    assert approved["status"] == "held"
    assert [row["approver"] for row in approved["approvals"]] == ["ann", "ben"]
    assert available(world, "bob") == 9 * ETH
    assert refused(withdrawals.approve, world.ledger, actor("cat"), 2) is (
        Result.withdrawal_not_awaiting_approval
    )


def test_never_more_than_the_clients_available_balance(world: World) -> None:
    answer = withdrawals.request(world.ledger, actor("alice"), alice_withdrawal(3, "16.000000001"))
    assert (answer["status"], answer["reason"]) == ("blocked", "exceeds_available_balance")
    assert available(world, "alice") == 16 * ETH
    assert answer["decision"]["reason"] == "exceeds_available_balance"
    assert "trace" not in answer["decision"]  # a client does not read the firm's policy


def test_a_chain_refusal_voids_the_hold(world: World) -> None:
    withdrawals.request(world.ledger, actor("alice"), alice_withdrawal(4))
    chain = RecordingChain(refuse={"sign": Result.withdrawal_destination_invalid})
    report = withdrawals.process(world.ledger, actor("ops"), chain)
    assert report["voided"] == [{"id": "4", "reason": "withdrawal_destination_invalid"}]
    shown = withdrawals.show(world.ledger, actor("alice"), 4)
    assert (shown["status"], shown["reason"]) == ("voided", "withdrawal_destination_invalid")
    assert shown["void_transfer"] is not None
    assert available(world, "alice") == 16 * ETH


class StrictChain(RecordingChain):
    """As the spend service: giving up a spend it never built is ``spend_not_found``."""

    def abandon(self, order: SpendOrder, spend_id: str) -> None:
        super().abandon(order, spend_id)
        if not spend_id:
            raise InputError(Result.spend_not_found, "no spend")


@pytest.mark.parametrize("chain_type", [RecordingChain, StrictChain])
def test_a_refused_build_voids_the_hold_and_gives_up_no_spend(
    world: World, chain_type: type[RecordingChain]
) -> None:
    withdrawals.request(world.ledger, actor("alice"), alice_withdrawal(4))
    chain = chain_type(refuse={"build": Result.spend_asset_unsupported})
    report = withdrawals.process(world.ledger, actor("ops"), chain)
    assert report["voided"] == [{"id": "4", "reason": "spend_asset_unsupported"}]
    assert (report["waiting"], report["released"]) == ([], [])
    assert [step for step, _ in chain.calls] == ["build"]
    assert withdrawals.show(world.ledger, actor("alice"), 4)["status"] == "voided"
    assert available(world, "alice") == 16 * ETH
    assert withdrawals.process(world.ledger, actor("ops"), chain)["waiting"] == []


def test_an_unreachable_chain_leaves_the_withdrawal_to_try_again(world: World) -> None:
    withdrawals.request(world.ledger, actor("alice"), alice_withdrawal(5))
    chain = RecordingChain(unreachable={"broadcast"})
    report = withdrawals.process(world.ledger, actor("ops"), chain)
    assert [row["id"] for row in report["waiting"]] == ["5"]
    assert withdrawals.show(world.ledger, actor("ops"), 5)["status"] == "signed"
    chain.unreachable.clear()
    chain.confirmations_seen = 2
    assert withdrawals.process(world.ledger, actor("ops"), chain)["advanced"] == [
        {"id": "5", "status": "broadcast"}
    ]
    chain.confirmations_seen = 6
    withdrawals.process(world.ledger, actor("ops"), chain)
    assert withdrawals.show(world.ledger, actor("ops"), 5)["status"] == "posted"


def test_an_awaiting_withdrawal_expires(world: World) -> None:
    unlisted = alice_withdrawal(6, destination=OTHER_ADDRESS)
    withdrawals.request(world.ledger, actor("alice"), unlisted)
    world.clock.advance(seconds=86_400)
    report = withdrawals.process(world.ledger, actor("ops"), None)
    assert report["expired"] == ["6"]
    shown = withdrawals.show(world.ledger, actor("alice"), 6)
    assert (shown["status"], shown["reason"]) == ("voided", "withdrawal_expired")
    assert shown["void_transfer"] is None  # nothing was held


def test_rejection_by_an_approver_or_the_initiator(world: World) -> None:
    for withdrawal_id in (7, 8):
        withdrawals.request(world.ledger, actor("alice"), alice_withdrawal(
            withdrawal_id, destination=OTHER_ADDRESS))  # fmt: skip
    assert withdrawals.reject(world.ledger, actor("cat"), 7)["reason"] == "withdrawal_rejected"
    assert withdrawals.reject(world.ledger, actor("alice"), 8)["status"] == "voided"
    assert refused(withdrawals.reject, world.ledger, actor("bob"), 7) is (
        Result.withdrawal_not_found
    )


def test_a_sweep_over_a_quarter_of_the_prior_days_residual_needs_the_seniors(
    world: World,
) -> None:
    world.clock.advance(seconds=86_400)  # the 4 ETH fee is now the prior day's residual
    sweep = {"id": "9", "kind": "residual_sweep", "pool": "main", "asset": "ETH",
             "amount": "1", "destination_wallet": "house-hot"}  # fmt: skip
    within = withdrawals.request(world.ledger, actor("ops"), sweep)
    assert within["destination"] == HOUSE_ADDRESS
    assert within["decision"]["senior_approvals_required"] == 0
    withdrawals.approve(world.ledger, actor("ann"), 9)
    over = withdrawals.request(world.ledger, actor("ops"), {**sweep, "id": "10", "amount": "0.5"})
    assert (over["decision"]["senior_approvals_required"], over["decision"]["notice"]) == (2, True)
    assert over["decision"]["senior_eligible"] == ["ceo", "cfo"]
    withdrawals.approve(world.ledger, actor("ann"), 10)
    assert withdrawals.approve(world.ledger, actor("ceo"), 10)["status"] == "awaiting_approval"
    assert withdrawals.approve(world.ledger, actor("cfo"), 10)["status"] == "held"
    too_much = withdrawals.request(
        world.ledger, actor("ops"), {**sweep, "id": "11", "amount": "2.5000000001"}
    )
    assert too_much["reason"] == "exceeds_residual_interest"
    report = verify_store(world.ledger.store)  # each decision decided again, R2 included
    assert report.ok, report.to_json()


def test_bad_requests_are_refused_by_name_and_change_nothing(world: World) -> None:
    seq = world.ledger.seq
    cases = [
        (actor("alice"), alice_withdrawal(20, destination=MAIN_HOT_ADDRESS),
         Result.withdrawal_destination_invalid),
        (actor("alice"), alice_withdrawal(20, destination=ALICE_ADDRESS.lower()),
         Result.withdrawal_destination_invalid),
        (actor("alice"), alice_withdrawal(20, client="bob"), Result.account_not_found),
        (actor("alice"), alice_withdrawal(20, amount="0"), Result.amount_must_not_be_zero),
        (actor("alice"), alice_withdrawal(20, amount=1.5), Result.amount_must_not_be_float),
        (actor("alice"), alice_withdrawal(20, amount="1.0000000000000000001"),
         Result.amount_finer_than_asset_scale),
        (actor("alice"), alice_withdrawal(20, colour="red"), Result.field_unknown),
        (actor("alice"), alice_withdrawal(20, kind="residual_sweep"), Result.role_forbidden),
        (actor("alice"), alice_withdrawal(20, wallet="house-hot"),
         Result.withdrawal_wallet_invalid),
        (actor("ops"), alice_withdrawal(20), Result.field_required),
        (actor("ann"), alice_withdrawal(20), Result.role_forbidden),
        (actor("alice"), alice_withdrawal(0), Result.id_must_not_be_zero),
    ]  # fmt: skip
    for who, body, code in cases:
        assert refused(withdrawals.request, world.ledger, who, body) is code, body
    assert world.ledger.seq == seq


def test_the_same_id_again_is_exists_and_another_body_is_refused(world: World) -> None:
    withdrawals.request(world.ledger, actor("alice"), alice_withdrawal(21))
    again = withdrawals.request(world.ledger, actor("alice"), alice_withdrawal(21))
    assert (again["result"], again["status"]) == ("exists", "held")
    assert refused(
        withdrawals.request, world.ledger, actor("alice"), alice_withdrawal(21, amount="2")
    ) is Result.withdrawal_exists_with_different_body


def test_a_client_sees_only_its_own(world: World) -> None:
    withdrawals.request(world.ledger, actor("alice"), alice_withdrawal(22))
    bob_request = alice_withdrawal(23, destination=SHARED_ADDRESS)
    withdrawals.request(world.ledger, actor("bob"), bob_request)
    assert refused(withdrawals.show, world.ledger, actor("bob"), 22) is Result.withdrawal_not_found
    bobs = withdrawals.listed(world.ledger, actor("bob"))["items"]
    assert [row["id"] for row in bobs] == ["23"]
    everyone = withdrawals.listed(world.ledger, actor("ops"))["items"]
    assert [row["id"] for row in everyone] == ["22", "23"]
    held = withdrawals.listed(world.ledger, actor("ops"), status="held", client="bob")
    assert [row["id"] for row in held["items"]] == ["23"]


def test_the_books_are_rebuilt_from_the_journal_and_the_audit_replays_them(
    world: World, sqlite_path: str, clock: ManualClock
) -> None:
    withdrawals.request(world.ledger, actor("alice"), alice_withdrawal(30))
    unlisted = alice_withdrawal(31, destination=OTHER_ADDRESS)
    withdrawals.request(world.ledger, actor("alice"), unlisted)
    withdrawals.process(world.ledger, actor("ops"), RecordingChain())
    before = books(world.ledger)
    reopened = LedgerService(SqliteStore(sqlite_path), clock, world.ledger.signer)
    after = books(reopened)
    assert after.withdrawals.withdrawals == before.withdrawals.withdrawals
    assert list(after.policies.versions) == list(before.policies.versions)
    report = verify_store(reopened.store)
    assert report.ok, report.to_json()
    assert report.to_json()["entries"] == reopened.seq
    reopened.store.close()


def test_an_approval_written_around_the_service_does_not_replay(world: World) -> None:
    """Even a writer holding the journal key cannot make the initiator's approval count: the
    book refuses it on replay, and the audit names the entry."""
    unlisted = alice_withdrawal(40, destination=OTHER_ADDRESS)
    withdrawals.request(world.ledger, actor("ops"), {**unlisted, "client": "alice"})
    at_ns = world.ledger.next_timestamp()
    forged = [Approved(40, "ops", at_ns)]
    world.ledger.append_entry(
        EntryKind.withdrawals, at_ns, lambda seq: encode_withdrawal_events(seq, at_ns, forged)
    )
    report = verify_store(world.ledger.store).to_json()
    assert not report["ok"]
    assert any(
        p["kind"] == "replay_failed" and "approver_is_initiator" in p["detail"]
        for p in report["problems"]
    ), report["problems"]
    with pytest.raises(IntegrityError, match="approver_is_initiator"):
        books(LedgerService(world.ledger.store, world.clock, world.ledger.signer))


def test_a_broadcast_withdrawal_is_never_voided_by_a_refusal(world: World) -> None:
    """A transaction sent may be mined (or was, and reverted): a refusal after the broadcast
    leaves the withdrawal broadcast and its hold in place, for an operator."""
    withdrawals.request(world.ledger, actor("alice"), alice_withdrawal(41))
    chain = RecordingChain(refuse={"confirmations": Result.spend_failed_on_chain})
    report = withdrawals.process(world.ledger, actor("ops"), chain)
    assert (report["voided"], [row["id"] for row in report["waiting"]]) == ([], ["41"])
    assert "spend_failed_on_chain" in report["waiting"][0]["detail"]
    assert withdrawals.show(world.ledger, actor("ops"), 41)["status"] == "broadcast"
    assert available(world, "alice") == 16 * ETH - 15 * ETH // 10  # still held


def test_a_fee_the_ledger_cannot_book_does_not_stop_the_post(world: World) -> None:
    """More fee than the pool's residual interest: the withdrawal is posted (the chain has
    moved), the fee's refusal reported, and nothing booked for it."""
    withdrawals.request(world.ledger, actor("alice"), alice_withdrawal(42))
    chain = RecordingChain(fee=5 * ETH)  # the pool's residual interest is 4 ETH
    report = withdrawals.process(world.ledger, actor("ops"), chain)
    assert report["posted"] == [{"id": "42", "network_fee": "5.000000000000000000",
                                 "network_fee_asset": "ETH",
                                 "network_fee_result": "pool_coverage_would_break"}]
    shown = withdrawals.show(world.ledger, actor("ops"), 42)
    assert (shown["status"], shown["network_fee"]) == ("posted", None)
