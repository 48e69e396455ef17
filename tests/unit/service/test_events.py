"""service/events.py over core/events/catalogue.py: a day of the custodian's work read back as
events, each from the entry that caused it, in journal order; a client's view holds only its
own; pages and positions give back exactly the stream, from anywhere."""

from __future__ import annotations

import pytest
from tests.support import MAIN, Custodian, btc_address, build_custodian, journal_signer

from ringfence.adapters.clock import ManualClock
from ringfence.adapters.storage.memory import MemoryStore
from ringfence.core.access.roles import Actor
from ringfence.core.custody.holdings import Observation
from ringfence.core.custody.registry import Chain, Scheme, Wallet
from ringfence.core.errors import InputError, Result
from ringfence.core.events.catalogue import Position, parse_position
from ringfence.core.ledger.model import Transfer, TransferFlags
from ringfence.core.principals.records import PrincipalRole
from ringfence.core.recon.breaks import Cause
from ringfence.core.recon.run import ReconSettings
from ringfence.service.custody import CustodyService
from ringfence.service.events import events, events_after
from ringfence.service.ledger import LedgerService
from ringfence.service.recon import ReconService

F = TransferFlags
ALICE = Actor("alice", PrincipalRole.client, "alice")
OPERATOR = Actor("ops", PrincipalRole.operator)


class Day:
    """The custodian's day: every kind of transfer, a reconciliation and an action."""

    def __init__(self) -> None:
        self.clock = ManualClock(10**18)
        self.ledger = LedgerService(MemoryStore(), self.clock, journal_signer())
        self.custodian: Custodian = build_custodian(self.ledger)
        wallet = Wallet("main-hot", Chain.bitcoin, Scheme.address, (btc_address("h"),), MAIN, "hot")
        self.custody = CustodyService(self.ledger)
        assert self.custody.change([wallet]) == [Result.ok]
        self.start = self.ledger.seq

    def submit(self, *transfers: Transfer) -> None:
        assert self.ledger.submit(list(transfers)) == [Result.ok] * len(transfers)

    def run(self) -> None:
        c = self.custodian
        self.submit(c.deposit(1, "alice", 100), c.deposit(2, "bob", 50))
        self.submit(c.withdrawal(3, "alice", 10, flags=F.pending, timeout_s=60))
        self.submit(Transfer(4, 0, 0, None, c.withdrawal(0, "alice", 1).code, F.post_pending,
                             pending_id=3))  # fmt: skip
        self.submit(c.withdrawal(5, "alice", 5, flags=F.pending, timeout_s=60))
        self.submit(Transfer(6, 0, 0, None, c.withdrawal(0, "alice", 1).code, F.void_pending,
                             pending_id=5))  # fmt: skip
        self.submit(c.withdrawal(7, "alice", 1, flags=F.pending, timeout_s=1))
        self.clock.advance(seconds=2)
        self.submit(c.misdirected(8, "carol", 7))  # the entry that expires 7, too
        self.submit(c.break_cure(9, 8, 7))
        recon = ReconService(self.custody)
        chain = [Observation(Chain.bitcoin, btc_address("h"), "BTC", 80, 9, 0, "listed")]
        recon.run(None, chain, ReconSettings())
        (broken,) = recon.history.book.open_breaks()
        assert recon.explain(broken.id, Cause.loss, "claim on the insurer")[0] is Result.ok


@pytest.fixture(scope="module")
def day() -> Day:
    built = Day()
    built.run()
    return built


def _types(day: Day, actor: Actor | None = None) -> list[str]:
    page = events(day.ledger, actor, after=str(day.start), limit=1000)
    assert page["next_cursor"] is None
    return [item["type"] for item in page["items"]]


def test_each_entry_says_what_happened_in_journal_order(day: Day) -> None:
    assert _types(day) == [
        "transfer.posted", "transfer.posted",
        "transfer.pending", "transfer.pending_posted",
        "transfer.pending", "transfer.pending_voided",
        "transfer.pending",
        "transfer.posted", "ledger_break.opened", "transfer.pending_expired",
        "transfer.posted", "ledger_break.cure_posted",
        "reconciliation.completed", "coverage.undersegregated", "regulatory.breach",
        "break.opened", "break.explained",
    ]  # fmt: skip


