"""The spilled build (``adapters/por_spill.py``) gives the in-memory round bit for bit: the
same record (roots, totals, heights) and every client's same proofs, whatever the ranges and
partitions, with several assets, clients owed nothing, tiny balances (fewer pieces than drawn)
and an asset no one is owed."""

from __future__ import annotations

import random
import tempfile
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from ringfence.adapters import por_spill
from ringfence.adapters.executors import InProcessExecutor
from ringfence.adapters.por_spill import SpilledTrees, build_spilled_round
from ringfence.core import limits
from ringfence.core.batch import ClientAccountRow, RowsCut
from ringfence.core.money import Asset
from ringfence.core.por.hashes import round_nonce
from ringfence.core.por.liabilities import merge_liabilities, partial_liabilities
from ringfence.core.por.round import build_round
from ringfence.core.por.tree import subtree_jobs, subtree_top, tree_context
from ringfence.verifier import verify_inclusion

BTC = Asset("BTC", 8, 1)
ETH = Asset("ETH", 18, 2)
USD = Asset("USD", 2, 3)  # no client is owed any
ASSETS = {"BTC": BTC, "ETH": ETH, "USD": USD}
MASTER = b"spill-master-secret-of-32-bytes!!"


def book(clients: int, seed: int) -> list[ClientAccountRow]:
    """Clients 1..N (some numbers skipped), one to three accounts each in BTC and ETH."""
    rng = random.Random(seed)
    rows = []
    for number in range(1, clients + 1):
        if rng.random() < 0.1:
            continue  # a number with no client account
        name = f"client-{number}" + "x" * rng.randrange(4)
        for code in ("BTC", "ETH"):
            for pool in ("omnibus", "earn")[: rng.randrange(3)]:
                roll = rng.random()
                balance = (0 if roll < 0.15 else rng.randrange(1, 4) if roll < 0.3
                           else rng.randrange(1, 10**12))
                if code == "ETH":
                    balance *= 10**9 if roll > 0.5 else 1
                rows.append(ClientAccountRow(number, name, code, pool, balance))
    rows.append(ClientAccountRow(clients + 5, "only-zero", "USD", "omnibus", 0))
    return rows


def both_rounds(rows: list[ClientAccountRow], seed: bytes, per_range: int, per_partition: int,
                folder: Path):
    liabilities = merge_liabilities(ASSETS, [partial_liabilities(rows)])
    memory = build_round(snapshot=3, previous_round_hash=bytes(32), liabilities=liabilities,
                         master_secret=MASTER, signing_seed=bytes(32), seed=seed,
                         snapshot_hash=bytes(range(32)))
    spilled = build_spilled_round(
        InProcessExecutor(), RowsCut(3, rows), ASSETS, str(folder), snapshot=3,
        previous_round_hash=bytes(32), master_secret=MASTER, signing_seed=bytes(32), seed=seed,
        snapshot_hash=bytes(range(32)), clients_per_range=per_range,
        clients_per_partition=per_partition)
    return liabilities, memory, spilled


def assert_same_proofs(liabilities, memory, spilled, names) -> None:
    trees = SpilledTrees(spilled.folder, spilled.round.record, ASSETS, MASTER)
    for name in names:
        assert trees.proofs(name) == list(memory.proofs(name)), name


def test_a_spilled_round_is_the_in_memory_round_bit_for_bit(tmp_path: Path) -> None:
    rows = book(24_000, seed=1)  # BTC: about 40,000 pieces, two subtrees
    liabilities, memory, spilled = both_rounds(rows, b"s" * 32, 1_000, 500, tmp_path)
    assert spilled.round.record == memory.record
    entry = {e["asset"]: e for e in spilled.manifest["assets"]}
    assert entry["BTC"]["partitions"] > 1
    assert entry["USD"]["pieces"] == 0
    for number, tree in memory.trees.items():
        assert entry[tree.asset.code]["pieces"] == len(tree.placement.index)
        assert entry[tree.asset.code]["hashes"] == tree.hashes
        assert spilled.round.trees[number].root == tree.root
    rng = random.Random(2)
    names = [*rng.sample(sorted({row.name for row in rows}), 300), "only-zero", "nobody"]
    assert_same_proofs(liabilities, memory, spilled, names)
    record = spilled.round.record
    round_id = bytes.fromhex(record["round_id"])
    for name in names[:20]:
        for proof in SpilledTrees(spilled.folder, record, ASSETS, MASTER).proofs(name):
            verify_inclusion(proof, record, round_nonce(MASTER, round_id, name), None, name)
    # The working files are gone: what is left answers proofs.
    left = {path.name.split("-")[0].split(".")[0] for path in tmp_path.rglob("*") if path.is_file()}
    assert left == {"spill", "top", "part", "names"}


