"""A venue's fill writer that is killed with SIGKILL by ``test_crash_fills.py``.

It opens (or creates) a SQLite ledger with a small venue (one market, twenty funded cross
buckets and one with no collateral), then applies deterministic groups of fills forever, each
fill charging a fee. Group ``k`` always holds the same fills (ids ``k * 10_000 + i``), so
after a restart it resubmits the group it was working on and gets ``exists`` for what had
committed. Every third group (of at most 9 fills) holds a fill of the bucket with no
collateral: its fee is refused, so the group's fee chain is refused and each fill is applied
alone (the other path). After each group is acknowledged it appends ``k`` to a log and fsyncs it.
"""

from __future__ import annotations

import os
import random
import sys
import time

from ringfence.adapters.clock import SystemClock
from ringfence.adapters.signing import MemorySigner
from ringfence.adapters.storage.sqlite import SqliteStore
from ringfence.core.errors import Result
from ringfence.core.risk.instruments import Bucket, MarginMode
from ringfence.core.risk.settlement import Fill
from ringfence.demo.venue import fund_buckets, pools, set_up_venue, venue_instruments
from ringfence.service.ledger import LedgerService
from ringfence.service.risk import RiskService

symbol = "btc-usdc-perp"
funded = [Bucket(f"f{k:03d}", f"c{k:03d}", MarginMode.cross, "USDC", "USDC") for k in range(20)]
poor = Bucket("poor", "c-poor", MarginMode.cross, "USDC", "USDC")
expiry_base_ns = 1_700_000_000 * 10**9  # the dated markets' expiries: fixed, not the clock's


def set_up(ledger: LedgerService) -> RiskService:
    """The venue, once: later runs read it back from the journal."""
    risk, _ = RiskService.from_journal(ledger)
    if risk.instruments:
        return risk
    revenue = set_up_venue(ledger, sorted({b.client for b in [*funded, poor]}))
    risk = RiskService(ledger, revenue)
    risk.define_instruments(venue_instruments(expiry_base_ns))
    risk.open_buckets([(b, pools["USDC"]) for b in [*funded, poor]])
    fund_buckets(ledger, funded, {"USDC": 10**12})
    return risk


def group(k: int) -> list[Fill]:
    rng = random.Random(k)
    fills = []
    size = rng.choice((1, 8, 64, 256))
    if k % 3 == 0:
        size = min(size, 8)  # applied one by one, a commit each: kept short
    for i in range(size):
        bucket = rng.choice(funded).name
        lots = rng.randint(1, 5) * rng.choice((1, -1))
        fills.append(Fill(k * 10_000 + i + 1, bucket, symbol, lots, 650_000, rng.randint(1, 99)))
    if k % 3 == 0:
        fills.append(Fill(k * 10_000 + 9_999, poor.name, symbol, 1, 650_000, 5))
    return fills


def open_ledger(path: str) -> LedgerService:
    return LedgerService(
        SqliteStore(path), SystemClock(), MemorySigner(bytes(32)), checkpoint_interval_batches=3
    )


def main(path: str, acknowledgements: str) -> None:
    ledger = open_ledger(path)
    risk = set_up(ledger)
    done = 0
    if os.path.exists(acknowledgements):
        with open(acknowledgements, encoding="ascii") as log:
            done = max((int(line) for line in log if line.strip()), default=0)
    descriptor = os.open(acknowledgements, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
    k = done + 1
    sys.stdout.write("writing\n")
    sys.stdout.flush()
    while True:
        fills = group(k)
        results = risk.apply_fills(fills)
        for fill, result in zip(fills, results, strict=True):
            expected = fill.bucket == poor.name or result in (Result.ok, Result.exists)
            assert expected, (fill, result)
        os.write(descriptor, f"{k}\n".encode("ascii"))
        os.fsync(descriptor)
        k += 1
        time.sleep(0.002)


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2])
