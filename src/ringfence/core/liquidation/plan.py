"""Liquidation plans: which buckets to close, at what price, and who absorbs the loss.

Pure: a plan is a value computed from a scan's verdicts, the book and the funds' balances;
the shell posts it. Design and worked examples: docs/liquidation.md; formulas: research
margin.md §2.7 and §3.

Economics, in exact rationals of the settlement asset's minor unit. A position of q lots with
basis B is worth ``q x lot_value(P) - B`` at price P, and a bucket's equity is its collateral
plus that sum over its positions. A liquidation *settles* each closed position at the price
it closes at (the payment is rounded against the client, as in ``settlement``) and re-bases
what remains at that price, so the bucket's equity measured at the mark changes only by the
slippage, the fee and rounding.

1. Detection: every bucket whose equity is below maintenance (the scan's verdict) and that
   holds an open position. A bucket with no open position is never touched.
2. Fillable price: the mark moved against the position by ``slippage_ppm``, on the tick.
3. Partial first: a single-position bucket that stays solvent at the fillable price closes
   enough lots to drop below its tier's floor, or ``partial_fraction_ppm`` of the position,
   whichever is more; if that leaves it at or above maintenance it stops there.
4. Otherwise full: every position closes. A liquidation fee of ``fee_ppm`` of the closed
   notional, capped by the equity left, goes to that market's insurance fund (the market's
   liquidation surplus).
5. Bankruptcy: if equity at the fillable prices is negative, the bucket pays all its
   collateral and the shortfall is split over the markets where it lost (largest first).
   Per market the lots of the bankrupt position are covered, in order, by the market's
   insurance fund (including this round's fees there), the global fund of the settlement
   asset when policy allows, and auto-deleveraging: profitable opposite positions in the SAME
   market, ranked by profit % x effective leverage, take the remaining lots at the per-lot
   bankruptcy value, each at most as many lots as its own equity can bear. Lots nobody can
   absorb are reported as ``unresolved`` (socialised loss is not offered): the shell must halt
   that market.

Nothing here crosses a market: every transfer connects one market's accounts with the
liquidated bucket, and auto-deleveraging moves positions only inside one market.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from fractions import Fraction

from ringfence.core import limits
from ringfence.core.liquidation.closing import liquidate_fully, try_partial
from ringfence.core.liquidation.records import (
    BucketState,
    LiquidationPlan,
    LiquidationPolicy,
    clearing_account,
)
from ringfence.core.liquidation.rounds import PlanningRound, has_option
from ringfence.core.liquidation.vectorised import plan_vectorised
from ringfence.core.risk.config import Tier
from ringfence.core.risk.instruments import Instrument

default_policy = LiquidationPolicy()


def plan_liquidations(
    round_id: int,
    buckets: Sequence[BucketState],
    instruments: Mapping[str, Instrument],
    marks: Mapping[str, int],
    *,
    insurance: Mapping[str, int],
    tiers: Mapping[str, tuple[Tier, ...]],
    policy: LiquidationPolicy = default_policy,
    global_funds: Mapping[str, int] | None = None,
    vectorised: bool = True,
) -> LiquidationPlan:
    """The liquidation plan for one scan round. ``buckets`` is the whole book (liquidatable
    buckets and possible auto-deleveraging counterparties alike); ``insurance`` maps each
    market to its fund's balance, ``global_funds`` each settlement asset to the global fund's.
    Buckets are planned in name order, so the plan does not depend on input order.

    With ``vectorised`` the solvent single-position buckets of linear markets are decided
    together in int64 arrays (exact: every value is an integer in units of ``1/D``, ``D`` the
    market's lot-value denominator) before the rest is planned one by one; the decisions are
    the same as the one-by-one path's (tested), but their fees reach the market's fund before
    any bankruptcy of the round draws on it."""
    assert all(balance >= 0 for balance in insurance.values())
    book = sorted(buckets, key=lambda b: b.name)
    assert len({b.name for b in book}) == len(book), "bucket names are unique"
    liquidatable = [b for b in book if b.equity < b.maintenance and b.open]
    assert len(liquidatable) <= limits.liquidations_per_plan_max
    names = {b.name for b in liquidatable}
    state = PlanningRound(
        round_id, instruments, marks, policy, tiers, dict(insurance), dict(global_funds or {}),
        {b.name: b for b in book if b.name not in names and b.open},
    )
    for bucket in state.counterparties.values():
        for position in bucket.positions:
            if position.quantity_lots:
                state.holders.setdefault(position.symbol, []).append(bucket.name)
    deferred = [b.name for b in liquidatable if has_option(b, instruments)]
    planned = [b for b in liquidatable if b.name not in deferred]
    rest = plan_vectorised(state, planned) if vectorised else planned
    for bucket in rest:
        if not try_partial(state, bucket):
            liquidate_fully(state, bucket)
    assert all(balance >= 0 for balance in state.insurance.values()), "funds never negative"
    assert all(balance >= 0 for balance in state.global_funds.values())
    positions = {(p.bucket, p.symbol): p for p in state.positions}
    positions.update((key, state.lots_left[key])
                     for key in {(d.bucket, d.symbol) for d in state.deleveraging})
    return LiquidationPlan(
        round_id, tuple(state.orders), tuple(state.transfers), tuple(state.deleveraging),
        tuple(positions[key] for key in sorted(positions)), tuple(state.settled),
        state.insurance, state.global_funds, state.unresolved,
        tuple(b.name for b in planned), tuple(state.partial), tuple(deferred),
    )


def conservation_gap(plan: LiquidationPlan, symbol: str) -> Fraction:
    """Cash the market's clearing account received in the plan plus the exact value its
    settled positions realised: never negative unless the market is unresolved (rounding
    is in clearing's favour), and below one unit per transfer."""
    clearing = clearing_account(symbol)
    cash = sum(t.amount for t in plan.transfers if t.credit == clearing) - sum(
        t.amount for t in plan.transfers if t.debit == clearing)
    realised = sum((s.exact for s in plan.settled if s.symbol == symbol), Fraction(0))
    return cash + realised
