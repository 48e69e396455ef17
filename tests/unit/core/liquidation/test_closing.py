"""core/liquidation/closing.py: a portfolio bucket is liquidated in part, one position at a
time, each time the one whose close frees the most of the scan's requirement, reduced by the
partial fraction first; a hedge is kept while the risk it offsets is cut."""

from __future__ import annotations

from collections.abc import Sequence
from fractions import Fraction

from ringfence.core.liquidation.plan import plan_liquidations
from ringfence.core.liquidation.records import (
    BucketState,
    CloseOrder,
    LiquidationPlan,
    LiquidationPolicy,
)
from ringfence.core.liquidation.valuation import exact_equity
from ringfence.core.risk.config import Tier
from ringfence.core.risk.instruments import Instrument, InstrumentKind, Position
from ringfence.core.risk.rounding import ceil_exact, floor_exact

usdt = 10**6
tiers = {"linear": (Tier(0, 5_000, 20_000),)}
gentle = LiquidationPolicy(slippage_ppm=1_000, fee_ppm=1_000)
instruments = {
    symbol: Instrument(symbol, kind, "btc", "USDT", 6, 1, 1, 1, 3, expiry_ns=expiry)
    for symbol, kind, expiry in (("btc-jun", InstrumentKind.future, 2),
                                 ("btc-mar", InstrumentKind.future, 1),
                                 ("btcusdt", InstrumentKind.perpetual, 0))
}
marks = dict.fromkeys(instruments, 180_000)  # 18,000.0


def requirement(_bucket: str, positions: Sequence[Position]) -> int:
    """A stand-in for the scan: 5% of the net notional plus 0.5% of the gross, so that
    opposite positions offset (a hedge)."""
    values = [p.quantity_lots * instruments[p.symbol].lot_value(marks[p.symbol])
              for p in positions]
    net, gross = abs(sum(values, Fraction(0))), sum((abs(v) for v in values), Fraction(0))
    return ceil_exact(net / 20 + gross / 200)


def portfolio_bucket(collateral: int) -> BucketState:
    """Long 1 BTC of the perpetual, short 0.5 BTC of March, long 1.5 BTC of June, all at
    20,000: 4,000 USDT lost at 18,000; the requirement is 2,070 USDT."""
    held = tuple(Position("p", symbol, lots, lots * instruments[symbol].lot_value(200_000))
                 for symbol, lots in (("btc-jun", 1_500), ("btc-mar", -500), ("btcusdt", 1_000)))
    state = BucketState("p", "USDT", collateral, 0, 0, held, portfolio=True)
    equity = floor_exact(exact_equity(state, instruments, marks))
    return BucketState("p", "USDT", collateral, equity, requirement("p", held), held,
                       portfolio=True)


def both_paths(bucket: BucketState) -> LiquidationPlan:
    plans = [plan_liquidations(1, [bucket], instruments, marks, insurance={}, tiers=tiers,
                               policy=gentle, portfolio_maintenance=requirement,
                               vectorised=vectorised) for vectorised in (True, False)]
    assert plans[0] == plans[1]
    return plans[0]


def test_a_portfolio_bucket_reduces_what_frees_most_margin_and_keeps_its_hedge() -> None:
    bucket = portfolio_bucket(5_500 * usdt)
    assert (bucket.equity, bucket.maintenance) == (1_500 * usdt, 2_070 * usdt)
    # Closing June frees 1,485 USDT (the requirement falls to 585), the perpetual 990, March
    # (the hedge) none: it would raise the requirement to 2,475. Half of June (750 lots) is
    # tried first: June settles at 17,982.0 (3,027 USDT paid), a 13.4865 fee on the half sold,
    # and the 750 lots kept re-based there: 1,473.0135 of equity against 1,327.50 owed.
    plan = both_paths(bucket)
    assert plan.partial == ("p",)
    assert plan.orders == (CloseOrder("p", "btc-jun", -750, 179_820, False),)
    assert [t.amount for t in plan.transfers] == [3_027 * usdt, 13_486_500]
    june = instruments["btc-jun"]
    assert plan.positions == (Position("p", "btc-jun", 750, 750 * june.lot_value(179_820)),)


def test_a_portfolio_bucket_closes_the_whole_position_when_part_is_not_enough() -> None:
    # 5,000 USDT: with half of June the bucket would hold 973.0135 against 1,327.50; with all
    # of it, 946.027 against the 585 the perpetual and March owe together.
    plan = both_paths(portfolio_bucket(5_000 * usdt))
    assert plan.partial == ("p",)
    assert plan.orders == (CloseOrder("p", "btc-jun", -1_500, 179_820, True),)
    assert [t.amount for t in plan.transfers] == [3_027 * usdt, 26_973_000]
    assert plan.positions == (Position("p", "btc-jun", 0, Fraction(0)),)


def test_a_portfolio_bucket_closes_in_full_when_the_rest_stays_short() -> None:
    # 4,300 USDT: after June the bucket would hold 246.027 USDT of equity against 585, and
    # closing the perpetual next (it frees 90, March alone owing 495) costs 2,018 USDT of
    # the 1,246.027 left: the collateral would go below zero, so everything closes.
    bucket = portfolio_bucket(4_300 * usdt)
    plan = plan_liquidations(1, [bucket], instruments, marks, insurance={}, tiers=tiers,
                             policy=gentle, portfolio_maintenance=requirement)
    assert plan.partial == ()
    assert {o.symbol for o in plan.orders} == set(instruments)


def test_without_the_scans_requirement_a_portfolio_bucket_closes_in_full() -> None:
    plan = plan_liquidations(1, [portfolio_bucket(5_500 * usdt)], instruments, marks,
                             insurance={}, tiers=tiers, policy=gentle)
    assert plan.partial == ()
    assert all(o.full for o in plan.orders)
    assert len(plan.orders) == 3
