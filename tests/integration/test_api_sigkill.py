"""Durability of the REST API: ``ringfence serve`` killed with SIGKILL in the middle of a
stream of bulk ``POST /v1/transfers`` requests loses no answered batch, keeps no partial one,
and a retry with the same Idempotency-Key has one effect.

Method: one ledger (the small custodian of ``tests/support.py``), a few kills in a row; once on
an SQLite file and once on a fresh PostgreSQL schema, whose Idempotency-Key answers live in the
database itself (adapters/idempotency/postgres.py; no ``RINGFENCE_IDEMPOTENCY``).
Per kill: start the server, stream batches from a client thread (batch ``k`` always holds the
same deposits, ids ``k * 1000 + i``, sent with the key ``batch-k``), kill the server with
SIGKILL after a random number of answers while a request is in flight, then check the file
from this process: every batch answered with a 2xx is present whole and every other one is
whole or absent. The next server then gets every unanswered batch again with its key (each
transfer is ``ok`` if the batch was lost, ``exists`` if it had committed, or the first answer
is replayed), and one answered batch again (its first answer replayed). At the end alice's
balance is exactly one deposit per batch, ``ringfence audit verify`` passes, and a key sent again
with another body is refused (``idempotency_key_reused_with_different_request``), changing
nothing.
"""

from __future__ import annotations

import os
import random
import signal
import subprocess
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

import httpx2 as httpx
import pytest
from tests import support_cli as cli
from tests.support import MAIN, build_custodian
from tests.support_serve import start_seconds_max, start_server, stop_server

from ringfence import bootstrap
from ringfence.core.ledger.model import AccountClass

kills = 2
batch_size = 200
unit = "0.00000001"  # one satoshi a deposit, so alice's balance counts the deposits


@dataclass
class Stream:
    """What the client thread sent and what came back, by batch number."""

    answered: dict[int, httpx.Response] = field(default_factory=dict)
    unanswered: set[int] = field(default_factory=set)
    stopped: threading.Event = field(default_factory=threading.Event)


def deposits(k: int, wallet: int, account: int) -> dict[str, object]:
    return {
        "transfers": [
            {
                "id": str(k * 1000 + i),
                "debit_account": str(wallet),
                "credit_account": str(account),
                "amount": unit,
                "code": "deposit",
            }
            for i in range(batch_size)
        ]
    }


@dataclass(frozen=True)
class Books:
    """The ledger under test: its URL, the environment naming its files (a PostgreSQL ledger
    keeps its journal key, API keys and webhooks in files named by it), its two accounts."""

    url: str
    env: dict[str, str]
    wallet: int
    account: int


def start(books: Books, log: Path) -> tuple[subprocess.Popen[bytes], str]:
    return start_server(books.url, log, books.env)


def stream(base: str, headers: dict[str, str], first: int, body: object, into: Stream) -> None:
    """Send batch after batch until the server stops answering."""
    with httpx.Client(base_url=base, headers=headers, timeout=60) as http:
        k = first
        while True:
            try:
                into.answered[k] = http.post(
                    "/v1/transfers", json=body(k), headers={"Idempotency-Key": f"batch-{k}"}
                )
            except httpx.TransportError:
                into.unanswered.add(k)
                into.stopped.set()
                return
            k += 1


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def books(request: pytest.FixtureRequest, tmp_path: Path) -> Books:
    env: dict[str, str] = {}
    if request.param == "sqlite":
        url = f"sqlite:///{tmp_path / 'ringfence.db'}"
    else:
        url = request.getfixturevalue("postgres_url")
        env = {
            "RINGFENCE_JOURNAL_KEY": str(tmp_path / "journal.key"),
            "RINGFENCE_API_KEYS": str(tmp_path / "api-keys"),
            "RINGFENCE_WEBHOOKS": str(tmp_path / "webhooks"),
        }
    service = bootstrap.open_ledger(url, journal_key=env.get("RINGFENCE_JOURNAL_KEY"))
    try:
        custodian = build_custodian(service)
    finally:
        service.close()
    wallet = next(
        a.id
        for a in custodian.accounts
        if a.account_class is AccountClass.custody and a.pool == MAIN and a.asset == "BTC"
    )
    account = next(
        a.id
        for a in custodian.accounts
        if a.account_class is AccountClass.client
        and a.owner == "alice"
        and a.asset == "BTC"
        and a.kind == "available"
    )
    return Books(url, env, wallet, account)


