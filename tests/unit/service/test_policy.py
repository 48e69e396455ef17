"""The policy's service over SQLite: versions through four-eyes and the time-lock, read back
after a reopen, and simulated over the ledger's past movements."""

from __future__ import annotations

import json

import pytest
from tests.support import key_seed
from tests.support_policy import OTHER_ADDRESS, policy_document, policy_text
from tests.support_withdrawals import ETH, ROOT, World, actor, publish_policy
from tests.support_withdrawals import withdrawal_world as build_world

from ringfence.adapters.clock import ManualClock
from ringfence.adapters.storage.sqlite import SqliteStore
from ringfence.core.errors import InputError, Result
from ringfence.service import policy, withdrawals
from ringfence.service.ledger import LedgerService
from ringfence.service.policy import actor_with_key


@pytest.fixture
def world(sqlite_service: LedgerService, clock: ManualClock) -> World:
    return build_world(sqlite_service, clock)


def refused(call: object, *args: object) -> Result:
    with pytest.raises(InputError) as caught:
        call(*args)  # type: ignore[operator]
    return caught.value.code


def test_a_version_goes_through_four_eyes_and_the_time_lock(world: World) -> None:
    ledger, clock = world.ledger, world.clock
    drafted = policy.draft(ledger, actor("carl"), policy_text(rules=[
        {"id": "nothing", "action": "block"}]))  # fmt: skip
    version = drafted["version"]
    assert (drafted["state"], drafted["author"], drafted["rules"]) == ("draft", "carl", 1)
    assert refused(policy.approve, ledger, actor("ops"), version) is Result.role_forbidden
    assert refused(policy.approve, ledger, actor("cat"), version) is (
        Result.policy_approver_not_eligible
    )
    assert refused(policy.publish, ledger, ROOT, version) is Result.policy_quorum_not_reached
    policy.approve(ledger, actor("ann"), version)
    assert refused(policy.approve, ledger, actor("ann"), version) is (
        Result.policy_approval_duplicate
    )
    policy.approve(ledger, ROOT, version)
    published = policy.publish(ledger, actor("carl"), version)
    assert published["state"] == "time_locked"
    assert int(published["effective_at_ns"]) == int(published["published_at_ns"]) + 3600 * 10**9
    assert policy.show(ledger, actor("audrey"), None)["version"] == 1
    clock.advance(seconds=3601)  # entries written this second are stamped a nanosecond apart
    shown = policy.show(ledger, actor("audrey"), None)
    assert (shown["version"], shown["state"]) == (version, "in_force")
    assert shown["document"]["rules"] == [{"id": "nothing", "action": "block"}]
    states = [row["state"] for row in policy.versions(ledger, actor("ann"))]
    assert states == ["superseded", "in_force"]


def test_the_author_never_approves_and_a_client_reads_no_policy(world: World) -> None:
    assert refused(policy.draft, world.ledger, actor("ann"), policy_text()) is (
        Result.role_forbidden
    )
    drafted = policy.draft(world.ledger, ROOT, policy_text())["version"]
    assert refused(policy.approve, world.ledger, ROOT, drafted) is Result.policy_approver_is_author
    assert refused(policy.versions, world.ledger, actor("alice")) is Result.role_forbidden


def test_a_draft_that_does_not_parse_writes_nothing(world: World) -> None:
    seq = world.ledger.seq
    bad = json.dumps(policy_document(rules=[{"id": "x", "action": "permit"}])).encode()
    assert refused(policy.draft, world.ledger, ROOT, bad) is Result.policy_action_invalid
    assert refused(policy.draft, world.ledger, ROOT, b"{") is Result.policy_document_malformed
    assert world.ledger.seq == seq


def test_versions_survive_a_reopen(world: World, sqlite_path: str, clock: ManualClock) -> None:
    reopened = LedgerService(SqliteStore(sqlite_path), clock, world.ledger.signer)
    shown = policy.show(reopened, ROOT, 1)
    assert (shown["state"], [a["approver"] for a in shown["approvals"]]) == (
        "in_force", ["ann", "ben"],
    )  # fmt: skip
    reopened.store.close()


def test_the_cli_acts_as_the_principal_whose_key_it_holds(world: World) -> None:
    assert actor_with_key(world.ledger, "ann", key_seed("ann")) == actor("ann")
    assert refused(actor_with_key, world.ledger, "ann", key_seed("ben")) is (
        Result.principal_key_mismatch
    )
    assert refused(actor_with_key, world.ledger, "zed", key_seed("zed")) is (
        Result.principal_not_found
    )


def test_simulate_counts_per_rule_and_names_what_would_change(world: World) -> None:
    ledger, custodian = world.ledger, world.custodian
    unlisted = {"id": "1", "pool": "main", "asset": "ETH", "amount": "1",
                "destination": OTHER_ADDRESS}  # fmt: skip
    withdrawals.request(ledger, actor("alice"), unlisted)
    withdrawals.approve(ledger, actor("ann"), 1)  # decided by rule "others", held
    direct = custodian.withdrawal(50, "bob", 12 * ETH, asset="ETH")  # straight to the ledger
    assert ledger.submit([direct]) == [Result.ok]
    strict = policy_text(rules=[
        {"id": "big", "when": {"amount_over": {"ETH": "5"}}, "action": "block"},
        {"id": "rest", "action": {"require": 1, "groups": ["treasury"]}},
    ])  # fmt: skip
    # Three movements: the world's rebalance to cold storage and the two withdrawals.
    report = policy.simulate_policy(ledger, ROOT, "2023-11-14", text=strict)
    assert report["movements"] == 3
    assert report["by_rule"] == {"big": 2, "rest": 1}  # the 10 ETH rebalance is big too
    assert report["by_action"] == {"block": 2, "require": 1}
    assert report["changed"] == 3  # unchecked moves now need approval or are blocked
    changes = {row["transfer_id"]: row for row in report["changes"]}
    assert changes["50"]["before"] == {"action": "allow", "rule": None}
    assert changes["50"]["after"]["action"] == "block"
    assert changes["4"]["kind"] == "rebalance"
    lifecycle = next(row for row in report["changes"] if row["client"] == "alice")
    assert lifecycle["before"] == {"action": "require", "rule": "others"}
    assert lifecycle["after"]["rule"] == "rest"
    same = policy.simulate_policy(ledger, ROOT, "2023-11-14", version=1)
    assert same["by_rule"] == {"internal": 1, "large": 1, "others": 1}
    assert same["changed"] == 2  # all but the movement the policy itself decided
    later = policy.simulate_policy(ledger, ROOT, "2030-01-01", text=strict)
    assert later["movements"] == 0
    assert refused(policy.simulate_policy, ledger, ROOT, "14/11/2023") is Result.timestamp_invalid


def test_a_new_policy_governs_withdrawals_only_once_in_force(world: World) -> None:
    blocking = policy_text(rules=[{"id": "halt", "action": "block"}])
    publish_policy(world.ledger, world.clock, blocking)
    body = {"id": "7", "pool": "main", "asset": "ETH", "amount": "1",
            "destination": OTHER_ADDRESS}  # fmt: skip
    answer = withdrawals.request(world.ledger, actor("alice"), body)
    assert (answer["status"], answer["reason"]) == ("blocked", "blocked_by_rule")
