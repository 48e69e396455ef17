"""``ringfence serve`` for real: a server process on a free loopback port, keys made and
revoked with ``ringfence keys`` beside it (the first through the console script, the others
through the CLI in this process), a first call as docs/api.md shows it, and its delivery
worker posting a signed webhook to a receiver on loopback."""

from __future__ import annotations

import json
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx2 as httpx
import pytest
from tests import support_cli as cli
from tests.support import BTC, build_custodian
from tests.support_webhooks import Receiver

from ringfence import bootstrap
from ringfence.core.ledger import wire

RINGFENCE = str(Path(sys.executable).with_name("ringfence"))
start_seconds_max = 30.0


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


def ringfence(db: str, *arguments: str, installed: bool = False) -> dict[str, object]:
    """A ``ringfence`` command's JSON document: the CLI in this process (still another process
    than the server), or with ``installed`` the console script."""
    run = cli.run_installed if installed else cli.run
    done = run(db, *arguments, "--json", env={"RINGFENCE_API_KEYS": ""})
    assert done.status == 0, done.stderr
    document: dict[str, object] = done.document
    return document


@pytest.fixture
def ledger_db(tmp_path: Path) -> Iterator[str]:
    url = f"sqlite:///{tmp_path / 'ringfence.db'}"
    service = bootstrap.open_ledger(url)
    try:
        build_custodian(service)
    finally:
        service.close()
    yield url


@pytest.fixture
def server(ledger_db: str, tmp_path: Path) -> Iterator[str]:
    port = free_port()
    log = tmp_path / "serve.log"
    command = [RINGFENCE, "--db", ledger_db, "serve", "--host", "127.0.0.1", "--port", str(port)]
    with log.open("wb") as output:
        process = subprocess.Popen(
            [*command, "--deliver-every", "0.1"],
            stdout=output,
            stderr=subprocess.STDOUT,
        )
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + start_seconds_max
        while True:
            assert process.poll() is None, log.read_text()
            try:
                if httpx.get(f"{base}/v1/health").status_code == 200:
                    break
            except httpx.TransportError:
                pass
            assert time.monotonic() < deadline, "the server did not start"
            time.sleep(0.1)
        yield base
    finally:
        process.terminate()
        process.wait(timeout=30)


@pytest.mark.slow
def test_serve_keys_first_call_and_revocation(ledger_db: str, server: str, tmp_path: Path) -> None:
    operator = ringfence(ledger_db, "keys", "create", "--role", "operator", installed=True)
    admin = ringfence(ledger_db, "keys", "create", "--role", "admin")
    alice = ringfence(ledger_db, "keys", "create", "--role", "client", "--client", "alice")
    listed = ringfence(ledger_db, "keys", "list")
    assert {row["key_id"] for row in listed["keys"]} == {
        operator["key_id"], admin["key_id"], alice["key_id"]
    }  # fmt: skip
    assert str(operator["key"]) not in json.dumps(listed)
    as_operator = {"Authorization": f"Bearer {operator['key']}"}
    as_alice = {"Authorization": f"Bearer {alice['key']}"}
    receiver = Receiver()
    with httpx.Client(base_url=server) as http:
        subscription = {"url": receiver.url, "types": ["transfer.posted"]}
        made = http.post("/v1/webhooks", json=subscription, headers=_bearer(admin)).json()
        receiver.secret = made["secret"]
        accounts = http.get("/v1/accounts", params={"client": "alice"}, headers=as_operator)
        account = accounts.json()["items"][0]["id"]
        wallet = next(
            row["id"]
            for row in http.get("/v1/accounts", headers=as_operator, params={"limit": 1000}).json()[
                "items"
            ]
            if row["class"] == "custody" and row["pool"] == "main" and row["asset"] == "BTC"
        )
        deposit = {
            "id": "1",
            "debit_account": wallet,
            "credit_account": account,
            "amount": "0.5",
            "code": "deposit",
        }
        created = http.post("/v1/transfers", json={"transfers": [deposit]}, headers=as_operator)
        assert created.json() == {"ok": True, "results": [{"id": "1", "result": "ok"}]}
        _delivered(receiver)
        balance = http.get(f"/v1/balances/{account}", headers=as_alice).json()
        assert balance["balance"] == "0.50000000"
        metrics = http.get("/metrics", headers=as_operator).text
        assert 'ringfence_pool_coverage_ratio{asset="BTC",pool="main"} 1.0' in metrics
        assert 'route="/v1/transfers"' in metrics
        ringfence(ledger_db, "keys", "revoke", str(alice["key_id"]))
        refused = http.get(f"/v1/balances/{account}", headers=as_alice)
        assert refused.status_code == 401
        assert refused.json()["code"] == "api_key_revoked"
        assert http.get(f"/v1/balances/{account}", headers=as_operator).status_code == 200
    events = ringfence(ledger_db, "events", "list", "--types", "transfer.*")["items"]
    assert [(e["id"], e["data"]["id"]) for e in events] == [(receiver.accepted[0][0], "1")]
    logged = (tmp_path / "serve.log").read_text()
    assert made["secret"] not in logged
    for secret in (operator["key"], alice["key"], admin["key"]):
        assert str(secret) not in logged
        assert str(secret).split("_", 2)[2] not in logged
    assert balance["asset"] == BTC.code
    assert set(deposit) <= wire.transfer_fields


def _bearer(key: dict[str, object]) -> dict[str, str]:
    return {"Authorization": f"Bearer {key['key']}"}


def _delivered(receiver: Receiver) -> None:
    """Wait (bounded, not timed) for the server's worker to deliver the deposit's event."""
    deadline = time.monotonic() + start_seconds_max
    while not receiver.accepted:
        assert time.monotonic() < deadline, "no webhook arrived"
        time.sleep(0.05)
    receiver.close()
    ((_, kind, _),) = receiver.accepted
    assert kind == "transfer.posted"
    assert receiver.refused_signatures == 0
