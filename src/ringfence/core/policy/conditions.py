"""A rule's conditions: parsed strictly, then compiled once into checks.

``when`` holds any of these; a rule matches only when every one holds:

    initiators        ["ann", ...]           the principal who asked
    initiator_roles   ["operator", ...]      that principal's role
    assets            ["BTC", ...]
    kinds             ["client_withdrawal", "residual_sweep", "rebalance"]
    tiers             ["hot", "warm", "cold"] the source wallet's tier
    amount_over       {"BTC": "1"}           amount > this (an asset not listed: no match)
    amount_up_to      {"BTC": "1"}           amount <= this (an asset not listed: no match)
    velocity          {"window_s": 86400, "per": "client", "over": {"BTC": "5"}}
                      earlier movements of the asset and kind in the window, plus this one,
                      sum to more than this (per client, initiator, pool or the firm)
    destination       "whitelisted" | "not_whitelisted" | "internal"

Each condition compiles to a function of (request, facts, destination) that returns None when
it holds or the sentence saying why it does not: a decision's trace is made of them. Checks
are ordered cheapest first, so a rule that fails on its asset never formats an amount.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, Final

from ringfence.core import limits
from ringfence.core.errors import InputError, Result
from ringfence.core.ledger.model import custody_tiers
from ringfence.core.money import Asset, format_amount
from ringfence.core.policy.fields import (
    amounts,
    checked_object,
    name_check,
    names,
    required,
    whole,
)
from ringfence.core.policy.movement import (
    Destination,
    Facts,
    MovementKind,
    MovementRequest,
    Per,
    WindowKey,
)
from ringfence.core.principals.records import PrincipalRole

Check = Callable[[MovementRequest, Facts, Destination], str | None]
Shown = Callable[[int, str], str]  # an amount of an asset, as a trace writes it

_fields: Final = frozenset(
    {
        "initiators",
        "initiator_roles",
        "assets",
        "kinds",
        "tiers",
        "amount_over",
        "amount_up_to",
        "velocity",
        "destination",
    }
)


@dataclass(frozen=True, slots=True)
class Velocity:
    window_s: int
    per: Per
    over: Mapping[str, int]

    @property
    def key(self) -> WindowKey:
        return (self.window_s, self.per)


@dataclass(frozen=True, slots=True)
class Conditions:
    initiators: frozenset[str] | None = None
    initiator_roles: frozenset[PrincipalRole] | None = None
    assets: frozenset[str] | None = None
    kinds: frozenset[MovementKind] | None = None
    tiers: frozenset[str] | None = None
    amount_over: Mapping[str, int] | None = None
    amount_up_to: Mapping[str, int] | None = None
    velocity: Velocity | None = None
    destination: Destination | None = None

    @property
    def asset_set(self) -> frozenset[str] | None:
        """The assets the rule can match at all (None: any); an amount or velocity limit
        names its assets, so a rule with one only ever matches those."""
        found = self.assets
        velocity = None if self.velocity is None else self.velocity.over
        for listed in (self.amount_over, self.amount_up_to, velocity):
            if listed is not None:
                keys = frozenset(listed)
                found = keys if found is None else found & keys
        return found


def parse_conditions(value: object, path: str, assets: Mapping[str, Asset]) -> Conditions:
    if not isinstance(value, dict):
        raise InputError(Result.policy_condition_invalid, f"{path}: an object")
    unknown = sorted(set(value) - _fields)
    if unknown:
        raise InputError(Result.policy_condition_unknown, f"{path}: {unknown[0]!r}")
    code = Result.policy_condition_invalid

    def listed(name: str, check: Callable[[Any], Any]) -> frozenset[Any] | None:
        if name not in value:
            return None
        return frozenset(names(value[name], f"{path}.{name}", code, check))

    def limit(name: str) -> dict[str, int] | None:
        return amounts(value[name], f"{path}.{name}", assets, code) if name in value else None

    return Conditions(
        initiators=listed("initiators", name_check("principal")),
        initiator_roles=listed("initiator_roles", _role),
        assets=listed("assets", lambda item: _member(item, assets, Result.asset_not_found)),
        kinds=listed("kinds", _kind),
        tiers=listed("tiers", lambda item: _member(item, custody_tiers,
                                                   Result.wallet_tier_invalid)),
        amount_over=limit("amount_over"),
        amount_up_to=limit("amount_up_to"),
        velocity=_velocity(value["velocity"], f"{path}.velocity", assets) if (
            "velocity" in value
        ) else None,
        destination=_destination(value["destination"], path) if "destination" in value else None,
    )  # fmt: skip


def _member(item: object, known: Any, missing: Result) -> str:
    if not isinstance(item, str) or item not in known:
        raise InputError(missing, repr(item))
    return item


def _kind(item: object) -> MovementKind:
    return MovementKind(_member(item, MovementKind.__members__, Result.movement_kind_unknown))


def _role(item: object) -> PrincipalRole:
    if not isinstance(item, str) or item not in PrincipalRole.__members__:
        raise InputError(Result.principal_role_unknown, repr(item))
    return PrincipalRole[item]


def _velocity(value: object, path: str, assets: Mapping[str, Asset]) -> Velocity:
    code = Result.policy_condition_invalid
    fields = checked_object(value, path, frozenset({"window_s", "per", "over"}), code)
    window_s = whole(
        required(fields, "window_s", code), f"{path}.window_s", 1, limits.policy_window_s_max, code
    )
    per = required(fields, "per", code)
    if per not in Per.__members__:
        raise InputError(code, f"{path}.per: one of {', '.join(Per)}, not {per!r}")
    over = amounts(required(fields, "over", code), f"{path}.over", assets, code)
    return Velocity(window_s, Per(per), over)


def _destination(value: object, path: str) -> Destination:
    if not isinstance(value, str) or value not in Destination.__members__:
        raise InputError(
            Result.policy_condition_invalid,
            f"{path}.destination: one of {', '.join(Destination)}, not {value!r}",
        )
    return Destination(value)


# ---------------------------------------------------------------------- compiled checks


def amounts_shown(assets: Mapping[str, Asset]) -> Shown:
    """How a policy's trace writes amounts: in the asset's major unit, with its code. One
    per compiled policy, remembering what it wrote: a decision that reads a thousand rules
    writes the request's amount a thousand times."""

    @functools.lru_cache(maxsize=4_096)
    def shown(units: int, code: str) -> str:
        asset = assets.get(code)
        if asset is None or not 0 <= units <= limits.amount_units_max:
            return f"{units} units"
        return f"{format_amount(units, asset)} {code}"

    return shown