def check_books(url: str, answered: set[int], sent: set[int]) -> set[int]:
    """Answered batches whole, the others whole or absent; returns the batches present."""
    store = bootstrap.open_store(url, create=False)
    try:
        present = set()
        for k in sorted(sent):
            ids = [k * 1000 + i for i in range(batch_size)]
            found = len(store.transfers(ids))
            if k in answered:
                assert found == batch_size, f"batch {k} was answered, {found} of it kept"
            else:
                assert found in (0, batch_size), f"batch {k} is partial: {found}"
            if found:
                present.add(k)
        return present
    finally:
        store.close()


@pytest.mark.crash
@pytest.mark.slow
def test_sigkill_mid_bulk_keeps_answered_batches_whole_and_retries_once(
    books: Books, tmp_path: Path
) -> None:
    made = cli.run(books.url, "keys", "create", "--role", "operator", "--json", env=books.env)
    assert made.status == 0, made.stderr
    headers = {"Authorization": f"Bearer {made.document['key']}"}
    log = tmp_path / "serve.log"
    chooser = random.Random(7)
    answered: dict[int, httpx.Response] = {}
    sent: set[int] = set()

    def body(k: int) -> object:
        sent.add(k)
        return deposits(k, books.wallet, books.account)

    first = 1
    process, base = start(books, log)
    for _ in range(kills):
        into = Stream()
        client = threading.Thread(target=stream, args=(base, headers, first, body, into))
        client.start()
        wanted = chooser.randint(2, 8)
        deadline = time.monotonic() + start_seconds_max
        while len(into.answered) < wanted:
            assert time.monotonic() < deadline and client.is_alive(), log.read_text()
            time.sleep(0.005)
        time.sleep(chooser.uniform(0.0, 0.05))  # land inside a request, not between two
        os.kill(process.pid, signal.SIGKILL)
        process.wait(timeout=30)
        client.join(timeout=60)
        assert into.stopped.is_set()
        for k, response in into.answered.items():
            assert response.status_code == 200, (k, response.text)
            assert {row["result"] for row in response.json()["results"]} == {"ok"}
        answered.update(into.answered)
        present = check_books(books.url, set(answered), sent)

        process, base = start(books, log)
        with httpx.Client(base_url=base, headers=headers, timeout=60) as http:
            retry(http, books, into, present, answered)
            again = chooser.choice(sorted(into.answered))
            replayed = http.post(
                "/v1/transfers",
                json=deposits(again, books.wallet, books.account),
                headers={"Idempotency-Key": f"batch-{again}"},
            )
            assert replayed.headers.get("Idempotency-Replayed") == "true"
            assert replayed.content == answered[again].content
        check_books(books.url, set(answered), sent)
        first = max(sent) + 1

    with httpx.Client(base_url=base, headers=headers, timeout=60) as http:
        other = deposits(max(sent) + 1, books.wallet, books.account)
        refused = http.post("/v1/transfers", json=other, headers={"Idempotency-Key": "batch-1"})
    assert refused.status_code == 422, refused.text
    assert refused.json()["code"] == "idempotency_key_reused_with_different_request"
    stop_server(process)
    assert sent == set(answered)
    balance = cli.run(books.url, "balances", "--client", "alice", "--json", env=books.env)
    assert balance.status == 0, balance.stderr
    audit = cli.run(books.url, "audit", "verify", "--json", env=books.env)
    assert audit.status == 0, audit.stdout + audit.stderr
    _assert_balance(balance.document, books.account, len(sent) * batch_size)


def retry(
    http: httpx.Client,
    books: Books,
    into: Stream,
    present: set[int],
    answered: dict[int, httpx.Response],
) -> None:
    """Send every unanswered batch again with its key: one effect each, whether it had
    committed (``exists``, or the first answer replayed) or not (``ok``)."""
    for k in sorted(into.unanswered):
        retried = http.post(
            "/v1/transfers",
            json=deposits(k, books.wallet, books.account),
            headers={"Idempotency-Key": f"batch-{k}"},
        )
        assert retried.status_code == 200, retried.text
        results = {row["result"] for row in retried.json()["results"]}
        if retried.headers.get("Idempotency-Replayed") == "true":
            assert results == {"ok"} and k in present
        else:
            assert results == ({"exists"} if k in present else {"ok"}), (k, results)
        answered[k] = retried


def _assert_balance(document: dict[str, list[dict[str, str]]], account: int, satoshis: int) -> None:
    (row,) = [row for row in document["balances"] if row["account"] == str(account)]
    assert row["balance"] == f"{satoshis // 10**8}.{satoshis % 10**8:08d}", row
