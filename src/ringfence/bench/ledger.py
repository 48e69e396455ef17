"""``ringfence bench ledger``: transfers per second through the whole write path.

Method. A fresh SQLite database (WAL, ``synchronous=FULL``) in a temporary folder (or, given a
PostgreSQL URL, a fresh schema in that database, dropped afterwards) holds one
omnibus custody pool with 10,000 funded client accounts, its hot wallet, a house wallet and
house revenue. Batches are built before the clock starts (as a client library would have them
ready) and submitted one after another through ``LedgerService.submit``: each is executed by the
engine with every check on (segregation rules, balances with pending counted, pool coverage,
idempotency lookup in the store), encoded, hash-chained and committed with one fsync before the
next starts. The ``batch_*`` cases are the custody path: 40% deposits, 40% withdrawals and 20%
fees, with accounts chosen uniformly or by a Zipf law (s = 1, hot accounts). The
``internal_signed`` case is all internal transfers, each signed by its payer's principal
(signed before the clock starts, as the payer's tool would) and verified by the engine: the
cost of authorisation evidence, one Ed25519 verification per transfer. Ids are time-ordered, as
ledgers recommend for clients. Each case runs several times on a new database; the figure is
the median rate. Beside it, ``cpu_us_per_transfer``: this process's processor time (the engine
and the store's writer thread) per transfer over the same span, which other work on the machine
moves far less than the rate, and the load average before and after the runs. On a shared
machine the rate follows the load and the disk (a run can be three times another's), so a
change is judged by the processor time and by the old and the new code run alternately, never
by one run against another.
"""

from __future__ import annotations

import bisect
import hashlib
import os
import random
import statistics
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from itertools import accumulate
from pathlib import Path
from typing import Any

from ringfence.adapters.clock import SystemClock
from ringfence.adapters.signing import MemorySigner
from ringfence.adapters.storage import postgres
from ringfence.adapters.storage.postgres import PostgresStore
from ringfence.adapters.storage.sqlite import SqliteStore
from ringfence.bench.machine import Progress, machine, peak_memory_mib
from ringfence.core.errors import Result
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
from ringfence.core.principals.authorisation import public_key_of
from ringfence.core.principals.records import Principal, PrincipalChange, PrincipalRole
from ringfence.service.ledger import LedgerService
from ringfence.service.ports import LedgerStore

clients_count = 10_000
client_account_base = 1_000
hot_wallet, house_wallet, house_revenue = 1, 2, 3
funding_units = 10**12
admin = "bench-admin"

# (case, batch size, transfers per run, zipfian, signed internal transfers)
cases_full = (
    ("batch_1_uniform", 1, 1_500, False, False),
    ("batch_128_uniform", 128, 64_000, False, False),
    ("batch_8189_uniform", 8_189, 327_560, False, False),
    ("batch_8189_zipfian", 8_189, 327_560, True, False),
    ("batch_8189_internal_signed", 8_189, 16_378, False, True),
)
cases_quick = (
    ("batch_1_uniform", 1, 100, False, False),
    ("batch_128_uniform", 128, 2_560, False, False),
    ("batch_8189_uniform", 8_189, 16_378, False, False),
    ("batch_8189_zipfian", 8_189, 16_378, True, False),
    ("batch_8189_internal_signed", 8_189, 8_189, False, True),
)