def test_a_possession_deficit_is_a_regulatory_breach(day: Day) -> None:
    # Owed: alice 100 - 10 withdrawn, bob 50, carol's misdirected 7 made good: 147; the chain
    # shows 80 in the pool's only wallet, nothing encumbered: 67 short.
    (breach,) = [
        item for item in events(day.ledger, None, after=str(day.start), limit=1000)["items"]
        if item["type"] == "regulatory.breach"
    ]  # fmt: skip
    assert breach["data"] == {
        "kind": "possession_deficit", "pool": "main", "asset": "BTC", "amount": "0.00000067",
        "run": 1,
    }  # fmt: skip


def test_an_event_carries_its_entry_place_hash_and_amounts(day: Day) -> None:
    items = events(day.ledger, None, after=str(day.start), limit=2)["items"]
    first = items[0]
    entry = next(day.ledger.store.entries(after_seq=day.start))
    assert (first["id"], first["seq"]) == (f"{entry.seq}.0", str(entry.seq))
    assert first["journal_hash"] == entry.hash.hex()
    assert first["data"]["amount"] == "0.00000100"
    assert first["data"]["asset"] == "BTC"
    assert items[1]["id"] == f"{entry.seq}.1"
    (expired,) = [i for i in events(day.ledger, None, limit=1000)["items"]
                  if i["type"] == "transfer.pending_expired"]  # fmt: skip
    assert expired["data"]["pending_id"] == "7"


def test_a_client_sees_only_events_about_its_own_accounts(day: Day) -> None:
    assert _types(day, ALICE) == [
        "transfer.posted",
        "transfer.pending", "transfer.pending_posted",
        "transfer.pending", "transfer.pending_voided",
        "transfer.pending", "transfer.pending_expired",
    ]  # fmt: skip
    everything = events(day.ledger, ALICE, limit=1000)["items"]
    own = {
        str(a.id)
        for a in day.custodian.accounts
        if a.owner == "alice" and a.account_class.value == "client"
    }
    for item in everything:
        data = item["data"]
        sides = {data.get("debit_account"), data.get("credit_account"), data.get("id")}
        assert item["type"] in ("client.defined", "transfer.pending_expired") or sides & own
    assert {"name": "alice"} in [i["data"] for i in everything if i["type"] == "client.defined"]
    assert [i for i in everything if i["type"] == "client.defined"] == [
        i for i in everything if i["type"] == "client.defined" and i["data"]["name"] == "alice"
    ]


def test_types_filter_by_name_and_family(day: Day) -> None:
    page = events(day.ledger, None, after=str(day.start), types="break.*,ledger_break.opened")
    assert [i["type"] for i in page["items"]] == [
        "ledger_break.opened", "break.opened", "break.explained"
    ]  # fmt: skip
    with pytest.raises(InputError) as refused:
        events(day.ledger, None, types="transfer.sent")
    assert refused.value.code is Result.event_type_unknown


def test_pages_of_one_walk_the_stream_exactly(day: Day) -> None:
    whole = events(day.ledger, OPERATOR, limit=1000)["items"]
    walked, cursor = [], ""
    while True:
        page = events(day.ledger, OPERATOR, after=cursor, limit=1)
        walked += page["items"]
        if page["next_cursor"] is None:
            break
        cursor = page["next_cursor"]
    assert walked == whole
    assert len({item["id"] for item in whole}) == len(whole)


def test_a_scan_stops_at_its_budget_and_goes_on_from_there(day: Day) -> None:
    start = Position(day.start)
    everything = events_after(day.ledger, start, lambda e: True, events_max=1000).events
    scanned = events_after(day.ledger, start, lambda e: False, events_max=10, examined_max=3)
    assert (scanned.events, scanned.at_head) == ([], False)
    assert everything[2].position <= scanned.reached < everything[3].position
    rest = events_after(day.ledger, scanned.reached, lambda e: True, events_max=1000)
    assert rest.events == everything[3:]
    assert (rest.at_head, rest.reached) == (True, Position(day.ledger.seq))


@pytest.mark.parametrize("text", ["", "x", "1.", ".1", "-1", "1.2.3", "1e3", "٣", "9" * 40])
def test_a_position_that_is_not_one_is_refused_by_name(text: str) -> None:
    with pytest.raises(InputError) as refused:
        parse_position(text)
    assert refused.value.code is Result.event_position_invalid


def test_a_position_beyond_the_journal_is_refused(day: Day) -> None:
    with pytest.raises(InputError) as refused:
        events(day.ledger, None, after=str(day.ledger.seq + 1))
    assert refused.value.code is Result.event_position_beyond_journal
    assert events(day.ledger, None, after=str(day.ledger.seq))["items"] == []
