"""Past states of the ledger (``as_of`` reads), replayed from the nearest snapshot at or
before the point instead of from the journal's start.

A snapshot is the engine's whole state (every balance, pending transfer, break and reversal
total) right after one journal entry, as a ``Checkpoint`` that holds everything rather than a
delta: restoring it is what opening a store does with its checkpoint (``restore_checkpoint``,
checked the same way). The store keeps only its latest checkpoint, so the service keeps its
own snapshots of the past, in memory: each replay for a past read takes one every
``limits.as_of_snapshot_transfers`` replayed transfers, and the next read starts from the
nearest one. The journal is append-only, so a snapshot of an entry never goes stale.

The snapshots are bounded: at most ``limits.as_of_snapshots_max`` of them, holding at most
``limits.as_of_snapshot_rows_max`` rows (balances and pending transfers) in all, so a ledger
of millions of accounts replays from the start as before instead of holding copies of itself.
Beyond either bound, the snapshot whose neighbours are closest together is forgotten first, so
the ones kept stay spread over the journal.

A read replays:
1. the definitions up to the point (all of them first, as an open does: an account defined
   later than the snapshot is still defined before any transfer of it);
2. the snapshot's state, and the principals up to the snapshot;
3. the transfers and principals after the snapshot, up to the point, in journal order,
   taking snapshots on the way.
"""

from __future__ import annotations

import bisect
from collections.abc import Iterator
from dataclasses import replace

from ringfence.core import limits
from ringfence.core.ledger.engine import Ledger
from ringfence.core.ledger.journal import (
    Definition,
    EntryKind,
    decode_definitions,
    ledger_definition_kinds,
)
from ringfence.service.ledger.replay import (
    apply_definitions,
    replay_principals,
    replay_transfers,
    restore_checkpoint,
)
from ringfence.service.ports import Checkpoint, LedgerStore, PendingRow

__all__ = ["PastStates"]

_tail = (EntryKind.transfers, EntryKind.principals)
_definitions = tuple(ledger_definition_kinds)
# A definitions entry decoded: its timestamp, its kind and its definitions.
DecodedDefinitions = tuple[int, EntryKind, list[Definition]]


