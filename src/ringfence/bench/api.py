"""``ringfence bench api``: bulk transfers and balance reads through the REST API, beside the
same batches submitted to the service in-process (the ratio is the point: what HTTP, JSON and
the API's checks cost on top of the ledger).

Cases, each on a fresh SQLite ledger (``synchronous=FULL``, every check, signed heads):

- ``service``: batches of 8,189 deposits handed to ``LedgerService.submit`` in this process;
- ``rest_in_process``: the same batches as ``POST /v1/transfers`` bodies, through the ASGI app
  called in this process (no socket; given by the caller, which may import the app);
- ``rest_socket``: the same through ``ringfence serve`` in another process, over loopback,
  from this process (the load generator), with urllib3;
- ``balance_read_socket``: ``GET /v1/balances/{id}`` one after another over loopback, with
  its median and 99th-percentile latency.

Request bodies are built before the clock starts: the figures are the server's, not the
load generator's JSON encoder's. Beside each rate, ``cpu_us_per_transfer``: the processor
time of the process that served the requests, per transfer (this process, or the server's
from /proc), and the load average before and after the runs: on a shared machine the rate
follows the load, the processor time much less.
"""

from __future__ import annotations

import asyncio
import json
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any, Final

import urllib3
from argon2 import PasswordHasher

from ringfence import bootstrap
from ringfence.bench.machine import Progress, machine, peak_memory_mib
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
from ringfence.service.keys import create_key
from ringfence.service.ledger import LedgerService

batch_events: Final = 8_189
clients_count: Final = 1_000
WALLET: Final = 1
BTC: Final = Asset("BTC", 8, 1, chain="bitcoin")
# The app factory the CLI hands in for the in-process case (bench cannot import entry points).
AppFactory = Callable[[bootstrap.ServiceBundle], Any]
# Cheap argon2id for the bench's own key: the first check of a key is not what is measured.
_hasher: Final = PasswordHasher(time_cost=1, memory_cost=8, parallelism=1)


def run_bench(
    quick: bool = False, progress: Progress | None = None, app_factory: AppFactory | None = None
) -> dict[str, Any]:
    batches = 2 if quick else 8
    reads = 200 if quick else 2_000
    load_before = os.getloadavg()
    results = []
    with tempfile.TemporaryDirectory(prefix="ringfence-bench-api-") as folder:
        results.append(_service_case(Path(folder) / "service.db", batches))
        if progress:
            progress("api", 1, 3)
        if app_factory is not None:
            results.append(_in_process_case(Path(folder) / "asgi.db", batches, app_factory))
        if progress:
            progress("api", 2, 3)
        results.extend(_socket_cases(Path(folder) / "socket.db", batches, reads))
        if progress:
            progress("api", 3, 3)
    return {"bench": "api", "machine": machine(), "results": results,
            "load_average": list(load_before), "load_average_after": list(os.getloadavg()),
            "peak_memory_mib": peak_memory_mib()}  # fmt: skip


# ---------------------------------------------------------------------- the ledger


def bench_ledger(path: Path) -> tuple[str, LedgerService]:
    """A fresh SQLite ledger: one asset, one omnibus pool, its wallet and 1,000 clients."""
    url = f"sqlite:///{path}"
    ledger = bootstrap.open_ledger(url)
    ledger.define_assets([BTC])
    names = [f"c{n}" for n in range(clients_count)]
    ledger.define_clients(names)
    ledger.define_pools([Pool("omni", PoolKind.omnibus, Terms.custody)])
    accounts = [AccountDefinition(WALLET, "BTC", AccountClass.custody, "omni-hot", "hot", "omni")]
    accounts += [
        AccountDefinition(2 + n, "BTC", AccountClass.client, name, "available", "omni")
        for n, name in enumerate(names)
    ]
    for start in range(0, len(accounts), 1_000):
        ledger.define_accounts(accounts[start : start + 1_000])
    return url, ledger


def bench_batches(count: int) -> list[list[Transfer]]:
    """``count`` batches of 8,189 deposits spread over the clients, ids from 1."""
    return [bench_batch(number) for number in range(count)]


