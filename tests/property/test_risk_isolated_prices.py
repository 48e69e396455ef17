"""Isolated inverse liquidation prices against a brute-force search over prices: equity
equals maintenance margin (evaluated at the price itself) exactly at the returned price, the
position is healthy on the safe side of it and liquidatable beyond it, and "never" is
returned only when no price liquidates the position; and the vectorised float form gives the
scalar exact prices, linear and inverse, in whichever bracket the price lands."""

from __future__ import annotations

import math
from fractions import Fraction

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from ringfence.core.risk.config import Tier, ppm, tiers_inverse_default, tiers_linear_default
from ringfence.core.risk.margin import (
    cumulative_deductions,
    liquidation_price_inverse,
    liquidation_price_linear,
    liquidation_prices_vectorised,
    tier_arrays,
    tier_index,
)


def maintenance(coins: Fraction, schedule: tuple[Tier, ...]) -> Fraction:
    k = tier_index(schedule, coins, 0)
    return (coins * schedule[k].maintenance_ppm - cumulative_deductions(schedule, 0)[k]) / ppm


def surplus(long: bool, face: Fraction, entry: Fraction, margin: Fraction, *, price: Fraction,
            schedule: tuple[Tier, ...]) -> Fraction:
    """Equity above maintenance margin at ``price`` (coin): liquidatable when <= 0."""
    side = 1 if long else -1
    equity = margin + side * (face / entry - face / price)
    return equity - maintenance(face / price, schedule)


def test_a_short_whose_entry_bracket_never_liquidates_is_solved_in_a_lower_bracket() -> None:
    # 1,500 BTC of face at 50,000 with 1,200 BTC margin: the entry bracket (1,000 BTC and up,
    # 50%, cum 300.675 BTC) has Q/E - M - cum < 0, but as the price rises the notional falls
    # into the 200-400 BTC bracket (15%, cum 10.675), where equity meets maintenance at
    # 220,340.45 (340.38 BTC of notional).
    face, entry, margin = Fraction(75_000_000), Fraction(50_000), Fraction(1_200)
    price = liquidation_price_inverse(
        False, face=face, entry=entry, margin=margin, schedule=tiers_inverse_default
    )
    assert price is not None
    assert round(price) == 220_340
    assert price == Fraction(75_000_000) * Fraction(85, 100) / (1_500 - 1_200 - Fraction(10_675,
                                                                                        1_000))
    assert surplus(False, face, entry, margin, price=price, schedule=tiers_inverse_default) == 0


def brute_force(long: bool, face: Fraction, entry: Fraction, margin: Fraction,
                schedule: tuple[Tier, ...]) -> list[tuple[Fraction, bool]]:
    """Prices from entry / 1,000 to entry x 1,000 in steps of 2.3%, to the cent: is the
    position liquidatable there?"""
    start = float(entry) / 1_000  # float-ok: picks sample prices, not money
    prices = {Fraction(round(start * 1.023**k * 100) or 1, 100) for k in range(613)}
    return [
        (p, surplus(long, face, entry, margin, price=p, schedule=schedule) <= 0)
        for p in sorted(prices)
    ]


schedule_list = [
    tiers_inverse_default,
    (Tier(0, 5_000, 20_000),),
    (Tier(0, 5_000, 10_000), Tier(3, 200_000, 400_000), Tier(40, 700_000, 900_000)),
]
schedules = st.sampled_from(schedule_list)


@settings(max_examples=300, deadline=None)
@given(st.booleans(), st.integers(1, 3_000_000), st.integers(1_000, 200_000),
       st.integers(1, 2_000_000), schedules)
def test_inverse_liquidation_price_matches_a_search_over_prices(
    long: bool, face_coins_milli: int, entry_units: int, margin_milli: int,
    schedule: tuple[Tier, ...],
) -> None:
    entry = Fraction(entry_units)
    face = Fraction(face_coins_milli, 1_000) * entry  # the face of that many coins at entry
    margin = Fraction(margin_milli, 1_000)
    price = liquidation_price_inverse(
        long, face=face, entry=entry, margin=margin, schedule=schedule
    )
    searched = brute_force(long, face, entry, margin, schedule)
    if price is None:
        assert not long, "a long is always liquidated at some price above zero"
        assert not any(liquidatable for _, liquidatable in searched)
        return
    assert price > 0
    assert surplus(long, face, entry, margin, price=price, schedule=schedule) == 0
    for sample, liquidatable in searched:
        beyond = sample <= price if long else sample >= price
        assert liquidatable == beyond, (sample, price)


@settings(max_examples=300, deadline=None)
@given(long=st.booleans(), inverse=st.booleans(), size_milli=st.integers(1, 3_000_000),
       entry_units=st.integers(1_000, 200_000), margin_milli=st.integers(1, 2_000_000),
       schedule=st.sampled_from([*schedule_list, tiers_linear_default]))
def test_vectorised_liquidation_prices_match_the_scalar_forms(
    *, long: bool, inverse: bool, size_milli: int, entry_units: int, margin_milli: int,
    schedule: tuple[Tier, ...],
) -> None:
    entry = Fraction(entry_units)
    size = Fraction(size_milli, 1_000)  # coins of face (inverse) or of base (linear)
    if inverse:
        quantity = size * entry
        margin = Fraction(margin_milli, 1_000)
        exact = liquidation_price_inverse(long, face=quantity, entry=entry, margin=margin,
                                          schedule=schedule)
    else:
        quantity = size
        margin = Fraction(margin_milli, 1_000) * entry  # the same leverage range in quote
        exact = liquidation_price_linear(long, quantity=quantity, entry=entry, margin=margin,
                                         schedule=schedule)
    floors, rates, deductions, _ = tier_arrays(schedule, 0)
    (price,) = liquidation_prices_vectorised(
        np.array([long]), np.array([inverse]),
        quantity=np.array([float(quantity)]),  # float-ok: the vectorised form's input
        entry=np.array([float(entry)]),  # float-ok: the vectorised form's input
        margin=np.array([float(margin)]),  # float-ok: the vectorised form's input
        floors=floors, rates=rates, deductions=deductions,
    )
    if exact is None:
        assert math.isnan(price)
    else:
        assert math.isclose(price, float(exact), rel_tol=1e-9, abs_tol=1e-9), (price, exact)
