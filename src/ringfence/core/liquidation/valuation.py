"""Exact values a plan decides on: the fillable price of a close (step 2), a position's
bankruptcy value per lot, a bucket's exact equity at the marks, and each option's premium
mark (the price its closes are filled around)."""

from __future__ import annotations

from collections.abc import Mapping
from fractions import Fraction

import numpy as np

from ringfence.core.liquidation.records import BucketState
from ringfence.core.risk.config import ppm
from ringfence.core.risk.instruments import Instrument, Position
from ringfence.core.risk.rounding import ceil_exact, floor_exact
from ringfence.core.risk.scenarios import InstrumentTable, RiskArrays


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


def option_marks(table: InstrumentTable, arrays: RiskArrays) -> dict[str, int]:
    """Each option's premium mark in its own price units (premium in the settlement asset
    per unit of underlying: in coin for a coin-settled option): the scan's value of one lot
    now, over the lot's size, to the nearest tick and at least one tick.

    The market data gives an option its underlying's forward, not a premium; a close needs
    the premium. The scan's Black-76 value is a float valuation, but the mark is only the
    price a close is ordered around: what the close settles is exact at that integer price
    (``lot_value``), so no money is computed in float here."""
    column = arrays.scenarios.count  # the value-now column, per lot in minor units
    marks = {}
    for row in np.flatnonzero(table.option).tolist():
        instrument = table.instruments[row]
        per_lot = float(arrays.columns[row, column])  # float-ok: a valuation, not money
        assert np.isfinite(per_lot)
        units_per_lot = instrument.size * 10**instrument.settlement_scale
        lot_units = float(units_per_lot)  # float-ok: divides a valuation, not money
        premium = per_lot / lot_units * 10**instrument.price_scale
        ticks = max(round(premium / instrument.tick_units), 1)
        marks[instrument.symbol] = ticks * instrument.tick_units
    return marks
