"""core/liquidation/plan.py: worked examples of partial and full liquidation, a gap through
the bankruptcy price paid by the insurance fund, and auto-deleveraging in ranking order."""

from __future__ import annotations

from dataclasses import replace
from fractions import Fraction

import numpy as np
import pytest

from ringfence.core.errors import InputError
from ringfence.core.liquidation.detection import buckets_from_scan, candidates
from ringfence.core.liquidation.plan import conservation_gap, plan_liquidations
from ringfence.core.liquidation.records import (
    BucketState,
    CloseOrder,
    LiquidationCode,
    LiquidationPolicy,
    transfer_id,
)
from ringfence.core.liquidation.valuation import bankruptcy_lot_value, fillable_price
from ringfence.core.risk.config import Tier
from ringfence.core.risk.instruments import Instrument, InstrumentKind, OptionType, Position
from ringfence.core.risk.margin import (
    bankruptcy_price_linear,
    calculate_margin_maint,
    liquidation_price_linear,
)
from ringfence.core.risk.rounding import floor_exact
from ringfence.core.risk.scan import Health, ScanResult

usdt = 10**6
flat_half_percent = (Tier(0, 5_000, 20_000),)  # m = 0.5%, 50x
tiers = {"linear": flat_half_percent}
# 0.001 BTC per lot, prices with one decimal (units of 0.1 USDT), settled in USDT (6 places).
btc = Instrument("btcusdt", InstrumentKind.perpetual, "btc", "USDT", 6, 1, 1, 1, 3)
eth = Instrument("ethusdt", InstrumentKind.perpetual, "eth", "USDT", 6, 1, 1, 1, 2)
instruments = {"btcusdt": btc, "ethusdt": eth}
entry_units = 200_000  # 20,000.0
gentle = LiquidationPolicy(slippage_ppm=1_000, fee_ppm=1_000)


def bucket(name: str, lots: int, entry: int, collateral: int, mark: int, *,
           symbol: str = "btcusdt") -> BucketState:
    """A single-position bucket with the scan's equity and maintenance computed exactly."""
    instrument = instruments[symbol]
    position = Position(name, symbol, lots, lots * instrument.lot_value(entry))
    equity = collateral + lots * instrument.lot_value(mark) - position.basis
    maintenance = calculate_margin_maint(instrument.notional(lots, mark), flat_half_percent,
                                         instrument.settlement_scale)
    return BucketState(name, "USDT", collateral, floor_exact(equity), maintenance, (position,))


def isolated_long(mark: int, collateral: int = 400 * usdt) -> BucketState:
    """1 BTC long at 20,000 with 400 USDT: 50x."""
    return bucket("long", 1_000, entry_units, collateral, mark)


def liquidation_mark() -> tuple[int, int]:
    """The margin engine's liquidation price (19,698.49...) as the last tick above it and
    the first tick below it."""
    price = liquidation_price_linear(True, quantity=Fraction(1), entry=Fraction(20_000),
                                     margin=Fraction(400), schedule=flat_half_percent)
    assert Fraction(196_984, 10) < price < Fraction(196_985, 10)
    below = floor_exact(price * 10)
    return below + 1, below


