"""core/liquidation/valuation.py: each option's premium mark is the scan's Black-76 value
per lot in the option's own price units, on the tick, at least one tick."""

from __future__ import annotations

import numpy as np

from ringfence.core.liquidation.valuation import option_marks
from ringfence.core.risk.black76 import black76_value
from ringfence.core.risk.config import RiskConfig
from ringfence.core.risk.instruments import Instrument, InstrumentKind, OptionType
from ringfence.core.risk.scenarios import (
    build_risk_arrays,
    grid_scenarios,
    instrument_table,
    nanoseconds_per_year,
)

year = nanoseconds_per_year


def option(symbol: str, settlement: str, strike: int, tick: int, kind: OptionType) -> Instrument:
    # Coin-settled premiums in units of 0.0001 BTC; USDC ones in units of 0.1 USDC.
    scale = 4 if settlement == "BTC" else 1
    return Instrument(symbol, InstrumentKind.option, "btc", settlement, 8 if scale == 4 else 6,
                      scale, tick, 1, 1, expiry_ns=year // 4, strike_units=strike,
                      option_type=kind)


def test_option_marks_are_the_scans_premiums_on_the_tick() -> None:
    instruments = [
        option("coin-call", "BTC", 70_000, 5, OptionType.call),
        option("usd-put", "USDC", 60_000, 1, OptionType.put),
        option("far-put", "USDC", 1_000, 1, OptionType.put),  # worth almost nothing
        Instrument("perp", InstrumentKind.perpetual, "btc", "USDC", 6, 1, 1, 1, 3),
    ]
    table = instrument_table(instruments)
    forward, sigma = 65_000.0, 0.6  # float-ok: test valuation inputs
    config = RiskConfig()
    arrays = build_risk_arrays(table, np.full(4, forward), np.array([sigma] * 3 + [0.0]),
                               now_ns=0, scenarios=grid_scenarios(config.grid), config=config)
    marks = option_marks(table, arrays)
    assert set(marks) == {"coin-call", "usd-put", "far-put"}  # futures keep their marks
    call = float(black76_value(forward, 70_000, 0.25, sigma, rate=0, is_call=True))
    # In coin: V/F BTC per BTC, in units of 0.0001 BTC on a tick of 5.
    assert marks["coin-call"] == round(call / forward * 10**4 / 5) * 5
    assert marks["coin-call"] % 5 == 0
    put = float(black76_value(forward, 60_000, 0.25, sigma, rate=0, is_call=False))
    assert marks["usd-put"] == round(put * 10)
    assert marks["far-put"] == 1  # at least one tick: a close needs a positive price