def bench_batch(number: int) -> list[Transfer]:
    """Batch ``number`` (from 0) of ``bench_batches``."""
    first = 1 + number * batch_events
    return [
        Transfer(first + n, WALLET, 2 + (first + n) % clients_count, 1_000 + n,
                 TransferCode.deposit)
        for n in range(batch_events)
    ]  # fmt: skip


def _body(batch: list[Transfer]) -> bytes:
    rows = [
        {"id": str(t.id), "debit_account": str(t.debit_account),
         "credit_account": str(t.credit_account), "amount": f"0.{t.amount:08d}",
         "code": "deposit"}
        for t in batch
    ]  # fmt: skip
    return json.dumps({"transfers": rows}, separators=(",", ":")).encode()


def _rate(case: str, transfers: int, seconds: float, cpu: float | None) -> dict[str, Any]:
    """A case's rate, and the processor time per transfer of the process that served it
    (this one, or the server's): what the code costs, which the machine's load moves far
    less than the rate."""
    cpu_us = None if cpu is None else round(cpu / transfers * 1e6, 2)
    return {"case": case, "ops_per_s": round(transfers / seconds, 1), "transfers": transfers,
            "batch": batch_events, "seconds": round(seconds, 3),
            "cpu_us_per_transfer": cpu_us}  # fmt: skip


def _processor_seconds(pid: int) -> float | None:
    """User and system time of process ``pid`` so far (Linux /proc; None elsewhere)."""
    try:
        with open(f"/proc/{pid}/stat", encoding="ascii") as stat:
            fields = stat.read().rsplit(")", 1)[1].split()
    except OSError:
        return None
    # After the command's closing parenthesis: state is field 3, utime 14 and stime 15.
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def _service_case(path: Path, count: int) -> dict[str, Any]:
    _, ledger = bench_ledger(path)
    batches = bench_batches(count)
    try:
        started, started_cpu = time.perf_counter(), time.process_time()
        for batch in batches:
            assert all(r.succeeded for r in ledger.submit(batch))
        seconds, cpu = time.perf_counter() - started, time.process_time() - started_cpu
    finally:
        ledger.close()
    return _rate("service", count * batch_events, seconds, cpu)


# ---------------------------------------------------------------------- in process, ASGI


def _in_process_case(path: Path, count: int, app_factory: AppFactory) -> dict[str, Any]:
    url, ledger = bench_ledger(path)
    ledger.close()
    bundle = bootstrap.open_service(url, hasher=_hasher)
    try:
        key = create_key(bundle.keys, bundle.clock, _hasher, bundle.ledger, role="operator")[1]
        app = app_factory(bundle)
        bodies = [_body(batch) for batch in bench_batches(count)]
        headers = [(b"authorization", f"Bearer {key}".encode()),
                   (b"content-type", b"application/json")]  # fmt: skip
        started_cpu = time.process_time()
        seconds = asyncio.run(_post_all(app, headers, bodies))
        cpu = time.process_time() - started_cpu  # the first check of the key included
    finally:
        bundle.close()
    return _rate("rest_in_process", count * batch_events, seconds, cpu)


async def _post_all(app: Any, headers: list[tuple[bytes, bytes]], bodies: list[bytes]) -> float:
    status, _ = await _asgi_post(app, "/v1/balances/2", headers, b"")  # the key's first check
    assert status == 200
    started = time.perf_counter()
    for body in bodies:
        status, answer = await _asgi_post(app, "/v1/transfers", headers, body)
        assert status == 200 and json.loads(answer)["ok"], answer[:200]
    return time.perf_counter() - started


