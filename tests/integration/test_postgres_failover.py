"""Losing the PostgreSQL primary loses no acknowledged batch.

Method: two clusters from the installed server binaries (tests/support_pg_cluster.py), a
primary and a synchronous standby (``synchronous_standby_names``, ``synchronous_commit = on``,
streaming replication set up by ``pg_basebackup -R``). ringfence opens its ledger on the
primary with a journal key file, defines the small custodian and funds it. Then two writer
threads, each with its own ``LedgerService`` and connection, submit numbered batches of
deposits; each records a batch as acknowledged only once ``submit`` returned for it (the
service returns after the batch is durable). When enough batches are acknowledged, while the
writers are still submitting, the test SIGKILLs the primary's postmaster and promotes the
standby (``pg_ctl promote``). ringfence is then opened on the standby's URL with the same key.

Checks: every batch acknowledged before the kill is there, transfer by transfer; the batch each
writer had in flight (its outcome unknown to the writer) is there whole or not at all, and
nothing else was stored; ``verify_store`` passes with the journal's public key trusted. Then
the writers resume on the new primary: each first resubmits its batch in flight (``exists``
for every transfer if it landed, ``ok`` for every one if not) and goes on; everything holds
again and the audit passes again. Printed, and recorded as the test's ``failover`` property:
batches acknowledged, lost (0), the time to promote, and the time from the kill until every
writer has a batch acknowledged on the new primary (the test's own checks left out).

The control repeats the failover with asynchronous replication and a standby that lags: there
acknowledged batches are lost, which the same checks see, and which the audit sees only when
given the heads the writers were acknowledged with.

ringfence does no failover of its own (docs/scaling.md): the test plays the part of the
operator or Patroni, and measures what that costs the writer once the old primary is known dead.
"""

from __future__ import annotations

import contextlib
import os
import signal
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import psycopg
import pytest
from tests.support import (
    MAIN,
    MEMBERS,
    Custodian,
    assert_invariants,
    build_custodian,
    journal_public_key,
    journal_seed,
)
from tests.support_pg_cluster import (
    Cluster,
    clusters_directory,
    replication_state,
    require_server_binaries,
    wait_until_streaming,
)

from ringfence import bootstrap
from ringfence.adapters.clock import SystemClock
from ringfence.core.errors import Result, StorageError
from ringfence.core.ledger.model import Transfer
from ringfence.service.audit import AuditReport, verify_store
from ringfence.service.ledger import LedgerService

writers = 2
transfers_per_batch = 16
acknowledged_before_kill = 40  # across the writers; the kill comes while they still submit
acknowledged_while_lagging = 12  # the control: acknowledged after the WAL sender stopped
batches_after_failover = 10  # per writer, on the new primary
batches_max = 10_000  # per writer: a bound, never reached before the kill
database = "ringfence"
acknowledged_wait_s_max = 30.0
writer_stop_wait_s_max = 15.0
standby_name = "standby"
depositors = MEMBERS[MAIN]


def batch(custodian: Custodian, writer: int, number: int) -> list[Transfer]:
    """The writer's number-th batch: deposits with ids of its own, the same every time it is
    built, so a resubmission is the same batch."""
    base = (writer + 1) * 10_000_000 + number * 100
    return [
        custodian.deposit(
            base + k, depositors[(number + k) % len(depositors)], 1 + (number * 31 + k) % 997
        )
        for k in range(transfers_per_batch)
    ]


class Writer(threading.Thread):
    """Submits its batches in order until its store fails or ``batch_end``; records each batch
    acknowledged (when, and the journal head it made), and the batch in flight when the store
    failed."""

    def __init__(
        self,
        writer: int,
        url: str,
        key: Path,
        custodian: Custodian,
        *,
        batch_start: int = 0,
        batches: int = batches_max,
    ) -> None:
        super().__init__(name=f"writer-{writer}", daemon=True)
        self.writer = writer
        self.url = url
        self.key = key
        self.custodian = custodian
        self.batch_start = batch_start
        self.batch_end = batch_start + batches
        self.acknowledged: list[int] = []
        self.acknowledged_at: list[float] = []  # time.monotonic() of each acknowledgement
        self.results: dict[int, list[Result]] = {}
        self.heads: dict[int, bytes] = {}  # seq -> hash of each entry acknowledged
        self.in_flight: int | None = None  # submitted, then the store failed: outcome unknown
        self.storage_error = ""
        self.failed_at = 0.0  # time.monotonic() when the store failed
        self.failure: BaseException | None = None  # anything else: the test fails

    def run(self) -> None:
        try:
            service = bootstrap.open_ledger(
                self.url, SystemClock(), create=False, journal_key=str(self.key)
            )
        except BaseException as error:
            self.failure = error
            return
        try:
            self._submit_all(service)
        except BaseException as error:
            self.failure = error
        finally:
            with contextlib.suppress(StorageError):
                service.close()

    def _submit_all(self, service: LedgerService) -> None:
        for number in range(self.batch_start, self.batch_end):
            try:
                results = service.submit(batch(self.custodian, self.writer, number))
            except StorageError as error:
                self.failed_at = time.monotonic()
                self.in_flight = number
                self.storage_error = str(error)
                return
            self.results[number] = results
            self.heads[service.seq] = service.hash
            self.acknowledged_at.append(time.monotonic())
            self.acknowledged.append(number)


