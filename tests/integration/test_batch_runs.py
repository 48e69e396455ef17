"""Batch runs on Dask: the same round, statement and risk scan, bit for bit, as in this process;
a cut is one snapshot of the store while writers go on; a cluster that dies mid-run keeps
nothing.

A local Dask cluster of two worker processes (``dask-local:2``) serves the module (its tasks
read the SQLite file or the PostgreSQL snapshot themselves); the dying scheduler gets a cluster
of its own, started as processes of their own so that it can be killed.
"""

from __future__ import annotations

import dataclasses
import operator
import os
import signal
import socket
import subprocess
import sys
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

import numpy as np
import pytest
from tests.support import EARN, MAIN, Custodian, build_custodian, journal_signer
from tests.support_insolvency import SCENARIO, build_failing_firm

from ringfence import bootstrap
from ringfence.adapters.clock import ManualClock, SystemClock
from ringfence.adapters.dask_executor import DaskExecutor, remote_executor
from ringfence.adapters.executors import InProcessExecutor, open_executor
from ringfence.adapters.files.rounds import RoundFiles
from ringfence.adapters.por_spill import SpilledTrees, build_spilled_round
from ringfence.adapters.storage.memory import MemoryStore
from ringfence.adapters.storage.postgres import PostgresStore
from ringfence.core.batch import ClientRange, client_ranges, engine_rows
from ringfence.core.errors import ExecutorError, InputError, Result, SnapshotMovedError
from ringfence.core.ledger.model import AccountClass, AccountDefinition, Transfer, TransferCode
from ringfence.core.por.liabilities import client_liabilities
from ringfence.core.por.round import Round
from ringfence.core.risk.scan import ScanResult
from ringfence.demo.risk import build_venue
from ringfence.service import por, recon_requests
from ringfence.service.batch import gather_liabilities, ledger_cut
from ringfence.service.custody import CustodyService
from ringfence.service.insolvency import simulate_ledger
from ringfence.service.ledger import LedgerService
from ringfence.service.ports import Executor
from ringfence.service.recon import ReconService
from ringfence.verifier import verify_inclusion

_Item = TypeVar("_Item")
_Outcome = TypeVar("_Outcome")

RANGE = 7  # clients per range: a few dozen clients make several ranges
SEED = b"s" * 32
MASTER = b"m" * 32


@dataclass
class Cluster:
    """A scheduler and workers started as processes of their own, as on a real cluster (and
    killed, not asked to close, when done: a graceful close takes seconds)."""

    port: int
    processes: list[subprocess.Popen[bytes]]

    @property
    def scheduler(self) -> subprocess.Popen[bytes]:
        return self.processes[0]

    def executor(self) -> DaskExecutor:
        executor = remote_executor(f"dask://127.0.0.1:{self.port}", f"tcp://127.0.0.1:{self.port}")
        executor.client.wait_for_workers(len(self.processes) - 1, timeout=60)
        return executor

    def kill(self) -> None:
        for process in reversed(self.processes):
            if process.poll() is None:
                os.kill(process.pid, signal.SIGKILL)
            process.wait()


def start_cluster(workers: int) -> Cluster:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
    # A task left without any worker fails after a second (Dask's default waits for ever).
    environment = {**os.environ, "DASK_DISTRIBUTED__SCHEDULER__NO_WORKERS_TIMEOUT": "1s"}
    quiet: dict[str, Any] = {"stdout": subprocess.DEVNULL, "stderr": subprocess.DEVNULL,
                             "env": environment}
    address = f"tcp://127.0.0.1:{port}"
    scheduler = subprocess.Popen([sys.executable, "-m", "distributed.cli.dask_scheduler",
                                  "--host", "127.0.0.1", "--port", str(port),
                                  "--no-dashboard"], **quiet)
    started = [subprocess.Popen([sys.executable, "-m", "distributed.cli.dask_worker", address,
                                 "--nthreads", "1", "--no-nanny", "--no-dashboard",
                                 "--host", "127.0.0.1"], **quiet) for _ in range(workers)]
    return Cluster(port, [scheduler, *started])


