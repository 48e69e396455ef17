"""``ringfence bench insolvency``: a failure simulation and a resolution pack at scale.

Method. ``simulate_N``: a synthetic firm of N clients in three assets (BTC, ETH, USDC):
eight omnibus custody pools, one margin-collateral pool, one earn pool (title transfer) and an
individual custody pool for one client in ten; about 1.6 positions per client with amounts
drawn log-uniformly over eight orders of magnitude; one wallet per pool and asset, each pool
holding its claims less a random shortfall of up to 5%. The scenario hacks a hot wallet, loses
house funds, flags one pool for cross-client funding, breaches another, sets off loans
against collateral, screens 10,000 moves from earn and pays out in cash. One run times
``compare`` (the simulation segregated and again commingled: two full passes) and, apart,
building the JSON document of every client's recovery. The book is built before the clock
starts (gathering it from a ledger is part of the pack case). ``simulate_ranges_N``: the same
simulation in client ranges of 2^18 (``core/insolvency/ranges.py``: the ranges' two passes and
the exact merge, every range's work in this process), checked against ``compare``.
``pack_N``: a SQLite ledger with N clients, each with an account in one of the omnibus custody
pools and one deposit; the case
times ``build_pack`` (every file streamed and hashed, the audit's full journal replay, the
reconciliation statement) and the pack's verification against its index. Medians over runs;
quick mode uses 10,000 clients. ``cpu_seconds`` is this process's processor time over the same
span: on a shared machine it shows the work apart from the waiting. Floats here are timings,
never money.
"""

from __future__ import annotations

import os
import random
import statistics
import tempfile
import time
from pathlib import Path
from typing import Any

from ringfence.adapters.clock import SystemClock
from ringfence.adapters.files.resolution_pack import ZipResolutionPackFiles
from ringfence.adapters.signing import MemorySigner
from ringfence.adapters.storage.sqlite import SqliteStore
from ringfence.bench.machine import Progress, machine, peak_memory_mib
from ringfence.core import limits
from ringfence.core.errors import Result
from ringfence.core.insolvency import (
    Book,
    FirmNames,
    Move,
    Outcome,
    Scenario,
    compare,
    parse_scenario,
)
from ringfence.core.insolvency.ranges import (
    Claims,
    add_totals,
    merge_pools,
    pool_covers,
    range_lines,
    range_totals,
)
from ringfence.core.insolvency.simulate import finish, prepare
from ringfence.core.ledger.model import (
    AccountClass,
    AccountDefinition,
    Pool,
    PoolKind,
    Purpose,
    Terms,
    Transfer,
    TransferCode,
)
from ringfence.core.money import Asset
from ringfence.service.insolvency import simulate_document
from ringfence.service.ledger import LedgerService
from ringfence.service.resolution_pack import build_pack
from ringfence.service.resolution_pack_reading import verify_pack

ASSETS = {
    "BTC": Asset("BTC", 8, 1, "bitcoin"),
    "ETH": Asset("ETH", 18, 2, "ethereum"),
    "USDC": Asset("USDC", 6, 3, "ethereum"),
}
OMNIBUS = [f"omni-{i}" for i in range(8)]
PETITION_NS = 1_800_000_000 * 10**9
moves_count = 10_000


def _pools(clients: int) -> dict[str, Pool]:
    pools = {name: Pool(name, PoolKind.omnibus, Terms.custody) for name in OMNIBUS}
    pools["margin"] = Pool("margin", PoolKind.omnibus, Terms.custody, Purpose.margin_collateral)
    pools["earn"] = Pool("earn", PoolKind.omnibus, Terms.title_transfer)
    for i in range(0, clients, 10):
        name = f"vault-c{i}"
        pools[name] = Pool(name, PoolKind.individual, Terms.custody, client=f"c{i}")
    return pools


def _amount(rng: random.Random, asset: str) -> int:
    return int(10 ** (rng.random() * 8 + ASSETS[asset].scale - 4)) + 1