def start_writers(
    url: str, key: Path, custodian: Custodian, starts: list[int], batches: int = batches_max
) -> list[Writer]:
    threads = [
        Writer(writer, url, key, custodian, batch_start=start, batches=batches)
        for writer, start in enumerate(starts)
    ]
    for thread in threads:
        thread.start()
    return threads


def wait_for_acknowledgements(threads: list[Writer], count: int, primary: Cluster) -> None:
    """Wait until the writers together have ``count`` batches acknowledged."""
    deadline = time.monotonic() + acknowledged_wait_s_max
    while sum(len(w.acknowledged) for w in threads) < count:
        failures = [w.failure for w in threads if w.failure is not None]
        errors = [w.storage_error for w in threads if w.storage_error]
        assert not failures and not errors, (failures, errors, primary.log_tail())
        assert time.monotonic() < deadline, "the writers were too slow"
        time.sleep(0.002)


def stop_writers(threads: list[Writer], cluster: Cluster) -> None:
    """Wait for each writer to end; none may fail other than by its store failing."""
    for thread in threads:
        thread.join(timeout=writer_stop_wait_s_max)
        assert not thread.is_alive(), f"{thread.name} hangs\n{cluster.log_tail()}"
        assert thread.failure is None, thread.failure


def submissions(threads: list[Writer]) -> dict[tuple[int, int], bool]:
    """Every batch the writers submitted: (writer, number) -> acknowledged."""
    submitted = {(w.writer, number): True for w in threads for number in w.acknowledged}
    for w in threads:
        if w.in_flight is not None:
            submitted[(w.writer, w.in_flight)] = False
    return submitted


def acknowledged_heads(threads: list[Writer]) -> dict[int, bytes]:
    """The journal head each acknowledged batch made, as a firm would publish them."""
    return {seq: entry_hash for w in threads for seq, entry_hash in w.heads.items()}


@dataclass(frozen=True, slots=True)
class Stored:
    """What the ledger holds of the batches the writers submitted."""

    lost: list[tuple[int, int]]  # acknowledged batches with any transfer missing
    partial: list[tuple[int, int]]  # batches with some transfers stored but not all
    in_flight_landed: list[tuple[int, int]]  # batches in flight at the kill that are stored
    unexpected: set[int]  # stored transfer ids no writer's submission accounts for


def stored(url: str, custodian: Custodian, submitted: dict[tuple[int, int], bool]) -> Stored:
    """Look up every transfer of every batch submitted ((writer, number) -> acknowledged)."""
    store = bootstrap.open_store(url, create=False)
    try:
        projected = [record.id for record in store.projected_transfers()]
    finally:
        store.close()
    present = set(projected)
    assert len(projected) == len(present), "a transfer stored twice"
    lost, partial, landed = [], [], []
    accounted: set[int] = set()
    for (writer, number), acknowledged in sorted(submitted.items()):
        ids = {transfer.id for transfer in batch(custodian, writer, number)}
        found = len(ids & present)
        if acknowledged and found < len(ids):
            lost.append((writer, number))
        if 0 < found < len(ids):
            partial.append((writer, number))
        if not acknowledged and found == len(ids):
            landed.append((writer, number))
        accounted |= ids
    return Stored(lost, partial, landed, present - accounted)


def audit(url: str, heads: dict[int, bytes]) -> AuditReport:
    """``audit verify`` with the journal key trusted and ``heads`` published."""
    store = bootstrap.open_store(url, create=False)
    try:
        return verify_store(store, trusted_keys=[journal_public_key], published_heads=heads)
    finally:
        store.close()


