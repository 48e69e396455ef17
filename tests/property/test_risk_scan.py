"""Properties of the risk scan (DESIGN.md §5): buckets are ring-fences, hedges never cost
more than their parts, and rounding never favours the client."""

from __future__ import annotations

import dataclasses
from fractions import Fraction

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from ringfence.core.risk.config import RiskConfig
from ringfence.core.risk.instruments import Instrument, InstrumentKind, MarginMode, OptionType
from ringfence.core.risk.ranges import Book, bucket_ranges, joined_scans, scan_bucket_range
from ringfence.core.risk.rounding import collateral_units, requirement_units
from ringfence.core.risk.scan import ScanResult, build_layout, scan
from ringfence.core.risk.scenarios import (
    build_risk_arrays,
    grid_scenarios,
    instrument_table,
    span_scenarios,
)

day_ns = 86_400 * 10**9
config = RiskConfig()
instruments = [
    Instrument("btc-usdt", InstrumentKind.perpetual, "btc", "USDT", 6, 1, 1, 1, 3),
    Instrument("btc-fut", InstrumentKind.future, "btc", "USDT", 6, 1, 1, 1, 3,
               expiry_ns=90 * day_ns),
    *(
        Instrument(f"btc-{kind.value[0]}-{strike}", InstrumentKind.option, "btc", "USDT", 6, 2,
                   1, 1, 2, expiry_ns=days * day_ns, strike_units=strike, option_type=kind)
        for kind in OptionType
        for strike in (55_000, 65_000, 75_000)
        for days in (7, 60)
    ),
]
table = instrument_table(instruments)
forwards = np.full(table.count, 65_000.0)  # float-ok: test prices
vols = np.where(table.option, 0.55, 0)  # float-ok: test vols
profiles = [grid_scenarios(config.grid), span_scenarios(config.span)]
risk = [
    build_risk_arrays(table, forwards, vols, now_ns=0, scenarios=s, config=config)
    for s in profiles
]

position = st.tuples(st.integers(0, table.count - 1), st.integers(-500, 500).filter(bool))
bucket = st.lists(position, min_size=0, max_size=6)
mode = st.sampled_from(list(MarginMode))


def scan_book(modes, buckets, collateral, arrays):  # type: ignore[no-untyped-def]
    flat = [(b, row, lots) for b, held in enumerate(buckets) for row, lots in held]
    layout = build_layout(
        modes,
        position_bucket=[p[0] for p in flat],
        position_row=[p[1] for p in flat],
        position_lots=[p[2] for p in flat],
        position_basis=[0] * len(flat),
        zero_row=table.count,
    )
    return scan(layout, arrays, table, collateral=collateral, config=config)


@settings(max_examples=60, deadline=None)
@given(
    st.lists(st.tuples(mode, bucket, st.integers(0, 10**12)), min_size=2, max_size=6),
    st.integers(0, 4), bucket, st.integers(0, 10**12), st.integers(0, 1),
)
def test_a_bucket_depends_only_on_its_own_positions_and_collateral(
    rows, target, replacement, collateral, profile
) -> None:  # type: ignore[no-untyped-def]
    target %= len(rows)
    modes = [r[0] for r in rows]
    buckets = [r[1] for r in rows]
    before = scan_book(modes, buckets, [r[2] for r in rows], risk[profile])
    other = (target + 1) % len(rows)
    buckets[other] = replacement
    changed_collateral = [r[2] for r in rows]
    changed_collateral[other] = collateral
    after = scan_book(modes, buckets, changed_collateral, risk[profile])
    for field in ("equity", "initial", "maintenance", "health"):
        assert getattr(before, field)[target] == getattr(after, field)[target]
    assert before.delta[target] == after.delta[target]


@settings(max_examples=80, deadline=None)
@given(bucket, bucket, st.integers(0, 1))
def test_a_hedge_never_raises_portfolio_margin_above_the_sum_of_parts(
    first, second, profile
) -> None:  # type: ignore[no-untyped-def]
    modes = [MarginMode.portfolio] * 3
    result = scan_book(modes, [first, second, first + second], [0, 0, 0], risk[profile])
    assert int(result.initial[2]) <= int(result.initial[0]) + int(result.initial[1])
    assert int(result.maintenance[2]) <= int(result.maintenance[0]) + int(result.maintenance[1])


finite = st.floats(-1e17, 1e17, allow_nan=False, allow_infinity=False)


@settings(max_examples=300, deadline=None)
@given(st.lists(finite, min_size=1, max_size=20))
def test_rounding_never_favours_the_client(values) -> None:  # type: ignore[no-untyped-def]
    array = np.array(values)
    for value, up, down in zip(
        values, requirement_units(array), collateral_units(array), strict=True
    ):
        assert Fraction(int(up)) >= Fraction(value)
        assert Fraction(int(down)) <= Fraction(value)
        assert int(up) - int(down) <= 2 + abs(value) / 2**38


@settings(max_examples=60, deadline=None)
@given(
    st.lists(st.tuples(mode, bucket, st.integers(0, 10**12)), min_size=0, max_size=12),
    st.integers(1, 13), st.integers(0, 1),
)
def test_a_scan_by_bucket_ranges_is_the_whole_scan_bit_for_bit(
    rows, buckets_per_range, profile
) -> None:  # type: ignore[no-untyped-def]
    modes = [r[0] for r in rows]
    flat = [(b, row, lots) for b, r in enumerate(rows) for row, lots in r[1]]
    collateral = np.array([r[2] for r in rows], dtype=np.int64)
    whole = scan_book(modes, [r[1] for r in rows], collateral, risk[profile])
    book = Book(modes, position_bucket=[p[0] for p in flat], position_row=[p[1] for p in flat],
                position_lots=[p[2] for p in flat], position_basis=[0] * len(flat),
                collateral=collateral)
    parts = bucket_ranges(book, risk[profile], table, config, None,
                          buckets_per_range=buckets_per_range)
    joined = joined_scans(scan_bucket_range(part) for part in parts)
    for field in dataclasses.fields(ScanResult):
        mine, theirs = getattr(joined, field.name), getattr(whole, field.name)
        assert mine.dtype == theirs.dtype, field.name
        assert np.array_equal(mine, theirs, equal_nan=mine.dtype.kind == "f"), field.name
