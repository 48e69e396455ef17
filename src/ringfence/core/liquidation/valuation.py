"""Exact values a plan decides on: the fillable price of a close (step 2), a position's
bankruptcy value per lot and a bucket's exact equity at the marks."""

from __future__ import annotations

from collections.abc import Mapping
from fractions import Fraction

from ringfence.core.liquidation.records import BucketState
from ringfence.core.risk.config import ppm
from ringfence.core.risk.instruments import Instrument, Position
from ringfence.core.risk.rounding import ceil_exact, floor_exact


def fillable_price(instrument: Instrument, mark_units: int, long: bool, slippage_ppm: int) -> int:
    """The mark moved against the position being closed, rounded to the tick against it."""
    tick = instrument.tick_units
    if long:
        moved = Fraction(mark_units * (ppm - slippage_ppm), ppm)
        return max(floor_exact(moved / tick) * tick, tick)
    moved = Fraction(mark_units * (ppm + slippage_ppm), ppm)
    return ceil_exact(moved / tick) * tick


def bankruptcy_lot_value(position: Position, collateral: int | Fraction) -> Fraction:
    """The per-lot value at which a single-position bucket's equity is zero: equity is
    linear in the lot value (linear and inverse alike), ``C + q x v - B = 0``."""
    assert position.quantity_lots != 0
    return (position.basis - collateral) / position.quantity_lots


def exact_equity(
    bucket: BucketState, instruments: Mapping[str, Instrument], marks: Mapping[str, int]
) -> Fraction:
    value = sum(
        (p.quantity_lots * instruments[p.symbol].lot_value(marks[p.symbol]) - p.basis
         for p in bucket.positions),
        Fraction(0),
    )
    return bucket.collateral + value