def run_bench(
    quick: bool = False, progress: Progress | None = None, url: str | None = None
) -> dict[str, Any]:
    """Run every case; ``url`` (a PostgreSQL database) moves the runs off temporary SQLite."""
    runs = 1 if quick else 3
    load_before = os.getloadavg()
    results = []
    for case, batch_size, transfers, zipfian, signed in cases_quick if quick else cases_full:
        rates: list[float] = []
        latencies: list[float] = []
        processor_seconds: list[float] = []
        for run in range(runs):
            if progress is not None:
                progress(case, run, runs)
            rate, batch_seconds, cpu_seconds = _run_case(
                batch_size, transfers, zipfian, signed, seed=run, url=url
            )
            rates.append(rate)
            latencies.extend(batch_seconds)
            processor_seconds.append(cpu_seconds)
        latencies.sort()
        results.append(
            {
                "case": case,
                "ops_per_s": round(statistics.median(rates), 1),
                "runs_ops_per_s": [round(rate, 1) for rate in rates],
                "batch_size": batch_size,
                "transfers_per_run": transfers,
                "batch_latency_ms_p50": round(latencies[len(latencies) // 2] * 1000, 3),
                "batch_latency_ms_p99": round(latencies[int(len(latencies) * 0.99)] * 1000, 3),
                "cpu_us_per_transfer": round(
                    statistics.median(processor_seconds) / transfers * 1e6, 3
                ),
                "peak_memory_mib": peak_memory_mib(),
            }
        )
    document = {
        "bench": "ledger",
        "machine": machine(),
        "method": "SQLite WAL synchronous=FULL, all checks and the hash chain on; "
        "median of runs; see ringfence/bench/ledger.py",
        "results": results,
        "load_average": list(load_before),
        "load_average_after": list(os.getloadavg()),
    }
    if url is not None:
        document["method"] = (
            "PostgreSQL, a fresh schema per run, every commit durable (synchronous_commit as "
            "the server sets it, below); all checks and the hash chain on; median of runs; "
            "see ringfence/bench/ledger.py"
        )
        document["database"] = postgres.server_settings(url)
    return document


@contextmanager
def _fresh_store(url: str | None) -> Iterator[LedgerStore]:
    """An empty store: a temporary SQLite file, or a scratch schema in the PostgreSQL ``url``."""
    if url is None:
        with tempfile.TemporaryDirectory(prefix="ringfence-bench-") as folder:
            yield SqliteStore(str(Path(folder) / "bench.db"))
    else:
        with postgres.scratch_ledger(url, "ringfence_bench") as scratch:
            yield PostgresStore(scratch)


def _run_case(
    batch_size: int, transfers: int, zipfian: bool, signed: bool, *, seed: int, url: str | None
) -> tuple[float, list[float], float]:
    """The run's rate (transfers/s), each batch's latency and the processor seconds spent."""
    with _fresh_store(url) as store:
        service = LedgerService(store, SystemClock(), MemorySigner())
        _set_up(service, signed)
        batches = _batches(batch_size, transfers, zipfian, seed, service if signed else None)
        batch_seconds = []
        started = batch_started = time.perf_counter()
        started_cpu = time.process_time()
        for results in service.submit_stream(batches):
            now = time.perf_counter()
            batch_seconds.append(now - batch_started)
            batch_started = now
            assert all(result is Result.ok for result in results), set(results)
        elapsed = time.perf_counter() - started
        cpu_seconds = time.process_time() - started_cpu
        service.close()
    return transfers / elapsed, batch_seconds, cpu_seconds


def _set_up(service: LedgerService, principals: bool) -> None:
    service.define_assets([Asset("BTC", 8, 1, "bitcoin")])
    names = [f"c{index:05d}" for index in range(clients_count)]
    service.define_clients(names)
    service.define_pools([Pool("bench", PoolKind.omnibus, Terms.custody)])
    accounts = [
        AccountDefinition(hot_wallet, "BTC", AccountClass.custody, "bench-hot", "hot", "bench"),
        AccountDefinition(house_wallet, "BTC", AccountClass.custody, "house-hot", "hot"),
        AccountDefinition(house_revenue, "BTC", AccountClass.house, "house", "revenue"),
    ]
    accounts += [
        AccountDefinition(client_account_base + i, "BTC", AccountClass.client, name, "available",
                          "bench")
        for i, name in enumerate(names)
    ]
    assert all(result is Result.ok for result in service.define_accounts(accounts))
    funding = [
        Transfer(i + 1, hot_wallet, client_account_base + i, funding_units, TransferCode.deposit)
        for i in range(clients_count)
    ]
    assert all(result is Result.ok for result in service.submit_all(funding))
    if principals:
        _register_principals(service, names)
    service.checkpoint()


def _seed_of(name: str) -> bytes:
    """A bench principal's Ed25519 seed: derived from its name, for this benchmark only."""
    return hashlib.sha256(f"ringfence bench key\0{name}".encode()).digest()


def _register_principals(service: LedgerService, names: list[str]) -> None:
    """The bench's admin, then a principal per client, named like it, endorsed by the admin."""
    anchor = Principal(admin, PrincipalRole.admin, public_key_of(_seed_of(admin)))
    changes = [PrincipalChange(anchor, None)]
    changes += [
        service.endorse(
            Principal(name, PrincipalRole.client, public_key_of(_seed_of(name)), name),
            admin,
            _seed_of(admin),
        )
        for name in names
    ]
    assert all(result is Result.ok for result in service.change_principals(changes))


def _batches(
    batch_size: int, transfers: int, zipfian: bool, seed: int, signer: LedgerService | None
) -> list[list[Transfer]]:
    """The run's batches, built (and, with a ``signer``, all internal transfers signed by
    their payers) before the clock starts."""
    rng = random.Random(seed)
    if zipfian:
        weights = list(accumulate(1 / rank for rank in range(1, clients_count + 1)))
        order = list(range(clients_count))
        rng.shuffle(order)

        def pick() -> int:
            return order[bisect.bisect(weights, rng.random() * weights[-1])]
    else:

        def pick() -> int:
            return rng.randrange(clients_count)

    next_id = 2**64 + time.time_ns()
    events = []
    for offset in range(transfers):
        if signer is None:
            events.append(_event(next_id + offset, pick(), rng))
            continue
        payer, payee = pick(), pick()
        while payee == payer:
            payee = pick()
        events.append(_signed_internal(signer, next_id + offset, payer, payee, rng))
    return [events[i : i + batch_size] for i in range(0, transfers, batch_size)]


def _event(transfer_id: int, client: int, rng: random.Random) -> Transfer:
    """The custody path: 40% deposits, 40% withdrawals, 20% fees."""
    amount = rng.randint(1, 10_000)
    draw = rng.randrange(10)
    account = client_account_base + client
    if draw < 4:
        return Transfer(transfer_id, hot_wallet, account, amount, TransferCode.deposit)
    if draw < 8:
        return Transfer(transfer_id, account, hot_wallet, amount, TransferCode.withdrawal)
    return Transfer(transfer_id, account, house_revenue, amount, TransferCode.fee)


def _signed_internal(
    signer: LedgerService, transfer_id: int, payer: int, payee: int, rng: random.Random
) -> Transfer:
    name = f"c{payer:05d}"
    transfer = Transfer(
        transfer_id,
        client_account_base + payer,
        client_account_base + payee,
        rng.randint(1, 10_000),
        TransferCode.internal_transfer,
        authorised_by=name,
    )
    return signer.authorise(transfer, _seed_of(name))
