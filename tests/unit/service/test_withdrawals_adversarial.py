"""Attacks on the withdrawal service (service/withdrawals.py, withdrawal_facts.py): four-eyes
and quorum, approvals after a policy change or past the expiry, a withdrawal changed after
its approval, another client's withdrawal, the firm's own addresses in every spelling, house
movements out of their pool, and two writers racing a velocity limit.

Every refusal is asserted by its code, and with it that nothing changed: the journal's head,
the withdrawal as shown, the client's available balance.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from tests.support import ADMIN, journal_signer, key_seed, principal_for
from tests.support_policy import (
    ALICE_ADDRESS,
    HOUSE_ADDRESS,
    OTHER_ADDRESS,
    SHARED_ADDRESS,
    policy_document,
)
from tests.support_withdrawals import (
    ETH,
    MAIN_COLD_ADDRESS,
    MAIN_HOT_ADDRESS,
    RecordingChain,
    World,
    actor,
    publish_policy,
)
from tests.support_withdrawals import withdrawal_world as build_world

from ringfence.adapters.clock import ManualClock
from ringfence.adapters.storage.memory import MemoryStore
from ringfence.core.errors import HeadConflictError, InputError, Result
from ringfence.core.principals.records import PrincipalRole, endorse
from ringfence.service import access_transfers, withdrawals
from ringfence.service.access import Actor
from ringfence.service.ledger import LedgerService
from ringfence.service.policy import books


@pytest.fixture
def world(memory_service: LedgerService, clock: ManualClock) -> World:
    return build_world(memory_service, clock)


def body(withdrawal_id: int, amount: str = "1.5", **more: Any) -> dict[str, Any]:
    return {"id": str(withdrawal_id), "pool": "main", "asset": "ETH", "amount": amount,
            "destination": ALICE_ADDRESS, **more}  # fmt: skip


def available(world: World, client: str) -> int:
    state = world.ledger.ledger.accounts[world.custodian.client(client, asset="ETH")]
    return state.credits_posted - state.debits_posted - state.debits_pending


def snapshot(world: World) -> tuple[int, str, int, int]:
    """What a refusal must leave as it was: the journal's head, every withdrawal as staff
    see it, both clients' available balances."""
    shown = withdrawals.listed(world.ledger, actor("audrey"), limit=1_000)
    return (
        world.ledger.seq,
        json.dumps(shown["items"], sort_keys=True),
        available(world, "alice"),
        available(world, "bob"),
    )


def refused(world: World, call: Callable[..., object], *args: Any) -> Result:
    """The code ``call(*args)`` is refused with, having checked that it changed nothing."""
    before = snapshot(world)
    with pytest.raises(InputError) as caught:
        call(*args)
    assert snapshot(world) == before, caught.value
    return caught.value.code


def status(world: World, withdrawal_id: int) -> str:
    return str(withdrawals.show(world.ledger, actor("ops"), withdrawal_id)["status"])


def add_approver(world: World, name: str) -> Actor:
    change = endorse(
        world.ledger.ledger_id, ADMIN, key_seed(ADMIN), principal_for(name, PrincipalRole.approver)
    )
    assert world.ledger.change_principals([change]) == [Result.ok]
    return Actor(name, PrincipalRole.approver)


# ---------------------------------------------------------------------- four-eyes and quorum


def test_nobody_approves_their_own_and_nobody_counts_twice(world: World) -> None:
    ledger = world.ledger
    large = body(1, "11", destination=OTHER_ADDRESS, client="bob")  # 2 of treasury
    assert withdrawals.request(ledger, actor("ops"), large)["status"] == "awaiting_approval"
    assert refused(world, withdrawals.approve, ledger, actor("ops"), 1) is (
        Result.approver_is_initiator
    )
    for name in ("bob", "carl", "audrey"):  # the client it is for, compliance, the auditor
        assert refused(world, withdrawals.approve, ledger, actor(name), 1) is (
            Result.role_forbidden
        )
    assert refused(world, withdrawals.approve, ledger, actor(ADMIN), 1) is Result.role_forbidden
    assert refused(world, withdrawals.approve, ledger, actor("ceo"), 1) is (
        Result.approver_not_eligible  # an approver, but not of treasury
    )
    assert withdrawals.approve(ledger, actor("ann"), 1)["status"] == "awaiting_approval"
    assert refused(world, withdrawals.approve, ledger, actor("ann"), 1) is (
        Result.approval_duplicate
    )
    assert available(world, "bob") == 20 * ETH  # one approval of two holds nothing
    assert withdrawals.approve(ledger, actor("cat"), 1)["status"] == "held"
    assert available(world, "bob") == 9 * ETH

    # A client's own request: the client never approves it either.
    unlisted = body(2, destination=OTHER_ADDRESS)  # 1 of treasury
    assert withdrawals.request(ledger, actor("alice"), unlisted)["status"] == "awaiting_approval"
    assert refused(world, withdrawals.approve, ledger, actor("alice"), 2) is (
        Result.approver_is_initiator
    )
    # And whoever approves never asks: an approver cannot initiate a movement to approve.
    assert refused(world, withdrawals.request, ledger, actor("ann"), body(3, client="alice")) is (
        Result.role_forbidden
    )


