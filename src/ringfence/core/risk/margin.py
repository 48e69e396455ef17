"""Tiered margin and isolated liquidation and bankruptcy prices, in closed form.

Maintenance margin uses Binance's "tax bracket" form: a notional N in bracket k owes
``N x m_k - cum_k`` with ``cum_k = floor_k x (m_k - m_{k-1}) + cum_{k-1}``, which equals
charging each slice of N at its own bracket's rate. Initial margin charges the whole notional
at its bracket's initial rate (one over that bracket's maximum leverage). The exact functions
take integer minor units and return integer minor units rounded up (against the client); the
vectorised ones return float64 for the scan, which rounds them through ``rounding``.

Liquidation price convention (documented in docs/risk.md): maintenance margin is evaluated at
the liquidation price itself (Binance, Hyperliquid), so the price solves equity = MM there:

    linear   LP = (M + cum - s·Q·E) / (Q·m - s·Q)
    inverse  LP_long = Q(1+m) / (M + cum + Q/E),   LP_short = Q(1-m) / (Q/E - M - cum)

with Q the size (base units; for inverse the face in quote), E the entry (basis) price, M the
isolated collateral, s = +1 long / -1 short; m and cum are those of the bracket the price
lands in. Linear prices are solved bracket by bracket; inverse prices are solved directly in
the bracket holding the root (equity minus maintenance is monotone in the notional Q/P), so a
short whose entry bracket has no solution (``Q/E - M - cum <= 0``) still gets the price a
lower bracket gives, and None only when its margin covers the face.
``LiquidationConvention.at_entry`` gives Bybit's form (MM fixed at the
entry notional) for comparison. Bankruptcy prices solve equity = 0.
"""

from __future__ import annotations

from bisect import bisect_right
from collections.abc import Sequence
from fractions import Fraction
from itertools import pairwise

import numpy as np
from numpy.typing import NDArray

from ringfence.core.risk.config import LiquidationConvention, Tier, ppm
from ringfence.core.risk.rounding import ceil_exact

Array = NDArray[np.float64]
_bracket_guard = np.ldexp(1, -40)  # float-ok: a rounding guard, not money


def cumulative_deductions(schedule: Sequence[Tier], scale: int) -> list[int]:
    """``cum_k`` per bracket, in minor units x ppm (exact)."""
    deductions = [0]
    for previous, tier in pairwise(schedule):
        floor_minor = tier.notional_floor * 10**scale
        rise = tier.maintenance_ppm - previous.maintenance_ppm
        deductions.append(deductions[-1] + floor_minor * rise)
    return deductions


def tier_index(schedule: Sequence[Tier], notional_minor: int | Fraction, scale: int) -> int:
    floors = [tier.notional_floor * 10**scale for tier in schedule]
    return max(bisect_right(floors, notional_minor) - 1, 0)


def calculate_margin_maint(
    notional_minor: int | Fraction, schedule: Sequence[Tier], scale: int
) -> int:
    """Tiered maintenance margin for one position's notional, rounded up."""
    assert notional_minor >= 0
    k = tier_index(schedule, notional_minor, scale)
    deduction = cumulative_deductions(schedule, scale)[k]
    owed = Fraction(notional_minor) * schedule[k].maintenance_ppm - deduction
    return ceil_exact(owed / ppm)


def calculate_margin_init(
    notional_minor: int | Fraction, schedule: Sequence[Tier], scale: int
) -> int:
    """Initial margin: the whole notional at its bracket's initial rate, rounded up."""
    assert notional_minor >= 0
    k = tier_index(schedule, notional_minor, scale)
    return ceil_exact(Fraction(notional_minor) * schedule[k].initial_ppm / ppm)


def tier_arrays(schedule: Sequence[Tier], scale: int) -> tuple[Array, Array, Array, Array]:
    """Floors, maintenance rates, deductions and initial rates for the vectorised forms."""
    floors = np.array([tier.notional_floor * 10**scale for tier in schedule], dtype=np.float64)
    maintenance = np.array([tier.maintenance_ppm for tier in schedule], dtype=np.float64) / ppm
    deductions = np.array(cumulative_deductions(schedule, scale), dtype=np.float64) / ppm
    initial = np.array([tier.initial_ppm for tier in schedule], dtype=np.float64) / ppm
    return floors, maintenance, deductions, initial


