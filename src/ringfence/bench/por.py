"""``ringfence bench por``: a proof-of-liabilities round as a batch run, against a hash floor.

Method. One asset (BTC, proof unit the sat) owed to N clients with balances drawn uniformly in
[1, 10^10) sats, built with the default splitting (2 to 4 pieces per client) and padding
(height ceil(log2(pieces)) + 3), as ``ringfence por build`` runs it on an executor
(``--executor``, default ``dask-local:2``): tasks read the clients in ranges of
``limits.batch_range_clients_default`` from a synthetic cut (each task draws its own range's
balances from the range's seed, as a store's reader would read them, so no balance travels
from the coordinator), the coordinator merges them and plans the trees, tasks build the
subtrees, the coordinator joins them under the root and signs the round (the cycle collector
paused). On a cluster executor (anything but ``in-process``) the round is built spilled, as
``por build --spill`` builds it (``adapters/por_spill.py``): the tasks write every client's
figures to a temporary directory and the coordinator holds none; the case then reports the
stages' wall times (``stage_seconds``), the tree partitions and the bytes kept
(``spill_bytes``), and ``verify`` reads its proofs back from the directory, removed after.
``build_N`` times the whole run, from the cut to the signed record, with
``gather_seconds`` the reading and merging part. ``peak_memory_mib`` is the coordinator's peak
RSS; ``workers_peak_memory_mib`` each worker process's (Dask's ``client.run``; the workers
live for the whole bench, so a case reports the peak of it and every smaller case before it).
``cpu_seconds_main`` and ``cpu_seconds_workers`` are the CPU time the coordinator and the
workers used (medians), which other load on the machine does not inflate as it does the wall
time; ``root_hash`` is the last run's root (the same seed gives the same root on any executor).
``gather_sqlite_N`` reads the same way from a real store: a SQLite ledger of N clients (the
first case's size, at most 2^20) with one funded account each, built through the service
outside the clock; it times the cut and the gather (two runs; the checkpoint the first cut
needs is timed apart as ``checkpoint_seconds``).
``verify`` times the standard-library verifier over a sample of clients' proofs and reports
the largest proof as compact JSON. ``hash_floor`` times a bare Python loop, on one core, of as
many SHA-256 calls as the smallest build made, over 102-byte inputs (a node's preimage); its
``floor_fraction`` is the floor's time over the build's (the loop timed over at most 2^25
calls and scaled). Medians over runs; the load average
is recorded with each run (the development machine is shared). Quick mode builds 2^14
clients once; the full run builds 2^20 clients three times and 10^7 clients once;
``--accounts N`` builds N clients once. The private-mode cases (``private_build_N``,
``private_proof``, ``private_verify``) are described in ``bench/por_private.py``.
"""

from __future__ import annotations

import gc
import hashlib
import json
import os
import random
import resource
import statistics
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Final

import numpy as np

from ringfence import bootstrap
from ringfence.adapters.dask_executor import DaskExecutor
from ringfence.adapters.executors import in_process
from ringfence.adapters.por_spill import (
    SpilledBuild,
    SpilledTrees,
    build_spilled_round,
    remove_spill,
)
from ringfence.bench.machine import Progress, machine, peak_memory_mib
from ringfence.bench.por_private import private_cases
from ringfence.core import limits
from ringfence.core.batch import ClientAccountRow, ClientRange
from ringfence.core.errors import InputError, Result
from ringfence.core.ledger.model import (
    AccountClass,
    AccountDefinition,
    Pool,
    PoolKind,
    Terms,
    Transfer,
    TransferCode,
)
from ringfence.core.money import Asset
from ringfence.core.por.hashes import node_preimage_bytes, round_nonce
from ringfence.core.por.round import Round
from ringfence.core.por.solvency import PoolPosition, prove_pools, verify_pools
from ringfence.service import por
from ringfence.service.batch import gather_liabilities, ledger_cut
from ringfence.service.ledger import LedgerService
from ringfence.service.ports import Executor
from ringfence.verifier import verify_inclusion

BTC = Asset("BTC", 8, 1)
master_secret = b"bench-master-secret-of-32-bytes!"
executor_default: Final = "dask-local:2"
# The real store's read is timed on a SQLite ledger of at most this many clients (built through
# the service: about three minutes for 2^20 on the loaded development machine).
sqlite_clients_max: Final = 2**20
hash_floor_calls_max: Final = 2**25


