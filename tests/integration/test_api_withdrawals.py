"""Withdrawals and policies over the REST API: a client requests, the policy asks for two
approvers, the client cannot approve its own, two approvers do, the hold is in the ledger;
policies are drafted, approved and published by their own routes; bad bodies are problems."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pytest
from fastapi.testclient import TestClient
from tests.support import journal_signer
from tests.support_api import fast_hasher
from tests.support_policy import OTHER_ADDRESS, policy_document
from tests.support_withdrawals import STAFF, World, withdrawal_world

from ringfence import bootstrap
from ringfence.adapters.clock import ManualClock
from ringfence.adapters.storage.memory import MemoryStore
from ringfence.entrypoints.api.app import create_app
from ringfence.service.keys import create_key
from ringfence.service.ledger import LedgerService


@dataclass
class Api:
    http: TestClient
    world: World
    keys: dict[str, str]

    def post(self, who: str, path: str, body: object) -> Any:
        headers = {"Authorization": f"Bearer {self.keys[who]}"}
        return self.http.post(path, headers=headers, json=body)

    def get(self, who: str, path: str, **params: object) -> Any:
        headers = {"Authorization": f"Bearer {self.keys[who]}"}
        return self.http.get(path, headers=headers, params=params)


@pytest.fixture
def api() -> Iterator[Api]:
    clock = ManualClock()
    ledger = LedgerService(MemoryStore(), clock, journal_signer())
    world = withdrawal_world(ledger, clock)
    bundle = bootstrap.open_service("memory://", ledger=ledger, hasher=fast_hasher())
    keys = {}
    for name, role in STAFF.items():
        keys[name] = create_key(
            bundle.keys, clock, fast_hasher(), ledger, role=role.name, name=name
        )[1]
    for client in ("alice", "bob"):
        keys[client] = create_key(
            bundle.keys, clock, fast_hasher(), ledger, role="client", client=client
        )[1]
    built = Api(TestClient(create_app(bundle)), world, keys)
    yield built
    built.http.close()


def test_a_client_requests_two_approvers_approve_and_the_hold_is_placed(api: Api) -> None:
    body = {"id": "100", "pool": "main", "asset": "ETH", "amount": "12",
            "destination": OTHER_ADDRESS}  # fmt: skip
    answer = api.post("alice", "/v1/withdrawals", body)
    assert answer.status_code == 200, answer.text
    requested = answer.json()
    assert (requested["ok"], requested["status"]) == (True, "awaiting_approval")
    assert requested["decision"]["approvals_required"] == 2
    assert "trace" not in requested["decision"]
    refused = api.post("alice", "/v1/withdrawals/100/approve", {})
    assert (refused.status_code, refused.json()["code"]) == (422, "approver_is_initiator")
    not_an_approver = api.post("ops", "/v1/withdrawals/100/approve", {})
    assert (not_an_approver.status_code, not_an_approver.json()["code"]) == (403, "role_forbidden")
    outsider = api.post("ceo", "/v1/withdrawals/100/approve", {})
    assert (outsider.status_code, outsider.json()["code"]) == (422, "approver_not_eligible")
    assert api.post("ann", "/v1/withdrawals/100/approve", {}).json()["status"] == (
        "awaiting_approval"
    )
    twice = api.post("ann", "/v1/withdrawals/100/approve", {})
    assert (twice.status_code, twice.json()["code"]) == (422, "approval_duplicate")
    held = api.post("ben", "/v1/withdrawals/100/approve", {}).json()
    assert held["status"] == "held"
    staff_view = api.get("ops", "/v1/withdrawals/100").json()
    assert staff_view["decision"]["rule"] == "large"
    assert staff_view["decision"]["trace"][-1] == "rule large matched (the firm): 2 of treasury"
    balance = api.get("alice", f"/v1/balances/{api.world.custodian.client('alice', asset='ETH')}")
    assert balance.json()["debits_pending"] == "12.000000000000000000"
    assert api.get("bob", "/v1/withdrawals/100").status_code == 404
    assert api.get("bob", "/v1/withdrawals").json()["items"] == []


def test_bad_withdrawal_bodies_are_problems_that_change_nothing(api: Api) -> None:
    seq = api.world.ledger.seq
    cases = [
        ({"id": "1", "pool": "main", "asset": "ETH", "amount": 1.5,
          "destination": OTHER_ADDRESS}, 422, "amount_must_not_be_float"),
        ({"id": "1", "pool": "main", "asset": "ETH", "amount": "1",
          "destination": OTHER_ADDRESS, "client": "bob"}, 404, "account_not_found"),
        ({"id": "1", "pool": "main", "asset": "ETH", "amount": "1"}, 422, "field_required"),
        ({"id": "1", "pool": "main", "asset": "DOGE", "amount": "1",
          "destination": OTHER_ADDRESS}, 404, "asset_not_found"),
        ([], 400, "request_body_malformed"),
    ]  # fmt: skip
    for body, status, code in cases:
        response = api.post("alice", "/v1/withdrawals", body)
        assert (response.status_code, response.json()["code"]) == (status, code), body
    assert api.get("ops", "/v1/withdrawals/999").status_code == 404
    assert api.get("ops", "/v1/withdrawals/x").json()["code"] == "id_must_be_integer"
    assert api.world.ledger.seq == seq


def test_a_policy_through_its_routes(api: Api) -> None:
    document = policy_document(rules=[{"id": "stop", "action": "block"}])
    drafted = api.post("carl", "/v1/policies", {"policy": document})
    assert drafted.status_code == 200, drafted.text
    version = drafted.json()["version"]
    author = api.post("carl", f"/v1/policies/{version}/approve", {})
    assert (author.status_code, author.json()["code"]) == (422, "policy_approver_is_author")
    assert api.post("ann", f"/v1/policies/{version}/approve", {}).status_code == 200
    early = api.post("carl", f"/v1/policies/{version}/publish", {})
    assert (early.status_code, early.json()["code"]) == (422, "policy_quorum_not_reached")
    assert api.post("ben", f"/v1/policies/{version}/approve", {}).status_code == 200
    published = api.post("carl", f"/v1/policies/{version}/publish", {}).json()
    assert published["state"] == "time_locked"
    listed = api.get("audrey", "/v1/policies").json()["items"]
    assert [row["state"] for row in listed] == ["in_force", "time_locked"]
    shown = api.get("audrey", f"/v1/policies/{version}").json()
    assert shown["document"]["rules"] == [{"id": "stop", "action": "block"}]
    simulated = api.post("audrey", "/v1/policies/simulate", {"from": "2023-11-14",
                                                              "version": version})  # fmt: skip
    assert simulated.json()["by_rule"] == {"stop": 1}  # the world's rebalance
    assert api.get("alice", "/v1/policies").status_code == 403
    float_policy = api.post("carl", "/v1/policies", {"policy": {**document, "format": 1.0}})
    assert float_policy.json()["code"] == "amount_must_not_be_float"
    assert api.get("audrey", "/v1/policies/0").status_code == 404