def test_draws_read_in_small_chunks_are_the_streams_draws(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The coordinator reads the stream in chunks of clients (2^21 in a run): chunks of 7
    clients, so that redraws and blocks straddle many chunk boundaries, change nothing."""
    monkeypatch.setattr(por_spill, "_draw_clients_chunk", 7)
    rows = book(400, seed=3)
    liabilities, memory, spilled = both_rounds(rows, b"c" * 32, 50, 100, tmp_path)
    assert spilled.round.record == memory.record
    assert_same_proofs(liabilities, memory, spilled, sorted({row.name for row in rows})[:50])


@settings(max_examples=6, deadline=None)
@given(clients=st.integers(0, 200), seed=st.integers(0, 10**6), per_range=st.integers(1, 80),
       per_partition=st.integers(1, 500))
def test_ranges_and_partitions_never_change_the_round(
    clients: int, seed: int, per_range: int, per_partition: int
) -> None:
    rows = book(clients, seed)
    with tempfile.TemporaryDirectory() as folder:
        liabilities, memory, spilled = both_rounds(
            rows, seed.to_bytes(32, "big"), per_range, per_partition, Path(folder))
        assert spilled.round.record == memory.record
        names = sorted({row.name for row in rows})
        assert_same_proofs(liabilities, memory, spilled, random.Random(seed).sample(
            names, min(len(names), 40)))


@pytest.mark.parametrize("pieces", [0, 1, 2**15 - 1, 2**15, 2**16 + 1, 10**6, 3 * 10**8])
def test_the_subtrees_are_cut_as_the_in_memory_plan_cuts_them(pieces: int) -> None:
    from ringfence.core.por.placement import tree_height

    context = tree_context(bytes(32), BTC, tree_height(pieces), MASTER)
    count = min(pieces, 4)  # the jobs' top depends only on the pieces counted
    owed = (np.arange(count, dtype=np.uint64), np.ones(count, dtype=np.uint64),
            np.full(count, max(pieces, 1) // max(count, 1), dtype=np.uint64)
            + (np.arange(count) < max(pieces, 1) % max(count, 1)).astype(np.uint64),
            np.zeros(count, dtype=np.uint64))
    names = (np.zeros((count, 1), dtype=np.uint8), np.ones(count, dtype=np.uint64))
    if pieces:
        jobs = subtree_jobs(context, MASTER, bytes(32), names, owed)
        assert subtree_top(context, pieces) == jobs[0].top
    assert limits.proof_subtree_leaves_max == 2**16


def test_a_damaged_or_misplaced_spill_is_refused_by_name(tmp_path: Path) -> None:
    from ringfence.core.errors import InputError, IntegrityError, Result, StorageError

    _, _, spilled = both_rounds(book(50, seed=3), b"d" * 32, 1_000, 500, tmp_path)
    manifest = Path(spilled.folder) / "spill.json"
    text = manifest.read_text(encoding="utf-8")
    other = {**spilled.round.record, "round_id": "00" * 32}
    with pytest.raises(IntegrityError):
        SpilledTrees(spilled.folder, other, ASSETS, MASTER)
    manifest.write_text(text[: len(text) // 2], encoding="utf-8")
    with pytest.raises(InputError) as caught:
        SpilledTrees(spilled.folder, spilled.round.record, ASSETS, MASTER)
    assert caught.value.code is Result.line_malformed
    manifest.unlink()
    with pytest.raises(StorageError):
        SpilledTrees(spilled.folder, spilled.round.record, ASSETS, MASTER)
