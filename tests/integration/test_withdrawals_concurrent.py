"""Two ``process`` passes over one ledger at once, each through its own store connection
(SQLite file, PostgreSQL schema), racing to post the same confirmed withdrawal: the first
holds the store's ``withdrawals`` lock and posts it once; the second gets ``withdrawals_busy``
at once, having done nothing; a pass after the first sees what it journaled.

The first pass is stopped inside the chain (counting confirmations) until the second has
answered, so the two overlap every time.
"""

from __future__ import annotations

import subprocess
import sys
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

import pytest
from tests.support import journal_signer
from tests.support_policy import ALICE_ADDRESS
from tests.support_withdrawals import RecordingChain, actor, withdrawal_world

from ringfence.adapters.clock import ManualClock
from ringfence.adapters.storage.postgres import PostgresStore
from ringfence.adapters.storage.sqlite import SqliteStore
from ringfence.core.custody.spends import SpendOrder
from ringfence.core.errors import InputError, Result
from ringfence.service import withdrawals
from ringfence.service.ledger import LedgerService
from ringfence.service.ports import LedgerStore

wait_s_max = 60.0


@dataclass
class StoppedChain(RecordingChain):
    """Stops in ``confirmations`` until ``go`` is set, having set ``inside``."""

    inside: threading.Event = field(default_factory=threading.Event)
    go: threading.Event = field(default_factory=threading.Event)

    def confirmations(self, order: SpendOrder, txid: str) -> int:
        self.inside.set()
        assert self.go.wait(wait_s_max), "the test never let the pass go on"
        return super().confirmations(order, txid)


@pytest.fixture(params=["sqlite", "postgres"])
def open_store(
    request: pytest.FixtureRequest, tmp_path: Any
) -> Iterator[Callable[[], LedgerStore]]:
    opened: list[LedgerStore] = []
    if request.param == "sqlite":
        path = str(tmp_path / "ringfence.db")

        def open_one() -> LedgerStore:
            opened.append(SqliteStore(path))
            return opened[-1]
    else:
        url = request.getfixturevalue("postgres_url")

        def open_one() -> LedgerStore:
            opened.append(PostgresStore(url))
            return opened[-1]

    yield open_one
    for store in opened:
        store.close()


def test_two_passes_at_once_post_a_withdrawal_once(
    open_store: Callable[[], LedgerStore], clock: ManualClock
) -> None:
    first = LedgerService(open_store(), clock, journal_signer())
    world = withdrawal_world(first, clock)
    body = {"id": "71", "pool": "main", "asset": "ETH", "amount": "1.5",
            "destination": ALICE_ADDRESS}  # fmt: skip
    withdrawals.request(first, actor("alice"), body)  # whitelisted: held at once
    withdrawals.process(first, actor("ops"), RecordingChain(confirmations_seen=0))
    assert withdrawals.show(first, actor("ops"), 71)["status"] == "broadcast"
    second = LedgerService(open_store(), clock, journal_signer())

    stopped = StoppedChain()
    outcome: dict[str, Any] = {}

    def first_pass() -> None:
        try:
            outcome["report"] = withdrawals.process(first, actor("ops"), stopped)
        except BaseException as failure:
            outcome["failure"] = failure

    racing = threading.Thread(target=first_pass)
    racing.start()
    try:
        assert stopped.inside.wait(wait_s_max)
        other = RecordingChain()
        with pytest.raises(InputError) as busy:
            withdrawals.process(second, actor("ops"), other)
        assert busy.value.code is Result.withdrawals_busy
        assert other.calls == []
    finally:
        stopped.go.set()
        racing.join(wait_s_max)
    assert "failure" not in outcome, outcome.get("failure")
    assert [row["id"] for row in outcome["report"]["posted"]] == ["71"]

    after = RecordingChain()
    report = withdrawals.process(second, actor("ops"), after)  # free now: sees the post
    assert report["posted"] == []
    assert after.calls == []
    assert withdrawals.show(second, actor("ops"), 71)["status"] == "posted"
    alice = world.custodian.client("alice", asset="ETH")
    assert second.balance(alice).balance == 145 * 10**17  # 20 ETH, less 4 of fees and 1.5 paid