def test_the_deciding_versions_groups_approve_after_a_policy_change(world: World) -> None:
    ledger = world.ledger
    dan = add_approver(world, "dan")
    withdrawals.request(
        ledger, actor("ops"), body(4, "11", destination=OTHER_ADDRESS, client="bob")
    )
    groups = {"policy-admins": ["root", "ann", "ben"], "treasury": ["cat", "dan"],
              "executives": ["ceo", "cfo"]}  # fmt: skip
    changed = policy_document(groups=groups)
    publish_policy(world.ledger, world.clock, json.dumps(changed).encode())
    # Decided under the first version: its treasury approves it, the new member does not.
    assert refused(world, withdrawals.approve, ledger, dan, 4) is Result.approver_not_eligible
    withdrawals.approve(ledger, actor("ann"), 4)
    assert withdrawals.approve(ledger, actor("ben"), 4)["status"] == "held"
    # Decided under the second: the member who left no longer approves, the new one does.
    withdrawals.request(
        ledger, actor("ops"), body(5, "11", destination=OTHER_ADDRESS, client="alice")
    )
    assert refused(world, withdrawals.approve, ledger, actor("ann"), 5) is (
        Result.approver_not_eligible
    )
    withdrawals.approve(ledger, dan, 5)
    assert withdrawals.approve(ledger, actor("cat"), 5)["status"] == "held"


def test_a_withdrawal_does_not_change_after_its_approval(world: World) -> None:
    ledger = world.ledger
    first = body(6, "11", destination=OTHER_ADDRESS, client="bob")
    withdrawals.request(ledger, actor("ops"), first)
    withdrawals.approve(ledger, actor("ann"), 6)
    for change in ({"amount": "19"}, {"destination": SHARED_ADDRESS}, {"wallet": "main-cold"}):
        assert refused(world, withdrawals.request, ledger, actor("ops"), {**first, **change}) is (
            Result.withdrawal_exists_with_different_body
        )
    # Asked again as it was, it is the same withdrawal: one approval so far, nothing new.
    again = withdrawals.request(ledger, actor("ops"), first)
    assert (again["result"], again["status"]) == ("exists", "awaiting_approval")
    assert [row["approver"] for row in again["approvals"]] == ["ann"]


def test_a_rejected_withdrawal_is_never_approved_held_or_paid(world: World) -> None:
    ledger = world.ledger
    withdrawals.request(
        ledger, actor("ops"), body(7, "11", destination=OTHER_ADDRESS, client="bob")
    )
    withdrawals.approve(ledger, actor("ann"), 7)
    assert withdrawals.reject(ledger, actor("cat"), 7)["status"] == "voided"
    assert refused(world, withdrawals.approve, ledger, actor("ben"), 7) is (
        Result.withdrawal_already_final
    )
    chain = RecordingChain()
    withdrawals.process(ledger, actor("ops"), chain)
    assert (status(world, 7), chain.calls) == ("voided", [])
    assert available(world, "bob") == 20 * ETH


def test_no_approval_counts_once_the_withdrawal_has_expired(world: World) -> None:
    """Expiry is applied by ``process``; an approval that comes after the expiry but before
    the next pass must not revive the withdrawal and hold the amount."""
    ledger = world.ledger
    late = body(19, "11", destination=OTHER_ADDRESS, client="bob")
    withdrawals.request(ledger, actor("ops"), late)
    withdrawals.approve(ledger, actor("ann"), 19)
    world.clock.advance(seconds=86_400)  # the policy's approval_timeout_s
    assert refused(world, withdrawals.approve, ledger, actor("ben"), 19) is (
        Result.withdrawal_expired
    )
    assert withdrawals.process(ledger, actor("ops"), None)["expired"] == ["19"]
    assert (status(world, 19), available(world, "bob")) == ("voided", 20 * ETH)