@pytest.fixture(scope="module")
def dask_local() -> Iterator[DaskExecutor]:
    """``--executor dask-local:2``: a local cluster of two worker processes of one thread."""
    # Its workers import tasks by name: they run ringfence's functions and the standard
    # library's, never this module's (which they could not import).
    with bootstrap.executor("dask-local:2") as executor:
        assert isinstance(executor, DaskExecutor)
        yield executor


def many_clients(service: LedgerService, count: int = 40, seed: int = 5) -> Custodian:
    """The small custodian and ``count`` more clients, each with BTC and ETH accounts in the
    main pool and some in the earn pool too, funded at random (some left at zero)."""
    custodian = build_custodian(service, principals=False)
    names = [f"x{n:03d}" for n in range(count)]
    assert set(service.define_clients(names)) == {Result.ok}
    accounts = []
    next_id = max(custodian.account_ids()) + 1
    for name in names:
        for asset in ("BTC", "ETH"):
            for pool in (MAIN, EARN):
                accounts.append(AccountDefinition(next_id, asset, AccountClass.client, name,
                                                  "available", pool))
                next_id += 1
    assert set(service.define_accounts(accounts)) == {Result.ok}
    rng = np.random.default_rng(seed)
    transfers = []
    for number, account in enumerate(accounts):
        if rng.random() < 0.2 or (account.pool == EARN and rng.random() < 0.5):
            continue  # an account left at zero: its client is still in the tree
        amount = int(rng.integers(1, 10**12)) * (10**9 if account.asset == "ETH" else 1)
        wallet = custodian.wallet(account.pool, account.asset)
        transfers.append(Transfer(10_000 + number, wallet, account.id, amount,
                                  TransferCode.deposit))
    assert set(service.submit(transfers)) == {Result.ok}
    return custodian


def build(service: LedgerService, executor: Executor) -> tuple[list[Any], Round]:
    with ledger_cut(service, service.seq) as cut:
        liabilities = gather_liabilities(executor, cut, service.ledger.assets, RANGE)
    built = por.build_round(liabilities, snapshot=service.seq, previous_round_hash=bytes(32),
                            master_secret=MASTER, signing_seed=bytes(32), seed=SEED,
                            snapshot_hash=service.hash, executor=executor)
    return [(asset.code, list(owed.items())) for asset, owed in liabilities], built


def assert_same_round(first: Round, second: Round, clients: Iterable[str]) -> None:
    assert first.record == second.record
    assert sorted(first.trees) == sorted(second.trees)
    for number, tree in first.trees.items():
        other = second.trees[number]
        assert tree.clients == other.clients
        for name in ("client", "piece", "index", "value"):
            assert np.array_equal(getattr(tree.placement, name), getattr(other.placement, name))
        assert sorted(tree.upper) == sorted(other.upper)
        for height, level in tree.upper.items():
            assert np.array_equal(level.hashes, other.upper[height].hashes)
            assert np.array_equal(level.sums, other.upper[height].sums)
    for client in clients:
        assert list(first.proofs(client)) == list(second.proofs(client))


def test_a_round_on_dask_is_the_in_process_round_bit_for_bit(
    sqlite_service: LedgerService, dask_local: DaskExecutor
) -> None:
    custodian = many_clients(sqlite_service)
    engine_liabilities = [(asset.code, list(owed.items()))
                          for asset, owed in client_liabilities(sqlite_service.ledger)]
    here_liabilities, here = build(sqlite_service, InProcessExecutor())
    there_liabilities, there = build(sqlite_service, dask_local)
    # Read from the file in ranges, in this process or in the workers: what the engine holds.
    assert here_liabilities == engine_liabilities
    assert there_liabilities == engine_liabilities
    assert len(client_ranges(60, RANGE)) > 5
    clients = [*custodian.clients, *(f"x{n:03d}" for n in range(40))]
    assert_same_round(here, there, clients)


