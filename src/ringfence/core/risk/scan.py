"""The vectorised scan: buckets by a sparse product of their lots with the risk arrays.

Layout (built when positions change, not when prices do): buckets are grouped into width
classes by how many positions they hold; a class of c buckets with w positions each is a
c x w matrix of instrument rows and one of lots. A class's scenario
P&L, value and Greeks are then one batched product ``lots[c,1,w] @ columns[rows[c,w]]``: the
compressed-row product of a sparse bucket x instrument matrix with the dense risk arrays,
without SciPy and without per-bucket Python. Buckets never share a row, so nothing nets across
buckets by construction.

Requirements per mode:

- portfolio: MM = max(worst weighted scenario loss, Σ short-option minimum) (the scan result
  is the maintenance figure, research §2.4 and §3); IM = MM / maintenance factor x risk
  multiplier;
- isolated and cross: Σ per position of the tiered initial and maintenance margin (futures),
  the standard short-option margin (short options), or the premium (long options: they
  settle futures-style, so their value in equity must be covered);

then equity = collateral + Σ lots x value - basis, health = equity - MM. Everything that
leaves here as money goes through ``rounding``: requirements up, equity down, each guarded by
the magnitude of the operands it was summed from (Σ |lots| x the per-lot magnitude, plus
Σ |basis|), not only of the result.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from enum import IntEnum, unique
from typing import Any

import numpy as np
from numpy.typing import NDArray

from ringfence.core import limits
from ringfence.core.risk.config import RiskConfig
from ringfence.core.risk.instruments import MarginMode
from ringfence.core.risk.margin import margin_tiered, tier_arrays
from ringfence.core.risk.rounding import collateral_units, requirement_units
from ringfence.core.risk.scenarios import InstrumentTable, RiskArrays, days_per_year

Array = NDArray[np.float64]
Index = NDArray[np.int64]
_chunk_rows = 512  # buckets per batched product: keeps the gathered rows in cache
_modes = {MarginMode.isolated: 0, MarginMode.cross: 1, MarginMode.portfolio: 2}


@unique
class Health(IntEnum):
    healthy = 0  # equity covers initial margin
    margin_call = 1  # below initial, above maintenance: no new risk
    liquidatable = 2  # below maintenance


@dataclass(frozen=True, slots=True)
class WidthClass:
    buckets: Index  # (c,)
    rows: NDArray[np.int32]  # (c, w) instrument rows, the zero row as padding
    lots: Array  # (c, w)
    short_lots: Array  # (c, w): lots sold, for the short-option minimum


@dataclass(frozen=True, slots=True)
class BookLayout:
    """Positions arranged for the scan. Flat arrays are sorted by bucket."""

    bucket_count: int
    modes: NDArray[np.int8]  # 0 isolated, 1 cross, 2 portfolio
    position_bucket: Index
    position_row: Index
    position_lots: Array
    bucket_start: Index  # (buckets + 1,) offsets into the flat arrays
    basis: Array  # per bucket, Σ basis of its positions, settlement minor units
    basis_magnitude: Array  # per bucket, Σ |basis|: the rounding guard's share of the basis
    classes: tuple[WidthClass, ...]
    position_size: Array  # |lots|, for the rounding guard's share of the positions
    occupied: Index  # buckets holding at least one position


def build_layout(
    modes: Sequence[MarginMode],
    *,
    position_bucket: Sequence[int] | NDArray[Any],
    position_row: Sequence[int] | NDArray[Any],
    position_lots: Sequence[int] | NDArray[Any],
    position_basis: Sequence[Any] | NDArray[Any],
    zero_row: int,
) -> BookLayout:
    """Arrange positions (bucket index, instrument row, lots, basis) for scanning. A closed
    position (zero lots) still carrying a basis (realised P&L not yet settled) belongs here:
    its basis counts in equity."""
    bucket_count = len(modes)
    assert bucket_count <= limits.buckets_max
    bucket = np.asarray(position_bucket, dtype=np.int64)
    order = np.argsort(bucket, kind="stable")
    bucket = bucket[order]
    row = np.asarray(position_row, dtype=np.int64)[order]
    lots = np.asarray(position_lots, dtype=np.float64)[order]
    basis_flat = np.asarray(position_basis, dtype=np.float64)[order]
    counts = np.bincount(bucket, minlength=bucket_count)
    assert counts.max(initial=0) <= limits.positions_per_bucket_max
    start = np.zeros(bucket_count + 1, dtype=np.int64)
    np.cumsum(counts, out=start[1:])
    basis = np.bincount(bucket, weights=basis_flat, minlength=bucket_count)
    basis_magnitude = np.bincount(bucket, weights=np.abs(basis_flat), minlength=bucket_count)
    mode_codes = np.array([_modes[mode] for mode in modes], dtype=np.int8)
    return BookLayout(
        bucket_count, mode_codes, bucket, row, lots, start, basis.astype(np.float64),
        basis_magnitude.astype(np.float64), _width_classes(counts, start, row, lots, zero_row),
        np.abs(lots), np.flatnonzero(counts > 0),
    )


def _width_classes(
    counts: Index, start: Index, row: Index, lots: Array, zero_row: int
) -> tuple[WidthClass, ...]:
    """Buckets by their exact number of positions: no padding, so a bucket's products are
    computed the same way whatever other buckets hold (bit for bit, not just to rounding)."""
    classes: list[WidthClass] = []
    occupied = counts > 0
    for width in np.unique(counts[occupied]).tolist():
        members = np.flatnonzero(counts == width)
        slot_rows = np.full((members.size, width), zero_row, dtype=np.int32)
        slot_lots = np.zeros((members.size, width))
        member_counts = counts[members]
        offsets = np.repeat(start[members], member_counts)
        within = np.arange(offsets.size) - np.repeat(np.cumsum(member_counts) - member_counts,
                                                     member_counts)
        owner = np.repeat(np.arange(members.size), member_counts)
        slot_rows[owner, within] = row[offsets + within]
        slot_lots[owner, within] = lots[offsets + within]
        short_lots = np.maximum(-slot_lots, 0)
        classes.append(WidthClass(members.astype(np.int64), slot_rows, slot_lots, short_lots))
    return tuple(classes)


def bucket_products(layout: BookLayout, columns: Array) -> Array:
    """(buckets x columns): Σ over each bucket's positions of lots x the instrument's row."""
    out = np.zeros((layout.bucket_count, columns.shape[1]))
    for width_class in layout.classes:
        rows, lots = width_class.rows, width_class.lots
        result = np.empty((rows.shape[0], columns.shape[1]))
        if rows.shape[1] == 1:
            np.multiply(lots, columns[rows[:, 0]], out=result)
        else:
            for low in range(0, rows.shape[0], _chunk_rows):
                high = min(low + _chunk_rows, rows.shape[0])
                np.matmul(
                    lots[low:high, None, :], columns[rows[low:high]], out=result[low:high, None, :]
                )
        out[width_class.buckets] = result
    return out


def _short_option_minimum(layout: BookLayout, arrays: RiskArrays) -> Array:
    """Per bucket, SPAN's floor: Σ over short option lots of the per-lot minimum."""
    minimum = np.zeros(layout.bucket_count)
    if not arrays.short_option_minimum.any():
        return minimum
    per_row = np.append(arrays.short_option_minimum, 0)
    for width_class in layout.classes:
        minimum[width_class.buckets] = np.einsum(
            "cw,cw->c", width_class.short_lots, per_row[width_class.rows]
        )
    return minimum