def test_isolated_long_is_liquidated_exactly_below_its_liquidation_price() -> None:
    above, below = liquidation_mark()
    safe = plan_liquidations(1, [isolated_long(above)], instruments, {"btcusdt": above},
                             insurance={"btcusdt": 0}, tiers=tiers, policy=gentle)
    assert safe.liquidated == ()
    assert safe.transfers == ()
    plan = plan_liquidations(1, [isolated_long(below)], instruments, {"btcusdt": below},
                             insurance={"btcusdt": 0}, tiers=tiers, policy=gentle)
    assert plan.liquidated == ("long",)
    # Fillable price: 0.1% under the mark, on the tick: 19,698.4 x 0.999 = 19,678.70.
    fill = fillable_price(btc, below, True, 1_000)
    assert fill == 196_787
    # Partial first: half the position; the rest stays above maintenance at the mark.
    assert plan.partial == ("long",)
    assert plan.orders == (CloseOrder("long", "btcusdt", -500, fill, False),)
    loss, fee = plan.transfers
    assert (loss.debit, loss.credit, loss.amount) == (
        "collateral:long", "clearing:btcusdt", 321_300_000)  # 20,000 - 19,678.7 per BTC
    assert loss.code is LiquidationCode.liquidation_settlement
    assert (fee.debit, fee.credit, fee.amount) == (
        "collateral:long", "insurance:btcusdt", 9_839_350)  # 0.1% of 0.5 BTC x 19,678.7
    assert fee.code is LiquidationCode.liquidation_fee
    (after,) = plan.positions
    assert after.quantity_lots == 500
    assert after.basis == 500 * btc.lot_value(fill)
    cash = 400 * usdt - loss.amount - fee.amount
    equity_after = cash + 500 * (btc.lot_value(below) - btc.lot_value(fill))
    assert equity_after >= calculate_margin_maint(btc.notional(500, below), flat_half_percent, 6)
    assert plan.insurance_after == {"btcusdt": fee.amount}


def test_full_liquidation_when_half_is_not_enough_sends_surplus_to_insurance() -> None:
    _, below = liquidation_mark()
    plan = plan_liquidations(1, [isolated_long(below)], instruments, {"btcusdt": below},
                             insurance={"btcusdt": 0}, tiers=tiers,
                             policy=LiquidationPolicy(slippage_ppm=1_000, fee_ppm=5_000))
    assert plan.partial == ()
    assert plan.orders == (CloseOrder("long", "btcusdt", -1_000, 196_787, True),)
    loss, fee = plan.transfers
    assert loss.amount == 321_300_000
    # 0.5% of 19,678.7 is 98.39 USDT, more than the 78.70 left: the fee takes the surplus.
    assert fee.amount == 78_700_000
    assert plan.positions == (Position("long", "btcusdt", 0, Fraction(0)),)
    assert plan.insurance_after == {"btcusdt": 78_700_000}


def short(name: str, lots: int, entry: int, collateral: int, mark: int) -> BucketState:
    return bucket(name, -lots, entry, collateral, mark)


def test_gap_through_bankruptcy_price_is_paid_by_the_market_insurance_fund() -> None:
    mark = 180_000  # a gap from above 19,698 straight to 18,000
    book = [isolated_long(mark), short("short", 1_000, entry_units, 400 * usdt, mark)]
    plan = plan_liquidations(2, book, instruments, {"btcusdt": mark},
                             insurance={"btcusdt": 5_000 * usdt, "ethusdt": 7 * usdt},
                             tiers=tiers, policy=gentle)
    (position,) = book[0].positions
    # Per lot, the bankruptcy value is the margin engine's bankruptcy price, 19,600.
    assert bankruptcy_price_linear(True, Fraction(1), Fraction(20_000), Fraction(400)) == 19_600
    assert bankruptcy_lot_value(position, 400 * usdt) == btc.lot_value(196_000)
    assert plan.orders == (CloseOrder("long", "btcusdt", -1_000, 179_820, True),)
    payout, collateral = plan.transfers
    # Closing at 17,982 loses 2,018 USDT against 400 held: the fund pays 1,618.
    assert (payout.debit, payout.credit, payout.amount) == (
        "insurance:btcusdt", "clearing:btcusdt", 1_618 * usdt)
    assert payout.code is LiquidationCode.insurance_payout
    assert (collateral.debit, collateral.credit, collateral.amount) == (
        "collateral:long", "clearing:btcusdt", 400 * usdt)
    assert plan.insurance_after == {"btcusdt": 3_382 * usdt, "ethusdt": 7 * usdt}
    assert plan.deleveraging == ()
    assert plan.unresolved == {}
    assert conservation_gap(plan, "btcusdt") == 0


