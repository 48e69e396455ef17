"""``as_of`` and ``as_of_seq`` through the API: balances, positions and the segregation
statement at a past point, a client's scope kept there too, and points that name no state
refused by name."""

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


@pytest.fixture(scope="module")
def world() -> Iterator[ApiWorld]:
    service = LedgerService(MemoryStore(), ManualClock(), journal_signer())
    built = api_world(service)
    yield built
    built.http.close()


def _deposit(world: ApiWorld, transfer_id: int, client: str, units: int) -> int:
    transfer = world.custodian.deposit(transfer_id, client, units)
    document = {"transfers": [wire.transfer_to_json(transfer, BTC)]}
    assert world.post("operator", "/v1/transfers", document).json()["ok"]
    return world.bundle.ledger.seq


def _problem(response: Any, status: int, code: str) -> None:
    assert response.status_code == status, response.text
    assert response.json()["code"] == code


def test_balances_positions_and_statements_at_a_past_point(world: ApiWorld) -> None:
    alice = world.custodian.client("alice")
    first = _deposit(world, 1, "alice", 10**8)
    then = world.get("alice", f"/v1/balances/{alice}").json()
    positions_then = world.get("compliance", "/v1/positions").json()
    statement_then = world.get("compliance", "/v1/statements/segregation").json()
    _deposit(world, 2, "alice", 5 * 10**8)
    now = world.get("alice", f"/v1/balances/{alice}").json()
    assert (then["balance"], now["balance"]) == ("1.00000000", "6.00000000")
    past = world.get("alice", f"/v1/balances/{alice}", as_of_seq=first).json()
    assert past == then
    timestamp = next(world.bundle.ledger.store.entries(after_seq=first - 1)).timestamp
    assert world.get("alice", f"/v1/balances/{alice}", as_of=str(timestamp)).json() == then
    listed = world.get("alice", "/v1/balances", as_of_seq=first).json()["items"]
    assert then in listed
    assert all(row["owner"] == "alice" for row in listed)
    assert world.get("compliance", "/v1/positions", as_of_seq=first).json() == positions_then
    past_statement = world.get("compliance", "/v1/statements/segregation", as_of_seq=first)
    assert past_statement.json()["segregated"] == statement_then["segregated"]


def test_an_account_defined_later_did_not_exist_then(world: ApiWorld) -> None:
    before = world.bundle.ledger.seq
    account = {"id": "990001", "asset": "BTC", "class": "client", "owner": "alice",
               "kind": "collateral:later", "pool": "margin"}  # fmt: skip
    assert world.post("admin", "/v1/accounts", {"accounts": [account]}).json()["ok"]
    assert world.get("alice", "/v1/balances/990001").status_code == 200
    _problem(world.get("alice", "/v1/balances/990001", as_of_seq=before), 404, "account_not_found")


@pytest.mark.parametrize(
    ("query", "status", "code"),
    [
        ({"as_of_seq": "0"}, 422, "event_position_beyond_journal"),
        ({"as_of_seq": "99999999"}, 422, "event_position_beyond_journal"),
        ({"as_of_seq": "1.5"}, 400, "event_position_invalid"),
        ({"as_of": "2026-12-07T10:00:00"}, 422, "timestamp_invalid"),
        ({"as_of": "yesterday"}, 422, "timestamp_invalid"),
        ({"as_of": "2030-01-01", "as_of_seq": "3"}, 400, "query_parameter_invalid"),
    ],
)
def test_a_point_that_names_no_state_is_refused(
    world: ApiWorld, query: dict[str, str], status: int, code: str
) -> None:
    _problem(world.get("operator", "/v1/balances", **query), status, code)
    _problem(world.get("operator", "/v1/positions", **query), status, code)
