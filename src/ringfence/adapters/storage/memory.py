"""An in-memory ledger store: the reference implementation of the port, for tests and tools.

It keeps exactly what the SQLite store keeps (journal, projections, checkpoint) so that the
shared contract suite holds both to one behaviour, and it can be told to fail on the next
append to exercise the service's recovery path.
"""

from __future__ import annotations

import copy
import threading
from collections.abc import Collection, Iterator, Mapping, Sequence
from contextlib import contextmanager

from ringfence.adapters.storage.locks import process_lock
from ringfence.adapters.storage.rows import newest_within
from ringfence.core import limits
from ringfence.core.batch import ClientAccountRow, RowsCut, sorted_rows
from ringfence.core.errors import HeadConflictError, StorageError
from ringfence.core.ledger.journal import (
    Definition,
    EntryKind,
    JournalEntry,
    genesis_hash,
    metadata_pairs_of,
)
from ringfence.core.ledger.metadata import encode_metadata, metadata_matches
from ringfence.core.ledger.model import AccountClass, AccountDefinition, TransferRecord
from ringfence.service.ports import Checkpoint, PendingAppend, StoredPastState


class MemoryStore:
    def __init__(self) -> None:
        self._entries: list[JournalEntry] = []
        self._transfers: dict[int, TransferRecord] = {}
        self._metadata: dict[int, dict[str, str]] = {}  # transfer id -> its pairs
        self._definitions: dict[EntryKind, list[Definition]] = {
            kind: [] for kind in EntryKind if kind is not EntryKind.transfers
        }
        self._checkpoint = Checkpoint(0, 0)
        self._past_states: dict[int, StoredPastState] = {}
        self.fail_next_append = False
        self.closed = False
        self._locks: dict[str, threading.Lock] = {}

    def head(self) -> tuple[int, bytes]:
        if not self._entries:
            return 0, genesis_hash
        last = self._entries[-1]
        return last.seq, last.hash

    def append(
        self,
        entry: JournalEntry,
        records: Sequence[TransferRecord] = (),
        definitions: Sequence[Definition] = (),
        checkpoint: Checkpoint | None = None,
    ) -> None:
        assert not self.closed
        seq, head_hash = self.head()
        if entry.seq != seq + 1 or entry.previous_hash != head_hash:
            raise HeadConflictError(f"entry {entry.seq} does not extend the journal head {seq}")
        if self.fail_next_append:
            self.fail_next_append = False
            raise StorageError("injected failure")
        for record in records:
            assert record.id not in self._transfers
        pairs = metadata_pairs_of(entry.body, records) if records else []
        self._entries.append(entry)
        self._transfers.update((record.id, record) for record in records)
        self._metadata.update((record.id, metadata) for record, metadata in pairs)
        if definitions:
            self._definitions[entry.kind].extend(definitions)
        if checkpoint is not None:
            self.write_checkpoint(checkpoint)

    def append_joined(
        self,
        entry: JournalEntry,
        records: Sequence[TransferRecord],
        companion: JournalEntry,
        checkpoint: Checkpoint | None = None,
    ) -> None:
        assert not self.closed
        assert companion.seq == entry.seq + 1
        assert companion.previous_hash == entry.hash
        seq, head_hash = self.head()
        if entry.seq != seq + 1 or entry.previous_hash != head_hash:
            raise HeadConflictError(f"entry {entry.seq} does not extend the journal head {seq}")
        if self.fail_next_append:
            self.fail_next_append = False
            raise StorageError("injected failure")
        self.append(entry, records)
        self.append(companion, (), (), checkpoint)

    def append_begin(self, entry: JournalEntry, records: Sequence[TransferRecord]) -> PendingAppend:
        try:
            self.append(entry, records)
        except StorageError as error:
            return _Failed(error)
        return _Done()

    def transfer_id_max(self) -> int:
        return max(self._transfers, default=0)

    def write_checkpoint(self, checkpoint: Checkpoint) -> None:
        assert checkpoint.seq >= self._checkpoint.seq
        merged = self._checkpoint
        merged.seq = checkpoint.seq
        merged.timestamp_last = checkpoint.timestamp_last
        merged.balances.update(checkpoint.balances)
        merged.pendings.update(copy.deepcopy(checkpoint.pendings))
        merged.breaks.update(copy.deepcopy(checkpoint.breaks))
        merged.reversed.update(checkpoint.reversed)

    def past_states(
        self,
        seq_max: int = 2**63 - 1,
        count_max: int = limits.as_of_snapshots_max,
        bytes_max: int = limits.as_of_snapshot_bytes_max,
    ) -> list[StoredPastState]:
        sizes = [
            (seq, len(stored.body))
            for seq, stored in sorted(self._past_states.items(), reverse=True)
            if 1 <= seq <= seq_max and len(stored.body) <= bytes_max
        ]
        return [self._past_states[seq] for seq in newest_within(sizes[:count_max], bytes_max)]

    def keep_past_states(
        self, written: Sequence[StoredPastState], forgotten: Collection[int]
    ) -> bool:
        for seq in forgotten:
            self._past_states.pop(seq, None)
        self._past_states.update((stored.seq, stored) for stored in written)
        return True

    def entries(
        self, after_seq: int = 0, kinds: Collection[EntryKind] | None = None
    ) -> Iterator[JournalEntry]:
        for entry in self._entries[max(after_seq, 0) :]:  # entry seq n is at index n - 1
            if kinds is None or entry.kind in kinds:
                yield entry

    def transfers(self, ids: Collection[int]) -> dict[int, TransferRecord]:
        found = {}
        for transfer_id in ids:
            record = self._transfers.get(transfer_id)
            if record is not None:
                found[transfer_id] = record
        return found

    def transfer_metadata(self, ids: Collection[int]) -> dict[int, bytes]:
        return {
            transfer_id: encode_metadata(self._metadata[transfer_id])
            for transfer_id in ids
            if transfer_id in self._metadata
        }

    def transfers_with_metadata(
        self, metadata: Mapping[str, str], after_timestamp: int = 0
    ) -> Iterator[TransferRecord]:
        assert metadata
        found = [
            self._transfers[transfer_id]
            for transfer_id, pairs in self._metadata.items()
            if metadata_matches(pairs, metadata)
        ]
        for record in sorted(found, key=lambda record: record.timestamp):
            if record.timestamp > after_timestamp:
                yield record

    def projected_metadata(self) -> Iterator[tuple[int, str, str]]:
        rows = [
            (self._transfers[transfer_id].timestamp, key, value)
            for transfer_id, pairs in self._metadata.items()
            for key, value in pairs.items()
        ]
        yield from sorted(rows)

    def checkpoint(self) -> Checkpoint:
        return copy.deepcopy(self._checkpoint)

    def projected_transfers(self) -> Iterator[TransferRecord]:
        yield from sorted(self._transfers.values(), key=lambda record: record.timestamp)

    def projected_definitions(self) -> dict[EntryKind, list[Definition]]:
        return {kind: list(items) for kind, items in self._definitions.items()}

    @contextmanager
    def cut(self) -> Iterator[RowsCut]:
        """A copy of the checkpoint's client balances (one process writes a memory store, so
        every definition it holds is at or before its checkpoint once the service made one)."""
        numbers: dict[str, int] = {}
        for client in self._definitions[EntryKind.clients]:
            assert isinstance(client, tuple)
            numbers[client[0]] = client[1]
        balances = self._checkpoint.balances
        rows = []
        for definition in self._definitions[EntryKind.accounts]:
            assert isinstance(definition, AccountDefinition)
            if definition.account_class is AccountClass.client:
                _, debits, _, credits = balances.get(definition.id, (0, 0, 0, 0))
                rows.append(
                    ClientAccountRow(
                        numbers[definition.owner],
                        definition.owner,
                        definition.asset,
                        definition.pool,
                        credits - debits,
                    )
                )
        yield RowsCut(self._checkpoint.seq, sorted_rows(rows))

    @contextmanager
    def exclusive(self, name: str) -> Iterator[bool]:
        """A lock of this process: a memory store has no other."""
        with process_lock(self._locks.setdefault(name, threading.Lock())) as taken:
            yield taken

    def close(self) -> None:
        self.closed = True


class _Done:
    def wait(self) -> None:
        return None


class _Failed:
    def __init__(self, error: StorageError) -> None:
        self._error = error

    def wait(self) -> None:
        raise self._error
