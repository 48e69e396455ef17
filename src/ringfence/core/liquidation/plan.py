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
   An option's price is its premium mark (``valuation.option_marks``: the scan's value now
   on the tick), not the underlying's forward the market data gives it.
3. Partial first: a single-position bucket that stays solvent at the fillable price closes
   enough lots to drop below its tier's floor, or ``partial_fraction_ppm`` of the position,
   whichever is more; if that leaves it at or above maintenance it stops there. A cross
   bucket reduces its positions one at a time, the largest maintenance first, by the partial
   fraction and then wholly, until the rest is covered; a portfolio bucket the same way,
   each time the position whose close frees the most of the scan's requirement
   (``portfolio_maintenance``). Any other bucket holding an option closes in full (an
   option's requirement is not tiered).
4. Otherwise full: every position closes. A liquidation fee of ``fee_ppm`` of the closed
   notional, capped by the equity left, goes to that market's insurance fund (the market's
   liquidation surplus).
5. Bankruptcy: if equity at the fillable prices is negative, the bucket pays all its
   collateral and the shortfall is split over the markets where it lost (largest first).
   Bankruptcies are planned after every solvent liquidation of the round, in bucket name
   order. Per market the shortfall is covered, in order, by the market's insurance fund
   (including all of this round's fees there) and the global fund of the settlement asset
   when policy allows, both paying exact amounts; then by auto-deleveraging: profitable
   opposite positions in the SAME market, ranked by profit % x effective leverage, take the
   whole lots the funds cannot cover at the per-lot bankruptcy value, each at most as many
   lots as its own equity can bear. A loss nobody can absorb is reported as ``unresolved``
   (socialised loss is not offered): the shell must halt that market.

Nothing here crosses a market: every transfer connects one market's accounts with the
liquidated bucket, and auto-deleveraging moves positions only inside one market.
"""

from __future__ import annotations

import operator
from collections.abc import Mapping, Sequence
from fractions import Fraction

from ringfence.core import limits
from ringfence.core.liquidation.closing import (
    bankrupt_at_fills,
    closes_at_fills,
    liquidate_fully,
    try_partial,
)
from ringfence.core.liquidation.records import (
    BucketState,
    LiquidationPlan,
    LiquidationPolicy,
    PortfolioMaintenance,
    clearing_account,
)
from ringfence.core.liquidation.rounds import PlanningRound
from ringfence.core.liquidation.vectorised import plan_vectorised
from ringfence.core.risk.config import Tier
from ringfence.core.risk.instruments import Instrument, InstrumentKind

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
    option_marks: Mapping[str, int] | None = None,
    portfolio_maintenance: PortfolioMaintenance | None = None,
    vectorised: bool = True,
) -> LiquidationPlan:
    """The liquidation plan for one scan round. ``buckets`` is the whole book (liquidatable
    buckets and possible auto-deleveraging counterparties alike); ``insurance`` maps each
    market to its fund's balance, ``global_funds`` each settlement asset to the global fund's.
    The order is one rule on both paths: first every solvent liquidation (partial or full)
    in bucket name order, whose fees reach their market's fund; then every bankruptcy in
    bucket name order, drawing on the funds as those fees and the earlier bankruptcies left
    them. So the plan does not depend on the input's order nor on the path.

    ``marks`` are the market data's prices; an option's there is its underlying's forward,
    so options are priced by ``option_marks`` (premiums, ``valuation.option_marks``) alone.
    A bucket holding an option closes in full at the premiums' fillable prices (unless it is
    a portfolio bucket liquidated in part); a candidate holding an option without a premium
    mark is ``deferred``, not planned. ``portfolio_maintenance`` gives a portfolio bucket's
    requirement for any subset of its positions; without it portfolio buckets close in full.

    With ``vectorised`` the solvent single-position buckets of linear markets are decided
    together in int64 arrays (exact: every value is an integer in units of ``1/D``, ``D`` the
    market's lot-value denominator) before the rest is planned one by one; the plan is equal
    to the one-by-one path's, record for record (property-tested)."""
    assert all(balance >= 0 for balance in insurance.values())
    book = sorted(buckets, key=_name_of)
    assert len({b.name for b in book}) == len(book), "bucket names are unique"
    liquidatable, counterparties = _open_buckets(book)
    assert len(liquidatable) <= limits.liquidations_per_plan_max
    prices = _prices(instruments, marks, option_marks or {})
    state = PlanningRound(
        round_id, instruments, prices, policy, tiers, dict(insurance), dict(global_funds or {}),
        counterparties, portfolio_maintenance,
    )
    state.find_holders()
    options = any(i.kind is InstrumentKind.option for i in instruments.values())
    deferred = [b.name for b in liquidatable if options and _unpriced(b, instruments, prices)]
    planned = [b for b in liquidatable if b.name not in deferred]
    rest = plan_vectorised(state, planned) if vectorised else planned
    closes = {b.name: closes_at_fills(state, b) for b in rest}
    bankrupt = [b for b in rest if bankrupt_at_fills(b, closes[b.name])]
    insolvent = {b.name for b in bankrupt}
    for bucket in rest:
        if bucket.name not in insolvent and not try_partial(state, bucket):
            liquidate_fully(state, bucket, closes[bucket.name])
    _solvent_in_name_order(state)
    for bucket in bankrupt:
        liquidate_fully(state, bucket, closes[bucket.name])
    assert all(balance >= 0 for balance in state.insurance.values()), "funds never negative"
    assert all(balance >= 0 for balance in state.global_funds.values())
    positions = {(p.bucket, p.symbol): p for p in state.positions}
    positions.update((key, state.lots_left[key])
                     for key in {(d.bucket, d.symbol) for d in state.deleveraging})
    return LiquidationPlan(
        round_id, tuple(state.orders), tuple(state.transfers), tuple(state.deleveraging),
        tuple(positions[key] for key in sorted(positions)), tuple(state.settled),
        state.insurance, state.global_funds, state.unresolved,
        tuple(b.name for b in planned), tuple(sorted(state.partial)), tuple(deferred),
    )


def _open_buckets(
    book: Sequence[BucketState],
) -> tuple[list[BucketState], dict[str, BucketState]]:
    """The buckets holding an open position, in one pass over the book (a crash's book is
    tens of thousands of buckets, most of them holding one position): those below
    maintenance, to liquidate, and the others by name, the possible counterparties."""
    liquidatable: list[BucketState] = []
    counterparties: dict[str, BucketState] = {}
    for bucket in book:
        positions = bucket.positions
        if len(positions) == 1:
            if not positions[0].quantity_lots:
                continue
        elif not bucket.open:
            continue
        if bucket.equity < bucket.maintenance:
            liquidatable.append(bucket)
        else:
            counterparties[bucket.name] = bucket
    return liquidatable, counterparties


def _prices(
    instruments: Mapping[str, Instrument], marks: Mapping[str, int],
    option_marks: Mapping[str, int],
) -> dict[str, int]:
    """The marks of futures and perpetuals, and the premium marks of options (never the
    forward the market data gives an option)."""
    prices = {symbol: price for symbol, price in marks.items()
              if symbol not in instruments or instruments[symbol].kind is not InstrumentKind.option}
    prices.update(option_marks)
    return prices


def _unpriced(
    bucket: BucketState, instruments: Mapping[str, Instrument], prices: Mapping[str, int]
) -> bool:
    """Whether the bucket holds an option position, open or closed (a closed one carries
    realised P&L its close settles), in a market with no premium mark to close at."""
    return any(instruments[p.symbol].kind is InstrumentKind.option and p.symbol not in prices
               for p in bucket.positions)


def _solvent_in_name_order(state: PlanningRound) -> None:
    """Put the solvent closes written so far in bucket name order. The vectorised path writes
    them market by market; sorted (stably, so each bucket's own records keep their order) the
    plan is the one-by-one path's, record for record. Only solvent closes exist at this point:
    no bankruptcy has been planned yet."""
    assert not state.deleveraging and not state.unresolved
    for records in (state.orders, state.settled, state.transfers, state.positions):
        records.sort(key=_bucket_of)


_bucket_of = operator.attrgetter("bucket")
_name_of = operator.attrgetter("name")


def conservation_gap(plan: LiquidationPlan, symbol: str) -> Fraction:
    """Cash the market's clearing account received in the plan plus the exact value its
    settled positions realised: never negative unless the market is unresolved (rounding
    is in clearing's favour), and below one unit per transfer."""
    clearing = clearing_account(symbol)
    cash = sum(t.amount for t in plan.transfers if t.credit == clearing) - sum(
        t.amount for t in plan.transfers if t.debit == clearing)
    realised = sum((s.exact for s in plan.settled if s.symbol == symbol), Fraction(0))
    return cash + realised
