"""Scenario sets and the risk arrays: every instrument revalued once per scan.

Two profiles, both from configuration:

- ``grid`` (Deribit portfolio margin): each price move of the grid with volatility up, the
  same and down (27 by default), then the extended moves with volatility up counted at a
  fraction (8): 35 scenarios. Moves are relative to each instrument's own price. The
  volatility model may widen the 27 grid moves per underlying (``price_ranges``, by at least
  1; an underlying without a posted range keeps the configured grid); the extended moves are
  fixed stresses and are not widened, and a widened down move goes no deeper than the
  deepest configured move (-66% by default), so no scenario reaches a price of zero.
- ``span`` (CME SPAN): price 0, ±1/3, ±2/3, ±1 of the price scan range with volatility ±1 scan
  range (14), and two extreme moves (±2 ranges by default) at 35%: 16 scenarios. The price scan
  range per underlying comes from the volatility model, never below the configured default
  (an underlying missing from ``price_ranges``, given as NaN, takes the default). No move falls
  deeper than ``move_depth_ppm_max`` (-66% by default): at a range over 50% the -2 ranges
  extreme would otherwise cross -100%.

The risk array ``columns`` of one instrument holds, per lot and in minor units of its
settlement asset, the weighted P&L under each scenario, then its value now and its delta,
gamma, vega and theta: a bucket's scan is one product of its lots with these rows. All float64.
Greeks follow the settlement asset (docs/risk.md, "Greeks"): delta in underlying units, for
a coin-settled option Deribit's coin-account ``Δ - V/F``; gamma is Black's; vega (per 1.00 of
volatility) and theta (per year) in major units of the settlement asset, so in coin for
coin-settled options.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from enum import StrEnum, unique

import numpy as np
from numpy.typing import NDArray

from ringfence.core import limits
from ringfence.core.risk.black76 import black76, black76_value, coin_valuation
from ringfence.core.risk.config import GridConfig, RiskConfig, SpanConfig, ppm
from ringfence.core.risk.instruments import Instrument, InstrumentKind, OptionType

Array = NDArray[np.float64]
days_per_year = 365  # the scan's year: expiry in years and theta per day both use it
nanoseconds_per_year = days_per_year * 24 * 3600 * 10**9
greek_columns = 5  # value, delta, gamma, vega, theta after the scenario columns
_option_block = 256  # options revalued together: 256 x 35 float64 fit in L2


@unique
class Profile(StrEnum):
    grid = "grid"
    span = "span"


@dataclass(frozen=True, slots=True)
class ScenarioSet:
    profile: Profile
    names: tuple[str, ...]
    price_moves: Array  # multiples of the underlying's range
    vol_directions: Array  # -1 down, 0 unchanged, +1 up
    weights: Array  # fraction of the P&L counted
    maintenance_factor: Array  # a 0-d array: IM = MM / factor
    widened: NDArray[np.bool_]  # moves the posted range scales
    move_floor: float  # float-ok: the deepest widened move, above -1

    @property
    def count(self) -> int:
        return len(self.names)


def grid_scenarios(config: GridConfig) -> ScenarioSet:
    names: list[str] = []
    moves: list[int] = []
    directions: list[int] = []
    weights: list[int] = []
    deepest = min((*config.price_moves_ppm, *config.extended_moves_ppm))
    assert deepest > -ppm, "configuration refuses a move to a price of zero"
    for move in config.price_moves_ppm:
        for direction, label in ((1, "up"), (0, "same"), (-1, "down")):
            names.append(f"price{move / 10_000:+g}%_vol_{label}")
            moves.append(move)
            directions.append(direction)
            weights.append(ppm)
    for move in config.extended_moves_ppm:
        names.append(f"extended{move / 10_000:+g}%_vol_up")
        moves.append(move)
        directions.append(1)
        weights.append(config.extended_fraction_ppm)
    assert len(names) <= limits.scenarios_max
    return ScenarioSet(
        Profile.grid,
        tuple(names),
        np.array(moves, dtype=np.float64) / ppm,
        np.array(directions, dtype=np.float64),
        np.array(weights, dtype=np.float64) / ppm,
        np.asarray(np.float64(config.maintenance_factor_ppm) / ppm),
        np.arange(len(names)) < 3 * len(config.price_moves_ppm),
        deepest / ppm,
    )


def span_scenarios(config: SpanConfig) -> ScenarioSet:
    """CME's 16: (0, ±1 vol), (±1/3, ±2/3, ±1 of the range) x (±1 vol), ±extreme at a share."""
    names = ["price0_vol_up", "price0_vol_down"]
    moves: list[int] = [0, 0]
    directions = [1, -1]
    for thirds in (1, 2, 3):
        for sign in (1, -1):
            for direction in (1, -1):
                names.append(f"price{sign * thirds:+d}/3_vol_{'up' if direction > 0 else 'down'}")
                moves.append(sign * thirds * ppm // 3)
                directions.append(direction)
    weights = [ppm] * 14
    for sign in (1, -1):
        names.append(f"extreme{'+' if sign > 0 else '-'}")
        moves.append(sign * config.extreme_multiple_ppm)
        directions.append(0)
        weights.append(config.extreme_fraction_ppm)
    return ScenarioSet(
        Profile.span,
        tuple(names),
        np.array(moves, dtype=np.float64) / ppm,
        np.array(directions, dtype=np.float64),
        np.array(weights, dtype=np.float64) / ppm,
        np.asarray(np.float64(config.maintenance_factor_ppm) / ppm),
        np.ones(len(names), dtype=bool),
        -config.move_depth_ppm_max / ppm,
    )


@dataclass(frozen=True, slots=True)
class InstrumentTable:
    """Instruments as arrays, built once when the instrument set changes."""

    instruments: tuple[Instrument, ...]
    index: dict[str, int]
    underlyings: tuple[str, ...]
    underlying_index: NDArray[np.int64]
    option: NDArray[np.bool_]
    inverse: NDArray[np.bool_]
    coin_settled: NDArray[np.bool_]  # option premiums in the underlying coin
    call: NDArray[np.bool_]
    size: Array
    minor: Array  # 10^settlement_scale
    strike: Array
    expiry_ns: NDArray[np.int64]

    @property
    def count(self) -> int:
        return len(self.instruments)


def instrument_table(instruments: Sequence[Instrument]) -> InstrumentTable:
    assert len(instruments) <= limits.instruments_max
    underlyings = tuple(sorted({i.underlying for i in instruments}))
    position = {name: k for k, name in enumerate(underlyings)}
    is_option = [i.kind is InstrumentKind.option for i in instruments]
    return InstrumentTable(
        tuple(instruments),
        {i.symbol: k for k, i in enumerate(instruments)},
        underlyings,
        np.array([position[i.underlying] for i in instruments], dtype=np.int64),
        np.array(is_option, dtype=bool),
        np.array([i.inverse for i in instruments], dtype=bool),
        np.array([i.settlement.lower() == i.underlying for i in instruments], dtype=bool),
        np.array([i.option_type is OptionType.call for i in instruments], dtype=bool),
        np.array([i.size_units / 10**i.size_scale for i in instruments], dtype=np.float64),
        np.array([10**i.settlement_scale for i in instruments], dtype=np.float64),
        np.array([i.strike_units / 10**i.strike_scale for i in instruments], dtype=np.float64),
        np.array([i.expiry_ns for i in instruments], dtype=np.int64),
    )


@dataclass(frozen=True, slots=True)
class RiskArrays:
    """One scan's revaluation: ``columns[i]`` per lot of instrument i (a zero row at the end
    pads the bucket layout), plus per-lot figures for standard margin."""

    scenarios: ScenarioSet
    columns: Array  # (instruments + 1) x (scenarios + 4)
    notional: Array  # per lot: |value| for futures, the underlying's value for options
    underlying_value: Array  # per lot, in settlement minor units
    short_option_initial: Array  # per short lot, standard margin (0 for non-options)
    short_option_maintenance: Array
    short_option_minimum: Array  # SPAN's floor per short option lot
    long_option_premium: Array  # per long option lot, its value now: standard margin
    magnitude: Array  # per lot, the largest |figure| the scan sums: scales rounding guards


def build_risk_arrays(
    table: InstrumentTable,
    forwards: Array,
    volatilities: Array,
    *,
    now_ns: int,
    scenarios: ScenarioSet,
    config: RiskConfig,
    price_ranges: Array | None = None,
) -> RiskArrays:
    """Revalue every instrument under every scenario; ``forwards`` are per instrument (an
    option's is its underlying's forward), ``price_ranges`` per underlying."""
    count = table.count
    assert forwards.shape == (count,)
    assert volatilities.shape == (count,)
    assert (forwards > 0).all(), "every instrument needs a positive price"
    ranges = _price_ranges(table, scenarios, config, price_ranges)
    moves = _scenario_moves(scenarios, ranges[table.underlying_index])
    shocked = forwards[:, None] * np.maximum(1 + moves, np.float64(1) / 10**6)
    years = np.maximum(table.expiry_ns - now_ns, 0) / nanoseconds_per_year
    vols_shocked = _shocked_volatilities(
        table, volatilities, years, scenarios=scenarios, config=config
    )
    rate = np.float64(config.option.discount_rate_ppm) / ppm
    base, greeks = _lot_values(table, forwards[:, None], volatilities[:, None], years, rate)
    value_now = base[:, 0]
    values, _ = _lot_values(table, shocked, vols_shocked, years, rate, greeks=False)
    columns = np.zeros((count + 1, scenarios.count + greek_columns), dtype=np.float64)
    columns[:count, : scenarios.count] = (values - value_now[:, None]) * scenarios.weights
    columns[:count, scenarios.count] = value_now
    columns[:count, scenarios.count + 1 :] = greeks
    underlying = table.size * table.minor * np.where(table.coin_settled, 1, forwards)
    underlying = np.where(table.inverse, table.size * table.minor / forwards, underlying)
    out_of_money = np.where(table.call, table.strike - forwards, forwards - table.strike)
    out_of_money = np.maximum(out_of_money, 0) / forwards
    option = config.option
    initial_rate = np.maximum(
        option.short_initial_ppm / ppm - out_of_money, option.short_floor_ppm / ppm
    )
    zero = np.zeros(count)
    magnitude = np.maximum(np.abs(columns[:count, : scenarios.count + 1]).max(axis=1),
                           np.maximum(np.abs(value_now), underlying))
    return RiskArrays(
        scenarios,
        columns,
        np.where(table.option, underlying, np.abs(value_now)),
        underlying,
        np.where(table.option, initial_rate * underlying, zero),
        np.where(table.option, option.short_maintenance_ppm / ppm * underlying, zero),
        np.where(table.option, option.short_option_minimum_ppm / ppm * underlying, zero),
        np.where(table.option, np.maximum(value_now, 0), zero),
        magnitude,
    )


def _price_ranges(
    table: InstrumentTable, scenarios: ScenarioSet, config: RiskConfig, given: Array | None
) -> Array:
    """Per underlying: the grid's widening factor (at least 1) or SPAN's price scan range.

    ``given`` holds NaN for an underlying with no posted range: it takes the configured
    default, never 0 (a zero range would scan no price move at all)."""
    count = len(table.underlyings)
    widest = max(abs(move) for move in config.grid.price_moves_ppm) / ppm
    span = scenarios.profile is Profile.span
    default = np.float64(config.span.price_scan_default_ppm) / ppm if span else widest
    assert default > 0, "configuration refuses a zero range"
    ranges = np.full(count, default)
    if given is not None:
        posted = np.asarray(given, dtype=np.float64)
        assert posted.shape == (count,)
        assert (np.isnan(posted) | (posted > 0)).all(), "a posted range is positive"
        ranges = np.where(np.isnan(posted), default, posted)
    assert (ranges > 0).all()
    # A posted range only widens the configured one: in a calm spell (or a market whose
    # price has not moved since it was listed) the model may post almost nothing.
    return np.maximum(ranges, default) if span else np.maximum(ranges / widest, 1)


def _scenario_moves(scenarios: ScenarioSet, ranges: Array) -> Array:
    """Per instrument and scenario, the relative price move. Only the grid's regular moves
    widen with the range (the extended moves are fixed stresses), and no widened move goes
    below ``move_floor``: scaling -66% by a 25% range / 16% would cross -100%, and an inverse
    lot's value at a clamped near-zero price is unbounded. Each move is monotone in the range,
    so a wider range never scans a narrower set of prices."""
    scaled = scenarios.price_moves[None, :] * ranges[:, None]
    widened = np.maximum(scaled, scenarios.move_floor)
    return np.where(scenarios.widened[None, :], widened, scenarios.price_moves[None, :])


def _shocked_volatilities(
    table: InstrumentTable,
    volatilities: Array,
    years: Array,
    *,
    scenarios: ScenarioSet,
    config: RiskConfig,
) -> Array:
    direction = scenarios.vol_directions[None, :]
    sigma = volatilities[:, None]
    if scenarios.profile is Profile.span:
        scan = np.float64(config.span.vol_scan_ppm) / ppm
        return np.maximum(sigma * (1 + direction * scan), 0)
    grid = config.grid
    days = np.maximum(years * days_per_year, grid.floor_days)
    power = np.where(
        days <= grid.reference_days, grid.vega_power_short_ppm, grid.vega_power_long_ppm
    ) / ppm
    tenor = (grid.reference_days / days) ** power
    up = np.maximum(sigma, grid.shock_up_vol_floor_ppm / ppm) * (
        grid.vol_shock_up_ppm / ppm
    ) * tenor[:, None]
    down = sigma * (grid.vol_shock_down_ppm / ppm) * tenor[:, None]
    shocked = np.where(direction > 0, sigma + up, np.where(direction < 0, sigma - down, sigma))
    return np.maximum(shocked, 0)


def _lot_values(
    table: InstrumentTable,
    forwards: Array,
    volatilities: Array,
    years: Array,
    rate: np.float64,
    *,
    greeks: bool = True,
) -> tuple[Array, Array]:
    """Value per lot in settlement minor units for (instruments x k) prices, and the delta,
    gamma, vega and theta per lot of the first column (delta in underlying units; vega per
    1.00 of volatility and theta per year in major units of the settlement asset)."""
    size = (table.size * table.minor)[:, None]
    values = np.where(table.inverse[:, None], -size / forwards, size * forwards)
    sensitivities = np.zeros((table.count, greek_columns - 1))
    sensitivities[:, 0] = np.where(table.inverse, table.size / forwards[:, 0], table.size)
    rows = np.flatnonzero(table.option)
    coin = table.coin_settled[rows, None]
    if rows.size and not greeks:
        # In blocks that stay in cache: the rebuild is memory-bound, not arithmetic-bound.
        for low in range(0, rows.size, _option_block):
            block = rows[low : low + _option_block]
            value = black76_value(
                forwards[block],
                table.strike[block, None],
                years[block, None],
                volatilities[block],
                rate=rate,
                is_call=table.call[block, None],
            )
            premium = value / np.where(table.coin_settled[block, None], forwards[block], 1)
            values[block] = size[block] * premium
    elif rows.size:
        valuation = black76(
            forwards[rows],
            table.strike[rows, None],
            years[rows, None],
            volatilities[rows],
            rate=rate,
            is_call=table.call[rows, None],
        )
        values[rows] = size[rows] * valuation.value / np.where(coin, forwards[rows], 1)
        in_coin = coin_valuation(valuation, forwards[rows])
        lots = table.size[rows, None]
        sensitivities[rows, 0] = (lots * np.where(coin, in_coin.delta, valuation.delta))[:, 0]
        sensitivities[rows, 1] = (lots * valuation.gamma)[:, 0]
        sensitivities[rows, 2] = (lots * np.where(coin, in_coin.vega, valuation.vega))[:, 0]
        sensitivities[rows, 3] = (lots * np.where(coin, in_coin.theta, valuation.theta))[:, 0]
    return values, sensitivities
