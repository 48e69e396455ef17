"""A client principal's writes: money leaves only its own accounts, whatever it names."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import replace
from typing import Any

import pytest
from tests.support import BTC, journal_signer
from tests.support_api import ApiWorld, api_world

from ringfence.adapters.clock import ManualClock
from ringfence.adapters.storage.memory import MemoryStore
from ringfence.core.ledger import wire
from ringfence.core.ledger.model import Transfer, TransferFlags
from ringfence.service.ledger import LedgerService


@pytest.fixture
def world() -> Iterator[ApiWorld]:
    service = LedgerService(MemoryStore(), ManualClock(), journal_signer())
    built = api_world(service)
    custodian = built.custodian
    funded = [custodian.deposit(1, "alice", 10**8), custodian.deposit(2, "bob", 10**8)]
    assert service.submit(funded) == ["ok", "ok"]
    yield built
    built.http.close()


def submit(world: ApiWorld, who: str, *transfers: Transfer) -> Any:
    document = {"transfers": [wire.transfer_to_json(t, BTC) for t in transfers]}
    return world.post(who, "/v1/transfers", document)


def test_a_client_cannot_credit_itself_from_a_wallet(world: ApiWorld) -> None:
    seq = world.bundle.ledger.seq
    response = submit(world, "alice", world.custodian.deposit(10, "alice", 10**8))
    assert response.status_code == 404
    assert response.json()["code"] == "account_not_found"
    assert world.bundle.ledger.seq == seq


def test_a_client_cannot_hide_another_clients_debit_in_a_batch(world: ApiWorld) -> None:
    custodian = world.custodian
    own = custodian.fee(10, "alice", 1)
    theirs = custodian.fee(11, "bob", 1)
    seq = world.bundle.ledger.seq
    response = submit(world, "alice", own, theirs)
    assert response.status_code == 404
    assert response.json()["detail"].startswith("item 1:")
    assert world.bundle.ledger.seq == seq
    assert submit(world, "alice", own).json()["results"] == [{"id": "10", "result": "ok"}]


def test_a_client_resolves_only_its_own_pending_transfers(world: ApiWorld) -> None:
    custodian = world.custodian
    # Pending fees (a withdrawal's hold is the lifecycle's alone: test_withdrawals_adversarial).
    held = [
        replace(custodian.fee(20, "bob", 5, flags=TransferFlags.pending), timeout_s=3600),
        replace(custodian.fee(21, "alice", 5, flags=TransferFlags.pending), timeout_s=3600),
    ]
    assert submit(world, "operator", *held).json()["ok"]
    for flag in (TransferFlags.post_pending, TransferFlags.void_pending):
        other = Transfer(30 + flag, 0, 0, None, held[0].code, flag, pending_id=20)
        response = submit(world, "alice", other)
        assert response.status_code == 404
        assert response.json()["code"] == "transfer_not_found"
    own = Transfer(40, 0, 0, None, held[1].code, TransferFlags.void_pending, pending_id=21)
    assert submit(world, "alice", own).json()["results"] == [{"id": "40", "result": "ok"}]
    assert world.get("bob", "/v1/transfers/20").status_code == 200
    assert world.get("alice", "/v1/transfers/20").status_code == 404