@dataclass(frozen=True, slots=True)
class SyntheticReader:
    """One range of the synthetic book: its balances come from the range's own seed."""

    seed: int
    clients: int
    first: int
    end: int

    def read(self) -> list[ClientAccountRow]:
        first, end = max(self.first, 1), min(self.end, self.clients + 1)
        if first >= end:
            return []
        generator = np.random.default_rng([self.seed, first])
        values = generator.integers(1, 10**10, size=end - first, dtype=np.uint64).tolist()
        return [
            ClientAccountRow(number, f"c{number}", "BTC", "omnibus", value)
            for number, value in zip(range(first, end), values, strict=True)
        ]


@dataclass(frozen=True, slots=True)
class SyntheticCut:
    """N clients numbered 1 to N, one BTC account each in one pool."""

    seed: int
    clients: int
    seq: int = 1

    @property
    def client_number_max(self) -> int:
        return self.clients

    def reader(self, clients: ClientRange) -> SyntheticReader:
        return SyntheticReader(self.seed, self.clients, clients.first, clients.end)


def _sqlite_book(path: Path, clients: int) -> LedgerService:
    """A SQLite ledger of ``clients`` clients with one funded BTC account each, built through
    the service (definitions in requests of the largest size, deposits in full batches)."""
    ledger = bootstrap.open_ledger(f"sqlite:///{path}")
    ledger.define_assets([BTC])
    ledger.define_pools([Pool("omnibus", PoolKind.omnibus, Terms.custody)])
    ledger.define_accounts(
        [AccountDefinition(1, "BTC", AccountClass.custody, "omnibus-hot", "hot", "omnibus")]
    )
    step = limits.definitions_per_request_max
    for first in range(1, clients + 1, step):
        numbers = range(first, min(first + step, clients + 1))
        ledger.define_clients([f"c{number}" for number in numbers])
        ledger.define_accounts(
            [
                AccountDefinition(
                    1 + number, "BTC", AccountClass.client, f"c{number}", "available", "omnibus"
                )
                for number in numbers
            ]
        )
    values = np.random.default_rng(clients).integers(1, 10**10, size=clients).tolist()
    for first in range(0, clients, limits.batch_events_max):
        ledger.submit(
            [
                Transfer(1 + n, 1, 2 + n, values[n], TransferCode.deposit)
                for n in range(first, min(first + limits.batch_events_max, clients))
            ]
        )
    return ledger


