"""The client against the OpenAPI document: its table of operations is the document's, and
each of its methods sends the one operation it stands for, with the query parameters the
document declares (a recording transport, no service)."""

from __future__ import annotations

import inspect
import json
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx2
import pytest

from ringfence.remote import RemoteService, every_operation
from ringfence.remote.operations import Operation

OPENAPI = Path(__file__).parents[3] / "docs" / "openapi.json"

# One call per public method, with arguments that fill every query parameter it can send.
sample_calls: dict[str, dict[str, Any]] = {
    "health": {},
    "assets": {},
    "create_assets": {"assets": [{}], "idempotency_key": "k"},
    "clients": {},
    "create_clients": {"clients": [{}]},
    "pools": {},
    "create_pools": {"pools": [{}]},
    "accounts": {"client": "c", "pool": "p", "asset": "a", "cursor": "1", "limit": 5},
    "create_accounts": {"accounts": [{}]},
    "account": {"account_id": 7},
    "balances": {
        "client": "c",
        "pool": "p",
        "asset": "a",
        "cursor": "1",
        "limit": 5,
        "as_of": "2026-12-07",
        "as_of_seq": 3,
    },
    "balance": {"account_id": 7, "as_of": "2026-12-07", "as_of_seq": 3},
    "positions": {"as_of": "2026-12-07", "as_of_seq": 3},
    "submit_transfers": {"transfers": [{}], "idempotency_key": "k"},
    "transfer": {"transfer_id": 9},
    "transfers": {
        "account": 7,
        "client": "c",
        "code": "deposit",
        "from_ns": 1,
        "to_ns": 2,
        "metadata": {"txid": "ab", "vout": "0"},
        "cursor": "1",
        "limit": 5,
    },
    "request_withdrawal": {"request": {}},
    "withdrawals": {"status": "held", "client": "c", "cursor": "1", "limit": 5},
    "withdrawal": {"withdrawal_id": 4},
    "approve_withdrawal": {"withdrawal_id": 4, "signature": "ab" * 64},
    "reject_withdrawal": {"withdrawal_id": 4},
    "withdrawal_approval_instruction": {"withdrawal_id": 4, "approver": "a", "decision": "reject"},
    "process_withdrawals": {"confirmations": 1},
    "policies": {},
    "policy": {"version": 2},
    "draft_policy": {"policy": {}},
    "approve_policy": {"version": 2, "signature": "ab" * 64},
    "policy_approval_instruction": {"version": 2, "approver": "a"},
    "publish_policy": {"version": 2},
    "simulate_policy": {"request": {}},
    "verify_audit": {},
    "metrics": {},
    "events": {"after": "3", "types": "transfer.*", "limit": 5},
    "webhooks": {},
    "subscribe_webhook": {"url": "https://x", "types": ["transfer.*"], "after": "0"},
    "webhook": {"subscription_id": "s"},
    "delete_webhook": {"subscription_id": "s"},
    "replay_webhook": {"subscription_id": "s", "after": "0"},
    "reconcile": {"documents": {"as_of": "2026-12-07"}},
    "segregation_statement": {"as_of": "2026-12-07", "as_of_seq": 3},
    "segregation_statement_from": {"documents": {"observations": ""}},
    "client_statement": {"client": "c", "from_time": "2026-12-01", "to_time": "2026-12-07"},
    "register": {},
    "breaks": {"include_cured": True},
    "reconciliation_break": {"break_id": 1},
    "explain_break": {"break_id": 1, "cause": "x", "action": "y"},
    "cure_break": {"break_id": 1, "documents": {"correction": "5"}},
    "ledger_breaks": {},
    "por_rounds": {},
    "por_round": {"number": "latest"},
    "inclusion_proofs": {"client": "c", "number": 1},
    "risk_scan": {},
    "insurance_funds": {},
    "regulatory_report": {"report": "possession", "documents": {"as_of": "2026-12-07"}},
    "apply_fills": {"fills": [{"id": "1", "bucket": "b", "symbol": "s", "lots": 1, "price": "1"}]},
    "in_kind_returns": {"scenario": {}},
    "simulate_insolvency": {"scenario": {}},
    "resolution_pack": {"scenario": {}, "documents": {"register": "{}"}},
    "build_por_round": {"number": 2, "snapshot": 9, "documents": {"holdings": ""}},
    "wallets": {"pool": "p", "house": True, "chain": "bitcoin", "cursor": "1", "limit": 5},
    "wallet": {"name": "w", "cursor": "1", "limit": 5},
    "create_wallet": {"wallet": {"name": "w"}},
    "assign_addresses": {"wallet": "w", "count": 2, "client": "c"},
    "designate_wallet": {"wallet": "w", "tier": "cold"},
    "record_client_address": {"client": "c", "address": "bc1q"},
    "deposit_addresses": {"client": "c", "cursor": "1", "limit": 5},
}
# Methods that walk others rather than stand for an operation of their own.
walkers = {"each", "each_event", "send", "close"}


