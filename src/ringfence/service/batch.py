"""Batch runs over one cut of the ledger, on an ``Executor``.

A run (a proof-of-reserves round, a segregation statement) reads the client accounts at one
cut (``ledger_cut``), in ranges of client numbers (``core/batch.py``), one task per range on
the executor; each task returns its range's partial result, and the coordinator merges them in
range order. What is merged does not depend on the executor, the number of ranges or which
process read which, so a run on a Dask cluster gives, bit for bit, the in-process run's result.

If the executor fails mid-run (``ExecutorError``) or a task finds the store moved
(``SnapshotMovedError``), the exception leaves the run before anything is kept: callers write
their result (a round, a journal entry) only once every range is merged.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass

from ringfence.core import limits
from ringfence.core.batch import RowsCut, client_ranges, engine_rows
from ringfence.core.errors import SnapshotMovedError
from ringfence.core.insolvency import Book, Comparison, Outcome, Scenario
from ringfence.core.insolvency.ranges import (
    PartLines,
    PoolCover,
    PoolKey,
    add_totals,
    merge_pools,
    pool_covers,
    range_claims,
    range_lines,
    range_totals,
)
from ringfence.core.insolvency.simulate import Setting, finish, prepare
from ringfence.core.ledger.engine import Ledger
from ringfence.core.ledger.journal import (
    EntryKind,
    decode_definitions,
    ledger_definition_kinds,
)
from ringfence.core.money import Asset
from ringfence.core.por.liabilities import (
    Liabilities,
    PartialLiabilities,
    merge_liabilities,
    partial_liabilities,
)
from ringfence.core.recon.segregation_statement import (
    PoolAsset,
    Requirement,
    add_requirements,
    net_equities,
    requirements,
)
from ringfence.service.ledger import LedgerService, apply_definitions, replay_transfers
from ringfence.service.ports import BalanceCut, CutReader, Executor, LedgerStore


def ledger_at(store: LedgerStore, snapshot: int) -> Ledger:
    """A fresh engine with the journal replayed up to and including entry ``snapshot``:
    the auditor's own view of the balances, independent of any checkpoint."""
    ledger = Ledger()
    kinds = (*ledger_definition_kinds, EntryKind.transfers)
    for entry in store.entries(kinds=kinds):
        if entry.seq > snapshot:
            break
        if entry.kind is EntryKind.transfers:
            replay_transfers(ledger, entry.body, store)
        else:
            header, definitions = decode_definitions(entry.body)
            apply_definitions(ledger, header.kind, definitions)
    return ledger


@contextmanager
def ledger_cut(
    ledger: LedgerService, snapshot: int, replayed: Ledger | None = None
) -> Iterator[BalanceCut]:
    """The cut a run at journal entry ``snapshot`` reads. At the head: the store's own, after a
    checkpoint there (the balances a store keeps are its checkpoint's), so that tasks in other
    processes read it from the database; ``SnapshotMovedError`` if another writer's checkpoint
    got in between. Before the head: the journal replayed to ``snapshot`` in this process
    (``replayed``, if the caller has it already)."""
    if snapshot != ledger.seq:
        engine = replayed if replayed is not None else ledger_at(ledger.store, snapshot)
        yield RowsCut(snapshot, engine_rows(engine))
        return
    ledger.checkpoint()
    with ledger.store.cut() as cut:
        if cut.seq != snapshot:
            raise SnapshotMovedError(
                f"the store is checkpointed at entry {cut.seq}, the run is at {snapshot}")
        yield cut


def _readers(cut: BalanceCut, clients_per_range: int) -> Iterator[CutReader]:
    for clients in client_ranges(cut.client_number_max, clients_per_range):
        yield cut.reader(clients)


def liabilities_of_range(reader: CutReader) -> PartialLiabilities:
    """A task: what the range's clients are owed, per asset."""
    return partial_liabilities(reader.read())


def requirements_of_range(reader: CutReader) -> dict[PoolAsset, Requirement]:
    """A task: the range's share of each pool's segregation requirement."""
    rows = reader.read()
    return requirements(net_equities((r.pool, r.asset, r.name, r.balance) for r in rows))


def gather_liabilities(
    executor: Executor, cut: BalanceCut, assets: Mapping[str, Asset],
    clients_per_range: int = limits.batch_range_clients_default,
) -> Liabilities:
    """Every client's liabilities at the cut, per asset, merged from the ranges' tasks."""
    parts = executor.map(liabilities_of_range, _readers(cut, clients_per_range))
    return merge_liabilities(assets, parts)


def gather_requirements(
    executor: Executor, cut: BalanceCut,
    clients_per_range: int = limits.batch_range_clients_default,
) -> dict[PoolAsset, Requirement]:
    """Each pool's and asset's segregation requirement at the cut, summed over the ranges."""
    return add_requirements(executor.map(requirements_of_range, _readers(cut, clients_per_range)))


# ---------------------------------------------------------------------- insolvency


def insolvency_totals_of_range(reader: CutReader) -> dict[PoolKey, int]:
    """A task: the range's claims summed per pool and asset."""
    return range_totals(range_claims(reader.read()))


@dataclass(frozen=True, slots=True)
class InsolvencyLinesTask:
    reader: CutReader
    setting: Setting
    covers: Mapping[PoolKey, PoolCover]


def insolvency_lines_of_range(task: InsolvencyLinesTask) -> dict[PoolKey, PartLines]:
    """A task: the range's clients' lines in every pool, for the pools' covers."""
    return range_lines(range_claims(task.reader.read()), task.setting, task.covers)


def simulate_in_ranges(
    executor: Executor, cut: BalanceCut, book: Book, scenario: Scenario,
    clients_per_range: int = limits.batch_range_clients_default,
) -> Comparison:
    """``core.insolvency.compare`` with the clients' claims read at the cut in ranges, each
    pool's per-client work in the ranges' tasks (``core/insolvency/ranges.py``), merged
    exactly: the same outcomes as the whole book's. ``book.claims`` is not read."""
    totals = add_totals(executor.map(insolvency_totals_of_range,
                                     _readers(cut, clients_per_range)))

    def outcome(commingled: bool) -> Outcome:
        setting = prepare(book, scenario, commingled)
        covers = pool_covers(book, setting, totals)
        parts = executor.map(insolvency_lines_of_range, (
            InsolvencyLinesTask(reader, setting, covers)
            for reader in _readers(cut, clients_per_range)))
        return finish(book, scenario, setting, merge_pools(book, setting, covers, parts))

    return Comparison(outcome(False), outcome(True))
