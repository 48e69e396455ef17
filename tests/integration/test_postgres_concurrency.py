"""Many processes, one PostgreSQL ledger: nothing lost, nothing twice, no guarantee broken.

Method: the test defines the small custodian and funds it modestly, then starts 8 processes
(this file run as a script) that submit conflicting batches at the same time to the same
accounts: internal transfers between the same few clients (hot accounts), withdrawals larger
than what is left (overdraft attempts, which only the serialised head can refuse correctly),
deposits and fees, and every third batch identical in every process (the same ids and bodies:
duplicates across processes). A batch refused because another process appended first is
decided again by the service itself (it reloads the other writer's entries first); the worker
resubmits as a client would only if that ever gives up (``StorageError``). Each worker records
the result of every event in the attempt that committed.

Then, from a fresh service: conservation per asset, no client account below zero, pool
coverage (``tests/support.invariant_problems``), each id applied by at most one process and
stored exactly when one process got ``ok`` (``exists`` only for stored ids), and
``audit verify`` (``verify_store``) passes.
"""

from __future__ import annotations

import json
import os
import random
import subprocess
import sys
from collections import Counter, defaultdict
from pathlib import Path

import pytest
from tests.support import (
    Custodian,
    assert_invariants,
    build_custodian,
    custodian_definitions,
    journal_signer,
)

from ringfence.adapters.clock import SystemClock
from ringfence.adapters.storage.postgres import PostgresStore
from ringfence.core.errors import Result, StorageError
from ringfence.core.ledger.model import Transfer
from ringfence.service.audit import verify_store
from ringfence.service.ledger import LedgerService

processes = 8
batches_per_process = 24
retries_max = 500
clients_hot = ("alice", "bob", "carol", "erin", "frank")
repository = Path(__file__).resolve().parents[2]


def shared_batch(custodian: Custodian, number: int) -> list[Transfer]:
    """The batch every process submits as its number-th: same ids, same bodies."""
    rng = random.Random(10_000 + number)
    base = 10_000_000 + number * 100
    return events(custodian, rng, base)


def own_batch(custodian: Custodian, worker: int, number: int) -> list[Transfer]:
    rng = random.Random(worker * 1_000 + number)
    base = 20_000_000 + worker * 100_000 + number * 100
    return events(custodian, rng, base)


def events(custodian: Custodian, rng: random.Random, base: int) -> list[Transfer]:
    c = custodian
    batch = []
    for offset in range(rng.randint(5, 30)):
        payer, payee = rng.sample(clients_hot, 2)
        draw = rng.random()
        transfer_id = base + offset
        if draw < 0.55:
            batch.append(c.internal(transfer_id, payer, payee, rng.randint(1, 400)))
        elif draw < 0.7:
            batch.append(c.withdrawal(transfer_id, payer, rng.randint(300, 2_500)))
        elif draw < 0.9:
            batch.append(c.deposit(transfer_id, payee, rng.randint(1, 300)))
        else:
            batch.append(c.fee(transfer_id, payer, rng.randint(1, 50)))
    return batch


def work(url: str, worker: int, out: Path) -> None:
    """One process: submit its batches, resubmitting each refused one until it commits."""
    custodian = custodian_definitions()
    service = LedgerService(
        PostgresStore(url), SystemClock(), journal_signer(), checkpoint_interval_batches=4
    )
    outcomes: dict[str, str] = {}
    retries = 0
    for number in range(batches_per_process):
        if number % 3 == 0:
            batch = shared_batch(custodian, number)
        else:
            batch = own_batch(custodian, worker, number)
        for _ in range(retries_max):
            try:
                results = service.submit(batch)
                break
            except StorageError:
                retries += 1  # another process appended first; the service has reloaded
        else:
            raise AssertionError(f"worker {worker}: batch {number} never committed")
        for event, result in zip(batch, results, strict=True):
            outcomes[str(event.id)] = result.value
    service.close()
    retries += service.head_conflicts
    out.write_text(json.dumps({"outcomes": outcomes, "retries": retries}), encoding="ascii")


@pytest.mark.postgres
@pytest.mark.slow
def test_eight_processes_submitting_conflicting_batches_keep_every_guarantee(
    postgres_url: str, tmp_path: Path
) -> None:
    service = LedgerService(PostgresStore(postgres_url), SystemClock(), journal_signer())
    c = build_custodian(service)
    funding = [c.house_funding(1, 10**6)]
    funding += [c.deposit(2 + i, name, 2_000) for i, name in enumerate(clients_hot)]
    assert service.submit(funding) == [Result.ok] * len(funding)
    service.close()

    environment = {**os.environ, "PYTHONPATH": str(repository)}
    outputs = [tmp_path / f"worker-{k}.json" for k in range(processes)]
    workers = [
        subprocess.Popen(
            [sys.executable, __file__, postgres_url, str(k), str(outputs[k])],
            env=environment,
            stderr=subprocess.PIPE,
        )
        for k in range(processes)
    ]
    for worker in workers:
        _, stderr = worker.communicate(timeout=240)
        assert worker.returncode == 0, stderr.decode()
    reports = [json.loads(path.read_text(encoding="ascii")) for path in outputs]

    store = PostgresStore(postgres_url)
    try:
        report = verify_store(store)
        assert report.ok, report.problems
        final = LedgerService(store, SystemClock(), journal_signer())
        assert_invariants(final)
        _check_conservation(final)
        _check_exactly_once(store, reports)
    finally:
        store.close()
    assert sum(r["retries"] for r in reports) > 0, "the processes never conflicted"
    results = Counter(result for r in reports for result in r["outcomes"].values())
    assert results[Result.exists.value] > 0, results
    assert results[Result.exceeds_available_balance.value] > 0, results  # overdrafts refused


def _check_conservation(service: LedgerService) -> None:
    debits: dict[str, int] = defaultdict(int)
    credits: dict[str, int] = defaultdict(int)
    for balance in service.balances():
        asset = balance.account.asset
        debits[asset] += balance.debits_posted + balance.debits_pending
        credits[asset] += balance.credits_posted + balance.credits_pending
        if balance.account.account_class.value == "client":
            assert balance.balance >= 0, balance
    assert debits == credits


def _check_exactly_once(store: PostgresStore, reports: list[dict[str, object]]) -> None:
    applied: Counter[int] = Counter()
    seen: set[int] = set()
    existed: set[int] = set()
    for report in reports:
        outcomes = report["outcomes"]
        assert isinstance(outcomes, dict)
        for key, result in outcomes.items():
            seen.add(int(key))
            if result == "ok":
                applied[int(key)] += 1
            elif result == "exists":
                existed.add(int(key))
    assert max(applied.values()) == 1, "an event was applied by two processes"
    stored = store.transfers(seen)
    assert stored.keys() == applied.keys()
    assert existed <= stored.keys()
    projected = [record.id for record in store.projected_transfers()]
    assert len(projected) == len(set(projected))
    assert set(projected) - seen == {1, 2, 3, 4, 5, 6}  # only the funding besides


if __name__ == "__main__":
    work(sys.argv[1], int(sys.argv[2]), Path(sys.argv[3]))
