"""``ringfence bench liquidation``: detection, planning and posting of a crash's liquidations.

Method. A fresh SQLite database (WAL, ``synchronous=FULL``) in a temporary folder holds a
venue with one linear perpetual (BTC/USDC, 0.001 BTC lots): 10,000 isolated longs opened at
65,000 with margins from 7.5% to 8.0% of notional, 5,000 cross shorts on the other side
(profitable in the crash, the auto-deleveraging counterparties), a maker that takes the close
orders, and a thin insurance fund. The mark then gaps to 60,000 (-7.7%): every long is below
maintenance; by their margins (``_margin_ppm``) about 45% close in part, 45% in full and 10% go
through their bankruptcy price (the fund, then auto-deleveraging). Cases:

- ``scan_detect_15001``: one risk scan of every bucket (collateral read from the ledger)
  and the candidates taken from it; rate in buckets per second. The case checks that all
  10,000 are found by that one scan.
- ``plan_10000``: ``plan_liquidations`` over the whole book (15,001 buckets, 10,000 of them
  liquidatable) with the vectorised path, as ``LiquidationService.plan`` runs it (Python's
  cycle collector paused); rate in liquidations per second.
- ``plan_10000_exact``: the same plan one bucket at a time (``vectorised=False``), the
  reference the vectorised path is tested against.
- ``post_<transfers>``: ``LiquidationService.apply`` of that plan: one linked chain per market
  (cut between buckets at 8,189 events), submitted in ledger batches through the SQLite store,
  then the book's positions; rate in transfers per second (compare ``bench ledger``).

Set-up is outside the clock. Planning is pure and runs several times on the same inputs;
posting runs once per fresh database. Figures are medians; the machine may be shared, so
quote the load average with them.
"""

from __future__ import annotations

import os
import statistics
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import Any

from ringfence.adapters.clock import ManualClock
from ringfence.adapters.signing import MemorySigner
from ringfence.adapters.storage.sqlite import SqliteStore
from ringfence.bench.machine import Progress, machine, peak_memory_mib
from ringfence.core.liquidation.detection import buckets_from_scan, candidates
from ringfence.core.liquidation.plan import plan_liquidations
from ringfence.core.liquidation.records import LiquidationPlan, LiquidationPolicy
from ringfence.core.money import ppm_share_floor
from ringfence.core.risk.instruments import Bucket, Instrument, InstrumentKind, MarginMode
from ringfence.core.risk.market import MarketData
from ringfence.core.risk.settlement import Fill
from ringfence.demo.venue import fund_buckets, set_up_insurance, set_up_venue
from ringfence.service.ledger import LedgerService, collector_paused
from ringfence.service.liquidation import LiquidationService, round_id
from ringfence.service.risk import RiskService
from ringfence.service.risk_ledger import collateral_id

symbol = "btc-usdc-perp"
entry_units, crash_units = 650_000, 600_000  # 65,000.0 and 60,000.0 USDC
fund_per_long_units = 2 * 10**6  # thin: the bankruptcies drain it, then deleverage shorts
# A 0.01% fee: the round's fees do not cover its bankruptcies, so deleveraging takes the rest.
policy = LiquidationPolicy(partial_fraction_ppm=500_000, slippage_ppm=1_000, fee_ppm=100)


def run_bench(quick: bool = False, progress: Progress | None = None) -> dict[str, Any]:
    longs, runs, posts = (2_000, 3, 1) if quick else (10_000, 5, 3)
    results: list[dict[str, Any]] = []
    posting = _Timing([], [])
    transfers = 0
    for post in range(posts):
        with tempfile.TemporaryDirectory(prefix="ringfence-bench-") as folder:
            venue = _Venue(Path(folder) / "liquidation.db", longs)
            try:
                if post == 0:
                    results += venue.pure_cases(runs, progress)
                _report(progress, "posting", post, posts)
                transfers = venue.post(posting)
            finally:
                venue.close()
    results.append(_row(f"post_{transfers}", transfers, posting, unit="transfers"))
    return {
        "bench": "liquidation",
        "machine": machine(),
        "load_average": list(os.getloadavg()),
        "method": "synthetic crash on one linear perpetual, SQLite store, medians; "
        "see ringfence/bench/liquidation.py",
        "results": results,
    }


