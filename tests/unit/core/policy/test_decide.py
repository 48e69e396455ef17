"""Deciding a movement: segregation facts first, R2, then the first rule that matches."""

from __future__ import annotations

from dataclasses import replace
from typing import Any

from tests.support import ASSETS
from tests.support_policy import ALICE_ADDRESS, OTHER_ADDRESS, SHARED_ADDRESS, policy_text

from ringfence.core.errors import Result
from ringfence.core.policy.decide import CompiledPolicy, decide
from ringfence.core.policy.document import Action, parse_policy
from ringfence.core.policy.movement import Facts, MovementKind, MovementRequest, Per
from ringfence.core.principals.records import PrincipalRole

assets = {asset.code: asset for asset in ASSETS}
ETH = 10**18
HOUR_NS = 3600 * 10**9
plenty = Facts(available=100 * ETH, residual_interest=100 * ETH, residual_prior_day=100 * ETH)


def compiled(text: bytes | None = None, since: int = 0) -> CompiledPolicy:
    document = parse_policy(text or policy_text(), assets)
    entries = {(e.address, e.client): since for e in document.whitelist}
    return CompiledPolicy(document, 7, entries)


def withdrawal(amount: int = ETH, **changes: Any) -> MovementRequest:
    request = MovementRequest(
        MovementKind.client_withdrawal, "alice", PrincipalRole.client, "main", "main-hot", "hot",
        "ETH", amount, ALICE_ADDRESS, HOUR_NS, client="alice",
    )  # fmt: skip
    return replace(request, **changes)


def sweep(amount: int, **changes: Any) -> MovementRequest:
    request = MovementRequest(
        MovementKind.residual_sweep, "ops", PrincipalRole.operator, "main", "main-hot", "hot",
        "ETH", amount, SHARED_ADDRESS, HOUR_NS, destination_wallet="house-hot",
    )  # fmt: skip
    return replace(request, **changes)


def test_a_whitelisted_destination_past_its_cool_down_is_allowed() -> None:
    decision = decide(compiled(), withdrawal(), plenty)
    assert (decision.action, decision.rule_id, decision.policy_version) == (
        Action.allow, "whitelisted", 7,
    )  # fmt: skip
    assert decision.reason is None
    assert decision.trace[-1] == "rule whitelisted matched (the firm): allow"
    assert "rule large: amount 1.000000000000000000 ETH not over 10.000000000000000000 ETH" in (
        decision.trace
    )


def test_the_trace_says_why_each_earlier_rule_did_not_match() -> None:
    decision = decide(compiled(), withdrawal(destination=OTHER_ADDRESS), plenty)
    assert decision.rule_id == "others"
    assert (decision.action, decision.approvals_required, decision.groups) == (
        Action.require, 1, ("treasury",),
    )  # fmt: skip
    earlier = [line for line in decision.trace if line.startswith("rule ")]
    assert earlier == [
        "rule cold-needs-two: source tier hot not in [cold]",
        "rule large: amount 1.000000000000000000 ETH not over 10.000000000000000000 ETH",
        "rule whitelisted: destination is not_whitelisted, not whitelisted",
        "rule internal: destination is not_whitelisted, not internal",
        "rule others matched (the firm): 1 of treasury",
    ]
    assert "1 rules set aside: scoped to other pools or wallets, or other assets" in decision.trace


def test_a_whitelist_entry_in_its_cool_down_is_not_whitelisted() -> None:
    policy = compiled(since=HOUR_NS)  # added an hour in, with a one-minute cool-down
    waiting = decide(policy, withdrawal(at_ns=HOUR_NS + 59 * 10**9), plenty)
    assert waiting.rule_id == "others"
    assert any("in its cool-down until" in line for line in waiting.trace)
    assert decide(policy, withdrawal(at_ns=HOUR_NS + 60 * 10**9), plenty).rule_id == "whitelisted"


def test_a_client_entry_serves_only_its_client() -> None:
    bob = withdrawal(client="bob", initiator="bob")
    assert decide(compiled(), bob, plenty).rule_id == "others"
    shared = decide(compiled(), replace(bob, destination=SHARED_ADDRESS), plenty)
    assert shared.rule_id == "whitelisted"


def test_never_more_than_the_clients_available_balance() -> None:
    decision = decide(compiled(), withdrawal(2 * ETH), Facts(available=2 * ETH - 1))
    assert (decision.action, decision.reason) == (Action.block, Result.exceeds_available_balance)
    assert decision.rule_id == ""
    assert "exceeds alice's available balance 1.999999999999999999 ETH" in decision.trace[0]


def test_a_sweep_never_takes_more_than_the_residual_interest() -> None:
    decision = decide(compiled(), sweep(5 * ETH), Facts(residual_interest=5 * ETH - 1))
    assert (decision.action, decision.reason) == (Action.block, Result.exceeds_residual_interest)


