"""The event stream's guarantees, for random days of transfers (some refused, some pending):

- every committed transfer is exactly one transfer event, in journal order, and nothing
  refused is one (the journal is the outbox: an event exists iff its entry does);
- reading from any position gives exactly the rest of the stream (replay from anywhere);
- a client's stream is the full stream filtered to its own accounts, and never more.
"""

from __future__ import annotations

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from tests.support import build_custodian, journal_signer

from ringfence.adapters.clock import ManualClock
from ringfence.adapters.storage.memory import MemoryStore
from ringfence.core.access.roles import Actor
from ringfence.core.ledger.journal import EntryKind, decode_transfers
from ringfence.core.ledger.model import Transfer, TransferFlags
from ringfence.core.principals.records import PrincipalRole
from ringfence.service.events import events
from ringfence.service.ledger import LedgerService

CLIENTS = ("alice", "bob", "carol")
moves = st.lists(
    st.tuples(
        st.sampled_from(("deposit", "withdrawal", "pending")),
        st.sampled_from(CLIENTS),
        st.integers(1, 60),
    ),
    min_size=1,
    max_size=12,
)
days = st.lists(moves, min_size=1, max_size=5)


def _day(batches: list[list[tuple[str, str, int]]]) -> tuple[LedgerService, int]:
    ledger = LedgerService(MemoryStore(), ManualClock(10**18), journal_signer())
    custodian = build_custodian(ledger)
    start = ledger.seq
    next_id = 1
    for batch in batches:
        transfers: list[Transfer] = []
        for kind, client, amount in batch:
            if kind == "deposit":
                transfers.append(custodian.deposit(next_id, client, amount))
            else:
                flags = TransferFlags.pending if kind == "pending" else TransferFlags.none
                timeout = 60 if flags else 0
                transfers.append(custodian.withdrawal(next_id, client, amount, flags=flags,
                                                      timeout_s=timeout))  # fmt: skip
            next_id += 1
        ledger.submit(transfers)
    return ledger, start


def _everything(ledger: LedgerService, actor: Actor | None, after: str = "") -> list[dict]:
    items: list[dict] = []
    while True:
        page = events(ledger, actor, after=after, limit=7)
        items += page["items"]
        if page["next_cursor"] is None:
            return items
        after = page["next_cursor"]


@settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(days, st.data())
def test_the_stream_is_the_journal_and_replays_from_anywhere(
    batches: list[list[tuple[str, str, int]]], data: st.DataObject
) -> None:
    ledger, start = _day(batches)
    committed = [
        str(record.id)
        for entry in ledger.store.entries(after_seq=start, kinds=[EntryKind.transfers])
        for record in decode_transfers(entry.body)[1]
    ]
    stream = _everything(ledger, None)
    transfers = [i["data"]["id"] for i in stream if i["type"].startswith("transfer.")]
    assert transfers == committed
    assert [i["id"] for i in stream] == sorted(
        (i["id"] for i in stream), key=lambda t: tuple(int(p) for p in t.split("."))
    )
    cut = data.draw(st.integers(0, len(stream) - 1))
    assert _everything(ledger, None, after=stream[cut]["id"]) == stream[cut + 1 :]
    client = data.draw(st.sampled_from(CLIENTS))
    own = {
        str(state.definition.id)
        for state in ledger.ledger.accounts.values()
        if state.definition.owner == client and state.definition.account_class.value == "client"
    }
    seen = _everything(ledger, Actor(client, PrincipalRole.client, client))
    assert seen == [i for i in stream if _about(i, client, own)]


def _about(item: dict, client: str, own: set[str]) -> bool:
    data = item["data"]
    if item["type"].startswith("transfer."):
        return bool({data["debit_account"], data["credit_account"]} & own)
    if item["type"] == "account.defined":
        return data["id"] in own
    return item["type"] == "client.defined" and data["name"] == client
