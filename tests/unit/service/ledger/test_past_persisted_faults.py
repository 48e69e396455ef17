"""Snapshots of the past persisted in a store that misbehaves (service/ledger/past.py): one
that cannot be read leaves past reads to replay the journal, and is tried again; one that
refuses the write gets each snapshot signed once and is not asked again; rows of the wrong
type are named and ignored, never a crash."""

from __future__ import annotations

import logging
from collections.abc import Collection, Sequence

import pytest
from tests.support import build_custodian, journal_seed, journal_signer

from ringfence.adapters.clock import ManualClock
from ringfence.adapters.signing import MemorySigner
from ringfence.adapters.storage.memory import MemoryStore
from ringfence.core.access.roles import Actor
from ringfence.core.errors import StorageError
from ringfence.core.principals.records import PrincipalRole
from ringfence.service import access
from ringfence.service.ledger import LedgerService
from ringfence.service.ledger.past import PastStates
from ringfence.service.ports import StoredPastState

STAFF = Actor("auditor", PrincipalRole.auditor)


def _positions(ledger: LedgerService, seq: int) -> object:
    return access.positions(ledger, STAFF, as_of_seq=str(seq))


def _filled(store: MemoryStore, signer: MemorySigner | None = None) -> LedgerService:
    ledger = LedgerService(store, ManualClock(10**18), signer or journal_signer())
    ledger.past_states = PastStates(transfers_between=1, snapshots_max=16)
    custodian = build_custodian(ledger)
    for number in range(6):
        batch = [
            custodian.deposit(2 * number + 1, "alice", 100 + number),
            custodian.deposit(2 * number + 2, "bob", 7),
        ]
        assert all(result.succeeded for result in ledger.submit(batch))
    return ledger


class UnreadableSnapshots(MemoryStore):
    """A store whose role may not read the snapshots' table (until it may)."""

    readable = False
    reads = 0

    def past_states(self, *args: int, **kwargs: int) -> list[StoredPastState]:
        self.reads += 1
        if not self.readable:
            raise StorageError("reading the snapshots of the past failed: permission denied")
        return super().past_states(*args, **kwargs)


def test_an_unreadable_store_leaves_past_reads_to_the_journal_and_is_tried_again(
    caplog: pytest.LogCaptureFixture,
) -> None:
    store = UnreadableSnapshots()
    ledger = _filled(store)
    expected = _positions(_filled(MemoryStore()), ledger.seq - 1)
    caplog.set_level(logging.WARNING, logger="ringfence.ledger.past")
    assert _positions(ledger, ledger.seq - 1) == expected
    assert _positions(ledger, ledger.seq - 2) == _positions(_filled(MemoryStore()), ledger.seq - 2)
    assert store.reads == 2  # tried again at the next read
    assert len([m for m in caplog.messages if "not loaded" in m]) == 1  # logged once
    assert MemoryStore.past_states(store) == []  # nothing persisted before a load succeeds
    store.readable = True
    assert _positions(ledger, ledger.seq - 1) == expected
    assert MemoryStore.past_states(store) != []  # loaded, so persisted
    _positions(ledger, ledger.seq - 3)
    assert store.reads == 3  # loaded once


class CountingSigner(MemorySigner):
    """The journal key, counting what it signs."""

    signs = 0

    def sign(self, message: bytes) -> bytes:
        self.signs += 1
        return super().sign(message)


class RefusingSnapshots(MemoryStore):
    """A store whose role may read the snapshots' table but not write it."""

    asked = 0

    def keep_past_states(
        self, written: Sequence[StoredPastState], forgotten: Collection[int]
    ) -> bool:
        self.asked += 1
        raise StorageError("keeping the snapshots of the past failed: permission denied")


def test_a_store_refusing_the_write_is_not_asked_again_nor_anything_signed_again(
    caplog: pytest.LogCaptureFixture,
) -> None:
    signer = CountingSigner(journal_seed)
    store = RefusingSnapshots()
    ledger = _filled(store, signer)
    caplog.set_level(logging.WARNING, logger="ringfence.ledger.past")
    _positions(ledger, ledger.seq - 4)
    assert store.asked == 1
    signed, held = signer.signs, len(ledger.past_states)
    for seq in (ledger.seq - 4, ledger.seq - 1, ledger.seq - 2):
        _positions(ledger, seq)
    assert len(ledger.past_states) > held  # new ones taken, not written
    assert (store.asked, signer.signs) == (1, signed)
    assert len([m for m in caplog.messages if "not persisted" in m]) == 1


class BusySnapshots(MemoryStore):
    """A store busy with another writer until told otherwise."""

    busy = True

    def keep_past_states(
        self, written: Sequence[StoredPastState], forgotten: Collection[int]
    ) -> bool:
        if self.busy:
            return False
        return super().keep_past_states(written, forgotten)


def test_a_busy_store_gets_the_snapshots_later_each_signed_once() -> None:
    signer = CountingSigner(journal_seed)
    store = BusySnapshots()
    ledger = _filled(store, signer)
    journal_signatures = signer.signs
    _positions(ledger, ledger.seq - 1)
    signed = signer.signs
    assert signed - journal_signatures == len(ledger.past_states) > 0
    assert store.past_states() == []
    for _ in range(3):
        _positions(ledger, ledger.seq - 1)  # nothing new taken: the same ones tried again
    assert signer.signs == signed
    store.busy = False
    _positions(ledger, ledger.seq - 1)
    assert signer.signs == signed
    assert len(store.past_states()) == len(ledger.past_states)
