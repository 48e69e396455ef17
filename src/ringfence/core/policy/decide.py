"""The decision: segregation facts first, then the first rule that matches, with its trace.

``decide(policy, request, facts)`` is pure. It refuses first what segregation forbids whatever
the rules say: a client's withdrawal above the client's available balance in that pool, a
sweep above the pool's residual interest. A sweep that takes the day's sweeps above the R2
share of the prior day's residual interest needs the policy's senior approvals on top of what
its rule asks, and raises a notice. Then the rules are read in document order and the first
whose scope and conditions all hold decides: allow, block, or require N approvers from named
groups. No rule matching blocks (default deny), as does the absence of any policy in force.

The trace says what was checked: the segregation facts, how many rules the index set aside
(another pool's, another wallet's, another asset's), why each earlier candidate did not match
and which rule did.

Speed: a policy is compiled once per version (``CompiledPolicy``): rules are indexed by scope
(firm, pool, wallet) and asset, and each rule's conditions are closures ordered cheapest
first; the candidates for a (pool, wallet, asset) are merged once and remembered. BENCHMARKS.md
has the latency with 1,000 rules.
"""

from __future__ import annotations

import heapq
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Final

from ringfence.core.errors import Result
from ringfence.core.money import mul_div_floor, ppm_whole
from ringfence.core.policy.conditions import Check, amounts_shown, compile_checks, window_keys
from ringfence.core.policy.document import Action, PolicyDocument, Rule
from ringfence.core.policy.movement import (
    Destination,
    Facts,
    MovementKind,
    MovementRequest,
    WindowKey,
    internal_kinds,
)

_any_asset: Final = ""
_candidates_cached_max: Final = 4_096


@dataclass(frozen=True, slots=True)
class Decision:
    """What the policy decided. ``approvals_required`` distinct approvers from the members of
    ``groups`` and, when R2 applies, ``senior_approvals_required`` from ``senior_group``
    (``notice``: the regulator's notice is due). ``reason`` names why a movement was blocked
    (a segregation fact, a rule, no rule, no policy); None when it was not."""

    action: Action
    approvals_required: int
    groups: tuple[str, ...]
    rule_id: str
    trace: tuple[str, ...]
    policy_version: int
    senior_approvals_required: int = 0
    senior_group: str = ""
    notice: bool = False
    reason: Result | None = None


class CompiledPolicy:
    """One version of a policy, ready to decide. ``whitelisted_since`` gives, per whitelist
    entry (address, client), when the version that added it took effect; an entry is usable
    from then plus the whitelist's cool-down."""

    def __init__(
        self,
        document: PolicyDocument,
        version: int,
        whitelisted_since: Mapping[tuple[str, str], int],
    ) -> None:
        self.document = document
        self.version = version
        self.shown = amounts_shown(document.assets)
        self._checks: tuple[tuple[Check, ...], ...] = tuple(
            compile_checks(rule.when, self.shown) for rule in document.rules
        )
        self._index: dict[tuple[str, str, str], tuple[int, ...]] = _index(document.rules)
        self._candidates: dict[tuple[str, str, str], tuple[int, ...]] = {}
        self.windows: frozenset[WindowKey] = frozenset().union(
            *(window_keys(rule.when) for rule in document.rules)
        )
        self.whitelist: dict[str, list[tuple[str, int]]] = {}
        for entry in document.whitelist:
            since = whitelisted_since.get((entry.address, entry.client), 0)
            self.whitelist.setdefault(entry.address, []).append((entry.client, since))

    def candidates(self, pool: str, wallet: str, asset: str) -> tuple[int, ...]:
        """The rules (by index, in document order) whose scope and assets can match."""
        key = (pool, wallet, asset)
        found = self._candidates.get(key)
        if found is None:
            index = self._index
            lists = [
                index.get((scope, name, wanted), ())
                for scope, name in (("firm", ""), ("pool", pool), ("wallet", wallet))
                for wanted in (asset, _any_asset)
            ]
            found = tuple(heapq.merge(*lists))
            if len(self._candidates) >= _candidates_cached_max:
                self._candidates.clear()
            self._candidates[key] = found
        return found

    def destination_of(self, request: MovementRequest) -> tuple[Destination, str]:
        """The destination's class, and a trace line when it matters."""
        if request.kind in internal_kinds:
            return (
                Destination.internal,
                f"destination: the firm's wallet {request.destination_wallet}",
            )
        cool_down_ns = self.document.cool_down_s * 10**9
        waiting = 0
        for client, since in self.whitelist.get(request.destination, ()):
            if client and client != request.client:
                continue
            usable_from = since + cool_down_ns
            if usable_from <= request.at_ns:
                return Destination.whitelisted, f"destination {request.destination} whitelisted"
            waiting = usable_from
        if waiting:
            text = f"destination {request.destination} in its cool-down until {waiting} (ns)"
            return Destination.not_whitelisted, text
        return Destination.not_whitelisted, f"destination {request.destination} not whitelisted"


def _index(rules: tuple[Rule, ...]) -> dict[tuple[str, str, str], tuple[int, ...]]:
    """(scope, scope name, asset or "" for any) -> rule indices, ascending."""
    index: dict[tuple[str, str, str], list[int]] = {}
    for rule in rules:
        if rule.wallets:
            scopes = [("wallet", name) for name in rule.wallets]
        elif rule.pools:
            scopes = [("pool", name) for name in rule.pools]
        else:
            scopes = [("firm", "")]
        assets = rule.when.asset_set
        for scope, name in scopes:
            for asset in sorted(assets) if assets is not None else [_any_asset]:
                index.setdefault((scope, name, asset), []).append(rule.index)
    return {key: tuple(found) for key, found in index.items()}


