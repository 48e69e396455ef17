"""``ringfence bench fills``: a venue's fills applied through the journaled store.

Method. A fresh SQLite database (WAL, ``synchronous=FULL``) in a temporary folder holds a
venue with one linear perpetual (BTC/USDC, 0.001 BTC lots) and 10,000 funded cross buckets
(set-up outside the clock). The fills are made beforehand: matched pairs at a few prices
around 65,000, one side each, every one charging a fee. Case:

- ``batch_8189_sqlite``: ``RiskService.apply_fills`` of groups of 8,189 fills: each group
  staged on the book, its fees executed by the ledger as one linked chain, and the fee
  transfers' entry and the fills' entry committed in one SQLite transaction (docs/risk.md,
  "Where the book lives"); rate in fills per second, over every group of a run. Each run
  uses a fresh database; the figure is the median of the runs, with the process CPU time
  beside it (the machine may be shared: quote the load average with it).

A check after each run: the book read back from the journal holds every fill, and the
revenue account holds every fee.
"""

from __future__ import annotations

import os
import random
import statistics
import tempfile
import time
from pathlib import Path
from typing import Any

from ringfence.adapters.clock import ManualClock
from ringfence.adapters.signing import MemorySigner
from ringfence.adapters.storage.sqlite import SqliteStore
from ringfence.bench.machine import Progress, machine
from ringfence.core import limits
from ringfence.core.risk.instruments import Bucket, Instrument, InstrumentKind, MarginMode
from ringfence.core.risk.settlement import Fill
from ringfence.demo.venue import fund_buckets, set_up_venue
from ringfence.service.ledger import LedgerService
from ringfence.service.risk import RiskService

symbol = "btc-usdc-perp"
batch = limits.batch_events_max
perp = Instrument(symbol, InstrumentKind.perpetual, "btc", "USDC", 6, 1, 1, 1, 3)


def run_bench(quick: bool = False, progress: Progress | None = None) -> dict[str, Any]:
    buckets = 1_000 if quick else 10_000
    groups = 2 if quick else 8
    runs = 1 if quick else 3
    fills = _fills(buckets, groups * batch)
    walls, cpus = [], []
    for run in range(runs):
        wall, cpu = _run(buckets, fills)
        walls.append(wall)
        cpus.append(cpu)
        if progress is not None:
            progress("fills", run + 1, runs)
    wall = statistics.median(walls)
    return {
        "bench": "fills",
        "machine": machine(),
        "results": [{
            "case": f"batch_{batch}_sqlite",
            "ops_per_s": round(len(fills) / wall, 1),
            "unit": "fills",
            "fills": len(fills),
            "seconds": round(wall, 4),
            "cpu_ops_per_s": round(len(fills) / statistics.median(cpus), 1),
            "runs_s": [round(w, 4) for w in walls],
            "load": os.getloadavg()[0],
        }],
    }


def _fills(buckets: int, count: int) -> list[Fill]:
    rng = random.Random(7)
    fills = []
    for k in range(0, count, 2):
        buyer, seller = rng.sample(range(buckets), 2)
        price = 650_000 + rng.choice((-10, 0, 10))
        lots = rng.randint(1, 20)
        fills.append(Fill(k + 1, f"b{buyer:06d}", symbol, lots, price, lots * 100))
        fills.append(Fill(k + 2, f"b{seller:06d}", symbol, -lots, price, lots * 100))
    return fills


def _run(buckets: int, fills: list[Fill]) -> tuple[float, float]:
    with tempfile.TemporaryDirectory() as folder:
        ledger = LedgerService(SqliteStore(str(Path(folder) / "fills.db")), ManualClock(),
                               MemorySigner(bytes(32)))
        try:
            book = [Bucket(f"b{k:06d}", f"c{k:06d}", MarginMode.cross, "USDC", "USDC")
                    for k in range(buckets)]
            revenue = set_up_venue(ledger, sorted({b.client for b in book}))
            risk = RiskService(ledger, revenue)
            risk.define_instruments([perp])
            risk.open_buckets((b, "venue-usdc") for b in book)
            fund_buckets(ledger, book, {"USDC": 10**12})
            started, cpu = time.perf_counter(), time.process_time()
            results = risk.apply_fills(fills)
            wall, cpu = time.perf_counter() - started, time.process_time() - cpu
            _check(ledger, risk, fills, results)
        finally:
            ledger.close()
    return wall, cpu


def _check(
    ledger: LedgerService, risk: RiskService, fills: list[Fill], results: list[Any]
) -> None:
    assert all(result.succeeded for result in results)
    read, _ = RiskService.from_journal(ledger)
    assert len(read.fills) == len(fills)
    assert read.positions == risk.positions
    fees = sum(fill.fee_units for fill in fills)
    assert ledger.balance(risk.revenue_accounts["USDC"]).balance == fees
