"""The scan against exact arithmetic: for random linear and inverse positions (18-decimal
assets included, value and basis nearly cancelling), the scan's equity is never above the
exact figure and its requirements never below, in cross (tiered) and portfolio buckets."""

from __future__ import annotations

from fractions import Fraction

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from ringfence.core.risk.config import RiskConfig, ppm
from ringfence.core.risk.instruments import Instrument, InstrumentKind, MarginMode
from ringfence.core.risk.margin import cumulative_deductions, tier_index
from ringfence.core.risk.scan import build_layout, scan
from ringfence.core.risk.scenarios import build_risk_arrays, grid_scenarios, instrument_table

config = RiskConfig()
perpetual = InstrumentKind.perpetual
groups = {
    "USDT": [
        Instrument("btc-usdt", perpetual, "btc", "USDT", 6, 1, 1, 1, 3),
        Instrument("eth-usdt", perpetual, "eth", "USDT", 6, 2, 1, 1, 2),
    ],
    "BTC": [
        Instrument("btc-usd", perpetual, "btc", "BTC", 8, 1, 1, 100, inverse=True,
                   tiers="inverse"),
    ],
    "ETH": [
        Instrument("eth-usd", perpetual, "eth", "ETH", 18, 2, 1, 10, inverse=True,
                   tiers="inverse"),
        Instrument("eth-usd-1", perpetual, "eth", "ETH", 18, 2, 1, 1, inverse=True,
                   tiers="inverse"),
    ],
    "USDE": [Instrument("eth-usde", perpetual, "eth", "USDE", 18, 2, 1, 1, 2)],
}
prices = {"btc": st.integers(200_000, 1_000_000), "eth": st.integers(100_000, 500_000)}


def exact_value(instrument: Instrument, price: Fraction) -> Fraction:
    """One lot's value at an exact price (the formulas of core/risk/instruments.py)."""
    minor = 10**instrument.settlement_scale
    if instrument.inverse:
        return -instrument.size * minor / price
    return instrument.size * price * minor


def exact_tiered(instrument: Instrument, notional: Fraction) -> tuple[Fraction, Fraction]:
    schedule = config.tiers[instrument.tiers]
    scale = instrument.settlement_scale
    k = tier_index(schedule, notional, scale)
    deduction = cumulative_deductions(schedule, scale)[k]
    maintenance = (notional * schedule[k].maintenance_ppm - deduction) / ppm
    return notional * schedule[k].initial_ppm / ppm, maintenance


def exact_portfolio(held: list[tuple[Instrument, int, Fraction]]) -> Fraction:
    grid = config.grid
    moves = [(m, ppm) for m in grid.price_moves_ppm]
    moves += [(m, grid.extended_fraction_ppm) for m in grid.extended_moves_ppm]
    worst = Fraction(0)
    for move, weight in moves:
        pnl = sum(
            lots * (exact_value(i, mark * (1 + Fraction(move, ppm))) - exact_value(i, mark))
            for i, lots, mark in held
        )
        worst = max(worst, -pnl * Fraction(weight, ppm))
    return worst


position = st.tuples(st.integers(0, 1), st.integers(-1_000_000, 1_000_000).filter(bool),
                     st.integers(-50, 50))


@settings(max_examples=300, deadline=None)
@given(st.sampled_from(sorted(groups)), st.lists(position, min_size=1, max_size=4),
       prices["btc"], prices["eth"], st.sampled_from([MarginMode.cross, MarginMode.portfolio]))
def test_scan_never_favours_the_client_against_exact_arithmetic(
    asset, positions, btc_units, eth_units, mode
) -> None:  # type: ignore[no-untyped-def]
    instruments = groups[asset]
    table = instrument_table(instruments)
    units = {"btc": btc_units, "eth": eth_units}
    forwards = np.array([units[i.underlying] / 10**i.price_scale for i in instruments])
    arrays = build_risk_arrays(table, forwards, np.zeros(table.count), now_ns=0,
                               scenarios=grid_scenarios(config.grid), config=config)
    lots: dict[int, int] = {}
    basis: dict[int, Fraction] = {}
    for which, quantity, offset in positions:
        row = which % len(instruments)
        instrument = instruments[row]
        entry = units[instrument.underlying] + offset  # near the mark: value and basis cancel
        lots[row] = lots.get(row, 0) + quantity
        basis[row] = basis.get(row, Fraction(0)) + quantity * instrument.lot_value(entry)
    rows = sorted(lots)
    layout = build_layout([mode], position_bucket=[0] * len(rows), position_row=rows,
                          position_lots=[lots[r] for r in rows],
                          position_basis=[float(basis[r]) for r in rows],  # float-ok: scan input
                          zero_row=table.count)
    result = scan(layout, arrays, table, collateral=[0], config=config)
    held = [
        (instruments[r], lots[r], Fraction(units[instruments[r].underlying],
                                           10 ** instruments[r].price_scale))
        for r in rows
    ]
    value = sum(lots * exact_value(i, mark) for i, lots, mark in held)
    assert int(result.equity[0]) <= value - sum(basis.values())
    if mode is MarginMode.portfolio:
        maintenance = exact_portfolio(held)
        initial = maintenance / Fraction(config.grid.maintenance_factor_ppm, ppm)
    else:
        parts = [exact_tiered(i, abs(lots * exact_value(i, mark))) for i, lots, mark in held]
        initial = sum(part[0] for part in parts)
        maintenance = sum(part[1] for part in parts)
    assert int(result.maintenance[0]) >= maintenance
    assert int(result.initial[0]) >= initial
