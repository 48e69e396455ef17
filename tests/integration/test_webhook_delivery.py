"""Webhooks end to end: a real HTTP receiver on loopback, in a thread, that verifies every
message with the Standard Webhooks reference library (as a firm's receiver would), answers as
scripted (failing, then recovering), and records what it accepted.

Deliveries go through the real HTTP sender and a SQLite subscriptions file; the worker's clock
is a manual one set to 200 s before the real time and moved by hand past each retry's delay
(the receiver refuses a timestamp more than five minutes off, so the first two delays, 5 s
and 5 min, still land within its tolerance).
"""

from __future__ import annotations

import json
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from tests.support import Custodian, build_custodian, journal_signer
from tests.support_webhooks import Receiver

from ringfence import bootstrap
from ringfence.adapters.clock import ManualClock
from ringfence.adapters.storage.memory import MemoryStore
from ringfence.adapters.webhooks.sqlite import SqliteWebhookStore
from ringfence.core.access.roles import Actor
from ringfence.core.errors import Result
from ringfence.core.events.webhooks import SubscriptionState, attempts_max, retry_delays_s
from ringfence.core.principals.records import PrincipalRole
from ringfence.service import webhooks
from ringfence.service.ledger import LedgerService

ADMIN = Actor("root", PrincipalRole.admin)


class World:
    def __init__(self, folder: Path) -> None:
        self.clock = ManualClock(time.time_ns() - 200 * 10**9)
        self.ledger = LedgerService(MemoryStore(), self.clock, journal_signer())
        self.custodian: Custodian = build_custodian(self.ledger)
        self.path = folder / "books.webhooks"
        self.store = SqliteWebhookStore(self.path)
        self.sender = bootstrap.webhook_sender()
        self.receiver = Receiver()

    def subscribe(self, types: list[str], after: str | None = None) -> dict:
        document: dict = {"url": self.receiver.url, "types": types}
        if after is not None:
            document["after"] = after
        made = webhooks.subscribe(self.ledger, self.store, self.clock, ADMIN, document)
        self.receiver.secret = made["secret"]
        return made

    def deliver(self) -> webhooks.Delivered:
        return webhooks.deliver(
            webhooks.reader_of(self.ledger), self.store, self.sender, self.clock
        )

    def deposit(self, transfer_id: int, client: str = "alice") -> None:
        transfer = self.custodian.deposit(transfer_id, client, 100)
        assert self.ledger.submit([transfer]) == [Result.ok]


@pytest.fixture
def world(tmp_path: Path) -> Iterator[World]:
    built = World(tmp_path)
    yield built
    built.receiver.close()
    built.store.close()


def test_signed_messages_arrive_once_each_in_journal_order(world: World) -> None:
    made = world.subscribe(["transfer.*"])
    world.deposit(1)
    world.deposit(2, "bob")
    assert world.deliver().to_json()["acknowledged"] == 2
    assert world.deliver().acknowledged == 0  # nothing new: nothing sent again
    ids = [entry.seq for entry in world.ledger.store.entries(after_seq=world.ledger.seq - 2)]
    hashes = [entry.hash.hex() for entry in world.ledger.store.entries(after_seq=ids[0] - 1)]
    assert world.receiver.accepted == [
        (f"{ids[0]}.0", "transfer.posted", hashes[0]),
        (f"{ids[1]}.0", "transfer.posted", hashes[1]),
    ]
    assert world.receiver.refused_signatures == 0
    shown = webhooks.subscription(world.store, ADMIN, made["id"])
    assert "secret" not in shown
    assert made["secret"] not in json.dumps(webhooks.subscriptions(world.store, ADMIN))
    assert world.path.stat().st_mode & 0o077 == 0