def test_a_round_kept_on_dask_passes_the_audit_rebuilt_in_process(
    sqlite_service: LedgerService, dask_local: DaskExecutor, tmp_path: Path
) -> None:
    many_clients(sqlite_service, count=20)
    rounds = RoundFiles(tmp_path / "por")
    built = por.build_and_keep_round(sqlite_service, rounds, snapshot=None, holdings=None,
                                     control=None, executor=dask_local, clients_per_range=3)
    assert built["executor"] == dask_local.name
    audit = por.audit_kept_round(sqlite_service, rounds, built["round_file"], seed="public",
                                 sample_size=30, executor=InProcessExecutor())
    assert audit["ok"], audit["problems"]


def test_a_spilled_round_kept_on_dask_answers_proofs_and_passes_the_audit(
    sqlite_service: LedgerService, dask_local: DaskExecutor, tmp_path: Path
) -> None:
    """``por build --spill``: the round's directory keeps the partitions the workers wrote
    (nothing left in the spilling area); proofs are read from them and check; the audit
    rebuilds the round in this process from the journal and finds the same root."""
    many_clients(sqlite_service, count=20)
    rounds = RoundFiles(tmp_path / "por")
    built = por.build_and_keep_round(
        sqlite_service, rounds, snapshot=None, holdings=None, control=None,
        executor=dask_local, clients_per_range=3, spilled=bootstrap.spilled_round_builder())
    assert built["spilled"]
    assert built["assets"][0]["pieces"] > 0
    assert list((tmp_path / "por" / "spilling").iterdir()) == []
    assert (tmp_path / "por" / "rounds" / "000001" / "private" / "spill" / "spill.json").is_file()
    audit = por.audit_kept_round(sqlite_service, rounds, built["round_file"], seed="public",
                                 sample_size=30, executor=InProcessExecutor())
    assert audit["ok"], audit["problems"]
    assert len(audit["sampled"]) == 30
    record = rounds.round(1).record()
    owed = sorted({entry["client"] for entry in audit["sampled"]})
    assert len(owed) > 10
    for client in owed:
        bundle = por.client_proofs(sqlite_service, rounds, client)
        assert bundle["proofs"]
        for proof in bundle["proofs"]:
            verify_inclusion(proof, record, bytes.fromhex(bundle["nonce"]), None, client)
    with pytest.raises(InputError) as missing:
        por.client_proofs(sqlite_service, rounds, "nobody")
    assert missing.value.code is Result.client_not_found


def test_a_spilled_build_that_fails_leaves_nothing(
    sqlite_service: LedgerService, tmp_path: Path
) -> None:
    many_clients(sqlite_service, count=5)
    rounds = RoundFiles(tmp_path / "por")

    def fails(*args: Any, **options: Any) -> Any:
        raise ExecutorError("the cluster is gone")

    with pytest.raises(ExecutorError):
        por.build_and_keep_round(sqlite_service, rounds, snapshot=None, holdings=None,
                                 control=None, executor=InProcessExecutor(), spilled=fails)
    assert list((tmp_path / "por" / "spilling").iterdir()) == []
    assert rounds.numbers() == []


def test_the_segregation_statement_on_dask_is_the_one_summed_here(
    sqlite_service: LedgerService, dask_local: DaskExecutor
) -> None:
    many_clients(sqlite_service)
    documents = []
    for executor in (None, InProcessExecutor(), dask_local):
        recon = ReconService(CustodyService(sqlite_service), executor, clients_per_range=RANGE)
        documents.append(recon_requests.segregation_statement(recon, bootstrap.recon_files()))
    assert documents[0]["segregated"]
    assert documents[1] == documents[0]
    assert documents[2] == documents[0]