@dataclass(frozen=True, slots=True)
class ScanResult:
    """Per bucket, in bucket order. Money columns are integer minor units."""

    equity: NDArray[Any]
    initial: NDArray[Any]
    maintenance: NDArray[Any]
    health: NDArray[np.int8]
    worst_scenario: Index  # -1 where the bucket has no scenario loss or is not portfolio
    delta: Array
    gamma: Array
    vega: Array
    theta_per_year: Array  # settlement asset per year of time passing, prices held
    risk_multiplier: Array

    @property
    def theta_per_day(self) -> Array:
        """Theta per calendar day: the yearly figure over 365 (the scan's year, as expiry)."""
        per_day: Array = self.theta_per_year / days_per_year
        return per_day


def scan(
    layout: BookLayout,
    arrays: RiskArrays,
    table: InstrumentTable,
    *,
    collateral: Sequence[int] | NDArray[Any],
    config: RiskConfig,
    underlying_multiplier: Array | None = None,
) -> ScanResult:
    """Equity, requirements and health of every bucket from one set of risk arrays."""
    products = bucket_products(layout, arrays.columns)
    count = arrays.scenarios.count
    initial, maintenance, worst = requirements(
        layout.modes,
        products[:, :count],
        _short_option_minimum(layout, arrays),
        Positions(layout.position_bucket, layout.position_row, layout.position_lots),
        arrays,
        table=table,
        config=config,
        bucket_count=layout.bucket_count,
    )
    multiplier = _bucket_multipliers(layout, table, underlying_multiplier)
    unrealised = products[:, count] - layout.basis
    gross = _gross_magnitude(layout, arrays)
    collateral_array = np.asarray(collateral)
    equity = collateral_array + collateral_units(unrealised, gross + layout.basis_magnitude)
    initial_units = requirement_units(initial * multiplier, gross * multiplier)
    maintenance_units = requirement_units(maintenance, gross)
    health = np.where(
        equity < maintenance_units, Health.liquidatable,
        np.where(equity < initial_units, Health.margin_call, Health.healthy),
    ).astype(np.int8)
    return ScanResult(
        equity, initial_units, maintenance_units, health, worst,
        products[:, count + 1], products[:, count + 2], products[:, count + 3],
        products[:, count + 4], multiplier,
    )


