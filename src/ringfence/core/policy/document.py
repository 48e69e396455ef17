"""A withdrawal policy document: the firm's rules for moving assets, as versioned data.

A policy is one JSON object, read strictly (duplicate keys, floats, NaN, unknown fields and
fields of the wrong type are refused, each with a named code and the path of the field):

    {
      "format": 1,
      "governance": {"group": "policy-admins", "approvals": 2, "time_lock_s": 172800},
      "groups": {"treasury": ["ann", "ben", "cat"], "executives": ["ceo", "cfo"], ...},
      "whitelist": {"cool_down_s": 172800,
                    "entries": [{"address": "bc1q...", "chain": "bitcoin", "client": "alice"}]},
      "residual_interest": {"senior_group": "executives", "senior_approvals": 2},
      "fee_max": {"BTC": "0.0005", "ETH": "0.01"},
      "approval_timeout_s": 86400,
      "approvals_signed": true,
      "rules": [{"id": "large-btc", "scope": {"pools": ["main"]},
                 "when": {"assets": ["BTC"], "amount_over": {"BTC": "1"}},
                 "action": {"require": 2, "groups": ["treasury"]}}, ...]
    }

Rules are read first match first (core/policy/decide.py). A rule's ``scope`` is the firm (no
scope), some pools or some wallets, so one rule covers every wallet it names and nothing is
copied per wallet. Its ``when`` holds conditions that must all hold (conditions.py); its
``action`` is ``"allow"``, ``"block"`` or ``{"require": N, "groups": [...]}``: N distinct
approvers from the union of the named groups.

``governance`` says who approves the next version of the policy and how long a published
version waits before it takes effect; a version is governed by the policy in force when it is
approved and published, never by itself (except the first). ``whitelist`` entries are the
external addresses a ``destination: "whitelisted"`` condition accepts, each only once its
cool-down has passed since the version that added it took effect. ``residual_interest`` names
who gives the senior approvals R2 requires. ``fee_max`` bounds the network fee of a
movement, per fee asset (the chain's native asset), in that asset's major unit.
``approvals_signed`` (default false, so documents written before it keep their meaning)
requires every approval it governs, of a withdrawal it decides and of a policy version it
governs, to carry the approver's Ed25519 signature (core/principals/approval.py).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from enum import StrEnum, unique
from typing import Final

from ringfence.core import limits
from ringfence.core.custody.snapshots import canonical_address_problem
from ringfence.core.errors import InputError, Result
from ringfence.core.ledger.model import check_name
from ringfence.core.money import Asset
from ringfence.core.policy.conditions import Conditions, parse_conditions
from ringfence.core.policy.fields import (
    amounts,
    checked_object,
    name_check,
    names,
    required,
    strict_json,
    whole,
)

format_current: Final = 1
time_lock_s_default: Final = 2 * 86_400
cool_down_s_default: Final = 2 * 86_400
chains: Final = ("bitcoin", "ethereum")


@unique
class Action(StrEnum):
    allow = "allow"
    block = "block"
    require = "require"  # N approvals from named groups


@dataclass(frozen=True, slots=True)
class Governance:
    """Who approves the next version (``approvals`` distinct members of ``group``, never its
    author) and how long a published version waits before it takes effect."""

    group: str
    approvals: int
    time_lock_s: int


@dataclass(frozen=True, slots=True)
class WhitelistEntry:
    address: str
    chain: str
    client: str = ""  # only this client's withdrawals may use it; empty: any movement
    label: str = ""


@dataclass(frozen=True, slots=True)
class ResidualControl:
    """R2: house sweeps above ``daily_share_ppm`` of the prior day's residual interest in a
    day need ``senior_approvals`` from ``senior_group`` and raise a notice."""

    senior_group: str
    senior_approvals: int
    daily_share_ppm: int = limits.residual_daily_share_ppm_max


@dataclass(frozen=True, slots=True)
class Rule:
    id: str
    index: int  # its place in the document: first match is by this
    pools: frozenset[str]  # scope; both empty: the firm
    wallets: frozenset[str]
    when: Conditions
    action: Action
    approvals: int = 0
    groups: tuple[str, ...] = ()

    @property
    def scope_text(self) -> str:
        if self.wallets:
            return "wallets " + ", ".join(sorted(self.wallets))
        if self.pools:
            return "pools " + ", ".join(sorted(self.pools))
        return "the firm"


@dataclass(frozen=True, slots=True)
class PolicyDocument:
    rules: tuple[Rule, ...]
    groups: Mapping[str, tuple[str, ...]]
    governance: Governance
    whitelist: tuple[WhitelistEntry, ...]
    cool_down_s: int
    residual: ResidualControl | None
    fee_max: Mapping[str, int]
    approval_timeout_s: int
    assets: Mapping[str, Asset]  # the assets its amounts were read in
    approvals_signed: bool = False  # every approval it governs carries a signature


_top_fields: Final = frozenset(
    {
        "format",
        "governance",
        "groups",
        "whitelist",
        "residual_interest",
        "fee_max",
        "approval_timeout_s",
        "approvals_signed",
        "rules",
    }
)


def parse_policy(text: bytes, assets: Mapping[str, Asset]) -> PolicyDocument:
    """The policy in ``text`` (UTF-8 JSON), its amounts read in ``assets``; ``InputError``
    naming the first field that is not what it must be."""
    document = strict_json(text)
    fields = checked_object(document, "policy", _top_fields, Result.policy_document_malformed)
    if fields.get("format") != format_current or type(fields.get("format")) is not int:
        raise InputError(Result.policy_format_unsupported, f"format {fields.get('format')!r}")
    groups = _groups(fields.get("groups", {}))
    governance = _governance(required(fields, "governance", Result.policy_governance_invalid))
    _known_group(groups, governance.group, "governance.group", Result.policy_governance_invalid)
    if governance.approvals > len(groups[governance.group]):
        raise InputError(
            Result.policy_governance_invalid,
            f"governance.approvals: {governance.approvals}, more than {governance.group} has",
        )
    whitelist, cool_down_s = _whitelist(fields.get("whitelist", {}))
    residual = _residual(fields.get("residual_interest"), groups)
    fee_max = amounts(
        fields.get("fee_max", {}), "fee_max", assets, Result.policy_fee_max_invalid, zero=False
    )
    timeout = whole(
        fields.get("approval_timeout_s", limits.withdrawal_approval_timeout_s_default),
        "approval_timeout_s", 1, limits.policy_window_s_max, Result.policy_document_malformed,
    )  # fmt: skip
    signed = fields.get("approvals_signed", False)
    if type(signed) is not bool:
        raise InputError(Result.policy_document_malformed, "approvals_signed: true or false")
    rules = _rules(required(fields, "rules", Result.policy_rule_invalid), groups, assets)
    return PolicyDocument(
        rules, groups, governance, whitelist, cool_down_s, residual, fee_max, timeout,
        dict(assets), signed,
    )  # fmt: skip


def _known_group(groups: Mapping[str, object], name: object, path: str, code: Result) -> str:
    group = check_name(name, "group") if isinstance(name, str) else ""
    if group not in groups:
        raise InputError(Result.policy_group_unknown, f"{path}: {name!r}")
    return group


# ---------------------------------------------------------------------- sections


def _groups(value: object) -> dict[str, tuple[str, ...]]:
    if not isinstance(value, dict) or len(value) > limits.policy_groups_max:
        raise InputError(
            Result.policy_group_invalid, f"groups: an object of at most {limits.policy_groups_max}"
        )
    groups: dict[str, tuple[str, ...]] = {}
    for name, members in value.items():
        try:
            check_name(name, "group")
        except InputError:
            raise InputError(Result.policy_group_invalid, f"groups: name {name!r}") from None
        listed = names(members, f"groups.{name}", Result.policy_group_invalid, name_check("member"))
        if len(listed) > limits.policy_group_members_max:
            raise InputError(
                Result.policy_group_invalid,
                f"groups.{name}: at most {limits.policy_group_members_max} members",
            )
        groups[name] = tuple(listed)
    return groups


def _governance(value: object) -> Governance:
    code = Result.policy_governance_invalid
    fields = checked_object(
        value, "governance", frozenset({"group", "approvals", "time_lock_s"}), code
    )
    approvals = whole(
        required(fields, "approvals", code), "governance.approvals", 1,
        limits.policy_approvals_max, code,
    )  # fmt: skip
    time_lock_s = whole(
        fields.get("time_lock_s", time_lock_s_default), "governance.time_lock_s", 0,
        limits.policy_time_lock_s_max, code,
    )  # fmt: skip
    group = required(fields, "group", code)
    return Governance(group if isinstance(group, str) else "", approvals, time_lock_s)


def _whitelist(value: object) -> tuple[tuple[WhitelistEntry, ...], int]:
    code = Result.policy_whitelist_invalid
    fields = checked_object(value, "whitelist", frozenset({"cool_down_s", "entries"}), code)
    cool_down_s = whole(
        fields.get("cool_down_s", cool_down_s_default), "whitelist.cool_down_s", 0,
        limits.policy_time_lock_s_max, code,
    )  # fmt: skip
    listed = fields.get("entries", [])
    if not isinstance(listed, list) or len(listed) > limits.policy_whitelist_entries_max:
        raise InputError(code, f"whitelist.entries: at most {limits.policy_whitelist_entries_max}")
    entries: list[WhitelistEntry] = []
    seen: set[tuple[str, str]] = set()
    for index, item in enumerate(listed):
        entry = _whitelist_entry(item, f"whitelist.entries[{index}]")
        if (entry.address, entry.client) in seen:
            raise InputError(code, f"whitelist.entries[{index}]: {entry.address} listed twice")
        seen.add((entry.address, entry.client))
        entries.append(entry)
    return tuple(entries), cool_down_s


def _whitelist_entry(item: object, path: str) -> WhitelistEntry:
    code = Result.policy_whitelist_invalid
    fields = checked_object(item, path, frozenset({"address", "chain", "client", "label"}), code)
    chain = required(fields, "chain", code)
    if chain not in chains:
        raise InputError(code, f"{path}.chain: one of {', '.join(chains)}, not {chain!r}")
    address = required(fields, "address", code)
    if not isinstance(address, str) or len(address) > limits.withdrawal_destination_bytes_max:
        raise InputError(code, f"{path}.address: a string")
    problem = canonical_address_problem(address, chain)
    if problem:
        raise InputError(Result.address_not_canonical, f"{path}.address: {problem}")
    client = fields.get("client", "")
    if client:
        check_name(client, "client")
    label = fields.get("label", "")
    if not isinstance(label, str) or not label.isascii() or len(label) > limits.name_length_max:
        raise InputError(code, f"{path}.label: ASCII, at most {limits.name_length_max}")
    return WhitelistEntry(address, chain, client, label)


def _residual(value: object, groups: Mapping[str, tuple[str, ...]]) -> ResidualControl | None:
    if value is None:
        return None
    code = Result.policy_residual_interest_invalid
    allowed = frozenset({"senior_group", "senior_approvals", "daily_share_ppm"})
    fields = checked_object(value, "residual_interest", allowed, code)
    group = _known_group(
        groups, required(fields, "senior_group", code), "residual_interest.senior_group", code
    )
    approvals = whole(
        required(fields, "senior_approvals", code), "residual_interest.senior_approvals", 1,
        len(groups[group]), code,
    )  # fmt: skip
    share = whole(
        fields.get("daily_share_ppm", limits.residual_daily_share_ppm_max),
        "residual_interest.daily_share_ppm", 0, limits.residual_daily_share_ppm_max, code,
    )  # fmt: skip
    return ResidualControl(group, approvals, share)


def _rules(
    value: object, groups: Mapping[str, tuple[str, ...]], assets: Mapping[str, Asset]
) -> tuple[Rule, ...]:
    if not isinstance(value, list):
        raise InputError(Result.policy_rule_invalid, "rules: a list")
    if len(value) > limits.policy_rules_max:
        raise InputError(
            Result.policy_rules_exceeded, f"{len(value)} rules, at most {limits.policy_rules_max}"
        )
    rules: list[Rule] = []
    seen: set[str] = set()
    for index, item in enumerate(value):
        rule = _rule(item, index, groups, assets)
        if rule.id in seen:
            raise InputError(Result.policy_rule_id_duplicate, f"rules[{index}]: {rule.id!r}")
        seen.add(rule.id)
        rules.append(rule)
    return tuple(rules)


_rule_fields: Final = frozenset({"id", "scope", "when", "action", "description"})


def _rule(
    item: object, index: int, groups: Mapping[str, tuple[str, ...]], assets: Mapping[str, Asset]
) -> Rule:
    path = f"rules[{index}]"
    fields = checked_object(item, path, _rule_fields, Result.policy_rule_invalid)
    rule_id = required(fields, "id", Result.policy_rule_invalid)
    try:
        check_name(rule_id, "rule id")
    except InputError:
        raise InputError(Result.policy_rule_invalid, f"{path}.id: {rule_id!r}") from None
    path = f"rules[{index}] ({rule_id})"
    description = fields.get("description", "")
    if not isinstance(description, str) or len(description) > 1_000:
        raise InputError(Result.policy_rule_invalid, f"{path}.description: text")
    pools, wallets = _scope(fields.get("scope", {}), path)
    when = parse_conditions(fields.get("when", {}), f"{path}.when", assets)
    action, approvals, named = _action(
        required(fields, "action", Result.policy_action_invalid), path, groups
    )
    return Rule(rule_id, index, pools, wallets, when, action, approvals, named)


def _scope(value: object, path: str) -> tuple[frozenset[str], frozenset[str]]:
    code = Result.policy_scope_invalid
    fields = checked_object(value, f"{path}.scope", frozenset({"pools", "wallets"}), code)
    if len(fields) > 1:
        raise InputError(code, f"{path}.scope: the firm ({{}}), some pools or some wallets")
    pools = (
        names(fields["pools"], f"{path}.scope.pools", code, name_check("pool"))
        if ("pools" in fields)
        else []
    )
    wallets = (
        names(fields["wallets"], f"{path}.scope.wallets", code, name_check("wallet"))
        if ("wallets" in fields)
        else []
    )
    return frozenset(pools), frozenset(wallets)


def _action(
    value: object, path: str, groups: Mapping[str, tuple[str, ...]]
) -> tuple[Action, int, tuple[str, ...]]:
    code = Result.policy_action_invalid
    if value in (Action.allow.value, Action.block.value):
        return Action(value), 0, ()
    fields = checked_object(value, f"{path}.action", frozenset({"require", "groups"}), code)
    named = names(
        required(fields, "groups", code), f"{path}.action.groups", code, name_check("group")
    )
    for group in named:
        _known_group(groups, group, f"{path}.action.groups", code)
    members = {member for group in named for member in groups[group]}
    approvals = whole(required(fields, "require", code), f"{path}.action.require", 1,
                      len(members), code)  # fmt: skip
    return Action.require, approvals, tuple(named)