async def _asgi_post(
    app: Any, path: str, headers: list[tuple[bytes, bytes]], body: bytes
) -> tuple[int, bytes]:
    """One request to an ASGI app, without a server (what a test client does, by hand: the
    bench is runtime code and the test client is a development dependency)."""
    sent = False
    answer: dict[str, Any] = {"status": 0, "body": b""}

    async def receive() -> dict[str, Any]:
        nonlocal sent
        if sent:
            return {"type": "http.disconnect"}
        sent = True
        return {"type": "http.request", "body": body, "more_body": False}

    async def send(message: dict[str, Any]) -> None:
        if message["type"] == "http.response.start":
            answer["status"] = message["status"]
        elif message["type"] == "http.response.body":
            answer["body"] += message.get("body", b"")

    length = [(b"content-length", str(len(body)).encode())]
    scope = {"type": "http", "asgi": {"version": "3.0"}, "http_version": "1.1",
             "method": "POST" if body else "GET", "scheme": "http", "path": path,
             "raw_path": path.encode(), "query_string": b"", "root_path": "",
             "headers": headers + length, "client": ("127.0.0.1", 1),
             "server": ("127.0.0.1", 80)}  # fmt: skip
    await app(scope, receive, send)
    return answer["status"], answer["body"]


# ---------------------------------------------------------------------- over a socket


def _socket_cases(path: Path, count: int, reads: int) -> list[dict[str, Any]]:
    url, ledger = bench_ledger(path)
    ledger.close()
    bundle = bootstrap.open_service(url, hasher=_hasher)
    try:
        key = create_key(bundle.keys, bundle.clock, _hasher, bundle.ledger, role="operator")[1]
    finally:
        bundle.close()
    bodies = [_body(batch) for batch in bench_batches(count)]
    port = _free_port()
    server = _serve(url, port)
    pool = urllib3.HTTPConnectionPool("127.0.0.1", port, maxsize=1, retries=False)
    headers = {"Authorization": f"Bearer {key}", "Content-Type": "application/json"}
    try:
        _wait_until_up(pool, server)
        pool.request("GET", "/v1/balances/2", headers=headers)  # the key's first check
        started, started_cpu = time.perf_counter(), _processor_seconds(server.pid)
        for body in bodies:
            answer = pool.request("POST", "/v1/transfers", body=body, headers=headers)
            assert answer.status == 200 and json.loads(answer.data)["ok"], answer.data[:200]
        seconds, ended_cpu = time.perf_counter() - started, _processor_seconds(server.pid)
        cpu = None if started_cpu is None or ended_cpu is None else ended_cpu - started_cpu
        latencies = []
        for n in range(reads):
            began = time.perf_counter()
            answer = pool.request("GET", f"/v1/balances/{2 + n % clients_count}", headers=headers)
            latencies.append(time.perf_counter() - began)
            assert answer.status == 200
    finally:
        server.terminate()
        server.wait(timeout=30)
        pool.close()
    return [
        _rate("rest_socket", count * batch_events, seconds, cpu),
        _latency("balance_read_socket", latencies),
    ]


def _latency(case: str, seconds: list[float]) -> dict[str, Any]:
    ordered = sorted(seconds)
    p99 = ordered[min(len(ordered) - 1, int(len(ordered) * 0.99))]
    return {"case": case, "ops_per_s": round(len(seconds) / sum(seconds), 1),
            "reads": len(seconds), "p50_ms": round(statistics.median(ordered) * 1000, 3),
            "p99_ms": round(p99 * 1000, 3)}  # fmt: skip


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


def _serve(url: str, port: int) -> subprocess.Popen[bytes]:
    binary = Path(sys.executable).with_name("ringfence")
    command = [str(binary)] if binary.exists() else ["ringfence"]
    arguments = ["--db", url, "serve", "--port", str(port), "--deliver-every", "0"]
    return subprocess.Popen(
        [*command, *arguments],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        env={**os.environ, "RINGFENCE_API_KEYS": ""},
    )


def _wait_until_up(pool: urllib3.HTTPConnectionPool, server: subprocess.Popen[bytes]) -> None:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if server.poll() is not None:
            raise RuntimeError("ringfence serve stopped before it answered")
        try:
            if pool.request("GET", "/v1/health").status == 200:
                return
        except urllib3.exceptions.HTTPError:
            time.sleep(0.1)
    raise RuntimeError("ringfence serve did not answer within 60 s")