def _sqlite_case(executor: Executor, clients: int) -> dict[str, Any]:
    """Reading and merging every client's liabilities from a SQLite file's cut, as ``por
    build`` does: the checkpoint at the head first (timed apart), then the gather, twice."""
    with tempfile.TemporaryDirectory() as folder:
        ledger = _sqlite_book(Path(folder) / "book.db", clients)
        try:
            started = time.perf_counter()
            ledger.checkpoint()
            checkpoint_s = time.perf_counter() - started
            times, loads = [], []
            for _ in range(2):
                loads.append(round(os.getloadavg()[0], 2))
                started = time.perf_counter()
                with ledger_cut(ledger, ledger.seq) as cut:
                    found = gather_liabilities(executor, cut, ledger.ledger.assets)
                times.append(time.perf_counter() - started)
            assert len(found[0][1]) == clients
        finally:
            ledger.close()
    seconds = statistics.median(times)
    return {
        "case": f"gather_sqlite_{clients}",
        "ops_per_s": round(clients / seconds, 1),
        "seconds": round(seconds, 3),
        "runs_seconds": [round(t, 3) for t in times],
        "checkpoint_seconds": round(checkpoint_s, 3),
        "load_average_1m": loads,
        "executor": executor.name,
        "ranges": -(-(clients + 1) // limits.batch_range_clients_default),
        "workers_peak_memory_mib": _on_workers(executor, _peak_rss_mib),
    }


def _build(
    executor: Executor, clients: int, seed: int
) -> tuple[Round | SpilledBuild, float, float]:
    """One round over ``clients`` clients: in memory in process, spilled on a cluster."""
    gc.collect()
    if executor.name != in_process:
        return _build_spilled(executor, clients, seed)
    started = time.perf_counter()
    liabilities = gather_liabilities(executor, SyntheticCut(clients, clients), {"BTC": BTC})
    gathered = time.perf_counter() - started
    built = por.build_round(
        liabilities,
        snapshot=1,
        previous_round_hash=bytes(32),
        master_secret=master_secret,
        signing_seed=bytes(32),
        seed=random.Random(seed).randbytes(32),
        executor=executor,
        snapshot_hash=bytes(32),
    )
    return built, time.perf_counter() - started, gathered


def _build_spilled(
    executor: Executor, clients: int, seed: int
) -> tuple[SpilledBuild, float, float]:
    folder = tempfile.mkdtemp(prefix="ringfence-por-spill-")
    started = time.perf_counter()
    built = build_spilled_round(
        executor, SyntheticCut(clients, clients), {"BTC": BTC}, folder, snapshot=1,
        previous_round_hash=bytes(32), master_secret=master_secret, signing_seed=bytes(32),
        seed=random.Random(seed).randbytes(32), snapshot_hash=bytes(32))
    return built, time.perf_counter() - started, built.seconds["read"]


def _folder_bytes(folder: str) -> int:
    return sum(path.stat().st_size for path in Path(folder).rglob("*") if path.is_file())


def _peak_rss_mib() -> int:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss // 1024


def _cpu_seconds() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def _on_workers(executor: Executor, probe: Any) -> list[Any]:
    """``probe()`` in each worker process (none in process), by worker address."""
    if not isinstance(executor, DaskExecutor):
        return []
    found: dict[str, Any] = executor.client.run(probe)
    return [found[worker] for worker in sorted(found)]


def _hash_floor(count: int) -> float:
    """Seconds for ``count`` SHA-256 calls: timed over at most ``hash_floor_calls_max`` of
    them and scaled (a loop of a 10^8-client build's 2.3 billion calls would take half an
    hour for a figure that is linear in the count)."""
    data = bytes(node_preimage_bytes)
    sha256 = hashlib.sha256
    timed = min(count, hash_floor_calls_max)
    started = time.perf_counter()
    for _ in range(timed):
        sha256(data).digest()
    return (time.perf_counter() - started) * count / max(timed, 1)


def _verify(built: Round | SpilledBuild, clients: int, samples: int) -> tuple[float, int, int]:
    rng = random.Random(7)
    names = [f"c{rng.randrange(1, clients + 1)}" for _ in range(samples)]
    if isinstance(built, SpilledBuild):
        record = built.round.record
        spilled = SpilledTrees(built.folder, record, {"BTC": BTC}, master_secret)
        proofs = [spilled.proofs(name)[0] for name in names]
    else:
        record = built.record
        built.trees[BTC.number].index_clients()
        proofs = [next(built.proofs(name)) for name in names]
    round_id = bytes.fromhex(record["round_id"])
    cases = [(proof, round_nonce(master_secret, round_id, name), name)
             for proof, name in zip(proofs, names, strict=True)]
    started = time.perf_counter()
    for proof, nonce, name in cases:
        verify_inclusion(proof, record, nonce, None, name)
    seconds = (time.perf_counter() - started) / samples
    sizes = [len(json.dumps(proof, separators=(",", ":"))) for proof, _, _ in cases]
    return seconds, max(sizes), round(statistics.median(sizes))


def _build_case(
    executor: Executor, clients: int, runs: int, progress: Progress | None
) -> tuple[dict[str, Any], Round | SpilledBuild]:
    times, gathers, loads, cpus = [], [], [], []
    built: Round | SpilledBuild | None = None
    for run in range(runs):
        if progress is not None:
            progress(f"build_{clients}", run, runs)
        loads.append(round(os.getloadavg()[0], 2))
        if isinstance(built, SpilledBuild):
            remove_spill(built.folder)
        built = None  # the previous run's trees would only take memory
        main, workers = _cpu_seconds(), sum(_on_workers(executor, _cpu_seconds))
        built, seconds, gathered = _build(executor, clients, seed=run)
        cpus.append((_cpu_seconds() - main, sum(_on_workers(executor, _cpu_seconds)) - workers))
        times.append(seconds)
        gathers.append(gathered)
    assert built is not None
    loads.append(round(os.getloadavg()[0], 2))
    spilled: dict[str, Any] = {}
    if isinstance(built, SpilledBuild):
        tree = built.round.trees[BTC.number]
        (entry,) = built.manifest["assets"]
        pieces, hashes = entry["pieces"], entry["hashes"]
        spilled = {"spilled": True, "stage_seconds": built.seconds,
                   "partitions": entry["partitions"], "spill_bytes": _folder_bytes(built.folder)}
    else:
        tree = built.trees[BTC.number]
        pieces, hashes = len(tree.placement.index), tree.hashes
    seconds = statistics.median(times)
    ranges = -(-(clients + 1) // limits.batch_range_clients_default)
    case = {
        "case": f"build_{clients}",
        "ops_per_s": round(clients / seconds, 1),
        "seconds": round(seconds, 3),
        "runs_seconds": [round(t, 3) for t in times],
        "gather_seconds": round(statistics.median(gathers), 3),
        "load_average_1m": loads,
        "executor": executor.name,
        "ranges": ranges,
        "pieces": pieces,
        "height": tree.height,
        "hashes": hashes,
        "hashes_per_s": round(hashes / seconds, 1),
        "cpu_seconds_main": round(statistics.median(c[0] for c in cpus), 3),
        "cpu_seconds_workers": round(statistics.median(c[1] for c in cpus), 3),
        "root_hash": tree.root[1].hex(),
        "peak_memory_mib": peak_memory_mib(),
        "workers_peak_memory_mib": _on_workers(executor, _peak_rss_mib),
        **spilled,
    }
    return case, built


def _pool_solvency_case(runs: int) -> dict[str, Any]:
    """One pool's zero-knowledge solvency: its commitment and two 64-bit range proofs made
    (liabilities in range, reserves minus liabilities in range), then checked."""
    position = [PoolPosition("omni", 123_456_789, 987_654_321)]
    proving, checking = [], []
    for run in range(runs):
        seed = random.Random(run).randbytes(32)
        started = time.perf_counter()
        statement = prove_pools(
            bytes(32), BTC.number, position, master_secret=master_secret, seed=seed
        )
        proving.append(time.perf_counter() - started)
        started = time.perf_counter()
        (verdict,) = verify_pools(statement, bytes(32), BTC.number, 123_456_789)
        checking.append(time.perf_counter() - started)
        assert verdict.covered
    size = len(json.dumps(statement["pools"][0], separators=(",", ":")))
    verify_s = statistics.median(checking)
    return {
        "case": "pool_solvency",
        "ops_per_s": round(1 / verify_s, 1),
        "prove_ms_median": round(statistics.median(proving) * 1000, 1),
        "verify_ms_median": round(verify_s * 1000, 1),
        "runs": runs,
        "pool_line_bytes": size,
    }


def run_bench(
    quick: bool = False,
    progress: Progress | None = None,
    accounts: int | None = None,
    executor: str = executor_default,
) -> dict[str, Any]:
    if accounts is not None:
        if accounts > limits.proof_entries_max:
            raise InputError(Result.batch_too_large, f"at most {limits.proof_entries_max}")
        sizes = [(accounts, 1)]
    else:
        sizes = [(2**14, 1)] if quick else [(2**20, 3), (10_000_000, 1)]
    results: list[dict[str, Any]] = []
    with bootstrap.executor(executor) as runs_on:
        built, clients = None, 0
        for clients_now, runs in sizes:
            if isinstance(built, SpilledBuild):
                remove_spill(built.folder)
            built = None  # the previous case's trees would only take memory
            case, built = _build_case(runs_on, clients_now, runs, progress)
            results.append(case)
            # A long run's build figures, before the cases after it (on standard error).
            print(json.dumps({"partial": case}), file=sys.stderr, flush=True)
            clients = clients_now
        results.append(_sqlite_case(runs_on, min(sizes[0][0], sqlite_clients_max)))
    assert built is not None
    first = results[0]
    floor_s = _hash_floor(first["hashes"])
    first["floor_fraction"] = round(floor_s / first["seconds"], 3)
    samples = 200 if quick or clients > 10**7 else 1_000
    try:
        verify_s, proof_max, proof_median = _verify(built, clients, samples)
    finally:
        if isinstance(built, SpilledBuild):
            remove_spill(built.folder)
    results.append(
        {
            "case": "verify",
            "ops_per_s": round(1 / verify_s, 1),
            "clients": clients,
            "latency_ms_mean": round(verify_s * 1000, 4),
            "proof_bytes_max": proof_max,
            "proof_bytes_median": proof_median,
        }
    )
    results.append(
        {
            "case": "hash_floor",
            "ops_per_s": round(first["hashes"] / floor_s, 1),
            "seconds": round(floor_s, 3),
            "hashes": first["hashes"],
            "input_bytes": node_preimage_bytes,
        }
    )
    results.append(_pool_solvency_case(10 if quick else 50))
    results += private_cases(quick)
    return {
        "bench": "por",
        "machine": machine(),
        "load_average": list(os.getloadavg()),
        "method": f"one asset, default splitting and padding, a batch run on {executor}: "
        "ranges read from a synthetic cut, subtrees as tasks, median of runs; see "
        "ringfence/bench/por.py",
        "results": results,
    }
