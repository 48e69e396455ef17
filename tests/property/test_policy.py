"""Properties of the policy: first match against a reference reading of the rules, the
time-lock, the whitelist's cool-down, and never more than the client's available balance."""

from __future__ import annotations

import json
from dataclasses import replace
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st
from tests.support import ASSETS
from tests.support_policy import ALICE_ADDRESS, OTHER_ADDRESS, policy_document

from ringfence.core.errors import Result
from ringfence.core.policy.decide import CompiledPolicy, decide
from ringfence.core.policy.document import Action, parse_policy
from ringfence.core.policy.movement import Facts, MovementKind, MovementRequest
from ringfence.core.policy.versions import (
    PolicyApproved,
    PolicyBook,
    PolicyDrafted,
    PolicyPublished,
)
from ringfence.core.principals.records import PrincipalRole

assets = {asset.code: asset for asset in ASSETS}
POOLS = ("main", "margin")
WALLETS = {"main": ("main-hot", "main-cold"), "margin": ("margin-hot",)}
TIERS = ("hot", "warm", "cold")

conditions = st.fixed_dictionaries(
    {},
    optional={
        "assets": st.lists(st.sampled_from(["BTC", "ETH"]), min_size=1, max_size=2, unique=True),
        "tiers": st.lists(st.sampled_from(TIERS), min_size=1, max_size=3, unique=True),
        "kinds": st.lists(
            st.sampled_from(["client_withdrawal", "rebalance"]), min_size=1, max_size=2, unique=True
        ),
        "amount_over": st.dictionaries(st.sampled_from(["BTC", "ETH"]), st.integers(0, 4),
                                       min_size=1),
        "amount_up_to": st.dictionaries(st.sampled_from(["BTC", "ETH"]), st.integers(0, 4),
                                        min_size=1),
        "destination": st.sampled_from(["whitelisted", "not_whitelisted", "internal"]),
        "initiator_roles": st.lists(st.sampled_from(["client", "operator"]), min_size=1,
                                    max_size=2, unique=True),
    },
)  # fmt: skip
scopes = st.one_of(
    st.just({}),
    st.lists(st.sampled_from(POOLS), min_size=1, max_size=2, unique=True).map(
        lambda pools: {"pools": pools}
    ),
    st.lists(st.sampled_from(["main-hot", "main-cold", "margin-hot"]), min_size=1, unique=True).map(
        lambda wallets: {"wallets": wallets}
    ),
)
actions = st.sampled_from(["allow", "block", {"require": 1, "groups": ["treasury"]}])


@st.composite
def rule_lists(draw: st.DrawFn, count_max: int = 12) -> list[dict[str, Any]]:
    count = draw(st.integers(0 if count_max > 1 else 1, count_max))
    rules = []
    for index in range(count):
        when = draw(conditions)
        for key in ("amount_over", "amount_up_to"):  # whole units as decimal strings
            if key in when:
                when[key] = {code: str(units) for code, units in when[key].items()}
        rules.append({"id": f"r{index}", "scope": draw(scopes), "when": when,
                      "action": draw(actions)})  # fmt: skip
    return rules


@st.composite
def requests(draw: st.DrawFn) -> MovementRequest:
    kind = draw(st.sampled_from([MovementKind.client_withdrawal, MovementKind.rebalance]))
    pool = draw(st.sampled_from(POOLS))
    asset = draw(st.sampled_from(["BTC", "ETH"]))
    scale = assets[asset].scale
    # Whole units from the rules' own range, or one minor unit more: the edges of every limit.
    amount = max(draw(st.integers(0, 4)) * 10**scale + draw(st.sampled_from([0, 1])), 1)
    role = draw(st.sampled_from([PrincipalRole.client, PrincipalRole.operator]))
    internal = kind is MovementKind.rebalance
    return MovementRequest(
        kind, "alice", role, pool, draw(st.sampled_from(WALLETS[pool])),
        draw(st.sampled_from(TIERS)), asset, amount,
        draw(st.sampled_from([ALICE_ADDRESS, OTHER_ADDRESS])), 10**18,
        client="" if internal else "alice", destination_wallet="main-cold" if internal else "",
    )  # fmt: skip


def reference_match(rules: list[dict[str, Any]], request: MovementRequest) -> str:
    """The first rule whose scope and every condition hold, read the plainest way."""
    destination = (
        "internal" if request.kind is MovementKind.rebalance
        else "whitelisted" if request.destination == ALICE_ADDRESS
        else "not_whitelisted"
    )  # fmt: skip
    for rule in rules:
        scope, when = rule["scope"], rule["when"]
        if "pools" in scope and request.pool not in scope["pools"]:
            continue
        if "wallets" in scope and request.wallet not in scope["wallets"]:
            continue
        unit = 10 ** assets[request.asset].scale
        over, up_to = when.get("amount_over", {}), when.get("amount_up_to", {})
        checks = [
            "assets" not in when or request.asset in when["assets"],
            "tiers" not in when or request.tier in when["tiers"],
            "kinds" not in when or request.kind.value in when["kinds"],
            "initiator_roles" not in when or request.initiator_role.name in when["initiator_roles"],
            "destination" not in when or when["destination"] == destination,
            "amount_over" not in when
            or (request.asset in over and request.amount > int(over[request.asset]) * unit),
            "amount_up_to" not in when
            or (request.asset in up_to and request.amount <= int(up_to[request.asset]) * unit),
        ]  # fmt: skip
        if all(checks):
            return str(rule["id"])
    return ""


