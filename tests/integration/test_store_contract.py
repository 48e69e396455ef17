"""The LedgerStore contract, held against every store: one behaviour, whatever the database.

Each test takes a ``factory`` that opens a store and reopens the same data, parametrized over
the stores in ``STORE_KINDS``. A new store (PostgreSQL) joins by adding a factory class and one
entry to ``STORE_KINDS`` (with its marker); no test changes. Store-specific checks (SQLite's
append-only triggers) are at the end.
"""

from __future__ import annotations

import copy
import sqlite3
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

import pytest
from tests.support import (
    VAULT,
    Custodian,
    assert_invariants,
    build_custodian,
    journal_signer,
    replay_from_genesis,
    state_snapshot,
)

from ringfence.adapters.clock import ManualClock
from ringfence.adapters.storage.memory import MemoryStore
from ringfence.adapters.storage.postgres import PostgresStore
from ringfence.adapters.storage.sqlite import SqliteStore
from ringfence.core import limits
from ringfence.core.errors import HeadConflictError, Result, StorageError
from ringfence.core.ledger.engine import Expiry
from ringfence.core.ledger.journal import (
    Definition,
    EntryKind,
    JournalEntry,
    encode_definitions,
    encode_transfers,
    genesis_hash,
    ledger_definition_kinds,
    seal,
)
from ringfence.core.ledger.model import (
    AccountClass,
    AccountDefinition,
    Break,
    Pool,
    PoolKind,
    Purpose,
    Terms,
    Transfer,
    TransferCode,
    TransferFlags,
    TransferRecord,
)
from ringfence.core.money import Asset
from ringfence.core.risk.settlement import Fill
from ringfence.core.venue.codec import encode_fills
from ringfence.service.ledger import LedgerService
from ringfence.service.ports import Checkpoint, LedgerStore, PendingRow, StoredPastState

U128_MAX = 2**128 - 1
START_NS = 1_700_000_000 * 10**9


# ---------------------------------------------------------------------- the stores


class StoreFactory(Protocol):
    kind: str

    def open(self) -> LedgerStore:
        """A new handle on this test's store (empty the first time)."""
        ...

    def reopen(self, store: LedgerStore) -> LedgerStore:
        """Close ``store`` as a process would on exit, and open the same data again."""
        ...

    def close_all(self) -> None: ...


class MemoryFactory:
    """A memory store lives as long as its process; reopening hands its contents to a new
    reader, as a restarted service on a durable store would see them."""

    kind = "memory"

    def __init__(self, tmp_path: Path) -> None:
        self._store: MemoryStore | None = None

    def open(self) -> LedgerStore:
        if self._store is None:
            self._store = MemoryStore()
        return self._store

    def reopen(self, store: LedgerStore) -> LedgerStore:
        assert isinstance(store, MemoryStore)
        clone = copy.deepcopy(store)
        clone.closed = False
        self._store = clone
        return clone

    def close_all(self) -> None:
        return None


class SqliteFactory:
    kind = "sqlite"

    def __init__(self, tmp_path: Path) -> None:
        self.path = str(tmp_path / "contract.db")
        self._opened: list[SqliteStore] = []

    def open(self) -> LedgerStore:
        store = SqliteStore(self.path)
        self._opened.append(store)
        return store

    def reopen(self, store: LedgerStore) -> LedgerStore:
        store.close()
        return self.open()

    def close_all(self) -> None:
        for store in self._opened:
            store.close()


class PostgresFactory:
    """A fresh schema on the test server (the ``postgres_url`` fixture); each handle is a
    connection of its own, as another process's would be."""

    kind = "postgres"

    def __init__(self, url: str) -> None:
        self.url = url
        self._opened: list[PostgresStore] = []

    def open(self) -> LedgerStore:
        store = PostgresStore(self.url)
        self._opened.append(store)
        return store

    def reopen(self, store: LedgerStore) -> LedgerStore:
        store.close()
        return self.open()

    def close_all(self) -> None:
        for store in self._opened:
            store.close()


