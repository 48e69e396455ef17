"""The venue's journal entries as events: every fill, settled bucket, liquidated bucket and
fund movement is one event; a client reads only its own buckets' events, through the service
and the REST API, and cannot subscribe a webhook to read anyone's; a replay of the journal
gives the same events with the same ids."""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Iterator, Mapping
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from tests.support import journal_signer
from tests.support_api import ApiWorld, api_world, fast_hasher

from ringfence.adapters.clock import ManualClock
from ringfence.adapters.storage.memory import MemoryStore
from ringfence.adapters.storage.sqlite import SqliteStore
from ringfence.core.access.roles import Actor, PrincipalRole
from ringfence.core.events.catalogue import Event, Position
from ringfence.core.ledger import journal
from ringfence.core.ledger.journal import EntryKind
from ringfence.core.ledger.model import TransferCode
from ringfence.core.venue.codec import decode_fills
from ringfence.demo.risk import run_venue_demo
from ringfence.service import events as event_service
from ringfence.service import webhooks
from ringfence.service.keys import create_key
from ringfence.service.ledger import LedgerService
from ringfence.service.ports import DeliveryAnswer

ALL = 10**7


def _venue(ledger: LedgerService) -> list[Event]:
    scanned = event_service.events_after(
        ledger, Position(0), lambda e: e.type.value.startswith("venue."),
        events_max=ALL, examined_max=ALL,
    )  # fmt: skip
    assert scanned.at_head
    return scanned.events


@pytest.fixture(scope="module")
def world() -> Iterator[ApiWorld]:
    service = LedgerService(MemoryStore(), ManualClock(), journal_signer())
    built = api_world(service)
    run_venue_demo(service, 12, 11, None)
    for client in ("v000001", "v000002"):
        built.keys[client] = create_key(
            built.bundle.keys, service.clock, fast_hasher(), service, role="client",
            client=client,
        )[1]  # fmt: skip
    yield built
    built.http.close()


def _codes(ledger: LedgerService) -> Counter[TransferCode]:
    codes: Counter[TransferCode] = Counter()
    for entry in ledger.store.entries(kinds=(EntryKind.transfers,)):
        codes.update(TransferCode(r.code) for r in journal.decode_transfers(entry.body)[1])
    return codes


def test_every_fill_settled_bucket_liquidation_and_fund_movement_is_an_event(
    world: ApiWorld,
) -> None:
    ledger = world.bundle.ledger
    found = _venue(ledger)
    kinds = Counter(event.type.value for event in found)
    fills = [
        f for e in ledger.store.entries(kinds=(EntryKind.fills,)) for f in decode_fills(e.body)
    ]
    recorded = [e for e in found if e.type.value == "venue.fill.recorded"]
    assert [e.data["fill"] for e in recorded] == [str(f.id) for f in fills]
    assert all(e.data["client"] and len(e.accounts) == 1 for e in recorded)
    codes = _codes(ledger)

    def listed(kind: str) -> list[str]:
        return [t for e in found if e.type.value == kind for t in e.data["transfers"]]

    settled = listed("venue.settlement.completed")
    assert len(settled) == len(set(settled)) == codes[TransferCode.pnl_settlement] > 0
    # Every transfer of every round, payouts included, is on the one bucket it was for.
    liquidated = listed("venue.liquidation.executed")
    payouts = codes[TransferCode.insurance_payout] + codes[TransferCode.global_insurance_payout]
    assert (
        len(liquidated)
        == len(set(liquidated))
        == payouts
        + (codes[TransferCode.liquidation_settlement] + codes[TransferCode.liquidation_fee])
    )
    assert kinds["venue.insurance_fund.drawn"] == payouts > 0
    assert kinds["venue.insurance_fund.funded"] == codes[TransferCode.insurance_funding] > 0
    rounds = [e.data for e in found if e.type.value == "venue.liquidation.executed"]
    assert {data["extent"] for data in rounds} == {"partial", "whole"}
    assert any(Decimal(data["fees"]) for data in rounds)
    for asset in {data["asset"] for data in rounds}:
        drawn = [e.data for e in found if e.type.value == "venue.insurance_fund.drawn"]
        assert sum(Decimal(d["amount"]) for d in drawn if d["asset"] == asset) == sum(
            Decimal(data["fund_payout"]) for data in rounds if data["asset"] == asset
        )