def margin_tiered(
    notional: Array, floors: Array, maintenance: Array, deductions: Array, initial: Array
) -> tuple[Array, Array]:
    """Vectorised (initial, maintenance) for notionals in minor units (float64).

    The bracket is looked up with the notional pushed up by 2^-40 of itself: a float a hair
    below a floor must not pick the lower initial rate (initial margin jumps at a floor;
    maintenance is continuous there, so the higher bracket changes it by less than the
    requirement guard)."""
    pushed = notional + np.abs(notional) * _bracket_guard
    k = np.maximum(np.searchsorted(floors, pushed, side="right") - 1, 0)
    return notional * initial[k], notional * maintenance[k] - deductions[k]


# ---------------------------------------------------------------------- isolated prices


def liquidation_price_linear(
    long: bool,
    *,
    quantity: Fraction,
    entry: Fraction,
    margin: Fraction,
    schedule: Sequence[Tier],
    convention: LiquidationConvention = LiquidationConvention.at_liquidation,
) -> Fraction:
    """Liquidation price of an isolated linear position; all values in major units.

    ``quantity`` is the size in base units (positive), ``margin`` the isolated collateral in
    the quote. Returns 0 when a long can never be liquidated (over-collateralised to zero).
    """
    assert quantity > 0
    assert entry > 0
    side = 1 if long else -1
    if convention is LiquidationConvention.at_entry:
        rate, cum = _bracket(schedule, quantity * entry)
        maintenance = quantity * entry * rate - cum
        price = entry - side * (margin - maintenance) / quantity
        return max(price, Fraction(0))
    price = Fraction(0)
    rate, cum = _bracket(schedule, quantity * entry)
    for _ in range(len(schedule) + 1):  # bracket by bracket, at most once through all
        price = (margin + cum - side * quantity * entry) / (quantity * rate - side * quantity)
        price = max(price, Fraction(0))
        rate_at, cum_at = _bracket(schedule, quantity * price)
        if (rate_at, cum_at) == (rate, cum):
            break
        rate, cum = rate_at, cum_at
    return price


def liquidation_price_inverse(
    long: bool,
    *,
    face: Fraction,
    entry: Fraction,
    margin: Fraction,
    schedule: Sequence[Tier],
    convention: LiquidationConvention = LiquidationConvention.at_liquidation,
) -> Fraction | None:
    """Liquidation price of an isolated inverse position; ``face`` in quote (USD),
    ``margin`` in coin. None when a short can never be liquidated."""
    assert face > 0
    assert entry > 0
    coins = face / entry
    if convention is LiquidationConvention.at_entry:
        rate, cum = _bracket(schedule, coins)
        cushion = margin - (coins * rate - cum)
        denominator = coins + cushion if long else coins - cushion
        return face / denominator if denominator > 0 else None
    return _inverse_root(long, coins=coins, face=face, margin=margin, schedule=schedule)


def _inverse_root(
    long: bool, *, coins: Fraction, face: Fraction, margin: Fraction, schedule: Sequence[Tier]
) -> Fraction | None:
    """Where equity meets maintenance, with MM at the price itself. In notional ``n = Q/P``
    (coin) a long's equity ``M + Q/E - n`` falls and its ``n + MM(n)`` rises; a short's
    ``M - Q/E + n - MM(n)`` rises with n (every rate is below 1). So the bracket holding the
    root is the last whose floor has not yet crossed it, and the root is solved there: no
    bracket needs a positive denominator except the one the price lands in."""
    deductions = cumulative_deductions(schedule, 0)
    chosen = 0
    for k, tier in enumerate(schedule):
        floor = Fraction(tier.notional_floor)
        owed = (floor * tier.maintenance_ppm - deductions[k]) / ppm
        crossed = floor + owed > margin + coins if long else margin - coins + floor - owed > 0
        if crossed:
            break
        chosen = k
    rate = Fraction(schedule[chosen].maintenance_ppm, ppm)
    cum = Fraction(deductions[chosen], ppm)
    assert rate < 1, "configuration refuses a maintenance rate of 100%"
    if long:
        return face * (1 + rate) / (margin + cum + coins)
    denominator = coins - margin - cum
    if denominator <= 0:  # only in the first bracket: margin covers the face, never liquidated
        assert chosen == 0
        return None
    return face * (1 - rate) / denominator


