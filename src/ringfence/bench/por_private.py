"""``ringfence bench por``'s private-mode cases (core/por/private.py).

Method. ``private_build_N``: one asset (BTC) owed to N clients with balances drawn uniformly
in [1, 10^10) sats, its private tree built in this process (``build_private_tree``: one
Pedersen commitment per leaf, one per padding node, one group addition per parent, at height
32), median of runs; ``cpu_seconds`` is the process's CPU time (which other load on the shared
machine does not inflate as it does the wall time), ``peak_memory_mib`` the process's peak
RSS after the build and ``tree_memory_mib`` how much the builds raised it (the tree kept, and
what building it took), ``nodes`` the nodes kept. The cost model divides the CPU time and the
memory by the clients and extrapolates linearly to 10^7 clients (the work per client is
constant: one leaf, about one parent and one padding node below the block's top, and 32 - d
padding nodes above it, shared). ``private_proof``: one client's proof made (32 siblings in
one aggregated range proof of 32 values of 64 bits) and ``private_verify``: checked by
``verify_private_proof``; medians over clients, wall and CPU time, proof size as compact JSON.
"""

from __future__ import annotations

import json
import os
import random
import resource
import statistics
import time
from typing import Any

from ringfence.bench.machine import peak_memory_mib
from ringfence.core.money import Asset
from ringfence.core.por.hashes import round_nonce
from ringfence.core.por.private import (
    PrivateTree,
    build_private_tree,
    private_proof,
    private_root_of,
    verify_private_proof,
)

BTC = Asset("BTC", 8, 1)
ROUND_ID = bytes(range(32))
MASTER_SECRET = b"bench-master-secret-of-32-bytes!"
CLIENTS_AT_SCALE = 10_000_000


def _cpu_seconds() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def _timed(work: Any) -> tuple[Any, float, float]:
    wall, cpu = time.perf_counter(), _cpu_seconds()
    result = work()
    return result, time.perf_counter() - wall, _cpu_seconds() - cpu


def _build_case(clients: int, runs: int) -> tuple[dict[str, Any], PrivateTree]:
    rng = random.Random(clients)
    balances = {f"c{number}": rng.randrange(1, 10**10) for number in range(1, clients + 1)}
    walls, cpus, loads, tree = [], [], [], None
    before_mib = peak_memory_mib()
    for run in range(runs):
        loads.append(round(os.getloadavg()[0], 2))
        tree = None  # the previous run's tree would only take memory
        seed = random.Random(run).randbytes(32)
        tree, wall, cpu = _timed(lambda seed=seed: build_private_tree(
            ROUND_ID, BTC, balances, MASTER_SECRET, seed))
        walls.append(wall)
        cpus.append(cpu)
    assert tree is not None
    nodes = sum(len(level) for level in tree.levels)
    cpu = statistics.median(cpus)
    grown_mib = peak_memory_mib() - before_mib
    return {
        "case": f"private_build_{clients}",
        "ops_per_s": round(clients / statistics.median(walls), 1),
        "seconds": round(statistics.median(walls), 3),
        "cpu_seconds": round(cpu, 3),
        "runs_seconds": [round(wall, 3) for wall in walls],
        "load_average_1m": loads,
        "height": tree.height,
        "nodes": nodes,
        "cpu_us_per_node": round(cpu / nodes * 1e6, 1),
        "peak_memory_mib": peak_memory_mib(),
        "tree_memory_mib": grown_mib,
        "cost_model_10m_cpu_hours": round(cpu / clients * CLIENTS_AT_SCALE / 3600, 2),
        "cost_model_10m_memory_gib": round(grown_mib / clients * CLIENTS_AT_SCALE / 1024, 1),
    }, tree


def _proof_cases(tree: PrivateTree, samples: int) -> list[dict[str, Any]]:
    root = private_root_of({"mode": "private", "root": tree.root_json()})
    assert root is not None
    names = random.Random(3).sample(sorted(tree.leaves), min(samples, len(tree.leaves)))
    proving, checking, sizes, loads = [], [], [], []
    for name in names:
        loads.append(round(os.getloadavg()[0], 2))
        proof, wall, cpu = _timed(lambda name=name: private_proof(tree, name, "00" * 32))
        proving.append((wall, cpu))
        sizes.append(len(json.dumps(proof, separators=(",", ":"))))
        nonce = round_nonce(MASTER_SECRET, ROUND_ID, name)
        (reason, _), wall, cpu = _timed(lambda proof=proof, name=name, nonce=nonce: (
            verify_private_proof(proof, root, ROUND_ID, name, nonce)))
        assert reason is None
        checking.append((wall, cpu))

    def line(case: str, times: list[tuple[float, float]]) -> dict[str, Any]:
        wall = statistics.median(time_ for time_, _ in times)
        return {"case": case, "ops_per_s": round(1 / wall, 2),
                "latency_ms_median": round(wall * 1000, 1),
                "cpu_ms_median": round(statistics.median(cpu for _, cpu in times) * 1000, 1),
                "samples": len(times), "height": tree.height, "load_average_1m": loads}

    return [line("private_proof", proving) | {"proof_bytes_max": max(sizes)},
            line("private_verify", checking)]


def private_cases(quick: bool) -> list[dict[str, Any]]:
    """The private-mode cases: a build of 2^12 clients (quick) or 2^16 (full), then proofs
    made and checked for a sample of its clients."""
    clients, runs, samples = (2**12, 1, 3) if quick else (2**16, 3, 9)
    case, tree = _build_case(clients, runs)
    return [case, *_proof_cases(tree, samples)]
