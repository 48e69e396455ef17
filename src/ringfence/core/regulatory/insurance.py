"""Insurance cover: which holdings the firm's policies cover at current prices, per asset and
tier, and an alert when hot-wallet holdings exceed their cover.

Every wallet's holding is valued in the schedule's quote currency, rounded up (an exposure is
never understated). Policies in force at the as-of time respond in the schedule's order, each
to what earlier ones left uncovered of the holdings it covers (its tiers and named wallets),
taken hot first, then warm, then cold, then by wallet and asset: its deductible is borne first
(left uncovered), then its limit covers. So, for each holding, ``covered + uncovered = value``,
and each policy covers at most its limit. The cover is what the policies would pay if every
covered holding were lost at once: a policy's limit is an aggregate, shared by its holdings.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field

from ringfence.core.money import Asset
from ringfence.core.recon.history import Price
from ringfence.core.regulatory.collateral import prices_for, value_ceil
from ringfence.core.regulatory.files import InsuranceSchedule, Policy
from ringfence.core.regulatory.holdings import WalletHolding, tier_order

alert_hot_uncovered = "hot_holdings_exceed_cover"


@dataclass(slots=True)
class CoveredHolding:
    holding: WalletHolding
    value: int
    covered: int = 0
    by_policy: dict[str, int] = field(default_factory=dict)

    @property
    def uncovered(self) -> int:
        return self.value - self.covered


@dataclass(frozen=True, slots=True)
class PolicyUse:
    policy: Policy
    active: bool
    deductible_borne: int
    covered: int

    @property
    def limit_remaining(self) -> int:
        return self.policy.limit - self.covered if self.active else 0


@dataclass(frozen=True, slots=True)
class CoverLine:
    """One asset and tier: quantity held, its value, the part covered and the part not."""

    asset: str
    tier: str
    quantity: int
    value: int
    covered: int

    @property
    def uncovered(self) -> int:
        return self.value - self.covered


def _order(covered: CoveredHolding) -> tuple[int, str, str]:
    holding = covered.holding
    return tier_order[holding.tier], holding.wallet, holding.asset


def apply_policy(policy: Policy, holdings: Iterable[CoveredHolding]) -> PolicyUse:
    """Bear the deductible, then cover up to the limit, across the holdings in order."""
    deductible_left, limit_left = policy.deductible, policy.limit
    for entry in holdings:
        holding = entry.holding
        if not policy.covers(holding.wallet, holding.tier):
            continue
        open_value = entry.uncovered
        borne = min(deductible_left, open_value)
        deductible_left -= borne
        paid = min(limit_left, open_value - borne)
        limit_left -= paid
        if paid:
            entry.covered += paid
            entry.by_policy[policy.id] = paid
        assert entry.covered <= entry.value
    return PolicyUse(policy, True, policy.deductible - deductible_left, policy.limit - limit_left)


def insurance_cover(
    holdings: Iterable[WalletHolding],
    schedule: InsuranceSchedule,
    assets: Mapping[str, Asset],
    prices: Mapping[str, Price],
    at_ns: int,
) -> tuple[list[CoveredHolding], list[PolicyUse]]:
    """Every holding with its cover, and what each policy bore and covered."""
    held = list(holdings)
    priced = prices_for(held, prices, schedule.quote)
    covered = [
        CoveredHolding(h, value_ceil(h.amount, assets[h.asset], priced[h.asset], schedule.quote))
        for h in held
    ]
    covered.sort(key=_order)
    uses = []
    for policy in schedule.policies:
        if not policy.active(at_ns):
            uses.append(PolicyUse(policy, False, 0, 0))
            continue
        use = apply_policy(policy, covered)
        assert use.covered <= policy.limit
        uses.append(use)
    return covered, uses


def cover_lines(covered: Iterable[CoveredHolding]) -> list[CoverLine]:
    """Per asset and tier (hot first)."""
    sums: dict[tuple[str, str], list[int]] = {}
    for entry in covered:
        key = (entry.holding.asset, entry.holding.tier)
        total = sums.setdefault(key, [0, 0, 0])
        total[0] += entry.holding.amount
        total[1] += entry.value
        total[2] += entry.covered
    ordered = sorted(sums, key=lambda key: (key[0], tier_order[key[1]]))
    return [CoverLine(asset, tier, *sums[(asset, tier)]) for asset, tier in ordered]


def hot_uncovered(lines: Iterable[CoverLine]) -> int:
    """The value of hot-wallet holdings no policy covers (the alert fires when positive)."""
    return sum(line.uncovered for line in lines if line.tier == "hot")