def documented() -> dict[tuple[str, str], dict[str, Any]]:
    document = json.loads(OPENAPI.read_text())
    return {
        (method.upper(), path): operation
        for path, methods in document["paths"].items()
        for method, operation in methods.items()
    }


def test_the_table_is_the_documents_operations_with_their_query_parameters() -> None:
    found = documented()
    table = {(operation.method, operation.path): operation for operation in every_operation}
    assert len(table) == len(every_operation)
    assert set(table) == set(found)
    for key, declared in found.items():
        query = {p["name"] for p in declared.get("parameters", []) if p["in"] == "query"}
        assert set(table[key].query) == query, key
        if "requestBody" in declared:
            assert table[key].body, key


def test_every_public_method_is_sampled() -> None:
    public = {
        name
        for name, _ in inspect.getmembers(RemoteService, inspect.isfunction)
        if not name.startswith("_")
    }
    assert public - walkers == set(sample_calls)


class Recorder:
    """A transport that answers every request with an empty page and remembers it."""

    def __init__(self) -> None:
        self.requests: list[httpx2.Request] = []

    def __call__(self, request: httpx2.Request) -> httpx2.Response:
        self.requests.append(request)
        if request.url.path == "/metrics":
            return httpx2.Response(200, text="# metrics\n")
        return httpx2.Response(200, json={"items": [], "next_cursor": None})


def template_of(method: str, path: str) -> Operation:
    """The operation whose template matches ``path`` (fixed segments beat parameters)."""
    matching = [
        operation
        for operation in every_operation
        if operation.method == method
        and re.fullmatch(re.sub(r"\{[a-z_]+\}", "[^/]+", operation.path), path)
    ]
    assert matching, path
    return min(matching, key=lambda operation: operation.path.count("{"))


@pytest.fixture
def recorded() -> Iterator[tuple[RemoteService, Recorder]]:
    recorder = Recorder()
    http = httpx2.Client(base_url="http://service", transport=httpx2.MockTransport(recorder))
    with RemoteService(token="rf_x", http=http) as service:
        yield service, recorder
    http.close()


def test_each_method_sends_its_one_operation_and_together_they_cover_the_document(
    recorded: tuple[RemoteService, Recorder],
) -> None:
    service, recorder = recorded
    sent: set[tuple[str, str]] = set()
    for name, arguments in sample_calls.items():
        before = len(recorder.requests)
        getattr(service, name)(**arguments)
        assert len(recorder.requests) == before + 1, name
        request = recorder.requests[-1]
        operation = template_of(request.method, request.url.path)
        assert set(request.url.params) == set(operation.query), name
        assert request.headers["authorization"] == "Bearer rf_x"
        assert (request.headers.get("content-type") == "application/json") == operation.body
        sent.add((operation.method, operation.path))
    assert sent == set(documented())


def test_an_idempotency_key_goes_with_the_write_only_when_given(
    recorded: tuple[RemoteService, Recorder],
) -> None:
    service, recorder = recorded
    service.submit_transfers([{"id": "1"}], idempotency_key="deposits-1")
    service.submit_transfers([{"id": "1"}])
    first, second = recorder.requests
    assert first.headers["idempotency-key"] == "deposits-1"
    assert "idempotency-key" not in second.headers
    assert json.loads(first.content) == {"transfers": [{"id": "1"}]}


def test_path_values_are_percent_encoded(recorded: tuple[RemoteService, Recorder]) -> None:
    service, recorder = recorded
    service.client_statement("a/../b", "2026-12-01", "2026-12-02")
    assert recorder.requests[-1].url.raw_path.startswith(b"/v1/statements/clients/a%2F..%2Fb?")


def test_an_approval_sends_its_signature_only_when_given(
    recorded: tuple[RemoteService, Recorder],
) -> None:
    service, recorder = recorded
    service.approve_withdrawal(4, signature="ab" * 64)
    service.approve_withdrawal(4)
    service.approve_policy(2, signature="cd" * 64)
    bodies = [json.loads(request.content) for request in recorder.requests]
    assert bodies == [{"signature": "ab" * 64}, {}, {"signature": "cd" * 64}]