def test_a_failing_receiver_is_retried_on_schedule_and_gets_the_same_message(
    world: World,
) -> None:
    world.subscribe(["transfer.posted"])
    world.deposit(1)
    world.deposit(2)
    world.receiver.failures = 2
    first = world.deliver()
    assert (first.acknowledged, first.failed) == (0, 1)
    (waiting,) = world.store.records()
    assert waiting.attempts == 1
    assert waiting.next_attempt_ns == world.clock.now_ns() + retry_delays_s[0] * 10**9
    assert "HTTP 500: down for maintenance" in waiting.last_error
    assert world.deliver().failed == 0  # not due yet: nothing is sent
    world.clock.advance(seconds=retry_delays_s[0])
    assert world.deliver().failed == 1
    world.clock.advance(seconds=retry_delays_s[1] - 1)
    assert world.deliver().failed == 0
    world.clock.advance(seconds=1)
    recovered = world.deliver()
    assert (recovered.acknowledged, recovered.failed) == (2, 0)
    assert [found[0] for found in world.receiver.accepted] == [
        f"{world.ledger.seq - 1}.0",
        f"{world.ledger.seq}.0",
    ]
    (done,) = world.store.records()
    assert (done.attempts, done.last_error, done.delivered) == (0, "", 2)


def test_a_receiver_down_for_every_retry_stops_the_subscription_until_a_replay(
    world: World,
) -> None:
    made = world.subscribe(["*"])
    world.deposit(1)
    world.receiver.server.shutdown()  # refused connections, not even a status
    world.receiver.server.server_close()
    for delay in (*retry_delays_s, 0):
        assert world.deliver().failed == 1
        world.clock.advance(seconds=delay)
    (stopped,) = world.store.records()
    assert (stopped.state, stopped.attempts) == (SubscriptionState.failing, attempts_max)
    assert stopped.last_error
    assert world.deliver().failed == 0  # a failing subscription is not tried again
    world.receiver = Receiver()  # back, on another port: the old URL stays refused
    world.receiver.secret = made["secret"]
    replayed = webhooks.replay(world.ledger, world.store, ADMIN, made["id"], {"after": "0"})
    assert replayed["state"] == "active"
    assert world.deliver().failed == 1


def test_a_replay_sends_again_from_a_journal_sequence_and_a_restart_resumes(
    world: World,
) -> None:
    made = world.subscribe(["transfer.posted"], after="0")
    world.deposit(1)
    world.deposit(2)
    assert world.deliver().acknowledged == 2
    world.store.close()
    world.store = SqliteWebhookStore(world.path)  # a restarted server: the cursor was kept
    world.deposit(3)
    assert world.deliver().acknowledged == 1
    from_second = world.ledger.seq - 2
    webhooks.replay(world.ledger, world.store, ADMIN, made["id"], {"after": str(from_second)})
    assert world.deliver().acknowledged == 2
    ids = [found[0] for found in world.receiver.accepted]
    assert ids[3:] == ids[1:3]
    assert len(set(ids)) == 3


def test_a_subscription_made_while_the_ledger_moves_starts_at_the_head(world: World) -> None:
    world.deposit(1)
    world.subscribe(["transfer.posted"])
    world.deposit(2)
    assert world.deliver().acknowledged == 1
    assert world.receiver.accepted[0][0] == f"{world.ledger.seq}.0"


def test_ringfence_events_deliver_makes_one_pass(tmp_path: Path) -> None:
    """The command line's pass, over a subscription kept beside an SQLite ledger."""
    url = f"sqlite:///{tmp_path / 'books.db'}"
    ledger = bootstrap.open_ledger(url, clock=ManualClock(time.time_ns()))
    receiver = Receiver()
    try:
        custodian = build_custodian(ledger)
        store = bootstrap.open_webhook_store(url)
        document = {"url": receiver.url, "types": ["transfer.posted"]}
        made = webhooks.subscribe(ledger, store, ledger.clock, ADMIN, document)
        store.close()
        receiver.secret = made["secret"]
        assert ledger.submit([custodian.deposit(1, "alice", 5)]) == [Result.ok]
        ledger.close()
        command = [str(Path(sys.executable).with_name("ringfence")), "--db", url]
        done = subprocess.run([*command, "events", "deliver", "--json"], capture_output=True,
                              text=True, check=False)  # fmt: skip
        assert done.returncode == 0, done.stderr
        assert json.loads(done.stdout)["acknowledged"] == 1
        assert [kind for _, kind, _ in receiver.accepted] == ["transfer.posted"]
    finally:
        receiver.close()