def test_global_fund_pays_only_when_policy_allows() -> None:
    mark = 180_000
    book = [isolated_long(mark), short("short", 1_000, entry_units, 400 * usdt, mark)]
    for allowed in (False, True):
        plan = plan_liquidations(
            2, book, instruments, {"btcusdt": mark}, insurance={"btcusdt": 0}, tiers=tiers,
            policy=LiquidationPolicy(slippage_ppm=1_000, fee_ppm=1_000,
                                     global_fund_allowed=allowed),
            global_funds={"USDT": 10_000 * usdt},
        )
        global_paid = [t for t in plan.transfers
                       if t.code is LiquidationCode.global_insurance_payout]
        assert bool(global_paid) is allowed
        assert bool(plan.deleveraging) is not allowed
        if allowed:
            assert global_paid[0].amount == 1_618 * usdt
            assert global_paid[0].debit == "insurance-global:usdt"
            assert plan.global_after == {"USDT": 8_382 * usdt}


def test_empty_insurance_fund_deleverages_profitable_shorts_in_ranking_order() -> None:
    mark = 180_000
    book = [
        isolated_long(mark),
        short("b-calm", 400, entry_units, 1_000 * usdt, mark),  # 4x, +10%: rank 0.40
        short("a-lever", 400, entry_units, 100 * usdt, mark),  # 8x, +10%: rank 0.80
        short("c-late", 200, 190_000, 200 * usdt, mark),  # 9x, +5.3%: rank 0.47
        bucket("other", -5, 30_000, 10 * usdt, 25_000, symbol="ethusdt"),  # other market: untouched
        bucket("d-long", 100, 170_000, 50 * usdt, mark),  # profitable, but the same side
    ]
    plan = plan_liquidations(3, book, instruments, {"btcusdt": mark, "ethusdt": 25_000},
                             insurance={"btcusdt": 0, "ethusdt": 50 * usdt}, tiers=tiers,
                             policy=gentle)
    assert [d.bucket for d in plan.deleveraging] == ["a-lever", "c-late", "b-calm"]
    assert [d.quantity_lots for d in plan.deleveraging] == [400, 200, 400]
    ranks = [d.rank for d in plan.deleveraging]
    assert ranks == sorted(ranks, reverse=True)
    assert ranks[0] == Fraction(8, 10)
    bankruptcy_value = btc.lot_value(196_000)
    assert {d.lot_value for d in plan.deleveraging} == {bankruptcy_value}
    assert all(d.against == "long" for d in plan.deleveraging)
    # Every lot went to a counterparty: no market order, no fund money, nothing unresolved.
    assert plan.orders == ()
    assert [(t.debit, t.amount) for t in plan.transfers] == [("collateral:long", 400 * usdt)]
    assert plan.insurance_after == {"btcusdt": 0, "ethusdt": 50 * usdt}
    after = {p.bucket: p for p in plan.positions}
    # a-lever sold 0.4 BTC at 20,000 and is bought back at 19,600: 160 USDT realised.
    assert after["a-lever"] == Position("a-lever", "btcusdt", 0, Fraction(-160 * usdt))
    assert "other" not in after
    assert "d-long" not in after
    assert all(not t.debit.endswith("other") and not t.credit.endswith("ethusdt")
               for t in plan.transfers)
    assert conservation_gap(plan, "btcusdt") == 0


