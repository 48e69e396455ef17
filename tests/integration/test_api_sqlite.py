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


def test_an_idempotency_key_is_answered_alike_after_a_restart(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'ringfence.db'}"
    first = bootstrap.open_ledger(url)
    custodian = build_custodian(first)
    first.close()
    deposit = wire.transfer_to_json(custodian.deposit(1, "alice", 100), BTC)
    body = {"transfers": [deposit]}
    answers = []
    key = ""
    for restart in range(2):
        bundle = bootstrap.open_service(url, hasher=fast_hasher())
        if not key:
            made = create_key(bundle.keys, bundle.clock, fast_hasher(), bundle.ledger,
                              role="operator")  # fmt: skip
            key = made[1]
        headers = {"Authorization": f"Bearer {key}", "Idempotency-Key": "deposits-1"}
        try:
            with TestClient(create_app(bundle)) as http:
                answers.append(http.post("/v1/transfers", headers=headers, json=body))
                seq = bundle.ledger.seq
                if restart:
                    other = {"transfers": [{**deposit, "id": "2"}]}
                    reused = http.post("/v1/transfers", headers=headers, json=other)
                    assert reused.status_code == 422
                    assert reused.json()["code"] == "idempotency_key_reused_with_different_request"
                    assert bundle.ledger.seq == seq
        finally:
            bundle.close()
    first_answer, after_restart = answers
    assert first_answer.json()["results"] == [{"id": "1", "result": "ok"}]
    assert after_restart.content == first_answer.content  # not "exists": the first answer
    assert after_restart.headers["idempotency-replayed"] == "true"
    assert (tmp_path / "ringfence.db.idempotency").stat().st_mode & 0o077 == 0