def venue_scan(executor: Executor | None) -> ScanResult:
    """The venue demo's book (60 buckets, seed 3) scanned, on ``executor`` in ranges of 7."""
    ledger = LedgerService(MemoryStore(), ManualClock(), journal_signer())
    service, market, _ = build_venue(ledger, 60, 3, None)
    return service.scan(market, executor, buckets_per_range=7).result


def test_a_risk_scan_on_dask_is_the_one_scanned_here(dask_local: DaskExecutor) -> None:
    here = venue_scan(None)
    there = venue_scan(dask_local)
    assert len(here.equity) > 60
    for field in dataclasses.fields(ScanResult):
        mine, theirs = getattr(there, field.name), getattr(here, field.name)
        assert mine.dtype == theirs.dtype
        assert np.array_equal(mine, theirs, equal_nan=mine.dtype.kind == "f"), field.name


# ---------------------------------------------------------------------- the cuts


def read_all(service: LedgerService) -> list[Any]:
    with ledger_cut(service, service.seq) as cut:
        return [row for clients in client_ranges(cut.client_number_max, RANGE)
                for row in cut.reader(clients).read()]


def test_every_store_cuts_what_its_engine_holds(
    memory_service: LedgerService, sqlite_service: LedgerService
) -> None:
    for service in (memory_service, sqlite_service):
        many_clients(service, count=12)
        assert sorted(read_all(service)) == sorted(engine_rows(service.ledger))


def test_an_sqlite_reader_refuses_a_file_checkpointed_past_its_cut(
    sqlite_service: LedgerService,
) -> None:
    custodian = many_clients(sqlite_service, count=4)
    with ledger_cut(sqlite_service, sqlite_service.seq) as cut:
        reader = cut.reader(ClientRange(0, 100))
        assert sqlite_service.submit([custodian.deposit(1, "alice", 5)]) == [Result.ok]
        sqlite_service.checkpoint()
        with pytest.raises(SnapshotMovedError):
            reader.read()


@pytest.mark.postgres
def test_a_postgres_cut_is_one_snapshot_while_a_writer_goes_on(
    postgres_url: str, dask_local: DaskExecutor
) -> None:
    service = LedgerService(PostgresStore(postgres_url), SystemClock(), journal_signer())
    try:
        custodian = many_clients(service, count=15)
        before = engine_rows(service.ledger)
        with ledger_cut(service, service.seq) as cut:
            reader = cut.reader(ClientRange(0, 1000))
            assert service.submit([custodian.deposit(1, "alice", 5)]) == [Result.ok]
            service.checkpoint()  # the balances the cut reads change in the database
            assert engine_rows(service.ledger) != before
            assert sorted(reader.read()) == sorted(before)
            parts = list(dask_local.map(operator.methodcaller("read"), [
                cut.reader(r) for r in client_ranges(cut.client_number_max, RANGE)]))
            assert sorted(row for part in parts for row in part) == sorted(before)
        with pytest.raises(SnapshotMovedError):
            reader.read()  # the snapshot ended with the cut
    finally:
        service.close()


# ---------------------------------------------------------------------- failures


@dataclass
class KillsAfterFirst:
    """The executor, but one of its cluster's processes is killed once the run's first
    result is in."""

    inner: Executor
    victim: subprocess.Popen[bytes]
    name: str = "dask (killed mid-run)"

    def map(self, task: Callable[[_Item], _Outcome], items: Iterable[_Item]) -> Iterator[_Outcome]:
        results = self.inner.map(task, items)
        yield next(results)
        self.victim.send_signal(signal.SIGKILL)
        self.victim.wait()
        yield from results

    def close(self) -> None:
        self.inner.close()