class PastStates:
    """Snapshots of one ledger's past, by journal sequence; replays past states from them."""

    def __init__(
        self,
        transfers_between: int = limits.as_of_snapshot_transfers,
        snapshots_max: int = limits.as_of_snapshots_max,
        rows_max: int = limits.as_of_snapshot_rows_max,
    ) -> None:
        assert transfers_between > 0
        assert 0 <= snapshots_max <= limits.as_of_snapshots_max
        assert 0 <= rows_max <= limits.as_of_snapshot_rows_max
        self.transfers_between = transfers_between
        self.snapshots_max = snapshots_max
        self.rows_max = rows_max
        self._rows = 0  # balances and pending transfers held, over every snapshot
        # The journal's definitions entries read so far (up to entry _definitions_read), decoded.
        self._definitions: list[tuple[int, DecodedDefinitions]] = []
        self._definitions_count = 0
        self._definitions_read = 0
        self._seqs: list[int] = []  # ascending
        self._snapshots: dict[int, Checkpoint] = {}
        self._snapshot_rows: dict[int, int] = {}  # by sequence: the rows each was counted as

    def __len__(self) -> int:
        return len(self._seqs)

    def nearest(self, seq: int) -> Checkpoint | None:
        """The latest snapshot at or before entry ``seq``."""
        index = bisect.bisect_right(self._seqs, seq)
        return self._snapshots[self._seqs[index - 1]] if index else None

    def engine_at(self, store: LedgerStore, seq: int, ledger_id: bytes) -> Ledger:
        """A fresh engine as it stood right after entry ``seq`` (signatures were verified when
        committed; the audit verifies every one again)."""
        engine = Ledger()
        timestamp_last = 0
        for timestamp, kind, definitions in self._definitions_until(store, seq):
            apply_definitions(engine, kind, definitions)
            timestamp_last = timestamp
        start = self.nearest(seq)
        after = 0
        if start is not None:
            restore_checkpoint(engine, start, store)
            after = start.seq
            for entry in store.entries(kinds=[EntryKind.principals]):
                if entry.seq > after:
                    break
                replay_principals(engine, entry, verify_signatures=False)
            engine.timestamp_last = start.timestamp_last
        replayed = 0
        for entry in store.entries(after_seq=after, kinds=_tail):
            if entry.seq > seq:
                break
            if entry.kind is EntryKind.transfers:
                _, records = replay_transfers(engine, entry.body, store, verify_signatures=False)
                replayed += max(len(records), 1)
            else:
                replay_principals(engine, entry, verify_signatures=False)
            # As the journal's order has it: an entry is stamped after every one before it.
            # The definitions' stamps join at the end; they are before the point's too.
            engine.timestamp_last = max(engine.timestamp_last, entry.timestamp)
            if replayed >= self.transfers_between:
                self._keep(engine, entry.seq)
                replayed = 0
        engine.timestamp_last = max(engine.timestamp_last, timestamp_last)
        engine.ledger_id = ledger_id
        return engine

    def _definitions_until(self, store: LedgerStore, seq: int) -> Iterator[DecodedDefinitions]:
        """The definitions entries up to entry ``seq``, decoded: from those kept, read and
        kept first if ``seq`` is beyond the ones read. A ledger with more definitions than
        ``rows_max`` has them decoded again on each read instead."""
        if self._definitions_count > self.rows_max:
            for entry in store.entries(kinds=_definitions):
                if entry.seq > seq:
                    return
                header, definitions = decode_definitions(entry.body)
                yield entry.timestamp, header.kind, definitions
            return
        if seq > self._definitions_read:
            for entry in store.entries(after_seq=self._definitions_read, kinds=_definitions):
                if entry.seq > seq:
                    break
                header, definitions = decode_definitions(entry.body)
                self._definitions.append((entry.seq, (entry.timestamp, header.kind, definitions)))
                self._definitions_count += len(definitions)
            self._definitions_read = seq
            if self._definitions_count > self.rows_max:
                self._definitions.clear()  # too many to keep: decoded on each read from now
                yield from self._definitions_until(store, seq)
                return
        for entry_seq, decoded in self._definitions:
            if entry_seq > seq:
                return
            yield decoded

    def _keep(self, engine: Ledger, seq: int) -> None:
        rows = len(engine.accounts) + len(engine.pendings)
        if seq in self._snapshots or self.snapshots_max == 0 or rows > self.rows_max:
            return
        self._snapshots[seq] = whole_state(engine, seq)
        self._snapshot_rows[seq] = rows  # the engine's, which bounds the snapshot's
        bisect.insort(self._seqs, seq)
        self._rows += rows
        while len(self._seqs) > self.snapshots_max or self._rows > self.rows_max:
            self._forget_closest()
        assert len(self._seqs) == len(self._snapshots) <= self.snapshots_max
        assert self._rows <= self.rows_max

    def _forget_closest(self) -> None:
        """Forget the snapshot whose neighbours are closest together (the last one if it is
        alone)."""
        if len(self._seqs) == 1:
            index = 0
        else:
            gaps = [
                (self._seqs[i + 1] - self._seqs[i - 1] if i + 1 < len(self._seqs) else 2**63, i)
                for i in range(1, len(self._seqs))
            ]
            _, index = min(gaps)
        seq = self._seqs.pop(index)
        del self._snapshots[seq]
        self._rows -= self._snapshot_rows.pop(seq)


def whole_state(engine: Ledger, seq: int) -> Checkpoint:
    """The engine's whole state as a checkpoint at entry ``seq`` (copies, not live objects).

    Only accounts with a balance: the engine replayed to make it holds every account defined up
    to the read's point, which may be later than ``seq``; such an account is all zeros here,
    and an engine restored from the snapshot for an earlier point must not be told of it (a
    fresh engine's accounts start at zero)."""
    return Checkpoint(
        seq,
        engine.timestamp_last,
        balances={
            i: balances
            for i, account in engine.accounts.items()
            if any(balances := account.balances())
        },
        pendings={
            i: PendingRow(i, pending.expires_at, int(pending.status))
            for i, pending in engine.pendings.items()
        },
        breaks={i: replace(broken) for i, broken in engine.breaks.items()},
        reversed=dict(engine.reversed),
    )