# ---------------------------------------------------------------------- clients


def test_a_client_neither_sees_nor_touches_another_clients_withdrawal(world: World) -> None:
    ledger = world.ledger
    withdrawals.request(ledger, actor("alice"), body(8, destination=OTHER_ADDRESS))
    for call in (withdrawals.show, withdrawals.approve, withdrawals.reject):
        assert refused(world, call, ledger, actor("bob"), 8) is Result.withdrawal_not_found
    assert withdrawals.listed(ledger, actor("bob"))["items"] == []
    assert refused(world, withdrawals.of_client, ledger, actor("bob"), "alice") is (
        Result.client_not_found
    )
    with pytest.raises(InputError) as caught:
        withdrawals.listed(ledger, actor("bob"), client="alice")
    assert caught.value.code is Result.client_not_found
    # Nor withdraws from alice's account, whatever it names.
    assert refused(world, withdrawals.request, ledger, actor("bob"), body(9, client="alice")) is (
        Result.account_not_found
    )
    # Staff asked for alice: alice may not cancel it (only its initiator or an approver may).
    withdrawals.request(ledger, actor("ops"), body(10, destination=OTHER_ADDRESS, client="alice"))
    assert refused(world, withdrawals.reject, ledger, actor("alice"), 10) is Result.role_forbidden
    # Its own, once held, is past cancelling.
    withdrawals.request(ledger, actor("alice"), body(11))
    assert status(world, 11) == "held"
    assert refused(world, withdrawals.reject, ledger, actor("alice"), 11) is (
        Result.withdrawal_not_awaiting_approval
    )


@pytest.mark.parametrize("flag", ["void_pending", "post_pending"])
def test_a_client_cannot_release_or_post_its_withdrawals_hold_around_the_lifecycle(
    world: World, flag: str
) -> None:
    """The hold debits the client's own account, and the client sees its id: voided once the
    transaction is on its way, it would give the client its balance back while the chain
    pays (a second withdrawal of the same coins, paid by the pool's other clients)."""
    ledger = world.ledger
    withdrawals.request(ledger, actor("alice"), body(21))  # whitelisted: held at once
    withdrawals.process(ledger, actor("ops"), RecordingChain(confirmations_seen=0))
    shown = withdrawals.show(ledger, actor("alice"), 21)
    assert shown["status"] == "broadcast"
    resolve = {"id": "9021", "code": "withdrawal", "flags": [flag],
               "pending_id": shown["hold_transfer"]}  # fmt: skip
    assert refused(world, access_transfers.submit, ledger, actor("alice"),
                   {"transfers": [resolve]}) is Result.transfer_code_reserved  # fmt: skip
    assert available(world, "alice") == 16 * ETH - 15 * ETH // 10
    # Posted once confirmed, by the lifecycle, as ever.
    report = withdrawals.process(ledger, actor("ops"), RecordingChain())
    assert [row["id"] for row in report["posted"]] == ["21"]


# ---------------------------------------------------------------------- destinations


def spellings(address: str) -> Iterator[str]:
    yield address
    yield "0x" + address[2:].lower()
    yield "0x" + address[2:].upper()
    yield "0X" + address[2:]


@pytest.mark.parametrize("firms", [MAIN_HOT_ADDRESS, MAIN_COLD_ADDRESS, HOUSE_ADDRESS])
def test_no_spelling_of_a_firm_address_is_a_client_withdrawals_destination(
    world: World, firms: str
) -> None:
    for spelling in spellings(firms):
        assert refused(
            world, withdrawals.request, world.ledger, actor("alice"), body(12, destination=spelling)
        ) is Result.withdrawal_destination_invalid, spelling  # fmt: skip


