"""Withdrawals and policies over the REST API, through the typed client (ringfence.remote) on
the app in this process: a client requests, the policy asks for two approvers, the client
cannot approve its own, two approvers do, the hold is in the ledger; policies are drafted,
approved and published by their own routes; bad bodies are problems, raised as
``ProblemError`` with their code."""

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
from ringfence.remote import ProblemError, RemoteService
from ringfence.service.keys import create_key
from ringfence.service.ledger import LedgerService


@dataclass
class Api:
    world: World
    callers: dict[str, RemoteService]  # a principal's name -> the client holding its key

    def __getitem__(self, who: str) -> RemoteService:
        return self.callers[who]


def refusal(call: Any, *arguments: Any) -> tuple[int, str]:
    """The status and code of the problem a call is refused with."""
    with pytest.raises(ProblemError) as raised:
        call(*arguments)
    return raised.value.status, raised.value.code


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
    with TestClient(create_app(bundle)) as http:
        yield Api(world, {name: RemoteService(token=key, http=http) for name, key in keys.items()})


def test_a_client_requests_two_approvers_approve_and_the_hold_is_placed(api: Api) -> None:
    body = {"id": "100", "pool": "main", "asset": "ETH", "amount": "12",
            "destination": OTHER_ADDRESS}  # fmt: skip
    requested = api["alice"].request_withdrawal(body)
    assert (requested["ok"], requested["status"]) == (True, "awaiting_approval")
    assert requested["decision"]["approvals_required"] == 2
    assert "trace" not in requested["decision"]
    assert refusal(api["alice"].approve_withdrawal, 100) == (422, "approver_is_initiator")
    assert refusal(api["ops"].approve_withdrawal, 100) == (403, "role_forbidden")
    assert refusal(api["ceo"].approve_withdrawal, 100) == (422, "approver_not_eligible")
    assert api["ann"].approve_withdrawal(100)["status"] == "awaiting_approval"
    assert refusal(api["ann"].approve_withdrawal, 100) == (422, "approval_duplicate")
    held = api["ben"].approve_withdrawal(100)
    assert held["status"] == "held"
    staff_view = api["ops"].withdrawal(100)
    assert staff_view["decision"]["rule"] == "large"
    assert staff_view["decision"]["trace"][-1] == "rule large matched (the firm): 2 of treasury"
    balance = api["alice"].balance(api.world.custodian.client("alice", asset="ETH"))
    assert balance["debits_pending"] == "12.000000000000000000"
    assert refusal(api["bob"].withdrawal, 100) == (404, "withdrawal_not_found")
    assert api["bob"].withdrawals()["items"] == []


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
        assert refusal(api["alice"].request_withdrawal, body) == (status, code), body
    assert refusal(api["ops"].withdrawal, 999)[0] == 404
    assert refusal(api["ops"].withdrawal, "x")[1] == "id_must_be_integer"
    assert api.world.ledger.seq == seq


def test_a_policy_through_its_routes(api: Api) -> None:
    document = policy_document(rules=[{"id": "stop", "action": "block"}])
    version = api["carl"].draft_policy(document)["version"]
    assert refusal(api["carl"].approve_policy, version) == (422, "policy_approver_is_author")
    api["ann"].approve_policy(version)
    assert refusal(api["carl"].publish_policy, version) == (422, "policy_quorum_not_reached")
    api["ben"].approve_policy(version)
    assert api["carl"].publish_policy(version)["state"] == "time_locked"
    listed = api["audrey"].policies()["items"]
    assert [row["state"] for row in listed] == ["in_force", "time_locked"]
    shown = api["audrey"].policy(version)
    assert shown["document"]["rules"] == [{"id": "stop", "action": "block"}]
    simulated = api["audrey"].simulate_policy({"from": "2023-11-14", "version": version})
    assert simulated["by_rule"] == {"stop": 1}  # the world's rebalance
    assert refusal(api["alice"].policies)[0] == 403
    float_policy = refusal(api["carl"].draft_policy, {**document, "format": 1.0})
    assert float_policy[1] == "amount_must_not_be_float"
    assert refusal(api["audrey"].policy, 0)[0] == 404


def test_signed_approvals_over_rest_where_the_policy_requires_them(api: Api) -> None:
    """The approver fetches the instruction, signs it with its own key (here, as an HSM
    would, outside the service) and sends the signature with its approval."""
    from tests.support import key_seed
    from tests.support_policy import policy_text
    from tests.support_withdrawals import publish_policy

    from ringfence.core.principals.authorisation import sign

    publish_policy(api.world.ledger, api.world.clock, policy_text(approvals_signed=True))
    body = {"id": "110", "pool": "main", "asset": "ETH", "amount": "12",
            "destination": OTHER_ADDRESS}  # fmt: skip
    assert api["alice"].request_withdrawal(body)["status"] == "awaiting_approval"
    assert refusal(api["ann"].approve_withdrawal, 110) == (422, "approval_signature_required")
    assert refusal(api["ann"].approve_withdrawal, 110, "00" * 64) == (
        422, "approval_signature_invalid",
    )  # fmt: skip
    assert refusal(api["ann"].approve_withdrawal, 110, "not hex") == (
        422, "approval_signature_invalid",
    )  # fmt: skip
    assert refusal(api["alice"].withdrawal_approval_instruction, 110) == (403, "role_forbidden")
    for name in ("ann", "ben"):
        shown = api[name].withdrawal_approval_instruction(110)
        assert (shown["approver"], shown["signatures_required"]) == (name, True)
        signature = sign(key_seed(name), bytes.fromhex(shown["instruction"])).hex()
        answer = api[name].approve_withdrawal(110, signature)
    assert answer["status"] == "held"
    assert [row["signed"] for row in answer["approvals"]] == [True, True]
    draft = api["carl"].draft_policy(policy_document(approval_timeout_s=600))
    version = draft["version"]
    assert refusal(api["ann"].approve_policy, version) == (422, "approval_signature_required")
    shown = api["ann"].policy_approval_instruction(version)
    signature = sign(key_seed("ann"), bytes.fromhex(shown["instruction"])).hex()
    assert api["ann"].approve_policy(version, signature)["approvals"][0]["signed"] is True
