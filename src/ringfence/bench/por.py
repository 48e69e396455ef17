"""``ringfence bench por``: build and verify proof-of-liabilities trees, against a hash floor.

Method. One asset (BTC, proof unit the sat) owed to N clients with balances drawn uniformly in
[1, 10^10) sats, built with the default splitting (2 to 4 pieces per client) and padding
(height ceil(log2(pieces)) + 3) by ``service.por.build_round``: placement in this process,
subtrees in two worker processes (both cores), the cycle collector paused; the round is
signed. ``build_N`` times the whole build (client keys, salts, leaves, nodes, padding, the
join under the root and the signature), from balances in memory to the signed record.
``verify`` times the standard-library verifier over a sample of clients' proofs and reports
the largest proof as compact JSON. ``hash_floor`` times a bare Python loop, on one core, of as
many SHA-256 calls as the build made (leaves, nodes, padding at and above the block height,
and two per HMAC), over 102-byte inputs (a node's preimage): the floor for this design in
Python on one core. ``floor_fraction`` is the floor's time over the build's (the build's
hashes per second as a fraction of the floor's; it can pass 1 since the build uses two cores).
``cpu_seconds_main`` and ``cpu_seconds_workers`` are the CPU time the build used in this
process and in the workers (medians), which other load on the machine does not inflate as it
does the wall time; on an idle machine the build takes about main + workers / 2. Medians
over runs. Quick mode builds 2^14 clients once; the full run builds 2^20 clients five times
and 10^7 clients three times (its floor is timed once: it is minutes of hashing).
"""

from __future__ import annotations

import gc
import hashlib
import json
import os
import random
import resource
import statistics
import time
from typing import Any

import numpy as np

from ringfence.bench.machine import Progress, machine, peak_memory_mib
from ringfence.core.money import Asset
from ringfence.core.por.hashes import node_preimage_bytes, round_nonce
from ringfence.core.por.round import Round
from ringfence.core.por.solvency import PoolPosition, prove_pools, verify_pools
from ringfence.service import por
from ringfence.verifier import verify_inclusion

BTC = Asset("BTC", 8, 1)
master_secret = b"bench-master-secret-of-32-bytes!"
workers = 2


def _balances(clients: int, seed: int) -> dict[str, int]:
    generator = np.random.default_rng(seed)
    values = generator.integers(1, 10**10, size=clients, dtype=np.uint64).tolist()
    return dict(zip((f"c{number}" for number in range(clients)), values, strict=True))


def _cpu_seconds() -> tuple[float, float]:
    """CPU time of this process, and of its finished children (the pool's workers)."""
    own = resource.getrusage(resource.RUSAGE_SELF)
    children = resource.getrusage(resource.RUSAGE_CHILDREN)
    return own.ru_utime + own.ru_stime, children.ru_utime + children.ru_stime


def _build(
    balances: dict[str, int], seed: int
) -> tuple[Round, float, tuple[float, float]]:
    gc.collect()
    own, children = _cpu_seconds()
    started = time.perf_counter()
    built = por.build_round(
        [(BTC, balances)], snapshot=1, previous_round_hash=bytes(32),
        master_secret=master_secret, signing_seed=bytes(32),
        seed=random.Random(seed).randbytes(32), workers=workers, snapshot_hash=bytes(32))
    seconds = time.perf_counter() - started
    own_after, children_after = _cpu_seconds()
    return built, seconds, (own_after - own, children_after - children)


def _hash_floor(count: int) -> float:
    data = bytes(node_preimage_bytes)
    sha256 = hashlib.sha256
    started = time.perf_counter()
    for _ in range(count):
        sha256(data).digest()
    return time.perf_counter() - started


def _verify(built: Round, clients: int, samples: int) -> tuple[float, int, int]:
    rng = random.Random(7)
    names = [f"c{rng.randrange(clients)}" for _ in range(samples)]
    built.trees[BTC.number].index_clients()
    round_id = bytes.fromhex(built.record["round_id"])
    cases = [(next(built.proofs(n)), round_nonce(master_secret, round_id, n), n) for n in names]
    started = time.perf_counter()
    for proof, nonce, name in cases:
        verify_inclusion(proof, built.record, nonce, None, name)
    seconds = (time.perf_counter() - started) / samples
    sizes = [len(json.dumps(proof, separators=(",", ":"))) for proof, _, _ in cases]
    return seconds, max(sizes), round(statistics.median(sizes))


