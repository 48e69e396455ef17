"""``ringfence bench as_of``: past reads of pool coverage (``as_of_seq``) on a long journal.

One SQLite ledger (``synchronous=FULL``, every check, signed heads) of 1,000,000 deposits in
batches of 8,189 over 1,000 clients of one omnibus pool (100,000 with ``--quick``), then the
service's coverage read (``access.positions``, what ``GET /v1/positions?as_of_seq=`` calls)
at past journal entries, in this process:

- ``coverage_as_of_first_read``: the first past read, at the entry before the head: nothing
  is kept yet, so it replays the journal from its start (and keeps snapshots on the way,
  persisting them beside the ledger, signed: service/ledger/past_seal.py);
- ``coverage_as_of_read``: then reads at random past entries, one after another, each from
  the nearest snapshot (service/ledger/past.py), with their median and 99th percentile;
- ``coverage_as_of_first_read_after_start``: the service closed and opened again (its
  snapshots in memory gone), its first past read, at the same entry: from the persisted
  snapshots, loaded and checked (signature, entry hash) by that read;
- ``coverage_as_of_read_from_start``: a few reads with no snapshots kept, each a replay from
  the journal's start (what every past read cost before the snapshots).
"""

from __future__ import annotations

import os
import random
import statistics
import tempfile
import time
from pathlib import Path
from typing import Any, Final

from ringfence import bootstrap
from ringfence.bench.api import batch_events, bench_batch, bench_ledger
from ringfence.bench.machine import Progress, machine, peak_memory_mib
from ringfence.core.access.roles import Actor
from ringfence.core.principals.records import PrincipalRole
from ringfence.service import access
from ringfence.service.ledger.past import PastStates

_auditor: Final = Actor("auditor", PrincipalRole.auditor)


def run_bench(quick: bool = False, progress: Progress | None = None) -> dict[str, Any]:
    batches = 13 if quick else 123  # 106,457 or 1,007,247 transfers
    reads = 50 if quick else 300
    load_before = os.getloadavg()
    chooser = random.Random(7)
    with tempfile.TemporaryDirectory(prefix="ringfence-bench-as-of-") as folder:
        url, ledger = bench_ledger(Path(folder) / "as-of.db")
        try:
            for number in range(batches):
                assert all(result.succeeded for result in ledger.submit(bench_batch(number)))
                if progress and number % 8 == 0:
                    progress("as_of", number, batches + 3)
            first_transfers_seq = ledger.seq - batches + 1
            past = list(range(first_transfers_seq, ledger.seq))
            first = _timed_read(ledger, past[-1])
            if progress:
                progress("as_of", batches + 1, batches + 3)
            timings = [_timed_read(ledger, chooser.choice(past)) for _ in range(reads)]
            if progress:
                progress("as_of", batches + 2, batches + 3)
            kept = len(ledger.past_states)
            ledger.close()
            ledger = bootstrap.open_ledger(url)
            after_start = _timed_read(ledger, past[-1])
            loaded = len(ledger.past_states)
            ledger.past_states = PastStates(snapshots_max=0)
            from_start = [_timed_read(ledger, chooser.choice(past)) for _ in range(3)]
        finally:
            ledger.close()
    transfers = batches * batch_events
    results = [
        {"case": "coverage_as_of_first_read", "ops_per_s": round(1 / first, 3),
         "transfers": transfers, "seconds": round(first, 3)},
        _latency("coverage_as_of_read", timings, transfers, snapshots=kept),
        {"case": "coverage_as_of_first_read_after_start", "ops_per_s": round(1 / after_start, 3),
         "transfers": transfers, "seconds": round(after_start, 3), "snapshots_loaded": loaded},
        _latency("coverage_as_of_read_from_start", from_start, transfers),
    ]  # fmt: skip
    return {"bench": "as_of", "machine": machine(), "results": results,
            "load_average": list(load_before), "load_average_after": list(os.getloadavg()),
            "peak_memory_mib": peak_memory_mib()}  # fmt: skip


def _timed_read(ledger: Any, seq: int) -> float:
    started = time.perf_counter()
    rows = access.positions(ledger, _auditor, as_of_seq=str(seq))
    seconds = time.perf_counter() - started
    assert rows and rows[0]["coverage"] is not None, rows
    return seconds


def _latency(case: str, seconds: list[float], transfers: int, **more: Any) -> dict[str, Any]:
    ordered = sorted(seconds)
    p99 = ordered[min(len(ordered) - 1, int(len(ordered) * 0.99))]
    return {"case": case, "ops_per_s": round(len(seconds) / sum(seconds), 1),
            "reads": len(seconds), "transfers": transfers,
            "p50_ms": round(statistics.median(ordered) * 1000, 3),
            "p99_ms": round(p99 * 1000, 3), **more}  # fmt: skip
