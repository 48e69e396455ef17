"""``ringfence bench risk``: the risk engine's hot paths, in memory.

Method. A synthetic book on one underlying: 5,000 instruments (a fifth inverse futures, the
rest coin-settled options over 80 strikes and 300 expiries), 100,000 portfolio buckets of 20
positions each drawn uniformly, the 35-scenario grid. Cases:

- ``risk_arrays_5000x35``: revalue every instrument under every scenario (Black-76 for the
  options) into the risk arrays; rate in rebuilds per second.
- ``portfolio_scan_100000x20x35``: one full scan (products, requirements, rounding to minor
  units, health, Greeks); rate in buckets per second.
- ``pre_trade_check``: one bucket with one order, reusing the scan's arrays; rate in checks
  per second, with p50 and p99 latency.

Inputs are built before the clock starts; each case runs several times and the figure is the
median. Single-threaded NumPy; the machine may be shared, so quote the load with the figures.
"""

from __future__ import annotations

import os
import statistics
import time
from collections.abc import Callable
from typing import Any

import numpy as np

from ringfence.bench.machine import Progress, machine, peak_memory_mib
from ringfence.core.risk.config import RiskConfig
from ringfence.core.risk.instruments import Instrument, InstrumentKind, MarginMode, OptionType
from ringfence.core.risk.scan import build_layout, check_orders, scan
from ringfence.core.risk.scenarios import build_risk_arrays, grid_scenarios, instrument_table

day_ns = 86_400 * 10**9


def synthetic_instruments(count: int) -> list[Instrument]:
    instruments = []
    for k in range(count):
        if k % 5 == 0:
            instruments.append(
                Instrument(f"f{k}", InstrumentKind.future, "btc", "BTC", 8, 1, 5, 100,
                           inverse=True, tiers="inverse", expiry_ns=(k % 300 + 1) * day_ns)
            )
        else:
            instruments.append(
                Instrument(f"o{k}", InstrumentKind.option, "btc", "BTC", 8, 4, 5, 1,
                           expiry_ns=(k % 300 + 1) * day_ns,
                           strike_units=30_000 + (k % 80) * 1_000,
                           option_type=OptionType.call if k % 2 else OptionType.put)
            )
    return instruments


def run_bench(quick: bool = False, progress: Progress | None = None) -> dict[str, Any]:
    instruments_count, buckets, width = (1_000, 10_000, 20) if quick else (5_000, 100_000, 20)
    runs = 3 if quick else 9
    config = RiskConfig()
    table = instrument_table(synthetic_instruments(instruments_count))
    rng = np.random.default_rng(1)
    forwards = 65_000 * (1 + rng.normal(0, 0.01, instruments_count))
    vols = np.where(table.option, rng.uniform(0.4, 0.9, instruments_count), 0)
    scenarios = grid_scenarios(config.grid)

    def rebuild() -> Any:
        return build_risk_arrays(
            table, forwards, vols, now_ns=0, scenarios=scenarios, config=config
        )

    results = []
    seconds, arrays = _median(rebuild, runs, progress, "risk arrays")
    results.append(_row(f"risk_arrays_{instruments_count}x{scenarios.count}", 1 / seconds,
                        seconds, instruments=instruments_count, scenarios=scenarios.count))
    lots = rng.integers(-20, 21, buckets * width)
    lots[lots == 0] = 1
    layout = build_layout(
        [MarginMode.portfolio] * buckets,
        position_bucket=np.repeat(np.arange(buckets), width),
        position_row=rng.integers(0, instruments_count, buckets * width),
        position_lots=lots,
        position_basis=np.zeros(buckets * width),
        zero_row=instruments_count,
    )
    collateral = np.full(buckets, 10**10, dtype=np.int64)
    seconds, _ = _median(
        lambda: scan(layout, arrays, table, collateral=collateral, config=config),
        runs, progress, "scan",
    )
    results.append(_row(f"portfolio_scan_{buckets}x{width}x{scenarios.count}", buckets / seconds,
                        seconds, positions_per_s=round(buckets * width / seconds, 1)))
    results.append(
        _check_case(layout, arrays, table, config=config, buckets=buckets, progress=progress)
    )
    return {
        "bench": "risk",
        "machine": machine(),
        "load_average": list(os.getloadavg()),
        "method": "synthetic book, single-threaded NumPy, median of runs; "
        "see ringfence/bench/risk.py",
        "results": results,
    }


def _check_case(
    layout: Any, arrays: Any, table: Any, *, config: RiskConfig, buckets: int,
    progress: Progress | None,
) -> dict[str, Any]:
    rng = np.random.default_rng(2)
    latencies = []
    count = 2_000
    for k in range(count):
        if progress is not None and k % 500 == 0:
            progress("pre-trade checks", k, count)
        bucket = int(rng.integers(0, buckets))
        instrument = int(rng.integers(0, table.count))
        value = float(arrays.columns[instrument, arrays.scenarios.count])
        started = time.perf_counter()
        check_orders(layout, arrays, table, config=config, bucket=bucket, collateral=10**10,
                     orders=[(instrument, 5, value)])
        latencies.append(time.perf_counter() - started)
    latencies.sort()
    median = latencies[len(latencies) // 2]
    row = _row("pre_trade_check", 1 / median, median)
    row["latency_ms_p99"] = round(latencies[int(len(latencies) * 0.99)] * 1000, 4)
    return row


def _median(
    work: Callable[[], Any], runs: int, progress: Progress | None, stage: str
) -> tuple[float, Any]:
    seconds = []
    result = None
    for run in range(runs):
        if progress is not None:
            progress(stage, run, runs)
        started = time.perf_counter()
        result = work()
        seconds.append(time.perf_counter() - started)
    return statistics.median(seconds), result


def _row(case: str, rate: float, seconds: float, **extra: Any) -> dict[str, Any]:
    return {
        "case": case,
        "ops_per_s": round(rate, 1),
        "latency_ms_p50": round(seconds * 1000, 4),
        "peak_memory_mib": peak_memory_mib(),
        **extra,
    }