def test_a_sweep_over_a_quarter_of_the_prior_days_residual_needs_the_seniors() -> None:
    facts = Facts(residual_interest=100 * ETH, residual_prior_day=40 * ETH, swept_today=6 * ETH)
    within = decide(compiled(), sweep(4 * ETH), facts)  # 10 of 40: exactly a quarter
    assert (within.senior_approvals_required, within.notice) == (0, False)
    assert (within.action, within.approvals_required, within.rule_id) == (
        Action.require, 1, "internal",
    )  # fmt: skip
    over = decide(compiled(), sweep(4 * ETH + 1), facts)
    assert (over.action, over.approvals_required, over.rule_id) == (Action.require, 1, "internal")
    assert (over.senior_approvals_required, over.senior_group, over.notice) == (
        2, "executives", True,
    )  # fmt: skip


def test_an_allowed_sweep_over_the_r2_share_still_needs_the_seniors() -> None:
    rules = [{"id": "sweeps", "when": {"kinds": ["residual_sweep"]}, "action": "allow"}]
    decision = decide(compiled(policy_text(rules=rules)), sweep(ETH), Facts(residual_interest=ETH))
    assert (decision.action, decision.approvals_required) == (Action.require, 0)
    assert decision.senior_approvals_required == 2


def test_without_a_senior_group_a_sweep_over_the_r2_share_is_blocked() -> None:
    text = policy_text(residual_interest=None)
    decision = decide(compiled(text), sweep(ETH), Facts(residual_interest=ETH))
    assert decision.reason is Result.senior_approval_group_missing


def test_no_rule_matching_blocks() -> None:
    rules = [{"id": "btc-only", "when": {"assets": ["BTC"]}, "action": "allow"}]
    decision = decide(compiled(policy_text(rules=rules)), withdrawal(), plenty)
    assert (decision.action, decision.reason) == (Action.block, Result.no_rule_matched)
    assert (
        decision.trace[-2] == "1 rules set aside: scoped to other pools or wallets, or other assets"
    )


def test_a_blocking_rule_blocks() -> None:
    rules = [{"id": "no-eth", "when": {"assets": ["ETH"]}, "action": "block"}]
    decision = decide(compiled(policy_text(rules=rules)), withdrawal(), plenty)
    assert (decision.action, decision.reason, decision.rule_id) == (
        Action.block, Result.blocked_by_rule, "no-eth",
    )  # fmt: skip


def test_without_a_policy_in_force_everything_is_blocked() -> None:
    decision = decide(None, withdrawal(), plenty)
    assert (decision.action, decision.reason) == (Action.block, Result.no_policy_in_force)


def test_rules_scoped_to_pools_and_wallets_apply_only_there() -> None:
    rules = [
        {"id": "margin", "scope": {"pools": ["margin"]}, "action": "block"},
        {"id": "cold", "scope": {"wallets": ["main-cold", "vault-dave-hot"]}, "action": "block"},
        {"id": "rest", "action": "allow"},
    ]
    policy = compiled(policy_text(rules=rules))
    assert decide(policy, withdrawal(), plenty).rule_id == "rest"
    assert (
        decide(policy, withdrawal(pool="margin", wallet="margin-hot"), plenty).rule_id == "margin"
    )
    assert decide(policy, withdrawal(wallet="main-cold"), plenty).rule_id == "cold"
    assert policy.candidates("main", "main-hot", "ETH") == (2,)


def test_velocity_counts_the_window_and_this_movement() -> None:
    key = (86400, Per.client)
    btc = withdrawal(10**8, asset="BTC", destination="bc1qw508d6qejxtdg4y5r3zarvary0c5xw7kv8f3t4")
    under = decide(compiled(), btc, Facts(available=10**9, windows={key: 10**8}))
    assert under.rule_id == "whitelisted"
    over = decide(compiled(), btc, Facts(available=10**9, windows={key: 10**8 + 1}))
    assert over.rule_id == "fast"
    assert compiled().windows == frozenset({key})


def test_conditions_on_initiators_and_roles() -> None:
    rules = [
        {"id": "by-ann", "when": {"initiators": ["ann"]}, "action": "block"},
        {"id": "by-ops", "when": {"initiator_roles": ["operator"]}, "action": "block"},
        {"id": "rest", "action": "allow"},
    ]
    policy = compiled(policy_text(rules=rules))
    assert decide(policy, withdrawal(), plenty).rule_id == "rest"
    assert decide(policy, withdrawal(initiator="ann"), plenty).rule_id == "by-ann"
    by_operator = withdrawal(initiator="ops", initiator_role=PrincipalRole.operator)
    assert decide(policy, by_operator, plenty).rule_id == "by-ops"
