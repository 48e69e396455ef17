"""Posted price ranges widen the grid and set SPAN's scan range: requirements stay finite and
never fall as the range grows (20% to 60% and beyond), and no scenario moves a price to or
below zero (docs/risk.md, "Widened grid")."""

from __future__ import annotations

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from ringfence.core.risk.config import RiskConfig
from ringfence.core.risk.instruments import Instrument, InstrumentKind, MarginMode
from ringfence.core.risk.scan import build_layout, scan
from ringfence.core.risk.scenarios import (
    ScenarioSet,
    build_risk_arrays,
    grid_scenarios,
    instrument_table,
    span_scenarios,
)

config = RiskConfig()
perpetual = InstrumentKind.perpetual
instruments = [
    Instrument("btc-usd", perpetual, "btc", "BTC", 8, 1, 1, 100, inverse=True, tiers="inverse"),
    Instrument("btc-usdt", perpetual, "btc", "USDT", 6, 1, 1, 1, 3),
]
table = instrument_table(instruments)
forwards = np.array([50_000.0, 50_000.0])  # float-ok: test prices
satoshi = 10**8


grid = grid_scenarios(config.grid)
span = span_scenarios(config.span)


def maintenance(row: int, lots: int, posted_range: float,  # float-ok: a ratio
                scenarios: ScenarioSet = grid) -> int:
    arrays = build_risk_arrays(
        table, forwards, np.zeros(table.count), now_ns=0,
        scenarios=scenarios, config=config,
        price_ranges=np.array([posted_range]),
    )
    layout = build_layout([MarginMode.portfolio], position_bucket=[0], position_row=[row],
                          position_lots=[lots], position_basis=[0.0],  # float-ok: scan input
                          zero_row=table.count)
    return int(scan(layout, arrays, table, collateral=[0], config=config).maintenance[0])


def test_a_one_btc_inverse_long_stays_bounded_at_a_25_percent_range() -> None:
    # 500 lots of 100 USD at 50,000 is 1 BTC; unwidened the -66% extended move owes
    # 0.35 x (1/0.34 - 1) = 0.679 BTC. At 25% the grid widens by 25/16; the deepest move
    # stays at -66%, so the requirement is the same 0.679 BTC (the regular grid's -25% owes
    # 1/0.75 - 1 = 0.333 BTC).
    unwidened = maintenance(0, 500, 0.16)
    assert 0.67 * satoshi < unwidened < 0.69 * satoshi
    assert maintenance(0, 500, 0.25) == unwidened
    assert maintenance(0, 500, 0.60) < 2 * satoshi


def test_no_widened_move_reaches_minus_100_percent() -> None:
    for posted_range in (0.242, 0.25, 0.6, 5.0, 100.0):
        arrays = build_risk_arrays(
            table, forwards, np.zeros(table.count), now_ns=0,
            scenarios=grid_scenarios(config.grid), config=config,
            price_ranges=np.array([posted_range]),
        )
        count = arrays.scenarios.count
        # An inverse long lot loses at most size / F x (1 / 0.34 - 1) at the deepest move.
        worst = -arrays.columns[0, :count].min()
        assert np.isfinite(worst)
        assert worst <= 100 * satoshi / 50_000 * (1 / 0.34 - 1) + 1


def test_a_span_inverse_long_stays_bounded_past_a_50_percent_range() -> None:
    # SPAN's extreme move is -2 ranges: at 55% it would price at -110%, clamped near zero,
    # and 1 BTC of inverse long would owe about 350,000 BTC. The fall stops at -66%: at most
    # the -66% loss (1/0.34 - 1 = 1.94 BTC) at its 35% share, or the -55% range's 1.22 BTC.
    for posted_range in (0.2, 0.33, 0.5, 0.55, 0.6):
        assert maintenance(0, 500, posted_range, span) < 2 * satoshi
    assert maintenance(0, 500, 0.6, span) >= maintenance(0, 500, 0.2, span)


@settings(max_examples=80, deadline=None)
@given(st.integers(0, 1), st.integers(-10_000, 10_000).filter(bool),
       st.integers(200_000, 600_000), st.integers(0, 400_000), st.sampled_from([grid, span]))
def test_requirements_are_finite_and_never_fall_as_the_range_widens(
    row: int, lots: int, low_ppm: int, step_ppm: int, scenarios: ScenarioSet
) -> None:
    low = low_ppm / 10**6
    high = (low_ppm + step_ppm) / 10**6
    narrow = maintenance(row, lots, low, scenarios)
    wide = maintenance(row, lots, high, scenarios)
    assert narrow <= wide
    # Finite and bounded: no more than the -66% (or +500%) extended loss or the widened
    # grid's loss, whichever is larger, of the position's notional.
    notional = abs(lots) * (100 * satoshi / 50_000 if row == 0 else 50_000 * 10**6 // 10**3)
    assert wide <= 6 * notional