def test_a_whitelist_entry_serves_only_its_client_and_its_own_spelling(world: World) -> None:
    ledger = world.ledger
    lowered = "0x" + ALICE_ADDRESS[2:].lower()
    assert refused(
        world, withdrawals.request, ledger, actor("alice"), body(13, destination=lowered)
    ) is (Result.withdrawal_destination_invalid)
    # bob paying alice's whitelisted address is an address like any other: approvals.
    answer = withdrawals.request(ledger, actor("bob"), body(14))
    assert (answer["status"], available(world, "bob")) == ("awaiting_approval", 20 * ETH)
    # Bech32 in capitals is the same address to the chain: refused, never a second spelling.
    btc = {
        **body(15, "0.1", destination="BC1QW508D6QEJXTDG4Y5R3ZARVARY0C5XW7KV8F3T4"),
        "asset": "BTC",
    }
    assert refused(world, withdrawals.request, ledger, actor("alice"), btc) is (
        Result.withdrawal_destination_invalid
    )


def test_house_movements_stay_between_the_pool_and_the_house(world: World) -> None:
    ledger = world.ledger
    sweep = {"id": "16", "kind": "residual_sweep", "pool": "main", "asset": "ETH", "amount": "1"}
    # A sweep goes to a house wallet, never to another wallet of a pool.
    assert refused(world, withdrawals.request, ledger, actor("ops"),
                   {**sweep, "destination_wallet": "main-cold"}) is (
        Result.withdrawal_wallet_invalid
    )  # fmt: skip
    # A rebalance stays in the pool: never to the house's wallet.
    rebalance = {**sweep, "kind": "rebalance", "destination_wallet": "house-hot"}
    assert refused(world, withdrawals.request, ledger, actor("ops"), rebalance) is (
        Result.withdrawal_wallet_invalid
    )
    # Neither names an outside address.
    assert refused(world, withdrawals.request, ledger, actor("ops"),
                   {**sweep, "destination": OTHER_ADDRESS, "destination_wallet": "house-hot"}) is (
        Result.field_unknown
    )  # fmt: skip
    # And a client asks only for its own withdrawals, never a house movement.
    house = {**sweep, "destination_wallet": "house-hot"}
    assert refused(world, withdrawals.request, ledger, actor("alice"), house) is (
        Result.role_forbidden
    )


def test_a_client_withdrawal_is_paid_only_from_a_wallet_of_its_pool(world: World) -> None:
    for wallet in ("house-hot", "nowhere"):
        assert refused(world, withdrawals.request, world.ledger, actor("alice"),
                       body(20, wallet=wallet)) is Result.withdrawal_wallet_invalid  # fmt: skip


# ---------------------------------------------------------------------- velocity race


def test_two_writers_cannot_both_pass_a_velocity_limit(clock: ManualClock) -> None:
    """Two services on one store (two processes, or a command beside the server), both
    current when they start: each would allow its own 1.5 ETH under a 2 ETH daily limit.
    The second to write is refused by the journal's head, having written nothing, and
    decided again it sees the first."""
    store = MemoryStore()
    first = LedgerService(store, clock, journal_signer())
    world = build_world(first, clock)
    rules = [
        {"id": "fast", "when": {"velocity": {"window_s": 86400, "per": "client",
                                             "over": {"ETH": "2"}}},
         "action": {"require": 1, "groups": ["treasury"]}},
        {"id": "whitelisted", "when": {"destination": "whitelisted"}, "action": "allow"},
    ]  # fmt: skip
    publish_policy(first, clock, json.dumps(policy_document(rules=rules)).encode())
    second = LedgerService(store, clock, journal_signer())
    books(second)  # read, as the other process would have, before the first one writes
    assert withdrawals.request(first, actor("alice"), body(17))["status"] == "held"
    with pytest.raises(HeadConflictError):
        withdrawals.request(second, actor("alice"), body(18))
    assert 18 not in books(first).withdrawals.withdrawals
    answer = withdrawals.request(second, actor("alice"), body(18))
    assert (answer["status"], answer["decision"]["approvals_required"]) == ("awaiting_approval", 1)
    assert available(world, "alice") == 16 * ETH - 15 * ETH // 10


# ---------------------------------------------------------------------- sweeps