def synthetic_book(clients: int, seed: int) -> tuple[Book, dict[str, Any], FirmNames]:
    """A firm of ``clients`` clients and its failure scenario (see the module docstring)."""
    rng = random.Random(seed)
    pools = _pools(clients)
    claims: dict[tuple[str, str], dict[str, int]] = {}
    codes = list(ASSETS)
    for i in range(clients):
        client = f"c{i}"
        home = f"vault-{client}" if i % 10 == 0 else OMNIBUS[i % len(OMNIBUS)]
        claims.setdefault((home, codes[i % 3]), {})[client] = _amount(rng, codes[i % 3])
        if i % 5 < 3:
            other = ("earn", "margin", OMNIBUS[(i + 1) % len(OMNIBUS)])[i % 3]
            asset = codes[(i + 1) % 3]
            claims.setdefault((other, asset), {})[client] = _amount(rng, asset)
    wallets: dict[tuple[str, str], tuple[str, int]] = {}
    for (pool, asset), by_client in claims.items():
        owed = sum(by_client.values())
        wallets[(f"{pool}-hot", asset)] = (pool, owed - owed * rng.randrange(0, 500) // 10_000)
    for asset in codes:
        wallets[(f"house-{asset.lower()}", asset)] = ("", 10 ** (ASSETS[asset].scale + 4))
    moves = tuple(
        Move(f"c{i}", codes[(i + 1) % 3], 1, "earn", OMNIBUS[(i + 1) % len(OMNIBUS)],
             PETITION_NS - rng.randrange(1, 120) * 86_400 * 10**9, 2 * i + 1, 2 * i + 2)
        for i in range(2, min(clients, moves_count * 5), 5)
    )
    scenario = {
        "petition_date": PETITION_NS,
        "prices": {"BTC": "64000.00", "ETH": "3000.00", "USDC": "1.00"},
        "hacks": [{"wallet": "omni-0-hot", "asset": "BTC", "amount": "0.5"}],
        "house_losses": [{"asset": "ETH", "amount": "100"}],
        "commingled_pools": [{"pool": "omni-1", "reason": "cross_client_funding"}],
        "breaches": [{"pool": "omni-2", "asset": "USDC", "amount": "1000"}],
        "loans": [{"client": f"c{i}", "pool": "margin", "asset": codes[(i + 1) % 3],
                   "amount": "0.001"} for i in range(1, min(clients, 5_000), 15)],
        "admin_costs": "25000000.00",
        "payout": "cash",
        "preference": {"window_days": 90, "de_minimis": "7500.00"},
    }
    names = FirmNames(ASSETS, pools, {w: p for (w, _), (p, _) in wallets.items()},
                      [f"c{i}" for i in range(clients)])
    return Book(pools, claims, wallets, moves), scenario, names


def _simulate_case(clients: int, runs: int, progress: Progress | None) -> dict[str, Any]:
    book, document, names = synthetic_book(clients, seed=1)
    scenario = parse_scenario(document, names, PETITION_NS)
    simulations: list[float] = []
    processor: list[float] = []
    documents: list[float] = []
    for run in range(runs):
        if progress is not None:
            progress(f"simulate_{clients}", run, runs)
        started, started_cpu = time.perf_counter(), time.process_time()
        comparison = compare(book, scenario)
        simulations.append(time.perf_counter() - started)
        processor.append(time.process_time() - started_cpu)
        started = time.perf_counter()
        simulate_document(comparison, scenario, ASSETS)
        documents.append(time.perf_counter() - started)
    seconds = statistics.median(simulations)
    lines = len(comparison.segregated.lines)
    return {
        "case": f"simulate_{clients}", "ops_per_s": round(clients / seconds, 1),
        "seconds": round(seconds, 3), "runs_s": [round(s, 3) for s in simulations],
        "cpu_seconds": round(statistics.median(processor), 3), "positions": lines,
        "pools": len(book.pools),
        "document_seconds": round(statistics.median(documents), 3),
        "peak_memory_mib": peak_memory_mib(),
    }


def _in_ranges(book: Book, scenario: Scenario, commingled: bool, parts: list[Claims]) -> Outcome:
    """The simulation as ``simulate_in_ranges`` runs it, every range's tasks in this process."""
    setting = prepare(book, scenario, commingled)
    covers = pool_covers(book, setting, add_totals(range_totals(part) for part in parts))
    lines = [range_lines(part, setting, covers) for part in parts]
    return finish(book, scenario, setting, merge_pools(book, setting, covers, lines))


def _ranges_case(clients: int, runs: int, progress: Progress | None) -> dict[str, Any]:
    """``simulate_ranges_N``: the same firm cut into ranges of 2^18 clients (by number),
    simulated in ranges (segregated and commingled: the ranges' two passes and the merge), in
    this process; the outcome checked against the whole book's."""
    book, document, names = synthetic_book(clients, seed=1)
    scenario = parse_scenario(document, names, PETITION_NS)
    per_range = limits.batch_range_clients_default
    parts: list[Claims] = [{} for _ in range(-(-clients // per_range))]
    for key, by_client in book.claims.items():
        for client, units in by_client.items():
            parts[int(client[1:]) // per_range].setdefault(key, {})[client] = units
    ranged = Book(book.pools, {}, book.wallets, book.moves, book.posted_ids)
    times, processor = [], []
    for run in range(runs):
        if progress is not None:
            progress(f"simulate_ranges_{clients}", run, runs)
        started, started_cpu = time.perf_counter(), time.process_time()
        outcomes = [_in_ranges(ranged, scenario, commingled, parts) for commingled in (False, True)]
        times.append(time.perf_counter() - started)
        processor.append(time.process_time() - started_cpu)
    whole = compare(book, scenario)
    assert outcomes[0].pools == whole.segregated.pools
    assert outcomes[1].estate == whole.commingled.estate
    seconds = statistics.median(times)
    return {
        "case": f"simulate_ranges_{clients}", "ops_per_s": round(clients / seconds, 1),
        "seconds": round(seconds, 3), "runs_s": [round(s, 3) for s in times],
        "cpu_seconds": round(statistics.median(processor), 3), "ranges": len(parts),
        "peak_memory_mib": peak_memory_mib(),
    }


def _pack_ledger(folder: Path, clients: int, seed: int) -> LedgerService:
    """A SQLite ledger of ``clients`` clients, one funded account each (built, not timed)."""
    rng = random.Random(seed)
    service = LedgerService(SqliteStore(str(folder / "pack.db")), SystemClock(), MemorySigner())
    assert service.define_assets([ASSETS["BTC"]]) == [Result.ok]
    names = [f"c{i}" for i in range(clients)]
    chunk = 100_000
    for start in range(0, clients, chunk):
        assert all(r is Result.ok for r in service.define_clients(names[start : start + chunk]))
    pools = [Pool(name, PoolKind.omnibus, Terms.custody) for name in OMNIBUS]
    assert all(r is Result.ok for r in service.define_pools(pools))
    wallets = [AccountDefinition(i + 1, "BTC", AccountClass.custody, f"{p}-hot", "hot", p)
               for i, p in enumerate(OMNIBUS)]
    accounts = [AccountDefinition(100 + i, "BTC", AccountClass.client, name, "available",
                                  OMNIBUS[i % len(OMNIBUS)]) for i, name in enumerate(names)]
    definitions = [*wallets, *accounts]
    for start in range(0, len(definitions), chunk):
        results = service.define_accounts(definitions[start : start + chunk])
        assert all(r is Result.ok for r in results)
    deposits = [Transfer(1 + i, 1 + i % len(OMNIBUS), 100 + i, _amount(rng, "BTC"),
                         TransferCode.deposit) for i in range(clients)]
    batch = limits.batch_events_max
    for results in service.submit_stream(
        [deposits[s : s + batch] for s in range(0, clients, batch)]
    ):
        assert all(r is Result.ok for r in results)
    return service


def _pack_case(clients: int, runs: int, progress: Progress | None) -> dict[str, Any]:
    seconds: list[float] = []
    processor: list[float] = []
    files = ZipResolutionPackFiles()
    with tempfile.TemporaryDirectory(prefix="ringfence-bench-") as folder:
        ledger = _pack_ledger(Path(folder), clients, seed=2)
        try:
            for run in range(runs):
                if progress is not None:
                    progress(f"pack_{clients}", run, runs)
                out = Path(folder) / f"pack-{run}.zip"
                started, started_cpu = time.perf_counter(), time.process_time()
                build_pack(ledger, files, str(out), time.time_ns())
                problems = verify_pack(files, str(out))
                seconds.append(time.perf_counter() - started)
                processor.append(time.process_time() - started_cpu)
                assert problems == [], problems
                size = out.stat().st_size
                out.unlink()
        finally:
            ledger.close()
    median = statistics.median(seconds)
    return {
        "case": f"pack_{clients}", "ops_per_s": round(clients / median, 1),
        "seconds": round(median, 3), "runs_s": [round(s, 3) for s in seconds],
        "cpu_seconds": round(statistics.median(processor), 3), "pack_bytes": size,
        "peak_memory_mib": peak_memory_mib(),
    }


def run_bench(quick: bool = False, progress: Progress | None = None) -> dict[str, Any]:
    clients = 10_000 if quick else 1_000_000
    runs = 1 if quick else 3
    load_before = list(os.getloadavg())
    results = [_simulate_case(clients, runs, progress), _ranges_case(clients, runs, progress),
               _pack_case(clients, runs, progress)]
    return {
        "bench": "insolvency",
        "machine": machine(),
        "load_average": load_before,
        "load_average_after": list(os.getloadavg()),
        "method": "synthetic firm, segregated and commingled simulations; SQLite ledger for the "
        "pack; median of runs; see ringfence/bench/insolvency.py",
        "results": results,
    }