def test_a_client_reads_only_its_own_buckets_venue_events(world: ApiWorld) -> None:
    ledger = world.bundle.ledger
    staff = _venue(ledger)
    for client in ("v000001", "v000002"):
        actor = Actor(client, PrincipalRole.client, client)
        mine = [e.id for e in staff if event_service.sees_event(ledger, actor, e)]
        expected = [e.id for e in staff if e.data.get("client") == client]
        assert mine == expected and mine
        assert all(not e.type.value.startswith("venue.insurance_fund") for e in staff
                   if e.id in mine)  # fmt: skip
        read: list[dict[str, Any]] = []
        after = "0"
        while after is not None:
            page = world.get(client, "/v1/events", after=after, types="venue.*", limit=1000)
            assert page.status_code == 200, page.text
            read += page.json()["items"]
            after = page.json()["next_cursor"]
        assert [item["id"] for item in read] == expected
        assert {item["data"]["client"] for item in read} == {client}


def test_a_client_aiming_its_cursor_at_another_clients_event_never_gets_it(
    world: ApiWorld,
) -> None:
    theirs = [e for e in _venue(world.bundle.ledger) if e.data.get("client") == "v000002"]
    assert theirs
    for event in theirs[:: max(1, len(theirs) // 20)]:
        before = f"{event.seq}.{event.index - 1}" if event.index else str(event.seq - 1)
        for types in (event.type.value, "venue.*", "*"):
            page = world.get("v000001", "/v1/events", after=before, types=types, limit=1)
            assert page.status_code == 200, page.text
            venue = [i for i in page.json()["items"] if i["type"].startswith("venue.")]
            assert all(item["data"]["client"] == "v000001" for item in venue)
            assert event.id not in {item["id"] for item in page.json()["items"]}


def test_a_client_cannot_subscribe_a_webhook_to_venue_events(world: ApiWorld) -> None:
    before = world.bundle.webhooks.records()
    document = {"url": "https://hooks.example.com/ringfence", "types": ["venue.*"], "after": "0"}
    refused = world.post("v000001", "/v1/webhooks", document)
    assert refused.status_code == 403, refused.text
    assert world.bundle.webhooks.records() == before


class _Receiver:
    """Acknowledges every message and keeps its body."""

    def __init__(self) -> None:
        self.bodies: list[dict[str, Any]] = []

    def post(
        self, url: str, body: bytes, headers: Mapping[str, str], timeout_s: float
    ) -> DeliveryAnswer:
        document = json.loads(body)
        assert headers["webhook-id"] == document["id"]
        self.bodies.append(document)
        return DeliveryAnswer(200)


def _delivered(world: ApiWorld, receiver: _Receiver) -> list[dict[str, Any]]:
    ledger = world.bundle.ledger
    while webhooks.deliver(webhooks.reader_of(ledger), world.bundle.webhooks, receiver,
                           ledger.clock).acknowledged:  # fmt: skip
        pass
    bodies, receiver.bodies = receiver.bodies, []
    return bodies


def test_a_venue_subscription_gets_every_venue_event_and_its_replay_the_same_ids(
    world: ApiWorld,
) -> None:
    staff = [event.to_json() for event in _venue(world.bundle.ledger)]
    document = {"url": "https://hooks.example.com/venue", "types": ["venue.*"], "after": "0"}
    made = world.post("admin", "/v1/webhooks", document).json()
    receiver = _Receiver()
    try:
        assert _delivered(world, receiver) == staff
        replayed = world.post("admin", f"/v1/webhooks/{made['id']}/replay", {"after": "0"})
        assert replayed.status_code == 200, replayed.text
        assert _delivered(world, receiver) == staff
    finally:
        world.bundle.webhooks.remove(made["id"])


def test_a_replayed_journal_gives_the_same_venue_events_with_the_same_ids(
    tmp_path: Path,
) -> None:
    path = str(tmp_path / "venue.db")
    ledger = LedgerService(SqliteStore(path), ManualClock(), journal_signer())
    run_venue_demo(ledger, 6, 5, None)
    first = [event.to_json() for event in _venue(ledger)]
    assert first == [event.to_json() for event in _venue(ledger)]
    ledger.close()
    replayed = LedgerService(SqliteStore(path), ManualClock(), journal_signer())
    try:
        again = [event.to_json() for event in _venue(replayed)]
    finally:
        replayed.close()
    assert again == first
    assert {item["type"] for item in first} >= {
        "venue.fill.recorded", "venue.settlement.completed", "venue.liquidation.executed",
    }  # fmt: skip
