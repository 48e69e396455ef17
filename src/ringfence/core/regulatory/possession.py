"""Possession and control (R4), per custody pool and asset, and per asset.

What clients are owed (the *entitlement*: Σ over clients of max(net equity, 0), fully paid and
excess margin alike, as the segregation statement's requirement) is matched against where the
pool's assets are, best location first::

    controlled   unencumbered holdings of wallets whose keys the firm holds, cold, warm, hot
    approved     unencumbered holdings at approved sub-custodians
    unapproved   unencumbered holdings at sub-custodians not approved at the as-of time
    encumbered   holdings pledged or locked
    deficit      what nothing covers

Each takes what it holds, up to what the entitlement still needs, so that

    controlled + approved + unapproved + encumbered + deficit = entitlement

and what the pool holds beyond the entitlement is the firm's own (``excess``). Only the first
two are in the firm's possession or control (SEC 15c3-3(b)(1); NYDFS: sub-custody needs
approval, assets stay unencumbered). The rest, ``shortfall = unapproved + encumbered + deficit``,
is a possession break: until it is resolved the firm must put its own assets in, CASS 6.6.54R
style, so each break names its cure, a ``house_top_up`` of the shortfall into a controlled
wallet of the pool. A break is derived afresh by each report: it is cured when a report finds
no shortfall.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field

from ringfence.core.ledger.model import Pool, Terms
from ringfence.core.recon.segregation_statement import PoolAsset, Requirement
from ringfence.core.regulatory.holdings import WalletHolding, tier_order

cure_code = "house_top_up"


@dataclass(slots=True)
class Locations:
    """A pool's holdings of one asset by location, before they are matched to entitlement."""

    controlled: dict[str, int] = field(default_factory=dict)  # by tier
    approved: int = 0
    unapproved: int = 0
    encumbered: int = 0

    @property
    def total(self) -> int:
        return sum(self.controlled.values()) + self.approved + self.unapproved + self.encumbered


@dataclass(frozen=True, slots=True)
class PossessionLine:
    """One custody pool and asset; every figure is what covers the entitlement, except
    ``held`` (everything the pool's wallets hold) and ``excess`` (held beyond the entitlement)."""

    pool: str
    asset: str
    entitlement: int
    controlled: dict[str, int]  # by tier, cold first
    approved: int
    unapproved: int
    encumbered: int
    deficit: int
    held: int
    excess: int

    @property
    def controlled_total(self) -> int:
        return sum(self.controlled.values())

    @property
    def in_possession_or_control(self) -> int:
        return self.controlled_total + self.approved

    @property
    def shortfall(self) -> int:
        return self.unapproved + self.encumbered + self.deficit


@dataclass(frozen=True, slots=True)
class PossessionBreak:
    """A shortfall and its cure: the firm's own top-up of ``amount`` into ``pool``."""

    pool: str
    asset: str
    amount: int
    unapproved: int
    encumbered: int
    deficit: int
    cure: str = cure_code


def locations(holdings: Iterable[WalletHolding]) -> dict[PoolAsset, Locations]:
    """Each pool's holdings by location (house wallets, pool "", are left out)."""
    found: dict[PoolAsset, Locations] = {}
    for holding in holdings:
        if not holding.pool:
            continue
        entry = found.setdefault((holding.pool, holding.asset), Locations())
        entry.encumbered += holding.encumbered
        if not holding.sub_custodian:
            tiers = entry.controlled
            tiers[holding.tier] = tiers.get(holding.tier, 0) + holding.free
        elif holding.approved:
            entry.approved += holding.free
        else:
            entry.unapproved += holding.free
    return found


def match(pool: str, asset: str, entitlement: int, held: Locations) -> PossessionLine:
    """Cover ``entitlement`` from the best locations first (module docstring)."""
    assert entitlement >= 0
    need = entitlement
    controlled: dict[str, int] = {}
    for tier in sorted(held.controlled, key=lambda t: -tier_order[t]):
        taken = min(held.controlled[tier], need)
        controlled[tier] = taken
        need -= taken
    taken_in_order = []
    for amount in (held.approved, held.unapproved, held.encumbered):
        taken = min(amount, need)
        taken_in_order.append(taken)
        need -= taken
    approved, unapproved, encumbered = taken_in_order
    line = PossessionLine(
        pool,
        asset,
        entitlement,
        controlled,
        approved,
        unapproved,
        encumbered,
        need,
        held.total,
        held.total - (entitlement - need),
    )
    covered = line.controlled_total + approved + unapproved + encumbered
    assert covered + line.deficit == entitlement
    assert line.excess >= 0
    return line


def possession_and_control(
    pools: Mapping[str, Pool],
    required: Mapping[PoolAsset, Requirement],
    held: Mapping[PoolAsset, Locations],
) -> list[PossessionLine]:
    """One line per custody pool and asset with an entitlement or holdings; title-transfer
    pools owe no assets in kind and get none."""
    lines = []
    for pool_name, asset in sorted({*required, *held}):
        pool = pools.get(pool_name)
        if pool is None or pool.terms is not Terms.custody:
            continue
        need = required.get((pool_name, asset))
        entitlement = need.requirement if need else 0
        if entitlement == 0 and (pool_name, asset) not in held:
            continue  # nothing owed, nothing held: an account opened and never used
        lines.append(
            match(pool_name, asset, entitlement, held.get((pool_name, asset), Locations()))
        )
    return lines


def possession_breaks(lines: Iterable[PossessionLine]) -> list[PossessionBreak]:
    return [
        PossessionBreak(
            line.pool, line.asset, line.shortfall, line.unapproved, line.encumbered, line.deficit
        )
        for line in lines
        if line.shortfall
    ]


def per_asset(lines: Iterable[PossessionLine]) -> list[PossessionLine]:
    """The lines summed per asset across custody pools (pool "*"); sums of matched figures,
    so the identity holds for each total as for each line."""
    totals: dict[str, PossessionLine] = {}
    for line in lines:
        before = totals.get(line.asset)
        if before is None:
            totals[line.asset] = PossessionLine(
                "*",
                line.asset,
                line.entitlement,
                dict(line.controlled),
                line.approved,
                line.unapproved,
                line.encumbered,
                line.deficit,
                line.held,
                line.excess,
            )
            continue
        tiers = dict(before.controlled)
        for tier, amount in line.controlled.items():
            tiers[tier] = tiers.get(tier, 0) + amount
        totals[line.asset] = PossessionLine(
            "*",
            line.asset,
            before.entitlement + line.entitlement,
            tiers,
            before.approved + line.approved,
            before.unapproved + line.unapproved,
            before.encumbered + line.encumbered,
            before.deficit + line.deficit,
            before.held + line.held,
            before.excess + line.excess,
        )
    return [totals[asset] for asset in sorted(totals)]
