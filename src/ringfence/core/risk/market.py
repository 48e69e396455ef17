"""Market data for one scan, and the per-instrument and per-underlying arrays a scan reads.

Prices and rates arrive as integers (price units of each instrument, ppm); the scan values in
float64, so the arrays here are float64 (scan valuation, never money: requirements and
collateral values leave the scan through ``rounding``).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from ringfence.core.errors import InputError, Result
from ringfence.core.risk.config import ppm
from ringfence.core.risk.scenarios import InstrumentTable

Array = np.ndarray[Any, Any]


@dataclass(frozen=True, slots=True)
class MarketData:
    """Prices for one scan: per instrument its price (futures: mark; options: the forward of
    the underlying) in price units of the instrument, and option volatilities in ppm. Every
    number is a positive int (a float from JSON is refused, never truncated); a posted price
    range of zero would scan no move and a multiplier below 1 would lower margin, so both are
    refused. An underlying without a posted range takes the configured default."""

    now_ns: int
    prices: Mapping[str, int]
    volatilities_ppm: Mapping[str, int] = field(default_factory=dict)
    price_ranges_ppm: Mapping[str, int] = field(default_factory=dict)  # per underlying
    multipliers_ppm: Mapping[str, int] = field(default_factory=dict)  # per underlying

    def __post_init__(self) -> None:
        for name, value in self.prices.items():
            if type(value) is not int or value <= 0:
                raise InputError(Result.price_invalid, f"{name}: {value!r}")
        checks = (
            ("volatilities_ppm", self.volatilities_ppm, 1),
            ("price_ranges_ppm", self.price_ranges_ppm, 1),
            ("multipliers_ppm", self.multipliers_ppm, ppm),
        )
        for label, values, low in checks:
            for name, value in values.items():
                if type(value) is not int or value < low:
                    raise InputError(Result.risk_config_invalid, f"{label} {name}: {value!r}")


def market_arrays(table: InstrumentTable, market: MarketData) -> tuple[Array, Array]:
    """Per instrument of ``table``: the forward (futures: the mark; options: the underlying's
    forward) in whole price units, and the volatility as a fraction of one."""
    forwards = np.empty(table.count)
    vols = np.zeros(table.count)
    for k, instrument in enumerate(table.instruments):
        price = market.prices.get(instrument.symbol)
        if price is None:
            raise InputError(Result.mark_price_missing, instrument.symbol)
        scale = instrument.strike_scale if instrument.option_type else instrument.price_scale
        forwards[k] = price / 10**scale
        if instrument.option_type is not None:
            volatility = market.volatilities_ppm.get(instrument.symbol)
            if volatility is None:  # a zero volatility would value options at intrinsic
                raise InputError(Result.field_required, f"volatility of {instrument.symbol}")
            vols[k] = volatility / ppm
    return forwards, vols


def posted_ranges(table: InstrumentTable, values_ppm: Mapping[str, int]) -> Array | None:
    """Posted price ranges per underlying; NaN where none is posted (the core then takes the
    configured default: never 0)."""
    if not values_ppm:
        return None
    return np.array(
        [values_ppm[u] / ppm if u in values_ppm else np.nan for u in table.underlyings],
        dtype=np.float64,
    )


def per_underlying(
    table: InstrumentTable, values_ppm: Mapping[str, int], default: int | None
) -> Array | None:
    """A ppm value per underlying of ``table`` as a fraction of one, ``default`` where none is
    given; None when nothing is given and there is no default."""
    if not values_ppm and default is None:
        return None
    base = np.float64(default or 0)
    return np.array(
        [values_ppm[u] / ppm if u in values_ppm else base for u in table.underlyings],
        dtype=np.float64,
    )