def bankruptcy_price_linear(
    long: bool, quantity: Fraction, entry: Fraction, margin: Fraction
) -> Fraction:
    """Where equity reaches zero: ``E - s·M/Q`` (with M = Q·E/L: ``E(1 ∓ 1/L)``)."""
    side = 1 if long else -1
    return max(entry - side * margin / quantity, Fraction(0))


def bankruptcy_price_inverse(
    long: bool, face: Fraction, entry: Fraction, margin: Fraction
) -> Fraction | None:
    """Where equity reaches zero: long ``Q/(M + Q/E)``, short ``Q/(Q/E - M)``
    (with M = Q/(E·L): ``E·L/(L+1)`` and ``E·L/(L-1)``)."""
    coins = face / entry
    denominator = coins + margin if long else coins - margin
    return face / denominator if denominator > 0 else None


def _bracket(schedule: Sequence[Tier], notional_major: Fraction) -> tuple[Fraction, Fraction]:
    """Maintenance rate and deduction (major units) of the bracket holding a notional."""
    k = tier_index(schedule, notional_major, 0)
    deduction = cumulative_deductions(schedule, 0)[k]
    return Fraction(schedule[k].maintenance_ppm, ppm), Fraction(deduction, ppm)


def liquidation_prices_vectorised(
    long: NDArray[np.bool_],
    inverse: NDArray[np.bool_],
    *,
    quantity: Array,
    entry: Array,
    margin: Array,
    floors: Array,
    rates: Array,
    deductions: Array,
) -> Array:
    """Float64 liquidation prices for many isolated positions at once, MM at the liquidation
    price; NaN where none exists (an inverse short whose margin covers its face), 0 for a
    linear long that can never be liquidated. Major units throughout; ``floors``, ``rates``
    and ``deductions`` are one schedule's brackets (``tier_arrays(schedule, 0)``).

    The bracket is the one the price lands in, not the entry's (as ``_inverse_root`` and the
    scalar linear form choose it): equity minus maintenance is monotone in the notional, so
    the brackets whose floor the root has not yet crossed are a prefix, and the root is solved
    in the last of them. A short whose entry bracket gives no price may well be liquidated
    in a lower one, as the rising price shrinks its notional (inverse) or grows it (linear)."""
    side = np.where(long, 1, -1)[:, None]
    coins = (quantity / entry)[:, None]
    owed = floors[None, :] * rates[None, :] - deductions[None, :]  # MM at each floor
    # Equity minus maintenance at each floor's notional; the root's bracket is the last
    # floor on the liquidated side of it (value <= 0 where the surplus grows with notional).
    linear_surplus = (margin[:, None] - side * (quantity * entry)[:, None]
                      + side * floors[None, :] - owed)
    inverse_surplus = margin[:, None] + side * (coins - floors[None, :]) - owed
    rising = np.where(inverse[:, None], side < 0, side > 0)  # surplus rises with notional
    surplus = np.where(inverse[:, None], inverse_surplus, linear_surplus)
    below = np.where(rising, surplus <= 0, surplus >= 0)
    below[:, 0] = True
    chosen = np.argmin(np.concatenate([below, np.zeros_like(below[:, :1])], axis=1), axis=1) - 1
    rate, deduction = rates[chosen], deductions[chosen]
    side_1d = side[:, 0]
    with np.errstate(divide="ignore", invalid="ignore"):
        linear = ((margin + deduction - side_1d * quantity * entry)
                  / (quantity * (rate - side_1d)))
        coins_1d = coins[:, 0]
        inverse_long = quantity * (1 + rate) / (margin + deduction + coins_1d)
        short_denominator = coins_1d - margin - deduction
        # Float noise where margin covers the face exactly is no price (2^-40 of the face).
        inverse_short = np.where(
            short_denominator > coins_1d * _bracket_guard,
            quantity * (1 - rate) / short_denominator, np.nan,
        )
    prices: Array = np.where(inverse, np.where(long, inverse_long, inverse_short), linear)
    return np.where(prices > 0, prices, np.where(inverse, np.nan, 0))