@pytest.mark.parametrize("victim", ["scheduler", "worker"])
def test_a_cluster_killed_mid_run_fails_by_name_and_keeps_no_round(
    sqlite_service: LedgerService, tmp_path: Path, victim: str
) -> None:
    """The scheduler, or the only worker (its tasks then have no worker left), SIGKILLed
    after the run's first result."""
    many_clients(sqlite_service, count=20)
    cluster = start_cluster(1)
    try:
        executor = cluster.executor()
        rounds = RoundFiles(tmp_path / "por")
        killed = cluster.scheduler if victim == "scheduler" else cluster.processes[1]
        with pytest.raises(ExecutorError) as failed:
            por.build_and_keep_round(
                sqlite_service, rounds, snapshot=None, holdings=None, control=None,
                executor=KillsAfterFirst(executor, killed), clients_per_range=2)
        assert "nothing of the run was kept" in str(failed.value)
        assert rounds.numbers() == []
        assert not (tmp_path / "por" / "rounds").exists()
        if victim == "scheduler":  # the next run fails at once, not after a reconnect timeout
            with pytest.raises(ExecutorError, match="no scheduler"):
                list(executor.map(abs, [-1]))
        executor.close()
    finally:
        cluster.kill()


def test_a_task_error_comes_back_as_the_task_raised_it(
    dask_local: DaskExecutor, tmp_path: Path
) -> None:
    assert list(dask_local.map(abs, [-1, 2])) == [1, 2]
    with pytest.raises(InputError) as refused:  # open_executor refuses a spec by name
        list(dask_local.map(open_executor, ["in-process", "spark://x:1"]))
    assert refused.value.code is Result.executor_invalid
    with pytest.raises(FileNotFoundError):  # an OSError, but the task's, not the cluster's
        list(dask_local.map(os.stat, [str(tmp_path / "missing")]))


def test_an_executor_is_named_or_refused_by_name() -> None:
    for spec in ("dask-local:0", "dask-local:65", "dask://", "dask://host", "spark://x:1",
                 "dask://h:70000", ""):
        with pytest.raises(Exception) as refused, bootstrap.executor(spec):
            pass
        assert getattr(refused.value, "code", None) is Result.executor_invalid, spec
    with bootstrap.executor("in-process") as executor:
        assert executor.name == "in-process"
        assert list(executor.map(str, [1, 2])) == ["1", "2"]


def test_a_spilled_round_on_dask_is_the_in_process_round_bit_for_bit(
    sqlite_service: LedgerService, dask_local: DaskExecutor, tmp_path: Path
) -> None:
    """The bounded-memory build (``adapters/por_spill.py``): ranges read by the workers from
    the file, tree partitions built and spilled by them, the top joined here."""
    custodian = many_clients(sqlite_service)
    _, here = build(sqlite_service, InProcessExecutor())
    with ledger_cut(sqlite_service, sqlite_service.seq) as cut:
        spilled = build_spilled_round(
            dask_local, cut, sqlite_service.ledger.assets, str(tmp_path / "spill"),
            snapshot=sqlite_service.seq, previous_round_hash=bytes(32), master_secret=MASTER,
            signing_seed=bytes(32), seed=SEED, snapshot_hash=sqlite_service.hash,
            clients_per_range=RANGE, clients_per_partition=RANGE)
    assert spilled.round.record == here.record
    trees = SpilledTrees(spilled.folder, spilled.round.record, sqlite_service.ledger.assets,
                         MASTER)
    for client in [*custodian.clients, *(f"x{n:03d}" for n in range(40)), "nobody"]:
        assert trees.proofs(client) == list(here.proofs(client))


def test_an_insolvency_simulation_on_dask_is_the_one_simulated_here(
    sqlite_service: LedgerService, clock: ManualClock, dask_local: DaskExecutor
) -> None:
    """The failing firm's scenario, on the whole book here, and in client ranges of two
    clients here and on Dask (the workers reading the file): the same document."""
    build_failing_firm(sqlite_service, clock.advance)
    whole = simulate_ledger(sqlite_service, SCENARIO)
    assert len(whole["clients"]) > 4
    for executor in (InProcessExecutor(), dask_local):
        assert simulate_ledger(sqlite_service, SCENARIO, executor=executor,
                               clients_per_range=2) == whole
