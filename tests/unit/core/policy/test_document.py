"""Reading a policy document: every field checked, every bad one refused by name."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from tests.support import ASSETS
from tests.support_policy import ALICE_ADDRESS, POLICY, policy_document, policy_text

from ringfence.core.errors import InputError, Result
from ringfence.core.policy.document import Action, parse_policy
from ringfence.core.policy.movement import Destination, MovementKind, Per

assets = {asset.code: asset for asset in ASSETS}


def refused(text: bytes) -> InputError:
    with pytest.raises(InputError) as caught:
        parse_policy(text, assets)
    return caught.value


def with_rule(rule: dict[str, Any]) -> bytes:
    return policy_text(rules=[rule])


def test_the_example_policy_reads_whole() -> None:
    document = parse_policy(policy_text(), assets)
    assert [rule.id for rule in document.rules] == [r["id"] for r in POLICY["rules"]]
    assert document.governance.approvals == 2
    assert document.governance.time_lock_s == 3600
    assert document.groups["treasury"] == ("ann", "ben", "cat")
    assert document.fee_max == {"BTC": 50_000, "ETH": 10**16}
    large = document.rules[1]
    assert large.action is Action.require
    assert (large.approvals, large.groups) == (2, ("treasury",))
    assert large.when.amount_over == {"BTC": 10**8, "ETH": 10 * 10**18}
    assert large.when.asset_set == frozenset({"BTC", "ETH"})
    fast = document.rules[2].when.velocity
    assert fast is not None
    assert (fast.window_s, fast.per, fast.over) == (86400, Per.client, {"BTC": 2 * 10**8})
    assert document.rules[3].when.destination is Destination.whitelisted
    assert document.whitelist[0].address == ALICE_ADDRESS
    assert document.residual is not None
    assert document.residual.daily_share_ppm == 250_000


@pytest.mark.parametrize(
    ("text", "code"),
    [
        (b"not json", Result.policy_document_malformed),
        (b"[]", Result.policy_document_malformed),
        (b'{"format": 1, "format": 1}', Result.policy_document_malformed),
        (b"\xff", Result.policy_document_malformed),
        (b'{"format": 1.0}', Result.policy_format_unsupported),
        (b'{"format": NaN}', Result.policy_document_malformed),
        (b" " * (2**20 + 1), Result.policy_document_too_large),
        (json.dumps(policy_document(format=2)).encode(), Result.policy_format_unsupported),
        (json.dumps(policy_document(format="1")).encode(), Result.policy_format_unsupported),
        (json.dumps(policy_document(colour="red")).encode(), Result.policy_document_malformed),
    ],
)
def test_a_document_that_is_no_policy_is_refused(text: bytes, code: Result) -> None:
    assert refused(text).code is code


@pytest.mark.parametrize(
    ("changes", "code", "names"),
    [
        ({"governance": {"group": "nobody", "approvals": 1}}, Result.policy_group_unknown,
         "nobody"),
        ({"governance": {"group": "treasury", "approvals": 4}}, Result.policy_governance_invalid,
         "approvals"),
        ({"governance": {"group": "treasury", "approvals": True}},
         Result.policy_governance_invalid, "approvals"),
        ({"governance": {"group": "treasury", "approvals": 1, "time_lock_s": -1}},
         Result.policy_governance_invalid, "time_lock_s"),
        ({"groups": {"treasury": ["ann", "ann"]}}, Result.policy_group_invalid, "twice"),
        ({"groups": {"Bad Name": ["ann"]}}, Result.policy_group_invalid, "Bad Name"),
        ({"groups": {"treasury": []}}, Result.policy_group_invalid, "treasury"),
        ({"fee_max": {"BTC": "0.000000001"}}, Result.amount_finer_than_asset_scale, "fee_max.BTC"),
        ({"fee_max": {"BTC": 0.1}}, Result.amount_must_not_be_float, "fee_max.BTC"),
        ({"fee_max": {"BTC": "0"}}, Result.amount_must_not_be_zero, "fee_max.BTC"),
        ({"fee_max": {"DOGE": "1"}}, Result.asset_not_found, "DOGE"),
        ({"whitelist": {"entries": [{"address": ALICE_ADDRESS.lower(), "chain": "ethereum"}]}},
         Result.address_not_canonical, "entries[0]"),
        ({"whitelist": {"entries": [{"address": ALICE_ADDRESS, "chain": "dogecoin"}]}},
         Result.policy_whitelist_invalid, "chain"),
        ({"whitelist": {"entries": [{"address": ALICE_ADDRESS, "chain": "ethereum"}] * 2}},
         Result.policy_whitelist_invalid, "twice"),
        ({"residual_interest": {"senior_group": "executives", "senior_approvals": 3}},
         Result.policy_residual_interest_invalid, "senior_approvals"),
        ({"residual_interest": {"senior_group": "executives", "senior_approvals": 1,
                                "daily_share_ppm": 250_001}},
         Result.policy_residual_interest_invalid, "daily_share_ppm"),
        ({"approval_timeout_s": 0}, Result.policy_document_malformed, "approval_timeout_s"),
        ({"rules": {}}, Result.policy_rule_invalid, "rules"),
    ],
)  # fmt: skip
def test_every_bad_section_is_named(changes: dict[str, Any], code: Result, names: str) -> None:
    error = refused(json.dumps(policy_document(**changes)).encode())
    assert error.code is code
    assert names in error.detail


@pytest.mark.parametrize(
    ("rule", "code", "names"),
    [
        ({"action": "allow"}, Result.policy_rule_invalid, "id is required"),
        ({"id": "a", "action": "permit"}, Result.policy_action_invalid, "action"),
        ({"id": "a"}, Result.policy_action_invalid, "action is required"),
        ({"id": "a", "action": {"require": 4, "groups": ["treasury"]}},
         Result.policy_action_invalid, "require"),
        ({"id": "a", "action": {"require": 1, "groups": ["nobody"]}},
         Result.policy_group_unknown, "nobody"),
        ({"id": "a", "action": "allow", "when": {"colour": "red"}},
         Result.policy_condition_unknown, "colour"),
        ({"id": "a", "action": "allow", "when": {"kinds": ["gift"]}},
         Result.policy_condition_invalid, "gift"),
        ({"id": "a", "action": "allow", "when": {"tiers": ["lukewarm"]}},
         Result.policy_condition_invalid, "lukewarm"),
        ({"id": "a", "action": "allow", "when": {"initiator_roles": ["king"]}},
         Result.policy_condition_invalid, "king"),
        ({"id": "a", "action": "allow", "when": {"assets": []}},
         Result.policy_condition_invalid, "assets"),
        ({"id": "a", "action": "allow", "when": {"amount_over": {"BTC": "-1"}}},
         Result.amount_must_not_be_negative, "amount_over.BTC"),
        ({"id": "a", "action": "allow", "when": {"destination": "moon"}},
         Result.policy_condition_invalid, "moon"),
        ({"id": "a", "action": "allow",
          "when": {"velocity": {"window_s": 0, "per": "client", "over": {"BTC": "1"}}}},
         Result.policy_condition_invalid, "window_s"),
        ({"id": "a", "action": "allow",
          "when": {"velocity": {"window_s": 60, "per": "planet", "over": {"BTC": "1"}}}},
         Result.policy_condition_invalid, "planet"),
        ({"id": "a", "action": "allow", "scope": {"pools": ["main"], "wallets": ["main-hot"]}},
         Result.policy_scope_invalid, "scope"),
        ({"id": "a", "action": "allow", "scope": {"desks": ["x"]}},
         Result.policy_scope_invalid, "desks"),
    ],
)  # fmt: skip
def test_every_bad_rule_is_named(rule: dict[str, Any], code: Result, names: str) -> None:
    error = refused(with_rule(rule))
    assert error.code is code
    assert names in error.detail


def test_rule_ids_are_unique() -> None:
    rule = {"id": "same", "action": "allow"}
    assert refused(policy_text(rules=[rule, rule])).code is Result.policy_rule_id_duplicate


def test_a_rule_scoped_to_many_wallets_is_one_rule() -> None:
    rule = {"id": "hot", "scope": {"wallets": ["main-hot", "margin-hot"]}, "action": "allow"}
    document = parse_policy(with_rule(rule), assets)
    assert document.rules[0].wallets == frozenset({"main-hot", "margin-hot"})
    assert document.rules[0].scope_text == "wallets main-hot, margin-hot"


def test_kinds_read_as_movement_kinds() -> None:
    rule = {"id": "a", "action": "allow", "when": {"kinds": ["residual_sweep", "rebalance"]}}
    kinds = parse_policy(with_rule(rule), assets).rules[0].when.kinds
    assert kinds == frozenset({MovementKind.residual_sweep, MovementKind.rebalance})


def test_the_example_in_the_docs_reads() -> None:
    text = (Path(__file__).parents[4] / "docs" / "withdrawals.md").read_text(encoding="utf-8")
    example = text.split("```json\n", 1)[1].split("```", 1)[0]
    document = parse_policy(example.encode(), assets)
    assert [rule.id for rule in document.rules][:2] == ["cold-needs-two", "large"]
    assert document.rules[1].pools == frozenset({"main", "margin"})
