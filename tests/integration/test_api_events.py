"""``/v1/events`` and ``/v1/webhooks`` through the API: bad input refused by name, changing
nothing; a secret shown once; a client's events only its own."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from tests.support import BTC, journal_signer
from tests.support_api import ApiWorld, api_world

from ringfence.adapters.clock import ManualClock
from ringfence.adapters.storage.memory import MemoryStore
from ringfence.core.ledger import wire
from ringfence.service.ledger import LedgerService

RECEIVER = "https://hooks.example.com/ringfence"


@pytest.fixture(scope="module")
def world() -> Iterator[ApiWorld]:
    service = LedgerService(MemoryStore(), ManualClock(), journal_signer())
    built = api_world(service)
    custodian = built.custodian
    deposits = [custodian.deposit(1, "alice", 10**8), custodian.deposit(2, "bob", 10**8)]
    document = {"transfers": [wire.transfer_to_json(t, BTC) for t in deposits]}
    assert built.post("operator", "/v1/transfers", document).json()["ok"]
    yield built
    built.http.close()


def _problem(response: Any, status: int, code: str) -> None:
    assert response.status_code == status, response.text
    assert response.headers["content-type"] == "application/problem+json"
    assert response.json()["code"] == code


@pytest.mark.parametrize(
    ("body", "status", "code"),
    [
        ({"url": "ftp://hooks.example.com/", "types": ["*"]}, 422, "webhook_url_invalid"),
        ({"url": "https://user:pw@hooks.example.com/", "types": ["*"]}, 422, "webhook_url_invalid"),
        ({"url": "https:///nohost", "types": ["*"]}, 422, "webhook_url_invalid"),
        ({"url": "https://h.example.com/#x", "types": ["*"]}, 422, "webhook_url_invalid"),
        (
            {"url": "https://h.example.com/" + "a" * 2100, "types": ["*"]},
            422,
            "webhook_url_invalid",
        ),
        ({"url": "https://h.example.com/a b", "types": ["*"]}, 422, "webhook_url_invalid"),
        ({"url": 7, "types": ["*"]}, 422, "webhook_url_invalid"),
        ({"url": RECEIVER, "types": ["transfer.sent"]}, 422, "event_type_unknown"),
        ({"url": RECEIVER, "types": ["nothing.*"]}, 422, "event_type_unknown"),
        ({"url": RECEIVER, "types": ["*", "*"]}, 422, "event_type_unknown"),
        ({"url": RECEIVER, "types": []}, 422, "field_required"),
        ({"url": RECEIVER, "types": "*"}, 422, "field_required"),
        ({"url": RECEIVER, "types": ["*"], "secret": "mine"}, 422, "field_unknown"),
        ({"url": RECEIVER, "types": ["*"], "after": "x"}, 400, "event_position_invalid"),
        ({"url": RECEIVER, "types": ["*"], "after": 3}, 400, "event_position_invalid"),
        ({"url": RECEIVER, "types": ["*"], "after": "99999"}, 422, "event_position_beyond_journal"),
        (["not", "an", "object"], 400, "request_body_malformed"),
    ],
)
def test_a_bad_subscription_is_refused_by_name_and_nothing_is_kept(
    world: ApiWorld, body: object, status: int, code: str
) -> None:
    before = world.bundle.webhooks.records()
    _problem(world.post("admin", "/v1/webhooks", body), status, code)
    assert world.bundle.webhooks.records() == before


def test_the_secret_is_shown_once_and_never_again(world: ApiWorld) -> None:
    made = world.post("admin", "/v1/webhooks", {"url": RECEIVER, "types": ["break.*"]}).json()
    assert made["secret"].startswith("whsec_")
    assert made["position"] == str(world.bundle.ledger.seq)
    for response in (
        world.get("admin", "/v1/webhooks"),
        world.get("admin", f"/v1/webhooks/{made['id']}"),
        world.post("admin", f"/v1/webhooks/{made['id']}/replay", {"after": "1"}),
        world.get("admin", "/metrics"),
    ):
        assert response.status_code == 200
        assert made["secret"] not in response.text
        assert made["secret"][len("whsec_") :] not in response.text
    assert world.http.delete(f"/v1/webhooks/{made['id']}", headers=world.headers("admin")).json()[
        "ok"
    ]
    _problem(world.get("admin", f"/v1/webhooks/{made['id']}"), 404, "webhook_not_found")


@pytest.mark.parametrize("subscription_id", ["0123456789abcdef", "nothex", "F" * 300])
def test_an_unknown_subscription_is_not_found(world: ApiWorld, subscription_id: str) -> None:
    _problem(world.get("admin", f"/v1/webhooks/{subscription_id}"), 404, "webhook_not_found")
    replay = world.post("admin", f"/v1/webhooks/{subscription_id}/replay", {"after": "0"})
    _problem(replay, 404, "webhook_not_found")


@pytest.mark.parametrize(
    ("body", "code"),
    [({}, "field_required"), ({"after": "0", "more": 1}, "field_required"),
     ({"after": 1}, "event_position_invalid"), ({"after": "1.x"}, "event_position_invalid")],
)  # fmt: skip
def test_a_bad_replay_is_refused_and_changes_nothing(
    world: ApiWorld, body: object, code: str
) -> None:
    made = world.post("admin", "/v1/webhooks", {"url": RECEIVER, "types": ["*"]}).json()
    response = world.post("admin", f"/v1/webhooks/{made['id']}/replay", body)
    assert response.json()["code"] == code
    assert world.get("admin", f"/v1/webhooks/{made['id']}").json()["position"] == made["position"]


@pytest.mark.parametrize(
    ("query", "status", "code"),
    [
        ({"after": "1.2.3"}, 400, "event_position_invalid"),
        ({"after": "123456789"}, 422, "event_position_beyond_journal"),
        ({"types": "transfer.sent"}, 422, "event_type_unknown"),
        ({"limit": 0}, 400, "page_size_too_large"),
        ({"limit": 1001}, 400, "page_size_too_large"),
        ({"limit": "x"}, 400, "query_parameter_invalid"),
    ],
)
def test_a_bad_events_query_is_refused_by_name(
    world: ApiWorld, query: dict[str, object], status: int, code: str
) -> None:
    _problem(world.get("operator", "/v1/events", **query), status, code)


def test_an_event_page_goes_on_from_its_cursor(world: ApiWorld) -> None:
    first = world.get("auditor", "/v1/events", types="transfer.*", limit=1).json()
    assert [item["data"]["id"] for item in first["items"]] == ["1"]
    rest = world.get("auditor", "/v1/events", types="transfer.*", after=first["next_cursor"])
    assert [item["data"]["id"] for item in rest.json()["items"]] == ["2"]
    assert rest.json()["next_cursor"] is None
    assert [i["data"]["id"] for i in world.get("bob", "/v1/events", types="transfer.*").json()[
        "items"
    ]] == ["2"]  # fmt: skip


def test_a_transfers_event_carries_the_transfer_as_its_route_shows_it(world: ApiWorld) -> None:
    items = world.get("auditor", "/v1/events", types="transfer.*").json()["items"]
    assert len(items) == 2
    for item in items:
        shown = world.get("auditor", f"/v1/transfers/{item['data']['id']}").json()
        assert item["data"] == shown