def test_deleveraging_stops_at_what_a_counterparty_can_bear() -> None:
    mark = 180_000
    roomy = plan_liquidations(4, [isolated_long(mark), short("roomy", 1_000, entry_units,
                                                             10 * usdt, mark)],
                              instruments, {"btcusdt": mark}, insurance={"btcusdt": 0},
                              tiers=tiers, policy=gentle)
    (deleveraged,) = roomy.deleveraging
    assert deleveraged.quantity_lots == 1_000  # equity 2,010 USDT bears 1.6 USDT a lot
    # Sold at 18,500 with 1 USDT: equity 501 USDT bears 313 lots at 1.6 USDT each.
    thin = plan_liquidations(4, [isolated_long(mark), short("thin", 1_000, 185_000,
                                                            1 * usdt, mark)],
                             instruments, {"btcusdt": mark}, insurance={"btcusdt": 0},
                             tiers=tiers, policy=gentle)
    (deleveraged,) = thin.deleveraging
    assert deleveraged.quantity_lots == 313
    # The other 687 lots close in the market at 17,982, 1.618 USDT a lot short of
    # bankruptcy, and nobody may pay that: the market is reported, never socialised.
    assert thin.orders == (CloseOrder("long", "btcusdt", -687, 179_820, True),)
    assert thin.unresolved == {"btcusdt": 687 * 1_618_000}
    assert conservation_gap(thin, "btcusdt") == -687 * 1_618_000


def test_a_bucket_without_open_positions_is_never_touched() -> None:
    mark = 180_000
    flat = BucketState("flat", "USDT", 5 * usdt, -1, 0,
                       (Position("flat", "btcusdt", 0, Fraction(10 * usdt)),))
    empty = BucketState("empty", "USDT", 0, -1, 0, ())
    plan = plan_liquidations(5, [flat, empty], instruments, {"btcusdt": mark},
                             insurance={"btcusdt": 0}, tiers=tiers)
    assert plan.liquidated == ()
    assert plan.transfers == ()
    assert plan.positions == ()


def test_transfer_ids_are_deterministic_per_round_so_a_replay_is_detected() -> None:
    mark = 180_000
    book = [isolated_long(mark), short("short", 1_000, entry_units, 400 * usdt, mark)]
    first = plan_liquidations(7, book, instruments, {"btcusdt": mark},
                              insurance={"btcusdt": 5_000 * usdt}, tiers=tiers)
    again = plan_liquidations(7, list(reversed(book)), instruments, {"btcusdt": mark},
                              insurance={"btcusdt": 5_000 * usdt}, tiers=tiers)
    later = plan_liquidations(8, book, instruments, {"btcusdt": mark},
                              insurance={"btcusdt": 5_000 * usdt}, tiers=tiers)
    ids = [t.id for t in first.transfers]
    assert ids == [t.id for t in again.transfers]
    assert len(set(ids)) == len(ids)
    assert not set(ids) & {t.id for t in later.transfers}
    assert transfer_id(7, "x") != transfer_id(7, "y")
    assert first == again


def test_policy_rejects_rates_outside_a_fraction() -> None:
    with pytest.raises(InputError):
        LiquidationPolicy(partial_fraction_ppm=0)
    with pytest.raises(InputError):
        LiquidationPolicy(slippage_ppm=1_000_000)


def test_candidates_are_the_buckets_the_scan_found_below_maintenance() -> None:
    mark = 180_000
    long, short_side = isolated_long(mark), short("short", 1_000, entry_units, 400 * usdt, mark)
    scan = ScanResult(
        equity=np.array([long.equity, short_side.equity]),
        initial=np.array([0, 0]),
        maintenance=np.array([long.maintenance, short_side.maintenance]),
        health=np.array([Health.liquidatable, Health.healthy], dtype=np.int8),
        worst_scenario=np.array([-1, -1]),
        delta=np.zeros(2), gamma=np.zeros(2), vega=np.zeros(2), theta_per_year=np.zeros(2),
        risk_multiplier=np.ones(2),
    )
    assert candidates(scan).tolist() == [0]
    book = buckets_from_scan(scan, ["long", "short"], ["USDT", "USDT"],
                             [400 * usdt, 400 * usdt],
                             {"long": long.positions, "short": short_side.positions})
    assert book == [long, short_side]
    plan = plan_liquidations(9, book, instruments, {"btcusdt": mark},
                             insurance={"btcusdt": 0}, tiers=tiers, policy=gentle)
    assert plan.liquidated == ("long",)
    assert [d.bucket for d in plan.deleveraging] == ["short"]