def _build_case(
    clients: int, runs: int, progress: Progress | None
) -> tuple[dict[str, Any], Round, float]:
    balances = _balances(clients, seed=clients)
    times, cpus, loads = [], [], []
    built = None
    for run in range(runs):
        if progress is not None:
            progress(f"build_{clients}", run, runs)
        loads.append(round(os.getloadavg()[0], 2))
        built = None  # the previous run's trees would only take memory
        built, seconds, cpu = _build(balances, seed=run)
        times.append(seconds)
        cpus.append(cpu)
    assert built is not None
    tree = built.trees[BTC.number]
    seconds = statistics.median(times)
    case = {"case": f"build_{clients}", "ops_per_s": round(clients / seconds, 1),
            "seconds": round(seconds, 3), "runs_seconds": [round(t, 3) for t in times],
            "load_average_1m": loads, "workers": workers,
            "cpu_seconds_main": round(statistics.median(c[0] for c in cpus), 3),
            "cpu_seconds_workers": round(statistics.median(c[1] for c in cpus), 3),
            "pieces": len(tree.placement.index), "height": tree.height, "hashes": tree.hashes,
            "hashes_per_s": round(tree.hashes / seconds, 1),
            "peak_memory_mib": peak_memory_mib(),
            "workers_peak_memory_mib":
                resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss // 1024}
    return case, built, seconds


def _pool_solvency_case(runs: int) -> dict[str, Any]:
    """One pool's zero-knowledge solvency: its commitment and two 64-bit range proofs made
    (liabilities in range, reserves minus liabilities in range), then checked."""
    position = [PoolPosition("omni", 123_456_789, 987_654_321)]
    proving, checking = [], []
    for run in range(runs):
        seed = random.Random(run).randbytes(32)
        started = time.perf_counter()
        statement = prove_pools(bytes(32), BTC.number, position, master_secret=master_secret,
                                seed=seed)
        proving.append(time.perf_counter() - started)
        started = time.perf_counter()
        (verdict,) = verify_pools(statement, bytes(32), BTC.number, 123_456_789)
        checking.append(time.perf_counter() - started)
        assert verdict.covered
    size = len(json.dumps(statement["pools"][0], separators=(",", ":")))
    verify_s = statistics.median(checking)
    return {"case": "pool_solvency", "ops_per_s": round(1 / verify_s, 1),
            "prove_ms_median": round(statistics.median(proving) * 1000, 1),
            "verify_ms_median": round(verify_s * 1000, 1), "runs": runs,
            "pool_line_bytes": size}


def run_bench(quick: bool = False, progress: Progress | None = None) -> dict[str, Any]:
    sizes = [(2**14, 1)] if quick else [(2**20, 5), (10_000_000, 3)]
    results, floor_case = [], None
    built, clients = None, 0
    for clients_now, runs in sizes:
        built = None  # the previous case's trees would only take memory
        case, built_now, seconds = _build_case(clients_now, runs, progress)
        # The floor of the 10^7 build is a few minutes of hashing: it is timed once.
        floor_runs = 3 if clients_now <= 2**20 else 1
        floor_s = statistics.median(_hash_floor(case["hashes"]) for _ in range(floor_runs))
        case["floor_fraction"] = round(floor_s / seconds, 3)
        results.append(case)
        if floor_case is None:
            floor_case = {"case": "hash_floor", "ops_per_s": round(case["hashes"] / floor_s, 1),
                          "seconds": round(floor_s, 3), "hashes": case["hashes"],
                          "input_bytes": node_preimage_bytes}
        built, clients = built_now, clients_now
    assert built is not None
    assert floor_case is not None
    verify_s, proof_max, proof_median = _verify(built, clients, 200 if quick else 1_000)
    results.append({"case": "verify", "ops_per_s": round(1 / verify_s, 1), "clients": clients,
                    "latency_ms_mean": round(verify_s * 1000, 4),
                    "proof_bytes_max": proof_max, "proof_bytes_median": proof_median})
    results.append(floor_case)
    results.append(_pool_solvency_case(10 if quick else 50))
    return {
        "bench": "por",
        "machine": machine(),
        "load_average": list(os.getloadavg()),
        "method": "one asset, default splitting and padding, placement in this process and "
        "subtrees in two worker processes, median of runs; see ringfence/bench/por.py",
        "results": results,
    }