def _gross_magnitude(layout: BookLayout, arrays: RiskArrays) -> Array:
    """Per bucket, Σ |lots| x the per-lot magnitude: how large the float sums were, so that
    rounding can be guarded in proportion (positions are sorted by bucket, hence reduceat)."""
    gross = np.zeros(layout.bucket_count)
    weights = layout.position_size * arrays.magnitude[layout.position_row]
    if weights.size:
        gross[layout.occupied] = np.add.reduceat(
            weights, layout.bucket_start[layout.occupied]
        )
    return gross


@dataclass(frozen=True, slots=True)
class Positions:
    """Flat position arrays: owning bucket, instrument row, signed lots."""

    bucket: Index
    row: Index
    lots: Array


def requirements(
    modes: NDArray[np.int8],
    scenario_pnl: Array,
    minimum: Array,
    positions: Positions,
    arrays: RiskArrays,
    *,
    table: InstrumentTable,
    config: RiskConfig,
    bucket_count: int,
) -> tuple[Array, Array, Index]:
    """(initial, maintenance, worst scenario) per bucket, float64 minor units, before the
    risk multiplier; shared by the full scan and the one-bucket pre-trade check. Portfolio:
    the worst loss is maintenance and initial is maintenance / mm_factor (research §3)."""
    position_bucket, position_row, position_lots = positions.bucket, positions.row, positions.lots
    loss = np.maximum(-scenario_pnl.min(axis=1), 0)
    worst = np.where(loss > 0, scenario_pnl.argmin(axis=1), -1)
    portfolio = modes == _modes[MarginMode.portfolio]
    scanned = np.maximum(loss, minimum)
    maintenance = np.where(portfolio, scanned, 0)
    factor = arrays.scenarios.maintenance_factor
    assert 0 < factor <= 1, "configuration keeps mm_factor in (0, 1]"
    initial = maintenance / factor
    if not portfolio.all():
        standard = ~portfolio[position_bucket]
        standard_initial, standard_maintenance = _standard_margin(
            Positions(position_bucket[standard], position_row[standard], position_lots[standard]),
            arrays,
            table,
            config=config,
            bucket_count=bucket_count,
        )
        initial = initial + standard_initial
        maintenance = maintenance + standard_maintenance
    return initial, maintenance, np.where(portfolio, worst, -1)


