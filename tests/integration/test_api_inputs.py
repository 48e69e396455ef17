"""Bad input over the API: each refused with its named problem, and nothing changed; writes
replayed with an Idempotency-Key; a full bulk batch; lists walked page by page."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from tests.support import BTC, journal_signer
from tests.support_api import ApiWorld, api_world

from ringfence.adapters.clock import ManualClock
from ringfence.adapters.storage.memory import MemoryStore
from ringfence.core import limits
from ringfence.core.ledger import wire
from ringfence.service.keys import revoke_key
from ringfence.service.ledger import LedgerService


@pytest.fixture
def world() -> Iterator[ApiWorld]:
    service = LedgerService(MemoryStore(), ManualClock(), journal_signer())
    built = api_world(service)
    yield built
    built.http.close()


def deposit(world: ApiWorld, transfer_id: int, amount: str = "1") -> dict[str, Any]:
    custodian = world.custodian
    return {
        "id": str(transfer_id),
        "debit_account": str(custodian.wallet()),
        "credit_account": str(custodian.client("alice")),
        "amount": amount,
        "code": "deposit",
    }


def assert_problem(response: Any, status: int, code: str) -> dict[str, Any]:
    assert response.status_code == status, response.text
    assert response.headers["content-type"] == "application/problem+json"
    problem: dict[str, Any] = response.json()
    assert problem["code"] == code
    assert problem["type"].endswith("/" + code)
    assert problem["status"] == status
    return problem


def send(world: ApiWorld, body: bytes, content_type: str = "application/json") -> Any:
    headers = world.headers("operator", **{"Content-Type": content_type})
    return world.http.post("/v1/transfers", headers=headers, content=body)


BAD_BODIES = [
    pytest.param({"transfers": [{**{"color": "red"}}]}, 422, "field_unknown", id="unknown-field"),
    pytest.param({"transfers": [], "extra": 1}, 422, "field_unknown", id="unknown-envelope-field"),
    pytest.param({"transfers": []}, 422, "field_required", id="empty-batch"),
    pytest.param([], 400, "request_body_malformed", id="not-an-object"),
]


@pytest.mark.parametrize(("document", "status", "code"), BAD_BODIES)
def test_bad_documents_change_nothing(
    world: ApiWorld, document: object, status: int, code: str
) -> None:
    seq = world.bundle.ledger.seq
    assert_problem(world.post("operator", "/v1/transfers", document), status, code)
    assert world.bundle.ledger.seq == seq


@pytest.mark.parametrize("code", ["withdrawal", "sweep"])
def test_staff_book_no_withdrawal_or_sweep_around_the_lifecycle(world: ApiWorld, code: str) -> None:
    custodian = world.custodian
    world.post("operator", "/v1/transfers", {"transfers": [deposit(world, 1)]})
    debit, credit = (
        (custodian.client("alice"), custodian.wallet()) if code == "withdrawal"
        else (custodian.wallet(""), custodian.wallet())
    )  # fmt: skip
    payout = {"id": "2", "debit_account": str(debit), "credit_account": str(credit),
              "amount": "0.5", "code": code}  # fmt: skip
    problem = assert_problem(
        world.post("operator", "/v1/transfers", {"transfers": [payout]}),
        403,
        "transfer_code_reserved",
    )
    assert "withdrawal lifecycle" in problem["detail"]
    assert [row["id"] for row in world.get("operator", "/v1/transfers").json()["items"]] == ["1"]


@pytest.mark.parametrize(
    ("body", "status", "code"),
    [
        (b'{"transfers": [%s]}', 422, "amount_must_not_be_float"),
        (b'{"transfers": [1}', 400, "request_body_malformed"),
        (b'{"transfers": [], "transfers": []}', 400, "request_body_malformed"),
        (b'{"transfers": [NaN]}', 400, "request_body_malformed"),
        (b"\xff\xfe", 400, "request_body_malformed"),
    ],
    ids=["float-amount", "broken-json", "duplicate-key", "nan", "not-utf8"],
)
def test_unreadable_bodies_change_nothing(
    world: ApiWorld, body: bytes, status: int, code: str
) -> None:
    if b"%s" in body:
        item = deposit(world, 7)
        item["amount"] = 1.5
        body = body.replace(b"%s", wire_json(item))
    seq = world.bundle.ledger.seq
    assert_problem(send(world, body), status, code)
    assert world.bundle.ledger.seq == seq


def wire_json(item: dict[str, Any]) -> bytes:
    import json

    return json.dumps(item).encode()


def test_one_bad_item_refuses_the_whole_batch_naming_it(world: ApiWorld) -> None:
    good, bad = deposit(world, 1), deposit(world, 2, amount="0.000000001")
    seq = world.bundle.ledger.seq
    problem = assert_problem(
        world.post("operator", "/v1/transfers", {"transfers": [good, bad]}),
        422,
        "amount_finer_than_asset_scale",
    )
    assert problem["detail"].startswith("item 1:")
    assert world.bundle.ledger.seq == seq
    assert_problem(world.get("operator", "/v1/transfers/1"), 404, "transfer_not_found")


@pytest.mark.parametrize("content_type", ["text/plain", "application/x-www-form-urlencoded", ""])
def test_writes_must_be_json(world: ApiWorld, content_type: str) -> None:
    body = wire_json({"transfers": [deposit(world, 1)]})
    assert_problem(send(world, body, content_type), 415, "content_type_unsupported")
    assert world.get("operator", "/v1/transfers").json()["items"] == []


def test_an_oversized_body_is_refused_before_it_is_read(world: ApiWorld) -> None:
    body = b" " * (limits.api_request_body_bytes_max + 1)
    assert_problem(send(world, body), 413, "request_body_too_large")


def test_more_than_a_batch_is_refused(world: ApiWorld) -> None:
    items = [deposit(world, n) for n in range(1, limits.batch_events_max + 2)]
    seq = world.bundle.ledger.seq
    assert_problem(
        world.post("operator", "/v1/transfers", {"transfers": items}), 413, "batch_too_large"
    )
    assert world.bundle.ledger.seq == seq


def test_keys_missing_malformed_wrong_or_revoked(world: ApiWorld) -> None:
    http = world.http
    problem = assert_problem(http.get("/v1/assets"), 401, "api_key_missing")
    assert "detail" in problem
    assert http.get("/v1/assets").headers["www-authenticate"] == "Bearer"
    for header in ("Bearer nonsense", "Basic abc", "Bearer " + "x" * 10_000):
        assert_problem(
            http.get("/v1/assets", headers={"Authorization": header}), 401, "api_key_invalid"
        )
    real = world.keys["operator"]
    forged = real[:-4] + ("AAAA" if not real.endswith("AAAA") else "BBBB")
    assert_problem(
        http.get("/v1/assets", headers={"Authorization": f"Bearer {forged}"}),
        401,
        "api_key_invalid",
    )
    assert world.get("operator", "/v1/assets").status_code == 200  # verified once, remembered
    key_id = real.split("_")[1]
    revoke_key(world.bundle.keys, world.bundle.clock, key_id)
    assert_problem(world.get("operator", "/v1/assets"), 401, "api_key_revoked")
    seq = world.bundle.ledger.seq
    response = world.post("operator", "/v1/transfers", {"transfers": [deposit(world, 1)]})
    assert_problem(response, 401, "api_key_revoked")
    assert world.bundle.ledger.seq == seq


@pytest.mark.parametrize(
    ("params", "status", "code"),
    [
        ({"cursor": "abc"}, 400, "cursor_invalid"),
        ({"cursor": "9" * 50}, 400, "cursor_invalid"),
        ({"limit": 0}, 400, "page_size_too_large"),
        ({"limit": limits.api_page_size_max + 1}, 400, "page_size_too_large"),
        ({"limit": "many"}, 400, "query_parameter_invalid"),
        ({"client": "nobody"}, 404, "client_not_found"),
        ({"code": "gift"}, 422, "code_unknown"),
        ({"account": "x1"}, 422, "id_must_be_integer"),
    ],
)
def test_bad_queries(world: ApiWorld, params: dict[str, Any], status: int, code: str) -> None:
    assert_problem(world.get("operator", "/v1/transfers", **params), status, code)


def test_unknown_routes_and_methods_are_problems(world: ApiWorld) -> None:
    assert_problem(world.get("operator", "/v1/nothing"), 404, "route_not_found")
    assert_problem(world.get("operator", "/v1/accounts/0"), 422, "id_must_not_be_zero")
    response = world.http.delete("/v1/transfers", headers=world.headers("operator"))
    assert_problem(response, 405, "method_not_allowed")


def test_idempotency_key_replays_the_first_answer(world: ApiWorld) -> None:
    document = {"transfers": [deposit(world, 1, "2.5")]}
    first = world.post("operator", "/v1/transfers", document, **{"Idempotency-Key": "abc-1"})
    assert first.status_code == 200
    assert first.json() == {"ok": True, "results": [{"id": "1", "result": "ok"}]}
    seq = world.bundle.ledger.seq
    again = world.post("operator", "/v1/transfers", document, **{"Idempotency-Key": "abc-1"})
    assert again.status_code == 200
    assert again.content == first.content  # "ok" again, not the ledger's "exists"
    assert again.headers["idempotency-replayed"] == "true"
    assert world.bundle.ledger.seq == seq  # the ledger was not called
    # Without the key, the ledger itself answers: the transfer id is its idempotency key.
    plain = world.post("operator", "/v1/transfers", document)
    assert plain.json()["results"] == [{"id": "1", "result": "exists"}]
    balance = world.get("operator", f"/v1/balances/{world.custodian.client('alice')}").json()
    assert balance["balance"] == "2.50000000"


def test_idempotency_key_with_another_request_is_refused(world: ApiWorld) -> None:
    world.post(
        "operator", "/v1/transfers", {"transfers": [deposit(world, 1)]}, **{"Idempotency-Key": "k"}
    )
    seq = world.bundle.ledger.seq
    other = {"transfers": [deposit(world, 2)]}
    response = world.post("operator", "/v1/transfers", other, **{"Idempotency-Key": "k"})
    assert_problem(response, 422, "idempotency_key_reused_with_different_request")
    assert world.bundle.ledger.seq == seq
    # Keys belong to a principal: another principal's "k" is its own.
    response = world.post("alice", "/v1/transfers", {"transfers": []}, **{"Idempotency-Key": "k"})
    assert_problem(response, 422, "field_required")
    assert_problem(
        world.post("operator", "/v1/transfers", other, **{"Idempotency-Key": "x" * 300}),
        400,
        "idempotency_key_invalid",
    )


def test_a_full_batch_commits_and_lists_page_by_page(world: ApiWorld) -> None:
    count = limits.batch_events_max
    items = [deposit(world, n, "0.00000001") for n in range(1, count + 1)]
    response = world.post("operator", "/v1/transfers", {"transfers": items})
    assert response.status_code == 200
    document = response.json()
    assert document["ok"]
    assert len(document["results"]) == count
    seen: list[str] = []
    cursor = None
    while True:
        params: dict[str, Any] = {"limit": limits.api_page_size_max, "code": "deposit"}
        if cursor is not None:
            params["cursor"] = cursor
        page = world.get("alice", "/v1/transfers", **params).json()
        seen.extend(row["id"] for row in page["items"])
        cursor = page["next_cursor"]
        if cursor is None:
            break
    assert seen == [str(n) for n in range(1, count + 1)]
    balance = world.get("alice", f"/v1/balances/{world.custodian.client('alice')}").json()
    assert balance["balance"] == f"0.0000{count:04d}"
    first = world.get("operator", "/v1/transfers/1").json()
    window = world.get(
        "operator",
        "/v1/transfers",
        from_ns=int(first["timestamp_ns"]) + 1,
        to_ns=int(first["timestamp_ns"]) + 3,
    ).json()["items"]
    assert [row["id"] for row in window] == ["2", "3"]
    assert world.get("operator", "/v1/transfers", code="withdrawal").json()["items"] == []
    assert BTC.code == first["asset"]


def test_transfers_by_account_and_client(world: ApiWorld) -> None:
    custodian = world.custodian
    both = [custodian.deposit(1, "alice", 5), custodian.deposit(2, "bob", 7)]
    world.post(
        "operator", "/v1/transfers", {"transfers": [wire.transfer_to_json(t, BTC) for t in both]}
    )
    by_client = world.get("operator", "/v1/transfers", client="bob").json()["items"]
    assert [row["id"] for row in by_client] == ["2"]
    by_account = world.get("operator", "/v1/transfers", account=custodian.wallet()).json()["items"]
    assert [row["id"] for row in by_account] == ["1", "2"]
    assert [row["id"] for row in world.get("bob", "/v1/transfers").json()["items"]] == ["2"]