FACTORIES: dict[str, type[Any]] = {"memory": MemoryFactory, "sqlite": SqliteFactory}
STORE_KINDS = [
    pytest.param("memory"),
    pytest.param("sqlite"),
    pytest.param("postgres", marks=pytest.mark.postgres),
]


@pytest.fixture(params=STORE_KINDS)
def factory(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[StoreFactory]:
    if request.param == "postgres":
        made: Any = PostgresFactory(request.getfixturevalue("postgres_url"))
    else:
        made = FACTORIES[request.param](tmp_path)
    yield made
    made.close_all()


@pytest.fixture
def store(factory: StoreFactory) -> LedgerStore:
    return factory.open()


def known_bug_in(
    request: pytest.FixtureRequest, factory: StoreFactory, kinds: set[str], reason: str
) -> None:
    """Mark this test as an expected failure for the stores that have the bug."""
    if factory.kind in kinds:
        request.applymarker(pytest.mark.xfail(strict=True, reason=reason))


# ---------------------------------------------------------------------- building entries


def record(transfer_id: int, timestamp: int, **fields: int) -> TransferRecord:
    values = {
        "id": transfer_id,
        "debit_account": 11,
        "credit_account": 12,
        "amount": 100,
        "pending_id": 0,
        "reference": 0,
        "timestamp": timestamp,
        "authoriser": 0,
        "timeout_s": 0,
        "asset": 1,
        "code": 1,
        "flags": 0,
    }
    values.update(fields)
    return TransferRecord(**values)


class Writer:
    """Seals entries that extend a store's head, as the service does."""

    def __init__(self, store: LedgerStore) -> None:
        self.store = store
        self.seq, self.hash = store.head()
        self.timestamp = START_NS + self.seq * 1_000

    def transfers_entry(
        self, records: list[TransferRecord], expiries: list[Expiry] | None = None
    ) -> JournalEntry:
        self.timestamp += 1_000
        body = encode_transfers(self.seq + 1, self.timestamp, records, expiries or [])
        return seal(self.seq + 1, EntryKind.transfers, self.timestamp, body, self.hash)

    def definitions_entry(self, kind: EntryKind, definitions: list[Definition]) -> JournalEntry:
        self.timestamp += 1_000
        body = encode_definitions(kind, self.seq + 1, self.timestamp, definitions)
        return seal(self.seq + 1, kind, self.timestamp, body, self.hash)

    def commit(self, entry: JournalEntry) -> None:
        self.seq, self.hash = entry.seq, entry.hash

    def transfers(
        self,
        records: list[TransferRecord],
        expiries: list[Expiry] | None = None,
        checkpoint: Checkpoint | None = None,
    ) -> JournalEntry:
        entry = self.transfers_entry(records, expiries)
        self.store.append(entry, records, (), checkpoint)
        self.commit(entry)
        return entry

    def transfers_begun(self, records: list[TransferRecord]) -> JournalEntry:
        entry = self.transfers_entry(records)
        self.store.append_begin(entry, records).wait()
        self.commit(entry)
        return entry

    def definitions(self, kind: EntryKind, definitions: list[Definition]) -> JournalEntry:
        entry = self.definitions_entry(kind, definitions)
        self.store.append(entry, (), definitions)
        self.commit(entry)
        return entry


ASSETS: list[Definition] = [Asset("BTC", 8, 1, "bitcoin"), Asset("ETH", 18, 2, "ethereum", "x")]
CLIENTS: list[Definition] = [("alice", 1), ("bob", 2)]
POOLS: list[Definition] = [
    Pool("main", PoolKind.omnibus, Terms.custody),
    Pool("vault-bob", PoolKind.individual, Terms.custody, Purpose.margin_collateral, "bob"),
    Pool("earn", PoolKind.omnibus, Terms.title_transfer),
]
ACCOUNTS: list[Definition] = [
    AccountDefinition(11, "BTC", AccountClass.custody, "main-hot", "hot", "main"),
    AccountDefinition(12, "BTC", AccountClass.client, "alice", "available", "main"),
    AccountDefinition(2**63, "BTC", AccountClass.client, "bob", "available", "vault-bob"),
    AccountDefinition(U128_MAX, "ETH", AccountClass.house, "house", "revenue"),
    AccountDefinition(2**64 + 1, "BTC", AccountClass.system, "perp", "clearing:perp"),
    AccountDefinition(13, "BTC", AccountClass.custody, "house-cold", "cold"),
]


def define_everything(writer: Writer) -> None:
    writer.definitions(EntryKind.assets, ASSETS)
    writer.definitions(EntryKind.clients, CLIENTS)
    writer.definitions(EntryKind.pools, POOLS)
    writer.definitions(EntryKind.accounts, ACCOUNTS)


def everything(store: LedgerStore, ids: list[int]) -> dict[str, object]:
    """All a reader can see in a store, in comparable form."""
    checkpoint = store.checkpoint()
    return {
        "head": store.head(),
        "entries": list(store.entries()),
        "transfers": store.transfers(ids),
        "transfer_id_max": store.transfer_id_max(),
        "checkpoint": normalised(checkpoint),
        "projected_transfers": list(store.projected_transfers()),
        "projected_definitions": store.projected_definitions(),
    }


def normalised(checkpoint: Checkpoint) -> Checkpoint:
    """An account with all-zero balances is the same as one not in the checkpoint."""
    balances = {i: b for i, b in checkpoint.balances.items() if any(b)}
    return Checkpoint(
        checkpoint.seq,
        checkpoint.timestamp_last,
        balances,
        dict(checkpoint.pendings),
        dict(checkpoint.breaks),
        dict(checkpoint.reversed),
    )


# ---------------------------------------------------------------------- head and append


def test_an_empty_store_is_at_genesis(store: LedgerStore) -> None:
    assert store.head() == (0, genesis_hash)
    assert list(store.entries()) == []
    assert store.transfers([1, 2, U128_MAX]) == {}
    assert store.transfer_id_max() == 0
    assert normalised(store.checkpoint()) == Checkpoint(0, 0)
    assert list(store.projected_transfers()) == []
    definitions = store.projected_definitions()
    assert {kind: definitions.get(kind, []) for kind in ledger_definition_kinds} == {
        EntryKind.assets: [],
        EntryKind.clients: [],
        EntryKind.pools: [],
        EntryKind.accounts: [],
    }


def test_append_extends_the_head(store: LedgerStore) -> None:
    writer = Writer(store)
    first = writer.definitions(EntryKind.assets, ASSETS)
    assert store.head() == (1, first.hash)
    second = writer.transfers([record(5, writer.timestamp + 1_000)])
    assert store.head() == (2, second.hash)
    third = writer.transfers_begun([record(6, writer.timestamp + 1_000)])
    assert store.head() == (3, third.hash)
    assert second.previous_hash == first.hash
    assert third.previous_hash == second.hash
    assert list(store.entries()) == [first, second, third]


@pytest.mark.parametrize("how", ["append", "append_begin"])
@pytest.mark.parametrize("fault", ["seq_ahead", "seq_again", "previous_hash", "genesis_again"])
def test_an_append_that_does_not_extend_the_head_is_refused_and_writes_nothing(
    store: LedgerStore, fault: str, how: str
) -> None:
    writer = Writer(store)
    define_everything(writer)
    writer.transfers([record(5, writer.timestamp + 1_000)])
    before = everything(store, [5, 6])
    records = [record(6, writer.timestamp + 10_000)]
    entry = writer.transfers_entry(records)
    if fault == "seq_ahead":
        entry = seal(entry.seq + 1, entry.kind, entry.timestamp, entry.body, entry.previous_hash)
    elif fault == "seq_again":
        entry = seal(entry.seq - 1, entry.kind, entry.timestamp, entry.body, entry.previous_hash)
    elif fault == "previous_hash":
        entry = seal(entry.seq, entry.kind, entry.timestamp, entry.body, b"\x01" * 32)
    else:
        entry = seal(1, entry.kind, entry.timestamp, entry.body, genesis_hash)
    with pytest.raises(StorageError):
        if how == "append":
            store.append(entry, records, (), Checkpoint(entry.seq, 1, {11: (0, 1, 0, 0)}))
        else:
            store.append_begin(entry, records).wait()
    assert everything(store, [5, 6]) == before


def _fills_after(entry: JournalEntry, fills: list[Fill]) -> JournalEntry:
    timestamp = entry.timestamp + 1
    body = encode_fills(entry.seq + 1, timestamp, fills)
    return seal(entry.seq + 1, EntryKind.fills, timestamp, body, entry.hash)


def test_a_joined_append_lands_both_entries_and_the_checkpoint(store: LedgerStore) -> None:
    writer = Writer(store)
    define_everything(writer)
    records = [record(5, writer.timestamp + 1_000)]
    entry = writer.transfers_entry(records)
    fills = _fills_after(entry, [Fill(7, "alice-x", "perp", 3, 650_000, 1)])
    store.append_joined(entry, records, fills, Checkpoint(entry.seq, 1, {11: (0, 1, 0, 0)}))
    assert store.head() == (fills.seq, fills.hash)
    assert list(store.entries(after_seq=entry.seq - 1)) == [entry, fills]
    assert list(store.entries(kinds=[EntryKind.fills])) == [fills]
    assert store.transfers([5]) == {5: records[0]}
    assert store.checkpoint().seq == entry.seq


def test_a_joined_append_that_does_not_extend_the_head_writes_neither_entry(
    store: LedgerStore,
) -> None:
    writer = Writer(store)
    define_everything(writer)
    writer.transfers([record(5, writer.timestamp + 1_000)])
    before = everything(store, [5, 6])
    records = [record(6, writer.timestamp + 10_000)]
    entry = writer.transfers_entry(records)
    entry = seal(entry.seq, entry.kind, entry.timestamp, entry.body, b"\x01" * 32)
    fills = _fills_after(entry, [Fill(8, "alice-x", "perp", 3, 650_000, 1)])
    with pytest.raises(StorageError):
        store.append_joined(entry, records, fills)
    assert everything(store, [5, 6]) == before


# ---------------------------------------------------------------------- transfers

EXTREMES = [
    record(1, START_NS + 1),
    record(2**63 - 1, START_NS + 2, amount=2**63 - 1, debit_account=2**63 - 1),
    record(2**63, START_NS + 3, amount=2**63, credit_account=2**63, pending_id=2**63),
    record(2**64, START_NS + 4, amount=2**64 + 7, reference=2**64, authoriser=2**63 + 1),
    record(
        U128_MAX,
        START_NS + 5,
        debit_account=U128_MAX,
        credit_account=U128_MAX - 1,
        amount=U128_MAX,
        pending_id=U128_MAX - 2,
        reference=U128_MAX - 3,
        authoriser=2**64 - 1,
        timeout_s=2**32 - 1,
        asset=2**32 - 1,
        code=2**16 - 1,
        flags=int(TransferFlags.linked | TransferFlags.pending),
    ),
]


def test_transfers_returns_exactly_the_committed_ones_losslessly(store: LedgerStore) -> None:
    writer = Writer(store)
    writer.transfers(EXTREMES[:2])
    writer.transfers_begun(EXTREMES[2:])
    committed = {r.id: r for r in EXTREMES}
    assert store.transfers(list(committed)) == committed
    assert store.transfers([2**63, 7, 2**63 + 1, U128_MAX - 1]) == {2**63: committed[2**63]}
    assert store.transfers([]) == {}
    # Many ids at once (more than one SQL statement's worth): only the committed come back.
    many = [*list(range(10, 9010)), U128_MAX, 1]
    assert store.transfers(many) == {U128_MAX: committed[U128_MAX], 1: committed[1]}
    assert store.transfers({2**64, 2**64}) == {2**64: committed[2**64]}
    assert store.transfer_id_max() == U128_MAX


def test_transfer_id_max_is_the_largest_committed_id(store: LedgerStore) -> None:
    writer = Writer(store)
    writer.transfers([record(2**64 + 1, START_NS + 1), record(3, START_NS + 2)])
    assert store.transfer_id_max() == 2**64 + 1
    writer.transfers([record(2**63, START_NS + 3)])
    assert store.transfer_id_max() == 2**64 + 1


def test_ids_that_cannot_exist_are_simply_missing(store: LedgerStore) -> None:
    Writer(store).transfers([record(1, START_NS + 1)])
    for ids in ([0], [-1], [2**128], ["1"]):
        assert store.transfers(ids) == {}, ids  # type: ignore[arg-type]


def test_a_timestamp_at_the_bound_is_stored(store: LedgerStore) -> None:
    # Timestamps are bounded by a signed 64-bit integer, as SQLite and PostgreSQL store them.
    latest = limits.timestamp_ns_max
    body = encode_transfers(1, latest, [record(1, latest)], [])
    entry = seal(1, EntryKind.transfers, latest, body, genesis_hash)
    store.append(entry, [record(1, latest)])
    assert [e.timestamp for e in store.entries()] == [latest]
    assert store.transfers([1])[1].timestamp == latest


def test_projected_transfers_are_in_timestamp_order(store: LedgerStore) -> None:
    writer = Writer(store)
    later = writer.timestamp + 10_000
    first = [record(3, later + 30), record(1, later + 10), record(2, later + 20)]
    writer.transfers(first)
    writer.transfers_begun([record(4, later + 40)])
    writer.transfers([], [Expiry(9, later + 50)])  # an entry of expiries only adds no rows
    assert [r.id for r in store.projected_transfers()] == [1, 2, 3, 4]
    assert next(iter(store.projected_transfers())) == first[1]


# ---------------------------------------------------------------------- journal entries


def test_entries_are_filtered_by_seq_and_kind_in_order(store: LedgerStore) -> None:
    writer = Writer(store)
    written = [
        writer.definitions(EntryKind.assets, ASSETS),
        writer.transfers([record(1, START_NS + 10**6)]),
        writer.definitions(EntryKind.clients, CLIENTS),
        writer.transfers([], [Expiry(1, START_NS + 2 * 10**6)]),
        writer.definitions(EntryKind.pools, POOLS),
        writer.definitions(EntryKind.accounts, ACCOUNTS),
    ]
    assert list(store.entries()) == written
    assert list(store.entries(after_seq=4)) == written[4:]
    assert list(store.entries(after_seq=6)) == []
    assert list(store.entries(kinds=[EntryKind.transfers])) == [written[1], written[3]]
    assert list(store.entries(after_seq=2, kinds=[EntryKind.transfers])) == [written[3]]
    definition_kinds = [k for k in EntryKind if k is not EntryKind.transfers]
    assert list(store.entries(kinds=definition_kinds)) == [written[i] for i in (0, 2, 4, 5)]
    assert list(store.entries(kinds=[])) == []
    assert [e.seq for e in store.entries()] == [1, 2, 3, 4, 5, 6]


def test_projected_definitions_are_what_was_appended(store: LedgerStore) -> None:
    writer = Writer(store)
    define_everything(writer)
    extra: list[Definition] = [Asset("USDC", 6, 3, "ethereum", "0x" + "a" * 40)]
    writer.definitions(EntryKind.assets, extra)
    projected = store.projected_definitions()
    assert projected[EntryKind.assets] == ASSETS + extra
    assert projected[EntryKind.clients] == CLIENTS
    assert projected[EntryKind.pools] == POOLS
    assert projected[EntryKind.accounts] == ACCOUNTS
    pool = projected[EntryKind.pools][1]
    assert isinstance(pool, Pool)
    assert type(pool.kind) is PoolKind


# ---------------------------------------------------------------------- checkpoints


def test_a_checkpoint_reads_back_and_later_ones_merge_as_deltas(store: LedgerStore) -> None:
    writer = Writer(store)
    define_everything(writer)
    writer.transfers([record(2**63, START_NS + 10**6), record(U128_MAX, START_NS + 10**6 + 1)])
    first = Checkpoint(
        writer.seq,
        START_NS + 10**6 + 1,
        balances={11: (0, U128_MAX, 5, 0), 12: (5, 0, 0, U128_MAX), 2**63: (1, 2**63, 3, 2**64)},
        pendings={2**63: PendingRow(2**63, START_NS + 9 * 10**9, 1)},
        breaks={U128_MAX: Break(U128_MAX, "main", 1, U128_MAX, 2**63, START_NS)},
        reversed={2**63: 2**63 + 1},
    )
    store.write_checkpoint(first)
    assert normalised(store.checkpoint()) == normalised(first)
    # The next checkpoint carries only what changed; the rest stays as it was.
    writer.transfers(
        [record(7, START_NS + 2 * 10**6)],
        checkpoint=Checkpoint(
            writer.seq + 1,
            START_NS + 2 * 10**6,
            balances={12: (0, 5, 0, U128_MAX)},
            pendings={2**63: PendingRow(2**63, START_NS + 9 * 10**9, 2)},
            breaks={7: Break(7, "main", 1, 10, 0, START_NS + 2 * 10**6)},
            reversed={7: 3},
        ),
    )
    merged = store.checkpoint()
    assert (merged.seq, merged.timestamp_last) == (writer.seq, START_NS + 2 * 10**6)
    assert normalised(merged).balances == {
        11: (0, U128_MAX, 5, 0),
        12: (0, 5, 0, U128_MAX),
        2**63: (1, 2**63, 3, 2**64),
    }
    assert merged.pendings == {2**63: PendingRow(2**63, START_NS + 9 * 10**9, 2)}
    assert merged.breaks == {
        U128_MAX: Break(U128_MAX, "main", 1, U128_MAX, 2**63, START_NS),
        7: Break(7, "main", 1, 10, 0, START_NS + 2 * 10**6),
    }
    assert merged.reversed == {2**63: 2**63 + 1, 7: 3}


def test_a_checkpoint_is_a_copy_not_a_view(store: LedgerStore) -> None:
    writer = Writer(store)
    define_everything(writer)
    broken = Break(5, "main", 1, 10, 0, START_NS)
    store.write_checkpoint(Checkpoint(writer.seq, 1, breaks={5: broken}))
    broken.cured = 10  # the engine keeps mutating its own objects after a checkpoint
    assert store.checkpoint().breaks[5].cured == 0
    read = store.checkpoint()
    read.breaks[5].cured = 3
    read.balances[11] = (9, 9, 9, 9)
    assert store.checkpoint().breaks[5].cured == 0
    assert 11 not in normalised(store.checkpoint()).balances


def test_a_load_of_the_snapshots_of_the_past_chooses_before_it_reads(store: LedgerStore) -> None:
    """Bounded in the store, before any body is read: within the journal, newest first, at
    most so many, none too big and no more bytes than the bound in all."""
    kept = [StoredPastState(s, bytes([s]) * 32, b"x" * (10 * s), b"s" * 64) for s in range(1, 7)]
    assert store.keep_past_states(kept, []) is True

    def seqs(**bounds: int) -> list[int]:
        return [stored.seq for stored in store.past_states(**bounds)]

    assert store.past_states() == kept[::-1]
    assert seqs(seq_max=4) == [4, 3, 2, 1]
    assert seqs(count_max=2) == [6, 5]
    assert seqs(seq_max=5, bytes_max=45) == [4]  # 50 is too big; 40 and 30 make 70
    assert seqs(bytes_max=110) == [6, 5]
    assert seqs(seq_max=0) == []
    assert store.keep_past_states([], [6, 5, 4]) is True
    assert seqs() == [3, 2, 1]


# ---------------------------------------------------------------------- reopening


def test_reopening_gives_back_everything(factory: StoreFactory, store: LedgerStore) -> None:
    writer = Writer(store)
    define_everything(writer)
    writer.transfers(EXTREMES[:3], [Expiry(2**63, START_NS + 3)])
    writer.transfers_begun(EXTREMES[3:])
    store.write_checkpoint(
        Checkpoint(
            writer.seq,
            START_NS + 5,
            balances={2**63: (0, U128_MAX, 0, 1)},
            pendings={2**63: PendingRow(2**63, 0, 4)},
            breaks={2**64: Break(2**64, "main", 1, 9, 4, START_NS)},
            reversed={1: 1},
        )
    )
    ids = [r.id for r in EXTREMES] + [99]
    before = everything(store, ids)
    reopened = factory.reopen(store)
    assert everything(reopened, ids) == before
    # And the reopened store takes the next entry.
    Writer(reopened).transfers([record(99, START_NS + 10**9)])
    assert reopened.head()[0] == writer.seq + 1


# ---------------------------------------------------------------------- through the service


@dataclass
class Run:
    """A ledger service on a store of the factory, with the small custodian defined."""

    factory: StoreFactory
    clock: ManualClock
    service: LedgerService
    c: Custodian

    @classmethod
    def start(cls, factory: StoreFactory, interval: int = 64) -> Run:
        clock = ManualClock()
        service = LedgerService(
            factory.open(), clock, journal_signer(), checkpoint_interval_batches=interval
        )
        return cls(factory, clock, service, build_custodian(service))

    def reopen(self, clean: bool, interval: int = 64) -> None:
        if clean:
            self.service.checkpoint()
        store = self.factory.reopen(self.service.store)
        self.service = LedgerService(
            store, self.clock, journal_signer(), checkpoint_interval_batches=interval
        )


def day_of_business(run: Run, first_id: int, rounds: int) -> None:
    """A realistic mix: deposits, fees, sweeps, pendings with timeouts, a break and its cure."""
    c, service, next_id = run.c, run.service, first_id
    for round_number in range(rounds):
        base = next_id
        next_id += 20
        batch = [
            c.house_funding(base, 10_000),
            c.deposit(base + 1, "alice", 1_000),
            c.deposit(base + 2, "bob", 700, asset="ETH"),
            c.deposit(base + 3, "dave", 300, pool=VAULT),
            c.fee(base + 4, "alice", 50),
            c.sweep(base + 5, 30),
            c.withdrawal(base + 6, "alice", 100, flags=TransferFlags.pending, timeout_s=5),
            c.withdrawal(base + 7, "alice", 100, flags=TransferFlags.pending),
            c.misdirected(base + 8, "bob", 40),
            c.internal(base + 9, "alice", "carol", 10),
        ]
        assert all(r.succeeded for r in service.submit(batch)), round_number
        run.clock.advance(seconds=3)
        follow_up = [
            c.break_cure(base + 10, base + 8, 25),
            c.withdrawal(base + 11, "carol", 10),
        ]
        if round_number % 2:
            follow_up.append(resolve(base + 12, base + 7, TransferFlags.post_pending, 60))
        else:
            follow_up.append(resolve(base + 12, base + 7, TransferFlags.void_pending, None))
        assert all(r.succeeded for r in service.submit(follow_up)), round_number
        run.clock.advance(seconds=3)  # the pending withdrawal with a timeout expires next


def resolve(transfer_id: int, pending_id: int, flag: TransferFlags, amount: int | None) -> Transfer:
    """Post or void a pending withdrawal, leaving its accounts to the pending transfer."""
    return Transfer(transfer_id, 0, 0, amount, TransferCode.withdrawal, flag, pending_id)


@pytest.mark.parametrize("clean", [True, False], ids=["clean_close", "no_checkpoint"])
def test_a_reopened_service_has_the_same_state(factory: StoreFactory, clean: bool) -> None:
    run = Run.start(factory)
    day_of_business(run, 1_000, rounds=4)
    before = state_snapshot(run.service)
    run.reopen(clean)
    assert state_snapshot(run.service) == before
    assert state_snapshot(replay_from_genesis(run.service.store)) == before
    assert_invariants(run.service)


def test_reopening_replays_the_journal_past_an_old_checkpoint(factory: StoreFactory) -> None:
    """The last checkpoint is far behind the head: the tail is executed again on open."""
    run = Run.start(factory, interval=1_000)
    twin = Run.start(FACTORIES["memory"](None), interval=1)  # checkpoints every entry
    for index, each in enumerate((run, twin)):
        day_of_business(each, 1_000, rounds=3)
        each.service.submit([each.c.deposit(5_000 + i, "frank", 1 + i) for i in range(600)])
        day_of_business(each, 10_000, rounds=2)
        assert index or each.service.store.checkpoint().seq < each.service.store.head()[0] - 5
    before = state_snapshot(run.service)
    assert state_snapshot(twin.service) == before
    run.reopen(clean=False, interval=1_000)
    assert state_snapshot(run.service) == before
    # Both go on identically, including what expires after the reopen.
    for each in (run, twin):
        day_of_business(each, 20_000, rounds=2)
    assert state_snapshot(run.service) == state_snapshot(twin.service)
    assert_invariants(run.service)


def test_a_refused_append_leaves_the_service_as_the_store_says(factory: StoreFactory) -> None:
    """Another writer got in first: the stream is refused (a head conflict, nothing written),
    the service reloads and shows what is durable; ``submit`` would have retried by itself."""
    run = Run.start(factory)
    day_of_business(run, 1_000, rounds=1)
    other = LedgerService(factory.open(), run.clock, journal_signer())
    assert other.submit([run.c.deposit(3_000, "bob", 7)]) == [Result.ok]
    run.clock.advance(seconds=10)  # the batch would also expire a pending transfer
    with pytest.raises(HeadConflictError):
        list(run.service.submit_stream([[run.c.deposit(2_000, "alice", 5)]]))
    durable = LedgerService(factory.open(), run.clock, journal_signer())
    assert state_snapshot(run.service) == state_snapshot(durable)
    assert run.service.store.transfers([2_000, 3_000]).keys() == {3_000}
    assert run.service.submit([run.c.deposit(2_000, "alice", 5)]) == [Result.ok]
    assert_invariants(run.service)


# ---------------------------------------------------------------------- SQLite only


@pytest.mark.parametrize(
    "statement",
    [
        "UPDATE journal SET timestamp = timestamp + 1",
        "UPDATE journal SET body = zeroblob(200) WHERE seq = 2",
        "DELETE FROM journal WHERE seq = 2",
        "DELETE FROM journal",
        "UPDATE transfers SET amount = amount",
        "DELETE FROM transfers",
    ],
)
def test_sqlite_journal_and_transfers_are_append_only(tmp_path: Path, statement: str) -> None:
    path = str(tmp_path / "append-only.db")
    store = SqliteStore(path)
    writer = Writer(store)
    writer.definitions(EntryKind.assets, ASSETS)
    writer.transfers([record(1, START_NS + 10**6), record(2**64, START_NS + 10**6 + 1)])
    before = everything(store, [1, 2**64])
    store.close()
    tamper = sqlite3.connect(path)
    try:
        with pytest.raises(sqlite3.DatabaseError, match=r"append-only|immutable"):
            tamper.execute(statement)
        tamper.commit()
    finally:
        tamper.close()
    reopened = SqliteStore(path)
    try:
        assert everything(reopened, [1, 2**64]) == before
    finally:
        reopened.close()