def call_option() -> Instrument:
    """A call on 0.001 BTC struck at 20,000, its premium in units of 0.1 USDT."""
    return Instrument("btc-c", InstrumentKind.option, "btc", "USDT", 6, 1, 1, 1, 3,
                      expiry_ns=1, strike_units=200_000, option_type=OptionType.call)


def short_call_bucket() -> BucketState:
    """0.1 BTC of calls sold at a premium of 500.0 on 105 USDT; the premium is now 1,500.0:
    equity 5 USDT against the scan's 10 USDT of maintenance."""
    option = call_option()
    held = Position("opt", "btc-c", -100, -100 * option.lot_value(5_000))
    equity = 105 * usdt - 100 * option.lot_value(15_000) - held.basis
    assert equity == 5 * usdt
    return BucketState("opt", "USDT", 105 * usdt, 5 * usdt, 10 * usdt, (held,))


def test_an_option_without_a_premium_mark_is_deferred_not_priced_at_the_forward() -> None:
    # The market data gives an option its underlying's forward (65,000.0 here): never a
    # premium to close at. Without a premium mark the bucket is deferred.
    plan = plan_liquidations(10, [short_call_bucket()], {**instruments, "btc-c": call_option()},
                             {"btcusdt": 180_000, "btc-c": 650_000}, insurance={}, tiers=tiers)
    assert plan.deferred == ("opt",)
    assert plan.liquidated == ()
    assert plan.transfers == ()


def test_a_closed_option_position_without_a_premium_mark_defers_its_bucket() -> None:
    # A cross bucket below maintenance on its perpetual still carries a closed call's
    # realised P&L: its close settles in the option's market, which has no premium mark.
    option = call_option()
    _, below = liquidation_mark()
    long = isolated_long(below)
    closed = Position("long", "btc-c", 0, Fraction(-3 * usdt))
    state = BucketState("long", "USDT", long.collateral, long.equity - 3 * usdt,
                        long.maintenance, (*long.positions, closed), cross=True)
    book_instruments = {**instruments, "btc-c": option}
    plan = plan_liquidations(10, [state], book_instruments, {"btcusdt": below, "btc-c": 650_000},
                             insurance={}, tiers=tiers, policy=gentle)
    assert plan.deferred == ("long",)
    assert plan.orders == ()
    priced = plan_liquidations(10, [state], book_instruments, {"btcusdt": below}, insurance={},
                               tiers=tiers, policy=gentle, option_marks={"btc-c": 15_000})
    assert priced.liquidated == ("long",)
    assert priced.deferred == ()


def test_a_bucket_holding_an_option_closes_in_full_at_the_premium_mark() -> None:
    option = call_option()
    plan = plan_liquidations(10, [short_call_bucket()], {**instruments, "btc-c": option},
                             {"btcusdt": 180_000, "btc-c": 650_000}, insurance={},
                             tiers=tiers, policy=gentle, option_marks={"btc-c": 15_000})
    assert plan.deferred == ()
    assert plan.liquidated == ("opt",)
    assert plan.partial == ()  # an option's requirement is not tiered: never in part
    # Bought back 0.1% above the 1,500.0 mark: 1,501.5.
    assert plan.orders == (CloseOrder("opt", "btc-c", 100, 15_015, True),)
    loss, fee = plan.transfers
    assert (loss.debit, loss.credit, loss.amount) == (
        "collateral:opt", "clearing:btc-c", 100_150_000)  # 150.15 paid less 50 received
    assert (fee.debit, fee.credit, fee.amount) == (
        "collateral:opt", "insurance:btc-c", 150_150)  # 0.1% of 150.15 USDT
    assert plan.positions == (Position("opt", "btc-c", 0, Fraction(0)),)
    assert conservation_gap(plan, "btc-c") == 0


