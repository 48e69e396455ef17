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

The snapshots outlive the service: one holding the journal key persists those a read took,
after the read, and forgets in the store those it dropped, in one transaction outside any
append (past_seal.py: encoded, bound to their entry's hash, signed with the journal key). A
restarted service loads them at its first past read, checking each one's signature, and opens
one (checks it against the journal and decodes it) only when a read starts from it; one that
fails any check, or a restore's, is ignored (one log line a load, naming the newest and why)
and the read starts from the one before it, or the journal's start. The load is bounded in the
store before a body is read (the newest ``snapshots_max`` within the journal, at most
``limits.as_of_snapshot_bytes_max`` bytes of body in all), so rows someone else wrote cost it
no more than the ones this service would.

A read replays:
1. the definitions up to the point (all of them first, as an open does: an account defined
   later than the snapshot is still defined before any transfer of it);
2. the snapshot's state, and the principals up to the snapshot;
3. the transfers and principals after the snapshot, up to the point, in journal order,
   taking snapshots on the way.
"""

from __future__ import annotations

import bisect
import logging
from collections.abc import Iterator
from dataclasses import replace

from ringfence.core import limits
from ringfence.core.errors import IntegrityError, RingfenceError
from ringfence.core.ledger.engine import Ledger
from ringfence.core.ledger.journal import (
    Definition,
    EntryKind,
    decode_definitions,
    ledger_definition_kinds,
)
from ringfence.service.ledger.past_seal import (
    PastStateSeal,
    opened_state,
    seal_finding,
    seal_state,
    stated_rows,
)
from ringfence.service.ledger.replay import (
    apply_definitions,
    replay_principals,
    replay_transfers,
    restore_checkpoint,
)
from ringfence.service.ports import Checkpoint, LedgerStore, PendingRow, Signer, StoredPastState

__all__ = ["PastStates"]

_tail = (EntryKind.transfers, EntryKind.principals)
_definitions = tuple(ledger_definition_kinds)
# A definitions entry decoded: its timestamp, its kind and its definitions.
DecodedDefinitions = tuple[int, EntryKind, list[Definition]]
log = logging.getLogger("ringfence.ledger.past")


class PastStates:
    """Snapshots of one ledger's past, by journal sequence; replays past states from them."""

    def __init__(
        self,
        transfers_between: int = limits.as_of_snapshot_transfers,
        snapshots_max: int = limits.as_of_snapshots_max,
        rows_max: int = limits.as_of_snapshot_rows_max,
        bytes_max: int = limits.as_of_snapshot_bytes_max,
    ) -> None:
        assert transfers_between > 0
        assert 0 <= snapshots_max <= limits.as_of_snapshots_max
        assert 0 <= rows_max <= limits.as_of_snapshot_rows_max
        assert 0 <= bytes_max <= limits.as_of_snapshot_bytes_max
        self.transfers_between = transfers_between
        self.snapshots_max = snapshots_max
        self.rows_max = rows_max
        self.bytes_max = bytes_max  # of the persisted ones' bodies: each, and all a load reads
        self._rows = 0  # balances and pending transfers held, over every snapshot
        # The journal's definitions entries read so far (up to entry _definitions_read), decoded.
        self._definitions: list[tuple[int, DecodedDefinitions]] = []
        self._definitions_count = 0
        self._definitions_read = 0
        self._seqs: list[int] = []  # ascending
        # A persisted snapshot is held sealed until a read starts from it (past_seal.py).
        self._snapshots: dict[int, Checkpoint | StoredPastState] = {}
        self._snapshot_rows: dict[int, int] = {}  # by sequence: the rows each was counted as
        self._entry_hashes: dict[int, bytes] = {}  # by sequence: that entry's hash
        # Persistence (past_seal.py): the journal key the persisted ones were loaded under,
        # the sequences the store holds, those held here and not yet written, and those to
        # forget there.
        self._key: bytes | None = None
        self._load_failed = False  # logged once: a load is tried again at each read
        self._persist_refused = False  # the store refused a write: not asked again
        self._seals: dict[int, StoredPastState] = {}  # signed, not yet written: by sequence
        self._persisted: set[int] = set()
        self._unsaved: set[int] = set()
        self._forgotten: set[int] = set()

    def __len__(self) -> int:
        return len(self._seqs)

    def nearest(self, seq: int) -> Checkpoint | StoredPastState | None:
        """The latest snapshot held at or before entry ``seq`` (a persisted one still sealed
        until a read starts from it)."""
        index = bisect.bisect_right(self._seqs, seq)
        return self._snapshots[self._seqs[index - 1]] if index else None

    def engine_at(
        self, store: LedgerStore, seq: int, ledger_id: bytes, seal: PastStateSeal | None = None
    ) -> Ledger:
        """A fresh engine as it stood right after entry ``seq`` (signatures were verified when
        committed; the audit verifies every one again). With ``seal``, the snapshots persisted
        beside the ledger are loaded (checked) first, and those this read keeps are persisted
        after it when the seal can sign (past_seal.py)."""
        if self.snapshots_max == 0:
            seal = None  # keeps none, so neither loads nor forgets the persisted ones
        if seal is not None and seal.public_key is not None and seal.public_key != self._key:
            self._load_persisted(store, seal.public_key)
        engine, after, timestamp_last = self._engine_from_nearest(store, seq)
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
                rows = len(engine.accounts) + len(engine.pendings)
                if self._may_keep(entry.seq, rows):
                    self._keep(whole_state(engine, entry.seq), entry.hash, rows)
                replayed = 0
        engine.timestamp_last = max(engine.timestamp_last, timestamp_last)
        engine.ledger_id = ledger_id
        if seal is not None and seal.signer is not None and seal.public_key == self._key:
            self._persist(store, seal.signer)
        return engine

    def _engine_from_nearest(self, store: LedgerStore, seq: int) -> tuple[Ledger, int, int]:
        """A fresh engine with the definitions up to entry ``seq`` and the state of the nearest
        snapshot at or before it that restores; its entry, and the definitions' last stamp. A
        persisted snapshot that fails a check is forgotten, and the one before it (or the
        journal's start) tried."""
        while True:
            engine = Ledger()
            timestamp_last = 0
            for timestamp, kind, definitions in self._definitions_until(store, seq):
                apply_definitions(engine, kind, definitions)
                timestamp_last = timestamp
            start = self._nearest_opened(store, seq)
            if start is None:
                return engine, 0, timestamp_last
            try:
                restore_checkpoint(engine, start, store)
            except IntegrityError as error:
                self._ignore(start.seq, str(error))
                continue
            for entry in store.entries(kinds=[EntryKind.principals]):
                if entry.seq > start.seq:
                    break
                replay_principals(engine, entry, verify_signatures=False)
            engine.timestamp_last = start.timestamp_last
            return engine, start.seq, timestamp_last

    def _nearest_opened(self, store: LedgerStore, seq: int) -> Checkpoint | None:
        """The nearest snapshot at or before entry ``seq``, a persisted one opened (checked
        against the journal and decoded) first; one that fails is forgotten."""
        while True:
            found = self.nearest(seq)
            if found is None or isinstance(found, Checkpoint):
                return found
            opened = opened_state(found, store, store.head()[0])
            if isinstance(opened, str):
                self._ignore(found.seq, opened)
                continue
            self._snapshots[found.seq] = opened
            return opened

    def _ignore(self, seq: int, why: str) -> None:
        log.warning("the snapshot of the past at entry %d is ignored: %s", seq, why)
        self._forget(seq)

    def _load_persisted(self, store: LedgerStore, public_key: bytes) -> None:
        """Take in the persisted snapshots whose seal holds (past_seal.py), under the journal
        key ``public_key``, to be opened when a read starts from one; one that fails is
        ignored, named in the log, and forgotten by the store at the next persist. Those held
        already are signed again under this key.

        A store that cannot be read (a role without access to the table) leaves the read to
        replay without them: logged once, and the load tried again at the next read (the key
        is taken only once one succeeds, and nothing is persisted before)."""
        self._seals.clear()  # signed under the key before
        for seq in list(self._seqs):  # signed again under this key; unopened ones forgotten
            if isinstance(self._snapshots[seq], StoredPastState):
                self._forget(seq)
            else:
                self._unsaved.add(seq)
        head_seq = store.head()[0]
        try:
            loaded = store.past_states(head_seq, self.snapshots_max, self.bytes_max)
        except RingfenceError as error:
            if not self._load_failed:
                log.warning("the snapshots of the past were not loaded: %s", error)
            self._load_failed = True
            return
        self._key = public_key
        ignored: list[tuple[object, str]] = []  # newest first: logged in one line
        for stored in loaded:
            addressable = type(stored.seq) is int  # a table rebuilt by hand may hold any type
            if addressable:
                self._persisted.add(stored.seq)
            if stored.seq in self._snapshots:
                continue
            finding = seal_finding(stored, public_key, head_seq)
            if finding is not None:
                ignored.append((stored.seq, finding))
                if addressable:
                    self._forgotten.add(stored.seq)
                continue
            self._keep(stored, stored.entry_hash, stated_rows(stored), persisted=True)
        if ignored:
            (newest, why), more = ignored[0], len(ignored) - 1
            log.warning(
                "the snapshot of the past at entry %r is ignored: %s (and %d more of those loaded)",
                newest,
                why,
                more,
            )

    def _persist(self, store: LedgerStore, signer: Signer) -> None:
        """Write the snapshots kept since the last persist, and forget those dropped (the read
        itself stands whatever happens). A store busy with another writer has them tried again
        after the next read, each signed once only; one that refuses the write (a read-only
        database, a role without the grant) is not asked again while this service runs."""
        if self._persist_refused or not (self._unsaved or self._forgotten):
            return
        unsaved = sorted(self._unsaved)
        try:
            sealed = [self._sealed(i, signer) for i in unsaved]
            written = [s for s in sealed if len(s.body) <= self.bytes_max]  # a load reads them
            kept = store.keep_past_states(written, sorted(self._forgotten))
        except RingfenceError as error:
            log.warning(
                "the snapshots of the past are not persisted while this service runs: %s", error
            )
            self._persist_refused = True
            self._seals.clear()
            return
        if not kept:
            return
        for seq in unsaved:
            self._seals.pop(seq, None)
        self._persisted.difference_update(self._forgotten)
        self._persisted.update(stored.seq for stored in written)
        self._forgotten.clear()
        self._unsaved.clear()

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

    def _sealed(self, seq: int, signer: Signer) -> StoredPastState:
        """The snapshot at ``seq`` sealed, signed once however often its write is tried."""
        sealed = self._seals.get(seq)
        if sealed is None:
            held = self._snapshots[seq]
            assert isinstance(held, Checkpoint)  # only those taken here, or opened, are written
            sealed = self._seals[seq] = seal_state(held, self._entry_hashes[seq], signer)
        return sealed

    def _may_keep(self, seq: int, rows: int) -> bool:
        """Whether a snapshot at ``seq`` of ``rows`` rows would be held (asked before one is
        copied out of the engine: a ledger beyond the bounds is never copied)."""
        return seq not in self._snapshots and self.snapshots_max > 0 and rows <= self.rows_max

    def _keep(
        self,
        snapshot: Checkpoint | StoredPastState,
        entry_hash: bytes,
        rows: int,
        persisted: bool = False,
    ) -> None:
        """Hold ``snapshot`` (counted as ``rows``), forgetting others beyond the bounds."""
        seq = snapshot.seq
        if not self._may_keep(seq, rows):
            if persisted and seq not in self._snapshots:
                self._forgotten.add(seq)
            return
        self._snapshots[seq] = snapshot
        self._snapshot_rows[seq] = rows  # the engine's, which bounds the snapshot's
        self._entry_hashes[seq] = entry_hash
        if not persisted:
            self._unsaved.add(seq)
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
        self._forget(self._seqs[index])

    def _forget(self, seq: int) -> None:
        """Drop the snapshot at ``seq``, from the store too (at the next persist) if it is
        there."""
        self._seqs.remove(seq)
        del self._snapshots[seq]
        del self._entry_hashes[seq]
        self._rows -= self._snapshot_rows.pop(seq)
        self._unsaved.discard(seq)
        self._seals.pop(seq, None)
        if seq in self._persisted:
            self._forgotten.add(seq)


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