def _standard_margin(
    positions: Positions,
    arrays: RiskArrays,
    table: InstrumentTable,
    *,
    config: RiskConfig,
    bucket_count: int,
) -> tuple[Array, Array]:
    """Σ per position of tiered futures margin, standard short-option margin, or a long
    option's premium (its value at the mark, initial and maintenance alike)."""
    bucket, row, lots = positions.bucket, positions.row, positions.lots
    size = np.abs(lots)
    notional = size * arrays.notional[row]
    initial = np.zeros(lots.size)
    maintenance = np.zeros(lots.size)
    option = table.option[row]
    short = lots < 0
    initial[option & short] = (size * arrays.short_option_initial[row])[option & short]
    maintenance[option & short] = (size * arrays.short_option_maintenance[row])[option & short]
    long_option = option & (lots > 0)
    premium = (size * arrays.long_option_premium[row])[long_option]
    initial[long_option] = premium
    maintenance[long_option] = premium
    futures = ~option
    for schedule, scale, members in _schedule_groups(table, row, futures):
        floors, rates, deductions, initial_rates = tier_arrays(config.tiers[schedule], scale)
        tiered_initial, tiered_maintenance = margin_tiered(
            notional[members], floors, rates, deductions, initial_rates
        )
        initial[members] = tiered_initial
        maintenance[members] = tiered_maintenance
    initial_sums = np.bincount(bucket, weights=initial, minlength=bucket_count).astype(np.float64)
    maintenance_counts = np.bincount(bucket, weights=maintenance, minlength=bucket_count)
    maintenance_sums = maintenance_counts.astype(np.float64)
    return initial_sums, maintenance_sums


def _schedule_groups(
    table: InstrumentTable, row: Index, mask: NDArray[np.bool_]
) -> list[tuple[str, int, Index]]:
    keys = [(i.tiers, i.settlement_scale) for i in table.instruments]
    groups: dict[tuple[str, int], list[int]] = {}
    for k, key in enumerate(keys):
        groups.setdefault(key, []).append(k)
    result = []
    for (schedule, scale), members in groups.items():
        selected = np.flatnonzero(mask & np.isin(row, members))
        if selected.size:
            result.append((schedule, scale, selected))
    return result


def _bucket_multipliers(
    layout: BookLayout, table: InstrumentTable, per_underlying: Array | None
) -> Array:
    """The initial-margin multiplier of each bucket: its riskiest underlying's."""
    multiplier = np.ones(layout.bucket_count)
    if per_underlying is None or layout.position_row.size == 0:
        return multiplier
    per_row = np.append(np.asarray(per_underlying)[table.underlying_index], 1)
    # A closed position (realised P&L awaiting settlement) carries no risk of its own.
    values = np.where(layout.position_lots != 0, per_row[layout.position_row], 1)
    occupied = np.flatnonzero(np.diff(layout.bucket_start) > 0)
    multiplier[occupied] = np.maximum.reduceat(values, layout.bucket_start[occupied])
    return multiplier


@dataclass(frozen=True, slots=True)
class CheckResult:
    """A pre-trade check of one bucket with some orders filled."""

    accepted: bool
    reduces_risk: bool  # the initial requirement strictly falls
    equity: int
    initial: int
    maintenance: int
    initial_before: int


