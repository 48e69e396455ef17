"""Connections cut mid-commit: every acknowledged batch is stored exactly once, a resubmitted
batch is safe, and the audit passes.

Method: the test streams batches of deposits through a ``LedgerService`` over PostgreSQL while
a second connection watches ``pg_stat_activity`` and, at random moments while the writer's
backend is executing (the journal insert, the ``COPY`` of the transfer rows or the
``COMMIT``), terminates it with ``pg_terminate_backend``, at least ``kills_min`` times. The
store raises ``StorageError`` and drops the connection; the next call opens a fresh one. The
writer resubmits the same batch until it is acknowledged; a batch whose commit landed before
the connection died answers ``exists``, the rest ``ok``.

Then: every batch is stored, each transfer once, every client's balance is exactly the sum of
its deposits (applied once), the invariants hold and ``verify_store`` passes.
"""

from __future__ import annotations

import random
import secrets
import threading
import time
from collections import Counter, defaultdict

import psycopg
import pytest
from tests.support import assert_invariants, build_custodian, custodian_definitions, journal_signer

from ringfence.adapters.clock import SystemClock
from ringfence.adapters.storage.postgres import PostgresStore
from ringfence.core.errors import Result, StorageError
from ringfence.service.audit import verify_store
from ringfence.service.ledger import LedgerService

kills_min = 30
batches_max = 3_000
clients = ("alice", "bob", "carol", "erin", "frank")


class Killer(threading.Thread):
    """Terminates the writer's backend at random moments while it executes a statement."""

    def __init__(self, url: str, application: str, seed: int) -> None:
        super().__init__(daemon=True)
        self.url = url
        self.application = application
        self.rng = random.Random(seed)
        self.stop = threading.Event()
        self.kills: list[str] = []  # the statement each kill interrupted

    def run(self) -> None:
        with psycopg.connect(self.url, autocommit=True) as db:
            while not self.stop.is_set():
                time.sleep(self.rng.uniform(0.0, 0.03))
                row = db.execute(
                    "SELECT pid, query FROM pg_stat_activity WHERE application_name = %s "
                    "AND state = 'active'",
                    (self.application,),
                ).fetchone()
                if row is None:
                    continue
                killed = db.execute("SELECT pg_terminate_backend(%s)", (row[0],)).fetchone()
                if killed and killed[0]:
                    self.kills.append(str(row[1]).split(maxsplit=2)[0].upper())


def open_service(url: str) -> LedgerService:
    """A service on a fresh store, retried: the killer may cut the connection while it loads."""
    for _ in range(100):
        store = None
        try:
            store = PostgresStore(url)
            return LedgerService(store, SystemClock(), journal_signer())
        except StorageError:
            if store is not None:
                store.close()
    raise AssertionError("could not open the store")


@pytest.mark.postgres
@pytest.mark.slow
def test_terminated_connections_lose_no_acknowledged_batch_and_apply_none_twice(
    postgres_url: str,
) -> None:
    application = f"ringfence_victim_{secrets.token_hex(4)}"
    url = f"{postgres_url}&application_name={application}"
    service = open_service(url)
    c = build_custodian(service)
    assert service.submit([c.house_funding(1, 10)]) == [Result.ok]
    rng = random.Random(7)
    expected: dict[str, int] = defaultdict(int)
    acknowledged: list[list[int]] = []
    landed_unacknowledged = 0
    killer = Killer(postgres_url, application, seed=11)
    killer.start()
    try:
        for number in range(batches_max):
            if len(killer.kills) >= kills_min:
                break
            batch = []
            for offset in range(rng.randint(50, 400)):
                name = rng.choice(clients)
                amount = rng.randint(1, 10**6)
                batch.append(c.deposit(1_000_000 + number * 1_000 + offset, name, amount))
                expected[name] += amount
            failures = 0
            while True:
                try:
                    results = service.submit(batch)
                    break
                except StorageError:
                    failures += 1
                    assert failures < 100, "the batch never committed"
                    # The service has reloaded itself, unless the cut hit the reload too: start
                    # afresh, as a restarted client would.
                    service.store.close()
                    service = open_service(url)
            assert set(results) <= {Result.ok, Result.exists}, set(results)
            assert len(set(results)) == 1, "a batch landed in part"
            landed_unacknowledged += results[0] is Result.exists
            acknowledged.append([event.id for event in batch])
    finally:
        killer.stop.set()
        killer.join()
    service.store.close()
    print(
        f"kills: {Counter(killer.kills)}; batches {len(acknowledged)}, "
        f"{landed_unacknowledged} landed though their commit was cut"
    )
    assert len(killer.kills) >= kills_min, killer.kills
    _check(postgres_url, acknowledged, expected)


def _check(url: str, acknowledged: list[list[int]], expected: dict[str, int]) -> None:
    store = PostgresStore(url)
    try:
        report = verify_store(store)
        assert report.ok, report.problems
        ids = [i for batch in acknowledged for i in batch]
        assert len(store.transfers(ids)) == len(ids) == len(set(ids))
        assert sum(1 for _ in store.projected_transfers()) == len(ids) + 1
        service = LedgerService(store, SystemClock(), journal_signer())
        c = custodian_definitions()
        for name, total in expected.items():
            assert service.balance(c.client(name)).balance == total, name
        assert_invariants(service)
    finally:
        store.close()
