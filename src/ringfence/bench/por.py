"""``ringfence bench por``: build and verify proof-of-liabilities trees, against a hash floor.

Method. One asset (BTC, proof unit the sat) owed to N clients with balances drawn uniformly in
[1, 10^10) sats, built with the default splitting (2 to 4 pieces) and padding (height
ceil(log2(pieces)) + 3) on one core with the cycle collector paused; the round is signed.
``build_N`` times the whole build (key derivation, leaves, nodes, padding nodes); ``verify``
times the standard-library verifier over a sample of proofs; ``hash_floor`` times a bare loop
of as many SHA-256 calls as the build made to leaves, nodes and padding, over 102-byte inputs
(a node's preimage), which is the floor for this design in Python. ``floor_fraction`` is the
build's hashes per second over the floor's. The 10,000,000 case (issue 9) is not run yet.
Medians over runs; quick mode uses 2^14 clients.
"""

from __future__ import annotations

import gc
import hashlib
import json
import os
import random
import statistics
import time
from typing import Any

from ringfence.bench import Progress
from ringfence.bench.machine import machine, peak_memory_mib
from ringfence.core import reserves
from ringfence.core.money import Asset
from ringfence.verifier import verify_inclusion

BTC = Asset("BTC", 8, 1)
master_secret = b"bench-master-secret-of-32-bytes!"
node_preimage_bytes = len(reserves.tag_node) + 1 + 2 * (8 + 32)


def _build(clients: int, seed: int) -> tuple[reserves.Round, float]:
    rng = random.Random(seed)
    balances = {f"c{i}": rng.randrange(1, 10**10) for i in range(clients)}
    # The build allocates millions of tuples and no cycles; as in LedgerService, the cycle
    # collector is paused around it (the service that runs rounds should do the same).
    enabled = gc.isenabled()
    gc.disable()
    started = time.perf_counter()
    built = reserves.build_round(
        snapshot=1,
        previous_round_hash=bytes(32),
        liabilities=[(BTC, balances)],
        reserves_hash=bytes(32),
        master_secret=master_secret,
        signing_seed=bytes(32),
        seed=rng.randbytes(32),
    )
    seconds = time.perf_counter() - started
    if enabled:
        gc.enable()
    return built, seconds


def _tree_hashes(tree: reserves.AssetTree) -> int:
    """Leaf, node and padding hashes the build made (key derivation not counted)."""
    count = len(tree.levels[0])
    for height in range(1, tree.height + 1):
        parents = len(tree.levels[height])
        count += parents + (2 * parents - len(tree.levels[height - 1]))
    return count


def _hash_floor(count: int) -> float:
    data = bytes(node_preimage_bytes)
    sha256 = hashlib.sha256
    started = time.perf_counter()
    for _ in range(count):
        sha256(data).digest()
    return time.perf_counter() - started


def _verify(built: reserves.Round, clients: int, samples: int) -> tuple[float, int]:
    rng = random.Random(7)
    names = [f"c{rng.randrange(clients)}" for _ in range(samples)]
    cases = [(next(built.proofs(n)), reserves.client_key(master_secret, n)) for n in names]
    started = time.perf_counter()
    for proof, key in cases:
        verify_inclusion(proof, built.record, key)
    seconds = (time.perf_counter() - started) / samples
    size = max(len(json.dumps(proof, separators=(",", ":"))) for proof, _ in cases)
    return seconds, size


def run_bench(quick: bool = False, progress: Progress | None = None) -> dict[str, Any]:
    clients = 2**14 if quick else 2**20
    runs = 1 if quick else 3
    builds: list[float] = []
    built = None
    for run in range(runs):
        if progress is not None:
            progress(f"build_{clients}", run, runs)
        built, seconds = _build(clients, seed=run)
        builds.append(seconds)
    assert built is not None
    tree = built.trees[BTC.number]
    hashes = _tree_hashes(tree)
    build_s = statistics.median(builds)
    floor_s = statistics.median(_hash_floor(hashes) for _ in range(runs))
    verify_s, proof_bytes = _verify(built, clients, 200 if quick else 1_000)
    pieces = len(tree.levels[0])
    return {
        "bench": "por",
        "machine": machine(),
        "load_average": list(os.getloadavg()),
        "method": "one asset, default splitting and padding, one core, median of runs; "
        "see ringfence/bench/por.py",
        "results": [
            {"case": f"build_{clients}", "ops_per_s": round(clients / build_s, 1),
             "seconds": round(build_s, 3), "pieces": pieces, "height": tree.height,
             "hashes": hashes, "hashes_per_s": round(hashes / build_s, 1),
             "floor_fraction": round(floor_s / build_s, 3),
             "peak_memory_mib": peak_memory_mib()},
            {"case": "verify", "ops_per_s": round(1 / verify_s, 1),
             "latency_ms_mean": round(verify_s * 1000, 4), "proof_bytes_max": proof_bytes},
            {"case": "hash_floor", "ops_per_s": round(hashes / floor_s, 1),
             "seconds": round(floor_s, 3), "hashes": hashes, "input_bytes": node_preimage_bytes},
        ],
    }