def check_orders(
    layout: BookLayout,
    arrays: RiskArrays,
    table: InstrumentTable,
    *,
    config: RiskConfig,
    bucket: int,
    collateral: int,
    orders: Sequence[tuple[int, int, Any]],
    multiplier: Any = 1,
) -> CheckResult:
    """Would the bucket still cover initial margin after these fills (row, lots, value per
    lot at the order's price)? If not, the orders are accepted only when they strictly lower
    the initial requirement and leave equity at or above zero: a bucket under water may cut
    its risk, but no order may leave it owing more than it holds. Reuses the scan's risk
    arrays: the cost is one small product, not a rescan."""
    assert len(orders) <= limits.orders_per_check_max
    low, high = int(layout.bucket_start[bucket]), int(layout.bucket_start[bucket + 1])
    rows = layout.position_row[low:high]
    lots = layout.position_lots[low:high]
    order_rows = np.array([order[0] for order in orders], dtype=np.int64)
    order_lots = np.array([order[1] for order in orders], dtype=np.float64)
    order_values = np.array([order[2] for order in orders], dtype=np.float64)
    modes = layout.modes[bucket : bucket + 1]
    count = arrays.scenarios.count
    before = _one_bucket(modes, Positions(rows, rows, lots), arrays, table, config)
    rows_after, lots_after = _net(
        np.concatenate([rows, order_rows]), np.concatenate([lots, order_lots])
    )
    after = _one_bucket(
        modes, Positions(rows_after, rows_after, lots_after), arrays, table, config
    )
    order_basis = order_lots * order_values
    basis_after = layout.basis[bucket] + float(order_basis.sum())  # float-ok: valuation sum
    order_magnitude = float(np.abs(order_basis).sum())  # float-ok: guard magnitude
    basis_magnitude = layout.basis_magnitude[bucket] + order_magnitude
    value = float(lots_after @ arrays.columns[rows_after, count])  # float-ok: valuation sum
    gross_before = float(np.abs(lots) @ arrays.magnitude[rows])  # float-ok: guard magnitude
    gross = float(np.abs(lots_after) @ arrays.magnitude[rows_after])  # float-ok: guard magnitude
    equity = collateral + int(collateral_units(value - basis_after, gross + basis_magnitude))
    initial = int(requirement_units(after[0] * multiplier, gross * multiplier))
    initial_before = int(requirement_units(before[0] * multiplier, gross_before * multiplier))
    maintenance = int(requirement_units(after[1], gross))
    reduces = initial < initial_before
    accepted = equity >= initial or (reduces and equity >= 0)
    return CheckResult(accepted, reduces, equity, initial, maintenance, initial_before)


def portfolio_maintenance(
    rows: Sequence[int], lots: Sequence[int], arrays: RiskArrays, table: InstrumentTable, *,
    config: RiskConfig,
) -> int:
    """The maintenance a portfolio bucket holding only these lots (per instrument row) owes,
    as ``check_orders`` computes it from the scan's risk arrays: the worst weighted scenario
    loss or the short-option minimum, rounded up with the operands' guard. Liquidation asks
    it for the positions a partial close would leave."""
    assert len(rows) == len(lots) <= limits.positions_per_bucket_max
    row_array = np.asarray(rows, dtype=np.int64)
    lot_array = np.asarray(lots, dtype=np.float64)  # float-ok: the scan's valuation, as a layout
    modes = np.array([_modes[MarginMode.portfolio]], dtype=np.int8)
    _, maintenance = _one_bucket(
        modes, Positions(row_array, row_array, lot_array), arrays, table, config)
    gross = float(np.abs(lot_array) @ arrays.magnitude[row_array])  # float-ok: guard magnitude
    return int(requirement_units(maintenance, gross))


def _net(rows: Index, lots: Array) -> tuple[Index, Array]:
    unique, inverse = np.unique(rows, return_inverse=True)
    netted = np.bincount(inverse, weights=lots, minlength=unique.size).astype(np.float64)
    return unique.astype(np.int64), netted


def _one_bucket(
    modes: NDArray[np.int8],
    positions: Positions,
    arrays: RiskArrays,
    table: InstrumentTable,
    config: RiskConfig,
) -> tuple[Any, Any]:
    """One bucket's (initial, maintenance); ``positions.bucket`` is ignored."""
    rows, lots = positions.row, positions.lots
    count = arrays.scenarios.count
    pnl = (lots @ arrays.columns[rows, :count])[None, :]
    owner = np.zeros(rows.size, dtype=np.int64)
    minimum = np.maximum(-lots, 0) @ arrays.short_option_minimum[rows]
    initial, maintenance, _ = requirements(
        modes,
        pnl,
        np.array([minimum]),
        Positions(owner, rows, lots),
        arrays,
        table=table,
        config=config,
        bucket_count=1,
    )
    return initial[0], maintenance[0]
