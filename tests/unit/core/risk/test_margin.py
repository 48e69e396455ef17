"""core/risk/margin.py: tiered margin and isolated prices reproduce published worked examples."""

from __future__ import annotations

from fractions import Fraction

import numpy as np
import pytest

from ringfence.core.risk.config import (
    LiquidationConvention,
    Tier,
    tiers_inverse_default,
    tiers_linear_default,
)
from ringfence.core.risk.margin import (
    bankruptcy_price_inverse,
    bankruptcy_price_linear,
    calculate_margin_init,
    calculate_margin_maint,
    cumulative_deductions,
    liquidation_price_inverse,
    liquidation_price_linear,
    liquidation_prices_vectorised,
    margin_tiered,
    tier_arrays,
)

usdt = 10**6
flat_half_percent = (Tier(0, 5_000, 20_000),)  # m = 0.5%, 50x


def test_tiered_maintenance_300k_usdt_is_1700() -> None:
    # Binance USD-M brackets: 300,000 USDT sits in bracket 3 (1%), cum = 1,300 USDT:
    # 300,000 x 1% - 1,300 = 1,700, the same as charging each slice at its own rate.
    deductions_ppm = cumulative_deductions(tiers_linear_default, 0)[:4]
    assert deductions_ppm == [0, 50 * 10**6, 1_300 * 10**6, 16_300 * 10**6]
    assert calculate_margin_maint(300_000 * usdt, tiers_linear_default, 6) == 1_700 * usdt
    # Charging each slice at its own rate gives the same figure at any notional.
    for notional in (49_999, 50_000, 123_456, 250_000, 999_999, 1_500_000):
        slices = sum(
            max(min(notional, upper) - tier.notional_floor, 0) * tier.maintenance_ppm
            for tier, upper in zip(tiers_linear_default,
                                   [t.notional_floor for t in tiers_linear_default[1:]]
                                   + [10**12], strict=True)
        )
        owed = calculate_margin_maint(notional * usdt, tiers_linear_default, 6)
        assert owed == -(-slices * usdt // 10**6)


def test_initial_margin_charges_the_bracket_rate_on_the_whole_notional() -> None:
    assert calculate_margin_init(300_000 * usdt, tiers_linear_default, 6) == 6_000 * usdt
    assert calculate_margin_init(10_000 * usdt, tiers_linear_default, 6) == 80 * usdt


def test_maintenance_rounds_up_against_the_client() -> None:
    assert calculate_margin_maint(1, tiers_linear_default, 6) == 1  # 0.004 of a unit owes 1


def test_vectorised_tiers_match_the_exact_ones() -> None:
    notional = np.array([0, 49_999, 50_000, 300_000, 12_345_678]) * float(usdt)  # float-ok
    initial, maintenance = margin_tiered(notional, *tier_arrays(tiers_linear_default, 6))
    for value, mm, im in zip(notional, maintenance, initial, strict=True):
        assert mm == pytest.approx(calculate_margin_maint(int(value), tiers_linear_default, 6))
        assert im == pytest.approx(calculate_margin_init(int(value), tiers_linear_default, 6))


def test_linear_liquidation_bybit_example_in_both_conventions() -> None:
    # Bybit: 1 BTC long at 20,000, 50x (IM 400), m = 0.5%: 19,700 with MM at entry.
    args = {"quantity": Fraction(1), "entry": Fraction(20_000), "margin": Fraction(400)}
    at_entry = liquidation_price_linear(
        True, **args, schedule=flat_half_percent, convention=LiquidationConvention.at_entry
    )
    assert at_entry == 19_700
    # Binance / Hyperliquid (our convention): MM at the liquidation price, 19,698.49.
    ours = liquidation_price_linear(True, **args, schedule=flat_half_percent)
    assert round(float(ours), 2) == 19_698.49
    assert ours == Fraction(19_600) / Fraction(995, 1000)
    # At that price equity equals maintenance margin exactly.
    assert 400 + (ours - 20_000) == ours * Fraction(5, 1000)


def test_linear_short_liquidation_is_symmetric() -> None:
    short = liquidation_price_linear(
        False, quantity=Fraction(1), entry=Fraction(20_000), margin=Fraction(400),
        schedule=flat_half_percent,
    )
    assert 400 - (short - 20_000) == short * Fraction(5, 1000)
    assert short > 20_000


def test_inverse_liquidation_worked_case() -> None:
    # 60,000 USD long at 50,000, 10x (M = 0.12 BTC), m = 0.5%: 45,681.8 (MM at liquidation,
    # Bybit UTA's current form with no extra margin), 45,662.1 with Bybit's older MM-at-entry.
    args = {"face": Fraction(60_000), "entry": Fraction(50_000), "margin": Fraction(12, 100)}
    ours = liquidation_price_inverse(True, **args, schedule=flat_half_percent)
    assert ours is not None
    assert round(float(ours), 1) == 45_681.8
    older = liquidation_price_inverse(
        True, **args, schedule=flat_half_percent, convention=LiquidationConvention.at_entry
    )
    assert older is not None
    assert round(float(older), 1) == 45_662.1
    # Bybit UTA: LP_long = Q(1+m) / (Q/E + Q/(E L) + extra/(1+fee) + deduction), extra = 0.
    bybit = Fraction(60_000) * Fraction(1_005, 1_000) / (
        Fraction(60_000, 50_000) + Fraction(60_000, 50_000 * 10)
    )
    assert ours == bybit


def test_liquidation_moves_to_the_bracket_it_lands_in() -> None:
    schedule = (Tier(0, 5_000, 10_000), Tier(100_000, 50_000, 100_000))
    # 10 BTC at 12,000 (120,000 USDT: bracket 2, 5%) with 60,000 margin: solved in bracket
    # 2 the price lands at 5,842 (58,421 notional, bracket 1), so it is solved again there.
    price = liquidation_price_linear(
        True, quantity=Fraction(10), entry=Fraction(12_000), margin=Fraction(60_000),
        schedule=schedule,
    )
    notional = 10 * price
    assert notional < 100_000
    assert price == Fraction(60_000) / Fraction(995, 100)
    assert 60_000 + 10 * (price - 12_000) == notional * Fraction(5, 1_000)


@pytest.mark.parametrize("leverage", [2, 10, 50, 125])
def test_bankruptcy_prices(leverage: int) -> None:
    entry = Fraction(20_000)
    linear_margin = entry / leverage  # one unit
    assert bankruptcy_price_linear(True, Fraction(1), entry, linear_margin) == entry * (
        1 - Fraction(1, leverage)
    )
    assert bankruptcy_price_linear(False, Fraction(1), entry, linear_margin) == entry * (
        1 + Fraction(1, leverage)
    )
    face = Fraction(60_000)
    coin_margin = face / (entry * leverage)
    assert bankruptcy_price_inverse(True, face, entry, coin_margin) == entry * leverage / (
        leverage + 1
    )
    if leverage > 1:
        assert bankruptcy_price_inverse(False, face, entry, coin_margin) == entry * leverage / (
            leverage - 1
        )


def test_vectorised_liquidation_prices_match_the_exact_forms() -> None:
    floors, rates, deductions, _ = tier_arrays(flat_half_percent, 0)
    prices = liquidation_prices_vectorised(
        np.array([True, False, True]),
        np.array([False, False, True]),
        quantity=np.array([1, 1, 60_000.0]),  # float-ok: test sizes
        entry=np.array([20_000.0, 20_000, 50_000]),  # float-ok: test prices
        margin=np.array([400, 400, 0.12]),  # float-ok: test margins
        floors=floors, rates=rates, deductions=deductions,
    )
    assert prices[0] == pytest.approx(19_698.492462, rel=1e-9)
    assert prices[2] == pytest.approx(45_681.818181, rel=1e-9)
    short = liquidation_price_linear(
        False, quantity=Fraction(1), entry=Fraction(20_000), margin=Fraction(400),
        schedule=flat_half_percent,
    )
    assert prices[1] == pytest.approx(float(short), rel=1e-12)


def test_vectorised_prices_solve_in_the_bracket_the_price_lands_in() -> None:
    # The scalar form's D5 case: a short of 1,500 BTC of face at 50,000 with 1,200 BTC of
    # margin has no price in its entry bracket, but liquidates at 220,340.45 in a lower one.
    floors, rates, deductions, _ = tier_arrays(tiers_inverse_default, 0)
    (price,) = liquidation_prices_vectorised(
        np.array([False]), np.array([True]),
        quantity=np.array([75_000_000.0]),  # float-ok: test face
        entry=np.array([50_000.0]),  # float-ok: test price
        margin=np.array([1_200.0]),  # float-ok: test margin
        floors=floors, rates=rates, deductions=deductions,
    )
    exact = liquidation_price_inverse(False, face=Fraction(75_000_000), entry=Fraction(50_000),
                                      margin=Fraction(1_200), schedule=tiers_inverse_default)
    assert exact is not None
    assert price == pytest.approx(float(exact), rel=1e-12)
