"""The cut a batch run reads: the store's own at the head, the replayed journal before it, and
a named refusal when the store's checkpoint is not the run's entry."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import pytest
from tests.support import Custodian

from ringfence.adapters.executors import InProcessExecutor
from ringfence.core.batch import RowsCut
from ringfence.core.errors import Result, SnapshotMovedError
from ringfence.core.por.liabilities import client_liabilities
from ringfence.service.batch import gather_liabilities, ledger_at, ledger_cut
from ringfence.service.ledger import LedgerService


def test_a_cut_at_the_head_is_the_store_checkpointed_there(
    memory_service: LedgerService, custodian: Custodian
) -> None:
    assert memory_service.submit([custodian.deposit(1, "alice", 500)]) == [Result.ok]
    with ledger_cut(memory_service, memory_service.seq) as cut:
        assert cut.seq == memory_service.seq
        assert memory_service.store.checkpoint().seq == memory_service.seq
        found = gather_liabilities(InProcessExecutor(), cut, memory_service.ledger.assets, 2)
    assert found == client_liabilities(memory_service.ledger)


def test_a_cut_before_the_head_is_the_journal_replayed_to_it(
    memory_service: LedgerService, custodian: Custodian
) -> None:
    assert memory_service.submit([custodian.deposit(1, "alice", 500)]) == [Result.ok]
    then = memory_service.seq
    assert memory_service.submit([custodian.deposit(2, "bob", 7)]) == [Result.ok]
    with ledger_cut(memory_service, then) as cut:
        found = gather_liabilities(InProcessExecutor(), cut, memory_service.ledger.assets, 3)
    assert found == client_liabilities(ledger_at(memory_service.store, then))
    assert found != client_liabilities(memory_service.ledger)


class CheckpointedByAnother:
    """A store whose cut is at another entry than the one its writer just checkpointed, as
    when a second writer checkpoints in between."""

    def __init__(self, store: object) -> None:
        self._store = store

    def __getattr__(self, name: str) -> object:
        return getattr(self._store, name)

    @contextmanager
    def cut(self) -> Iterator[RowsCut]:
        yield RowsCut(1, [])


def test_a_store_checkpointed_by_another_writer_is_refused_by_name(
    memory_service: LedgerService, custodian: Custodian
) -> None:
    assert memory_service.submit([custodian.deposit(1, "alice", 500)]) == [Result.ok]
    memory_service.store = CheckpointedByAnother(memory_service.store)  # type: ignore[assignment]
    with pytest.raises(SnapshotMovedError), ledger_cut(memory_service, memory_service.seq):
        pass