class _Venue:
    """The bench's venue on a fresh SQLite ledger, crashed and scanned."""

    def __init__(self, path: Path, longs: int) -> None:
        self.ledger = LedgerService(SqliteStore(str(path)), ManualClock(), MemorySigner())
        self.longs = longs
        instrument = Instrument(symbol, InstrumentKind.perpetual, "btc", "USDC", 6, 1, 1, 1, 3)
        shorts = longs // 2
        clients = [f"l{k:05d}" for k in range(longs)] + [f"s{k:05d}" for k in range(shorts)]
        self.risk = RiskService(self.ledger, set_up_venue(self.ledger, [*clients, "maker"]))
        self.risk.define_instruments([instrument])
        buckets = [Bucket(c, c, MarginMode.isolated, "USDC", symbol) for c in clients[:longs]]
        buckets += [Bucket(c, c, MarginMode.cross, "USDC", "USDC") for c in clients[longs:]]
        maker = Bucket("maker", "maker", MarginMode.cross, "USDC", "USDC")
        self.risk.open_buckets([(b, "venue-usdc") for b in [*buckets, maker]])
        fills = []
        for k, bucket in enumerate(buckets[:longs]):
            lots = 500 + k % 1_500  # 0.5 to 2 BTC
            margin_ppm = _margin_ppm(k)
            notional = instrument.notional(lots, entry_units)
            fund_buckets(self.ledger, [bucket], {"USDC": ppm_share_floor(notional, margin_ppm)})
            short = buckets[longs + k % shorts].name
            fills += [Fill(2 * k + 1, bucket.name, symbol, lots, entry_units),
                      Fill(2 * k + 2, short, symbol, -lots, entry_units)]
        fund_buckets(self.ledger, buckets[longs:], {"USDC": 200_000 * 10**6})
        fund_buckets(self.ledger, [maker], {"USDC": 10**9 * 10**6})
        self.risk.apply_fills(fills)
        fund_units = fund_per_long_units * longs
        capital = set_up_insurance(self.ledger, self.risk, {symbol: fund_units})
        self.risk.takers[symbol] = "maker"
        self.service = LiquidationService(self.risk, policy)
        self.service.fund_insurance(symbol, fund_units, capital["USDC"])
        self.market = MarketData(self.ledger.clock.now_ns(), {symbol: crash_units})

    def pure_cases(self, runs: int, progress: Progress | None) -> list[dict[str, Any]]:
        risk = self.risk
        timing, found = _median(lambda: candidates(risk.scan(self.market).result), runs,
                                progress, "scan and detect")
        buckets = len(risk.buckets)
        assert found.shape[0] == self.longs, f"one scan finds all: {found.shape[0]}"
        rows = [_row(f"scan_detect_{buckets}", buckets, timing, unit="buckets",
                     candidates=int(found.shape[0]))]
        inputs = self._inputs()
        for case, vectorised in ((f"plan_{self.longs}", True), (f"plan_{self.longs}_exact",
                                                                   False)):
            timing, plan = _median(partial(_plan, inputs, vectorised), runs, progress, case)
            rows.append(_row(case, len(plan.liquidated), timing,
                             unit="liquidations", liquidated=len(plan.liquidated),
                             partial=len(plan.partial), deleveraged=len(plan.deleveraging),
                             transfers=len(plan.transfers)))
        return rows

    def _inputs(self) -> dict[str, Any]:
        risk = self.risk
        state = risk.scan(self.market)
        names = [b.name for b in state.buckets]
        positions = {p.bucket: (p,) for p in risk.positions.values()}
        collateral = [risk.ledger.balance(collateral_id(n)).balance for n in names]
        return {
            "round": round_id(risk, self.market),
            "book": buckets_from_scan(state.result, names, ["USDC"] * len(names), collateral,
                                      positions),
            "instruments": risk.instruments, "marks": dict(self.market.prices),
            "insurance": self.service.insurance_balances(), "tiers": risk.config.tiers,
        }

    def post(self, timing: _Timing) -> int:
        """Apply the round's plan once (a replay would only find ``exists``)."""
        _, plan = self.service.plan(self.market)
        wall, cpu = time.perf_counter(), time.process_time()
        outcome = self.service.apply(plan)
        timing.cpu.append(time.process_time() - cpu)
        timing.wall.append(time.perf_counter() - wall)
        assert outcome.ok and outcome.applied, outcome.chains
        return len(plan.transfers)

    def close(self) -> None:
        self.ledger.close()


def _margin_ppm(k: int) -> int:
    """Margin at entry, in ppm of the entry notional, by band: the crash costs 7.69% of it, so
    10% of the longs (7.50-7.75%) go through their bankruptcy price, 45% (7.80-7.95%) close in
    full and 45% (7.96-8.00%) close in part (the others of that band in full)."""
    band = k % 20
    spread = (k * 7_919) % 1_000
    if band < 2:
        return 75_000 + spread * 2_500 // 1_000
    if band < 11:
        return 78_000 + spread * 1_500 // 1_000
    return 79_600 + spread * 400 // 1_000


def _plan(inputs: dict[str, Any], vectorised: bool) -> LiquidationPlan:
    """The core planner as the service runs it: with the cycle collector paused."""
    with collector_paused():
        return plan_liquidations(
            inputs["round"], inputs["book"], inputs["instruments"], inputs["marks"],
            insurance=inputs["insurance"], tiers=inputs["tiers"], policy=policy,
            vectorised=vectorised,
        )


def _median(
    work: Callable[[], Any], runs: int, progress: Progress | None, stage: str
) -> tuple[_Timing, Any]:
    """Wall and CPU seconds of each run. On a shared machine the wall time includes waiting
    for a core; the process's CPU time does not, so both are reported."""
    timing = _Timing([], [])
    result = None
    for run in range(runs):
        _report(progress, stage, run, runs)
        wall, cpu = time.perf_counter(), time.process_time()
        result = work()
        timing.cpu.append(time.process_time() - cpu)
        timing.wall.append(time.perf_counter() - wall)
    return timing, result


@dataclass(frozen=True, slots=True)
class _Timing:
    wall: list[float]
    cpu: list[float]

    @property
    def median(self) -> float:
        return statistics.median(self.wall)


def _report(progress: Progress | None, stage: str, done: int, total: int) -> None:
    if progress is not None:
        progress(stage, done, total)


def _row(case: str, count: int, timing: _Timing, **extra: Any) -> dict[str, Any]:
    """Rate and latency from the median wall time, with every run's wall and CPU times."""
    seconds = timing.median
    return {
        "case": case,
        "ops_per_s": round(count / seconds, 1),
        "latency_ms_p50": round(seconds * 1000, 3),
        "cpu_ms_p50": round(statistics.median(timing.cpu) * 1000, 3),
        "runs_ms": [round(s * 1000, 1) for s in timing.wall],
        "runs_cpu_ms": [round(s * 1000, 1) for s in timing.cpu],
        "peak_memory_mib": peak_memory_mib(),
        **extra,
    }