def test_two_sweeps_that_each_fit_the_residual_interest_are_not_both_held(world: World) -> None:
    """Both decided against the same 4 ETH of residual interest, both approved: the ledger's
    coverage check refuses the second hold, and it is voided with nothing held."""
    ledger = world.ledger
    world.clock.advance(seconds=86_400)  # the 4 ETH are the prior day's residual
    sweep = {"kind": "residual_sweep", "pool": "main", "asset": "ETH",
             "destination_wallet": "house-hot"}  # fmt: skip
    wallet = ledger.ledger.accounts[world.custodian.wallet("main", "ETH")]
    residual = 4 * ETH
    first = {**sweep, "id": "30", "amount": "3"}
    second = {**sweep, "id": "31", "amount": "3"}
    for asked in (first, second):
        answer = withdrawals.request(ledger, actor("ops"), asked)
        assert answer["status"] == "awaiting_approval", answer["reason"]
    for approver in ("ann", "ceo"):  # R2: over a quarter of the prior day's, seniors too
        withdrawals.approve(ledger, actor(approver), 30)
        withdrawals.approve(ledger, actor(approver), 31)
    assert withdrawals.approve(ledger, actor("cfo"), 30)["status"] == "held"
    refused_hold = withdrawals.approve(ledger, actor("cfo"), 31)
    assert (refused_hold["status"], refused_hold["reason"]) == (
        "voided", "pool_coverage_would_break"
    )  # fmt: skip
    assert refused_hold["hold_transfer"] is None
    assert wallet.credits_pending == 3 * ETH < residual


def test_a_sweep_split_in_two_awaiting_halves_still_needs_the_seniors(world: World) -> None:
    """R2: the day's sweeps above a quarter of the prior day's residual interest (4 ETH: 1
    ETH) need the seniors. Two sweeps of 0.6 ETH asked before either is approved: the
    second counts the first, awaiting as it is, and needs them."""
    ledger = world.ledger
    world.clock.advance(seconds=86_400)  # the 4 ETH are the prior day's residual
    sweep = {"kind": "residual_sweep", "pool": "main", "asset": "ETH", "amount": "0.6",
             "destination_wallet": "house-hot"}  # fmt: skip
    first = withdrawals.request(ledger, actor("ops"), {**sweep, "id": "32"})
    assert first["decision"]["senior_approvals_required"] == 0
    second = withdrawals.request(ledger, actor("ops"), {**sweep, "id": "33"})
    assert (second["decision"]["senior_approvals_required"], second["decision"]["notice"]) == (
        2, True
    )  # fmt: skip
    assert withdrawals.approve(ledger, actor("ann"), 32)["status"] == "held"
    assert withdrawals.approve(ledger, actor("ann"), 33)["status"] == "awaiting_approval"


# ---------------------------------------------------------------------- the role table


# docs/api.md, "Routes" and "Roles": who may request, approve or reject (when not the
# initiator), process, and read withdrawals.
ROLE_TABLE = {
    PrincipalRole.client: {"request", "read"},
    PrincipalRole.operator: {"request", "process", "read"},
    PrincipalRole.approver: {"approve", "reject", "read"},
    PrincipalRole.compliance: {"read"},
    PrincipalRole.auditor: {"read"},
    PrincipalRole.admin: {"read"},
}


@pytest.mark.parametrize("role", list(PrincipalRole))
def test_each_role_does_what_the_table_says_and_nothing_else(
    world: World, role: PrincipalRole
) -> None:
    ledger = world.ledger
    who = (
        Actor("alice", role, "alice")
        if role is PrincipalRole.client
        else Actor(f"x-{role.name}", role)
    )
    if role is not PrincipalRole.client:
        add_principal = endorse(
            ledger.ledger_id, ADMIN, key_seed(ADMIN), principal_for(who.name, role)
        )
        assert ledger.change_principals([add_principal]) == [Result.ok]
    withdrawals.request(ledger, actor("ops"), body(40, destination=OTHER_ADDRESS, client="alice"))
    withdrawals.request(ledger, actor("ops"), body(41, destination=OTHER_ADDRESS, client="alice"))
    calls: dict[str, Callable[[], object]] = {
        "request": lambda: withdrawals.request(ledger, who, body(42, client="alice")),
        "approve": lambda: withdrawals.approve(ledger, who, 40),
        "reject": lambda: withdrawals.reject(ledger, who, 41),
        "process": lambda: withdrawals.process(ledger, who, None),
        "read": lambda: withdrawals.show(ledger, who, 40),
    }
    for duty, call in calls.items():
        allowed = duty in ROLE_TABLE[role]
        if allowed:
            try:
                call()
            except InputError as refusal:  # allowed by role, refused for another reason
                assert refusal.code is not Result.role_forbidden, (role, duty)
        else:
            assert refused(world, call) is Result.role_forbidden, (role, duty)