def compiled(rules: list[dict[str, Any]], **changes: Any) -> CompiledPolicy:
    text = json.dumps(policy_document(rules=rules, **changes)).encode()
    document = parse_policy(text, assets)
    return CompiledPolicy(document, 1, {(e.address, e.client): 0 for e in document.whitelist})


@settings(max_examples=200, deadline=None)
@given(rule_lists(), requests())
def test_the_first_rule_that_matches_decides(
    rules: list[dict[str, Any]], request: MovementRequest
) -> None:
    decision = decide(compiled(rules), request, Facts(available=10**30))
    expected = reference_match(rules, request)
    assert decision.rule_id == expected
    if not expected:
        assert (decision.action, decision.reason) == (Action.block, Result.no_rule_matched)
        return
    matched = next(rule for rule in rules if rule["id"] == expected)
    action = matched["action"]
    assert decision.action.value == (action if isinstance(action, str) else "require")
    # Every earlier rule in scope of the request's pool, wallet and asset is in the trace.
    said = {line.split(":")[0].removeprefix("rule ") for line in decision.trace}
    position = [rule["id"] for rule in rules].index(expected)
    for rule in rules[:position]:
        assets_named = rule["when"].get("assets", ["BTC", "ETH"])
        for key in ("amount_over", "amount_up_to"):
            if key in rule["when"]:
                assets_named = [a for a in assets_named if a in rule["when"][key]]
        scope = rule["scope"]
        in_scope = request.pool in scope.get("pools", [request.pool]) and request.wallet in (
            scope.get("wallets", [request.wallet])
        )
        if in_scope and request.asset in assets_named:
            assert rule["id"] in said


@settings(max_examples=300, deadline=None)
@given(rule_lists(count_max=1), requests())
def test_a_rule_matches_exactly_when_its_scope_and_conditions_hold(
    rules: list[dict[str, Any]], request: MovementRequest
) -> None:
    decision = decide(compiled(rules), request, Facts(available=10**30))
    assert decision.rule_id == reference_match(rules, request)


@settings(max_examples=200, deadline=None)
@given(rule_lists(), requests(), st.integers(0, 30))
def test_never_more_than_the_clients_available_balance(
    rules: list[dict[str, Any]], request: MovementRequest, available_whole: int
) -> None:
    request = replace(request, kind=MovementKind.client_withdrawal, client="alice",
                      destination_wallet="")  # fmt: skip
    available = available_whole * 10 ** assets[request.asset].scale
    decision = decide(compiled([*rules, {"id": "all", "action": "allow"}]), request,
                      Facts(available=available))  # fmt: skip
    if request.amount > available:
        assert (decision.action, decision.reason) == (
            Action.block,
            Result.exceeds_available_balance,
        )
    else:
        assert decision.reason is not Result.exceeds_available_balance


@settings(max_examples=200, deadline=None)
@given(st.integers(0, 10**6), st.integers(0, 10**6), st.integers(0, 3 * 10**6))
def test_a_whitelist_entry_is_usable_only_after_its_cool_down(
    since_s: int, cool_down_s: int, at_s: int
) -> None:
    entries = [{"address": ALICE_ADDRESS, "chain": "ethereum", "client": "alice"}]
    rules = [{"id": "listed", "when": {"destination": "whitelisted"}, "action": "allow"}]
    text = json.dumps(
        policy_document(rules=rules, whitelist={"cool_down_s": cool_down_s, "entries": entries})
    ).encode()
    policy = CompiledPolicy(
        parse_policy(text, assets), 1, {(ALICE_ADDRESS, "alice"): since_s * 10**9}
    )
    request = MovementRequest(
        MovementKind.client_withdrawal, "alice", PrincipalRole.client, "main", "main-hot", "hot",
        "ETH", 1, ALICE_ADDRESS, at_s * 10**9, client="alice",
    )  # fmt: skip
    decision = decide(policy, request, Facts(available=1))
    assert (decision.rule_id == "listed") == (at_s >= since_s + cool_down_s)


@settings(max_examples=100, deadline=None)
@given(st.lists(st.tuples(st.integers(1, 10**6), st.integers(0, 10**5)), min_size=1, max_size=8),
       st.integers(0, 2 * 10**6))  # fmt: skip
def test_no_version_is_in_force_before_its_time_lock_ends(
    publications: list[tuple[int, int]], at_s: int
) -> None:
    book = PolicyBook()
    effective: dict[int, int] = {}
    for at, lock in sorted(publications):
        governance = {"group": "policy-admins", "approvals": 2, "time_lock_s": lock}
        text = json.dumps(policy_document(governance=governance)).encode()
        version = book.next_version
        at_ns = at * 10**9
        book.apply(PolicyDrafted(version, "root", at_ns, text), assets)
        for approver in ("ann", "ben"):
            assert book.apply(PolicyApproved(version, approver, at_ns), assets) is Result.ok
        governing = book.governance(book.versions[version], at_ns)
        effective_ns = at_ns + governing.time_lock_s * 10**9
        assert (
            book.apply(PolicyPublished(version, "root", at_ns, effective_ns), assets) is Result.ok
        )
        effective[version] = effective_ns
    found = book.in_force(at_s * 10**9)
    started = {v: e for v, e in effective.items() if e <= at_s * 10**9}
    if not started:
        assert found is None
        return
    assert found is not None
    assert found.effective_at_ns <= at_s * 10**9
    assert (found.effective_at_ns, found.version) == max((e, v) for v, e in started.items())