def compile_checks(when: Conditions, shown: Shown) -> tuple[Check, ...]:
    """The conditions as checks, cheapest first: set membership, then amounts."""
    checks: list[Check] = []
    if when.kinds is not None:
        checks.append(_in("kind", "kind", when.kinds))
    if when.assets is not None:
        checks.append(_in("asset", "asset", when.assets))
    if when.initiators is not None:
        checks.append(_in("initiator", "initiator", when.initiators))
    if when.initiator_roles is not None:
        roles, listed = when.initiator_roles, _listed(when.initiator_roles)
        checks.append(
            lambda r, f, d: None if r.initiator_role in roles
            else f"initiator role {r.initiator_role.name} not in {listed}"
        )  # fmt: skip
    if when.tiers is not None:
        checks.append(_in("tier", "source tier", when.tiers))
    if when.destination is not None:
        wanted = when.destination
        checks.append(lambda r, f, d: None if d is wanted else f"destination is {d}, not {wanted}")
    if when.amount_over is not None:
        checks.append(_amount_over(when.amount_over, shown))
    if when.amount_up_to is not None:
        checks.append(_amount_up_to(when.amount_up_to, shown))
    if when.velocity is not None:
        checks.append(_velocity_check(when.velocity, shown))
    return tuple(checks)


def _listed(values: frozenset[Any]) -> str:
    return "[" + ", ".join(sorted(getattr(v, "name", str(v)) for v in values)) + "]"


def _in(attribute: str, what: str, allowed: frozenset[Any]) -> Check:
    listed = _listed(allowed)

    def check(request: MovementRequest, facts: Facts, destination: Destination) -> str | None:
        value = getattr(request, attribute)
        return None if value in allowed else f"{what} {value} not in {listed}"

    return check


def _amount_over(limits_by_asset: Mapping[str, int], shown: Shown) -> Check:
    def check(request: MovementRequest, facts: Facts, destination: Destination) -> str | None:
        limit = limits_by_asset.get(request.asset)
        if limit is None:
            return f"no amount_over for {request.asset}"
        if request.amount > limit:
            return None
        return (
            f"amount {shown(request.amount, request.asset)} not over {shown(limit, request.asset)}"
        )

    return check


def _amount_up_to(limits_by_asset: Mapping[str, int], shown: Shown) -> Check:
    def check(request: MovementRequest, facts: Facts, destination: Destination) -> str | None:
        limit = limits_by_asset.get(request.asset)
        if limit is None:
            return f"no amount_up_to for {request.asset}"
        if request.amount <= limit:
            return None
        return f"amount {shown(request.amount, request.asset)} over {shown(limit, request.asset)}"

    return check


def _velocity_check(velocity: Velocity, shown: Shown) -> Check:
    key = velocity.key

    def check(request: MovementRequest, facts: Facts, destination: Destination) -> str | None:
        limit = velocity.over.get(request.asset)
        if limit is None:
            return f"no velocity limit for {request.asset}"
        total = facts.windows.get(key, 0) + request.amount
        if total > limit:
            return None
        return (
            f"{velocity.window_s}s window per {velocity.per}: {shown(total, request.asset)} "
            f"with this one, not over {shown(limit, request.asset)}"
        )

    return check


def window_keys(when: Conditions) -> frozenset[WindowKey]:
    return frozenset() if when.velocity is None else frozenset({when.velocity.key})
