"""The API over an SQLite ledger that another process writes to as well."""

from __future__ import annotations

from pathlib import Path

from fastapi.testclient import TestClient
from tests.support import BTC, build_custodian
from tests.support_api import fast_hasher

from ringfence import bootstrap
from ringfence.core.ledger import wire
from ringfence.entrypoints.api.app import create_app
from ringfence.service.keys import create_key


def test_reads_see_what_another_writer_appended(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'ringfence.db'}"
    first = bootstrap.open_ledger(url)
    custodian = build_custodian(first)
    first.close()
    bundle = bootstrap.open_service(url, hasher=fast_hasher())
    key = create_key(bundle.keys, bundle.clock, fast_hasher(), bundle.ledger, role="operator")[1]
    headers = {"Authorization": f"Bearer {key}"}
    alice = custodian.client("alice")
    try:
        with TestClient(create_app(bundle)) as http:
            assert http.get(f"/v1/balances/{alice}", headers=headers).json()["balance"] == (
                "0.00000000"
            )
            other = bootstrap.open_ledger(url)  # as `ringfence transfers submit` would
            assert other.submit([custodian.deposit(1, "alice", 100)]) == ["ok"]
            other.close()
            balance = http.get(f"/v1/balances/{alice}", headers=headers).json()
            assert balance["balance"] == "0.00000100"
            deposit = wire.transfer_to_json(custodian.deposit(2, "alice", 20), BTC)
            created = http.post("/v1/transfers", headers=headers, json={"transfers": [deposit]})
            assert created.json()["results"] == [{"id": "2", "result": "ok"}]
            balance = http.get(f"/v1/balances/{alice}", headers=headers).json()
            assert balance["balance"] == "0.00000120"
    finally:
        bundle.close()
    auditor = bootstrap.open_store(url, create=False)
    try:
        from ringfence.service.audit import verify_store

        assert verify_store(auditor).ok
    finally:
        auditor.close()