def test_an_option_bucket_past_bankruptcy_is_covered_by_its_market_fund() -> None:
    # The premium gaps to 2,000.0: buying back at 2,002.0 costs 200.2 USDT against 50
    # received and 105 held; the option market's fund pays the 45.2 USDT left.
    option = call_option()
    state = short_call_bucket()
    plan = plan_liquidations(10, [state], {**instruments, "btc-c": option},
                             {"btcusdt": 180_000}, insurance={"btc-c": 1_000 * usdt},
                             tiers=tiers, policy=gentle, option_marks={"btc-c": 20_000})
    assert plan.orders == (CloseOrder("opt", "btc-c", 100, 20_020, True),)
    payout = next(t for t in plan.transfers if t.code is LiquidationCode.insurance_payout)
    assert (payout.debit, payout.amount) == ("insurance:btc-c", 45_200_000)
    assert plan.insurance_after == {"btc-c": 1_000 * usdt - 45_200_000}
    assert plan.unresolved == {}
    assert conservation_gap(plan, "btc-c") == 0


def test_a_cross_bucket_closes_the_position_that_frees_most_margin_first() -> None:
    # 1 BTC long at 20,000 and 1 ETH long at 1,500 on 300 USDT. BTC falls to 19,800, ETH is
    # unchanged: equity 100 USDT against 99 + 7.5 USDT maintenance. BTC (99 USDT of
    # maintenance, the larger) is reduced first: half of it sold at 19,780.2 settles the
    # position (219.8 paid) with a 9.8901 fee on the half, leaving 80.2099 USDT of equity
    # against 49.5 + 7.5: the bucket stops there and ETH is untouched.
    mark = {"btcusdt": 198_000, "ethusdt": 15_000}
    btc_position = Position("x", "btcusdt", 1_000, 1_000 * btc.lot_value(entry_units))
    eth_position = Position("x", "ethusdt", 100, 100 * eth.lot_value(15_000))
    held = (btc_position, eth_position)
    state = BucketState("x", "USDT", 300 * usdt, 0, 0, held, cross=True)
    maintenance = sum(calculate_margin_maint(instruments[p.symbol].notional(
        p.quantity_lots, mark[p.symbol]), flat_half_percent, 6) for p in held)
    assert maintenance == 106_500_000
    equity = floor_exact(state.collateral + sum(
        p.quantity_lots * instruments[p.symbol].lot_value(mark[p.symbol]) - p.basis
        for p in held))
    book = [BucketState("x", "USDT", 300 * usdt, equity, maintenance, held, cross=True)]
    plan = plan_liquidations(12, book, instruments, mark, insurance={}, tiers=tiers,
                             policy=gentle)
    assert plan.partial == ("x",)
    assert plan.orders == (CloseOrder("x", "btcusdt", -500, 197_802, False),)
    assert [(t.code, t.amount) for t in plan.transfers] == [
        (LiquidationCode.liquidation_settlement, 219_800_000),
        (LiquidationCode.liquidation_fee, 9_890_100),
    ]
    # Selling a tenth of BTC is not enough (96.04 USDT against 89.1 + 7.5): BTC closes whole,
    # a 19.7802 fee, 60.42 USDT left against ETH's 7.5.
    tenth = LiquidationPolicy(partial_fraction_ppm=100_000, slippage_ppm=1_000, fee_ppm=1_000)
    plan = plan_liquidations(12, book, instruments, mark, insurance={}, tiers=tiers,
                             policy=tenth)
    assert plan.partial == ("x",)
    assert plan.orders == (CloseOrder("x", "btcusdt", -1_000, 197_802, True),)
    assert [t.amount for t in plan.transfers] == [219_800_000, 19_780_200]
    # Neither cross nor a portfolio bucket given the scan's requirement: closed in full.
    portfolio = plan_liquidations(12, [replace(book[0], cross=False)], instruments, mark,
                                  insurance={}, tiers=tiers, policy=gentle)
    assert portfolio.partial == ()
    assert {o.symbol for o in portfolio.orders} == {"btcusdt", "ethusdt"}
