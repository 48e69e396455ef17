"""The same proof-of-liabilities round on Dask as in this process, at the sizes that matter:
the demo's custodian day, and a synthetic book of a million clients.

Each book is built three ways and must give one round: in memory in this process (the
default), in memory with its subtrees as tasks of a two-worker local cluster (``por build
--executor dask-local:2``), and spilled by those workers (``por build --spill``). One record
(root, totals, signature) and, for every client asked, the same proofs.
"""

from __future__ import annotations

import random
from collections.abc import Iterator
from pathlib import Path

import pytest
from tests.support import journal_signer

from ringfence import bootstrap
from ringfence.adapters.clock import ManualClock
from ringfence.adapters.dask_executor import DaskExecutor
from ringfence.adapters.executors import InProcessExecutor
from ringfence.adapters.files.uploaded import UploadedFiles
from ringfence.adapters.por_spill import SpilledTrees, build_spilled_round, remove_spill
from ringfence.adapters.storage.sqlite import SqliteStore
from ringfence.bench import por as bench
from ringfence.core.por.liabilities import client_liabilities
from ringfence.core.por.round import Round
from ringfence.demo.day import run_demo
from ringfence.service import por
from ringfence.service.batch import gather_liabilities, ledger_cut
from ringfence.service.ledger import LedgerService
from ringfence.service.ports import BalanceCut, Executor

SEED = b"r" * 32
MASTER = b"m" * 32


@pytest.fixture(scope="module")
def dask_local() -> Iterator[DaskExecutor]:
    with bootstrap.executor("dask-local:2") as executor:
        assert isinstance(executor, DaskExecutor)
        yield executor


def in_memory(executor: Executor, cut: BalanceCut, assets: dict, snapshot_hash: bytes) -> Round:
    liabilities = gather_liabilities(executor, cut, assets)
    return por.build_round(
        liabilities,
        snapshot=1,
        previous_round_hash=bytes(32),
        master_secret=MASTER,
        signing_seed=bytes(32),
        seed=SEED,
        snapshot_hash=snapshot_hash,
        executor=executor,
    )


def assert_three_ways_one_round(
    dask: DaskExecutor,
    cut: BalanceCut,
    assets: dict,
    *,
    snapshot_hash: bytes,
    clients: list[str],
    folder: Path,
) -> None:
    here = in_memory(InProcessExecutor(), cut, assets, snapshot_hash)
    there = in_memory(dask, cut, assets, snapshot_hash)
    spilled = build_spilled_round(
        dask,
        cut,
        assets,
        str(folder),
        snapshot=1,
        previous_round_hash=bytes(32),
        master_secret=MASTER,
        signing_seed=bytes(32),
        seed=SEED,
        snapshot_hash=snapshot_hash,
    )
    try:
        assert there.record == here.record
        assert spilled.round.record == here.record
        trees = SpilledTrees(spilled.folder, spilled.round.record, assets, MASTER)
        for tree in (*here.trees.values(), *there.trees.values()):
            tree.index_clients()
        for client in clients:
            expected = list(here.proofs(client))
            assert list(there.proofs(client)) == expected, client
            assert trees.proofs(client) == expected, client
    finally:
        remove_spill(spilled.folder)


@pytest.mark.slowest
def test_the_demo_days_round_is_one_round_in_process_on_dask_and_spilled(
    dask_local: DaskExecutor, tmp_path: Path
) -> None:
    """The custodian's day of ``make demo`` (300 clients, every asset, the pools and the
    break) on a SQLite file the workers read themselves; every client's proofs compared."""
    ledger = LedgerService(SqliteStore(tmp_path / "demo.db"), ManualClock(), journal_signer())
    run_demo(ledger, clients=300, seed=7, documents=UploadedFiles)
    clients = sorted({name for _, owed in client_liabilities(ledger.ledger) for name in owed})
    assert len(clients) >= 300
    with ledger_cut(ledger, ledger.seq) as cut:
        assert_three_ways_one_round(
            dask_local,
            cut,
            ledger.ledger.assets,
            snapshot_hash=ledger.hash,
            clients=[*clients, "nobody"],
            folder=tmp_path / "spill",
        )


@pytest.mark.slowest
def test_a_million_client_round_is_one_round_in_process_on_dask_and_spilled(
    dask_local: DaskExecutor, tmp_path: Path
) -> None:
    """A synthetic book of 10^6 clients (the benchmark's: one BTC account each, amounts
    from a seeded generator), read in ranges by the workers; 300 clients' proofs compared."""
    clients = 10**6
    cut = bench.SyntheticCut(seed=11, clients=clients)
    rng = random.Random(11)
    asked = [f"c{rng.randrange(1, clients + 1)}" for _ in range(300)]
    assert_three_ways_one_round(
        dask_local,
        cut,
        {"BTC": bench.BTC},
        snapshot_hash=bytes(32),
        clients=[*asked, "c0"],
        folder=tmp_path / "spill",
    )