def test_an_approval_during_a_pass_leaves_the_hold_to_the_pass(
    memory_service: LedgerService, clock: ManualClock
) -> None:
    """The last approval places the hold, unless a pass holds the lock: the pass, which holds
    every approved withdrawal, then places it, and the two never race for one hold."""
    withdrawal_world(memory_service, clock)
    body = {"id": "72", "pool": "main", "asset": "ETH", "amount": "1.5",
            "destination": "0xfB6916095ca1df60bB79Ce92cE3Ea74c37c5d359"}  # fmt: skip
    withdrawals.request(memory_service, actor("alice"), body)  # one of treasury
    with memory_service.store.exclusive("withdrawals") as taken:  # a pass, elsewhere
        assert taken
        shown = withdrawals.approve(memory_service, actor("ann"), 72)
    assert (shown["status"], shown["hold_transfer"]) == ("approved", None)
    report = withdrawals.process(memory_service, actor("ops"), None)
    assert report["held"] == ["72"]
    assert withdrawals.show(memory_service, actor("ops"), 72)["status"] == "held"


def test_the_lock_is_tried_never_waited_for_and_dies_with_its_holder(
    open_store: Callable[[], LedgerStore],
) -> None:
    one, other = open_store(), open_store()
    with one.exclusive("withdrawals") as taken:
        assert taken
        with other.exclusive("withdrawals") as again:
            assert not again
        with other.exclusive("another") as unrelated:  # locks are by name
            assert unrelated
    for _ in range(3):  # released at the context's end, every time
        with other.exclusive("withdrawals") as taken:
            assert taken
    # A process that dies holding it (SIGKILL: nothing of its own runs) leaves it free.
    holder = subprocess.Popen(
        [sys.executable, "-c", _holder_script, store_url(one)],
        stdout=subprocess.PIPE,
    )
    try:
        assert holder.stdout is not None
        assert holder.stdout.readline().strip() == b"held"
        with other.exclusive("withdrawals") as taken:
            assert not taken
    finally:
        holder.kill()
        holder.wait(wait_s_max)
        if holder.stdout is not None:
            holder.stdout.close()
    with other.exclusive("withdrawals") as taken:
        assert taken


def test_one_stores_callers_do_not_share_the_lock(open_store: Callable[[], LedgerStore]) -> None:
    """A nested call or another thread on the same store finds the lock taken, as on another
    store: PostgreSQL's session advisory locks stack, so the store keeps a lock of its own."""
    store = open_store()
    inside, done = threading.Event(), threading.Event()
    seen: list[bool] = []

    def hold() -> None:
        with store.exclusive("withdrawals") as taken:
            seen.append(taken)
            inside.set()
            done.wait(wait_s_max)

    with store.exclusive("withdrawals") as taken:
        assert taken
        with store.exclusive("withdrawals") as again:
            assert not again
    thread = threading.Thread(target=hold)
    thread.start()
    try:
        assert inside.wait(wait_s_max)
        with store.exclusive("withdrawals") as taken:
            assert not taken
        with open_store().exclusive("withdrawals") as taken:
            assert not taken
    finally:
        done.set()
        thread.join(wait_s_max)
    assert seen == [True]
    with store.exclusive("withdrawals") as taken:
        assert taken


_holder_script = """
import sys, time
from ringfence import bootstrap
store = bootstrap.open_store(sys.argv[1], create=False)
with store.exclusive("withdrawals") as taken:
    print("held" if taken else "busy", flush=True)
    time.sleep(600)
"""


def store_url(store: LedgerStore) -> str:
    if isinstance(store, SqliteStore):
        return f"sqlite:///{store.path}"
    assert isinstance(store, PostgresStore)
    return store.url