def set_up_ledger(url: str, key: Path) -> Custodian:
    """A new ledger on ``url``: the journal key declared, the small custodian defined."""
    service = bootstrap.open_ledger(url, SystemClock(), create=True, journal_key=str(key))
    try:
        return build_custodian(service)
    finally:
        service.close()


def replicated_pair(tmp_path: Path, synchronous: bool) -> Iterator[tuple[Cluster, Cluster, str]]:
    """A primary and its standby, a database for the ledger on the primary and the journal
    key in ``tmp_path``; both clusters torn down (every process of each ended) whatever the
    test did to them."""
    binaries = require_server_binaries()
    with clusters_directory(binaries, tmp_path) as directory, contextlib.ExitStack() as stack:
        primary = Cluster(binaries, directory, "primary")
        stack.callback(primary.tear_down)
        primary.create(synchronous_standby=standby_name if synchronous else "")
        standby = Cluster(binaries, directory, standby_name)
        stack.callback(standby.tear_down)
        standby.clone(primary)
        wait_until_streaming(primary, standby_name, "sync" if synchronous else "async")
        with psycopg.connect(primary.url(), autocommit=True, connect_timeout=5) as admin:
            admin.execute(f'CREATE DATABASE "{database}"')
        yield primary, standby, database


@pytest.fixture
def synchronous_pair(tmp_path: Path) -> Iterator[tuple[Cluster, Cluster, str]]:
    yield from replicated_pair(tmp_path, synchronous=True)


@pytest.fixture
def asynchronous_pair(tmp_path: Path) -> Iterator[tuple[Cluster, Cluster, str]]:
    yield from replicated_pair(tmp_path, synchronous=False)


@pytest.fixture
def journal_key(tmp_path: Path) -> Path:
    """The journal key file every ledger service of the test signs with."""
    key = tmp_path / "journal.key"
    bootstrap.create_key_file(key, journal_seed)
    return key


# ---------------------------------------------------------------------- the failover


@pytest.mark.postgres
@pytest.mark.slow
@pytest.mark.crash
def test_a_promoted_synchronous_standby_holds_every_acknowledged_batch(
    synchronous_pair: tuple[Cluster, Cluster, str],
    journal_key: Path,
    record_property: Callable[[str, object], None],
) -> None:
    primary, standby, name = synchronous_pair
    custodian = set_up_ledger(primary.url(name), journal_key)
    first = start_writers(primary.url(name), journal_key, custodian, starts=[0] * writers)
    started = time.monotonic()
    wait_for_acknowledgements(first, acknowledged_before_kill, primary)
    assert replication_state(primary)[standby_name][:2] == ("streaming", "sync")
    primary.kill_postmaster()
    killed = time.monotonic()
    stop_writers(first, primary)
    assert all(w.in_flight is not None for w in first), "a writer was not mid-stream"
    standby.promote()
    promoted = time.monotonic()

    new_primary = standby.url(name)
    found = stored(new_primary, custodian, submissions(first))
    assert found.lost == [], f"acknowledged batches lost in the failover: {found.lost}"
    assert found.partial == [], f"batches stored in part: {found.partial}"
    assert found.unexpected == set(), "stored transfers no writer submitted"
    report = audit(new_primary, acknowledged_heads(first))
    assert report.ok, report.problems
    assert report.heads_checked == len(acknowledged_heads(first))

    # The writers resume on the new primary, each from the batch it had in flight.
    reopened = time.monotonic()
    starts = [w.in_flight for w in first if w.in_flight is not None]
    resumed = start_writers(new_primary, journal_key, custodian, starts, batches_after_failover + 1)
    stop_writers(resumed, standby)
    check_resumed(first, resumed, found)
    found_after = stored(new_primary, custodian, submissions(first) | submissions(resumed))
    assert found_after.lost == found_after.partial == []
    assert found_after.unexpected == set()
    report = audit(new_primary, acknowledged_heads(first) | acknowledged_heads(resumed))
    assert report.ok, report.problems
    # A URL naming both servers finds whichever accepts writes: libpq tries them in order.
    either = either_url(primary, standby, name)
    service = bootstrap.open_ledger(either, SystemClock(), create=False)
    try:
        assert service.seq == report.head_seq
        assert_invariants(service)
    finally:
        service.close()

    acknowledged = sum(len(w.acknowledged) for w in first)
    figures = {
        "batches_acknowledged": acknowledged,
        "transfers_acknowledged": acknowledged * transfers_per_batch,
        "batches_lost": len(found.lost),
        "batches_in_flight": len(first),
        "in_flight_landed": len(found.in_flight_landed),
        "acknowledged_per_s": round(acknowledged / (killed - started), 1),
        # The kill to the last writer's failed submit: how long a writer waits to learn.
        "writers_failed_s": round(max(w.failed_at for w in first) - killed, 3),
        "promote_s": round(promoted - killed, 3),
        # Opening the ledger on the new primary to every writer's first acknowledged batch
        # there; the resume time adds the promotion and leaves out the test's own checks.
        "reconnect_s": round(max(w.acknowledged_at[0] for w in resumed) - reopened, 3),
        "batches_after_failover": sum(len(w.acknowledged) for w in resumed),
    }
    figures["resume_s"] = round(figures["promote_s"] + figures["reconnect_s"], 3)
    record_property("failover", figures)
    print(f"\nfailover (synchronous standby): {figures}")