def decide(policy: CompiledPolicy | None, request: MovementRequest, facts: Facts) -> Decision:
    """The decision on ``request`` (see the module docstring)."""
    if policy is None:
        nothing = ("no policy is in force: every movement is blocked",)
        return Decision(Action.block, 0, (), "", nothing, 0, reason=Result.no_policy_in_force)
    trace: list[str] = []
    refused = _segregation_refusal(policy, request, facts, trace)
    if refused is not None:
        return Decision(Action.block, 0, (), "", tuple(trace), policy.version, reason=refused)
    senior = _senior_approvals(policy, request, facts, trace)
    if senior is None:
        return Decision(
            Action.block, 0, (), "", tuple(trace), policy.version,
            reason=Result.senior_approval_group_missing,
        )  # fmt: skip
    return _first_match(policy, request, facts, trace, senior)


def shown(policy: CompiledPolicy, units: int, code: str) -> str:
    """An amount as a trace writes it (a negative residual interest with its sign)."""
    return policy.shown(units, code) if units >= 0 else "-" + policy.shown(-units, code)


def _segregation_refusal(
    policy: CompiledPolicy, request: MovementRequest, facts: Facts, trace: list[str]
) -> Result | None:
    amount = shown(policy, request.amount, request.asset)
    if request.kind is MovementKind.client_withdrawal:
        available = shown(policy, facts.available, request.asset)
        if request.amount > facts.available:
            trace.append(
                f"segregation: {amount} exceeds {request.client}'s available balance "
                f"{available} in pool {request.pool}"
            )
            return Result.exceeds_available_balance
        trace.append(f"segregation: {amount} within {request.client}'s available {available}")
    elif request.kind is MovementKind.residual_sweep:
        residual = shown(policy, facts.residual_interest, request.asset)
        if request.amount > facts.residual_interest:
            trace.append(
                f"segregation: {amount} exceeds pool {request.pool}'s residual interest {residual}"
            )
            return Result.exceeds_residual_interest
        trace.append(f"segregation: {amount} within residual interest {residual}")
    else:
        trace.append(f"segregation: a rebalance inside pool {request.pool}")
    return None


def _senior_approvals(
    policy: CompiledPolicy, request: MovementRequest, facts: Facts, trace: list[str]
) -> tuple[int, str] | None:
    """(approvals, group) R2 adds to a sweep, (0, "") when it adds none; None when it needs
    them and the policy names no senior group."""
    if request.kind is not MovementKind.residual_sweep:
        return 0, ""
    control = policy.document.residual
    share_ppm = control.daily_share_ppm if control is not None else ppm_whole // 4
    threshold = mul_div_floor(max(facts.residual_prior_day, 0), share_ppm, ppm_whole)
    total = facts.swept_today + request.amount
    day, limit = shown(policy, total, request.asset), shown(policy, threshold, request.asset)
    if total <= threshold:
        trace.append(
            f"R2: the day's sweeps {day} within {limit} ({share_ppm} ppm of the prior day's)"
        )
        return 0, ""
    if control is None:
        trace.append(f"R2: the day's sweeps {day} over {limit}; the policy names no seniors")
        return None
    prior = shown(policy, facts.residual_prior_day, request.asset)
    trace.append(
        f"R2: the day's sweeps {day} over {limit} ({share_ppm} ppm of the prior day's {prior}): "
        f"{control.senior_approvals} of {control.senior_group} and a notice"
    )
    return control.senior_approvals, control.senior_group


def _first_match(
    policy: CompiledPolicy,
    request: MovementRequest,
    facts: Facts,
    trace: list[str],
    senior: tuple[int, str],
) -> Decision:
    destination, line = policy.destination_of(request)
    trace.append(line)
    candidates = policy.candidates(request.pool, request.wallet, request.asset)
    set_aside = len(policy.document.rules) - len(candidates)
    if set_aside:
        trace.append(
            f"{set_aside} rules set aside: scoped to other pools or wallets, or other assets"
        )
    rules, checks = policy.document.rules, policy._checks
    for index in candidates:
        rule = rules[index]
        for check in checks[index]:
            why = check(request, facts, destination)
            if why is not None:
                trace.append(f"rule {rule.id}: {why}")
                break
        else:
            return _matched(policy, rule, trace, senior)
    trace.append("no rule matched: blocked by default")
    return Decision(
        Action.block, 0, (), "", tuple(trace), policy.version, reason=Result.no_rule_matched
    )


def _matched(
    policy: CompiledPolicy, rule: Rule, trace: list[str], senior: tuple[int, str]
) -> Decision:
    senior_count, senior_group = senior
    if rule.action is Action.block:
        trace.append(f"rule {rule.id} matched ({rule.scope_text}): block")
        return Decision(
            Action.block, 0, (), rule.id, tuple(trace), policy.version,
            reason=Result.blocked_by_rule,
        )  # fmt: skip
    if rule.action is Action.require:
        groups = ", ".join(rule.groups)
        trace.append(f"rule {rule.id} matched ({rule.scope_text}): {rule.approvals} of {groups}")
    else:
        trace.append(f"rule {rule.id} matched ({rule.scope_text}): allow")
    action = Action.require if rule.approvals or senior_count else Action.allow
    return Decision(
        action, rule.approvals, rule.groups, rule.id, tuple(trace), policy.version,
        senior_count, senior_group, notice=bool(senior_count),
    )  # fmt: skip