def either_url(primary: Cluster, standby: Cluster, name: str) -> str:
    """One URL for the pair: libpq connects to the first server, in order, that accepts
    writes (``target_session_attrs=read-write``)."""
    hosts = f"127.0.0.1:{primary.port},127.0.0.1:{standby.port}"
    return f"postgresql://postgres@{hosts}/{name}?target_session_attrs=read-write"


def check_resumed(first: list[Writer], resumed: list[Writer], found: Stored) -> None:
    """Each writer's batch in flight, resubmitted, answers ``exists`` throughout if it had
    landed and ``ok`` throughout if not; every other batch ``ok``; no writer failed again."""
    for before, after in zip(first, resumed, strict=True):
        assert after.in_flight is None, after.storage_error
        assert after.acknowledged == list(range(after.batch_start, after.batch_end))
        landed = (before.writer, before.in_flight) in found.in_flight_landed
        expected = Result.exists if landed else Result.ok
        assert after.results[after.batch_start] == [expected] * transfers_per_batch
        for number in after.acknowledged[1:]:
            assert after.results[number] == [Result.ok] * transfers_per_batch
    for before in first:
        for number in before.acknowledged:
            assert before.results[number] == [Result.ok] * transfers_per_batch


# ---------------------------------------------------------------------- the control


@pytest.mark.postgres
@pytest.mark.slow
@pytest.mark.crash
def test_an_asynchronous_standby_that_lags_loses_acknowledged_batches(
    asynchronous_pair: tuple[Cluster, Cluster, str],
    journal_key: Path,
    record_property: Callable[[str, object], None],
) -> None:
    """The control: the same failover with asynchronous replication and the primary's WAL
    sender stopped (SIGSTOP) while the writers go on, as a standby that lags. Every batch
    submitted after the stop is acknowledged and then lost with the primary; none is partial;
    the standby's journal is a valid, shorter chain, so the audit alone passes, and only the
    heads the writers were acknowledged with, published, make it name the cut. What the
    synchronous standby buys, and proof that the checks above can fail."""
    primary, standby, name = asynchronous_pair
    custodian = set_up_ledger(primary.url(name), journal_key)
    first = start_writers(primary.url(name), journal_key, custodian, starts=[0] * writers)
    wait_for_acknowledgements(first, acknowledged_before_kill, primary)
    state, sync_state, wal_sender = replication_state(primary)[standby_name]
    assert (state, sync_state) == ("streaming", "async")
    os.kill(wal_sender, signal.SIGSTOP)  # never continued: tear_down ends it
    counts = [len(w.acknowledged) for w in first]
    wait_for_acknowledgements(first, sum(counts) + acknowledged_while_lagging, primary)
    primary.kill_postmaster()
    stop_writers(first, primary)
    standby.promote()

    # A batch acknowledged after the one each writer had in flight at the stop was written
    # after it: the standby cannot hold it.
    surely_lost = {
        (w.writer, n) for w, c in zip(first, counts, strict=True) for n in w.acknowledged[c + 1 :]
    }
    found = stored(standby.url(name), custodian, submissions(first))
    assert surely_lost, "no batch was acknowledged while the standby lagged"
    assert surely_lost <= set(found.lost), (surely_lost, found.lost)
    assert found.partial == []
    assert found.unexpected == set()
    assert audit(standby.url(name), {}).ok
    report = audit(standby.url(name), acknowledged_heads(first))
    assert not report.ok
    assert {problem.kind for problem in report.problems} == {"published_head_missing"}
    acknowledged = sum(len(w.acknowledged) for w in first)
    figures = {"batches_acknowledged": acknowledged, "batches_lost": len(found.lost)}
    record_property("failover_control", figures)
    print(f"\nfailover (asynchronous standby, lagging): {figures}")
