"""The one writer of a journal: its state, its key, its appends and its checkpoints.

``JournalWriter`` holds the engine rebuilt from the store, signs every entry it appends with
the journal key (the ``Signer`` port) over its place and hash, and throws the engine's state
away (rebuilding it from the store) whenever a failure may have left memory ahead of what is
durable. ``TransferWriter`` (transfers.py) and ``LedgerService`` (service.py) build on it.
"""

from __future__ import annotations

import random
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager, suppress
from dataclasses import replace

from ringfence.core import limits
from ringfence.core.errors import (
    InputError,
    Result,
    RingfenceError,
)
from ringfence.core.ledger.authenticity import (
    encode_journal_key,
    head_message,
    key_possession_message,
)
from ringfence.core.ledger.journal import (
    Definition,
    EntryKind,
    JournalEntry,
    ledger_definition_kinds,
    seal,
)
from ringfence.service.ledger.past import PastStates
from ringfence.service.ledger.past_seal import PastStateSeal
from ringfence.service.ledger.replay import build_checkpoint, load_journal_keys, load_ledger
from ringfence.service.ports import (
    Checkpoint,
    Clock,
    LedgerStore,
    Signer,
)

# A checkpoint is written when this many transfer entries have passed since the last one, and
# on close; opening a store replays at most this many entries past its checkpoint.
checkpoint_interval_batches_default = 64
assert checkpoint_interval_batches_default <= limits.checkpoint_interval_batches_max


class JournalWriter:
    """The single writer for one store. Not thread-safe: one caller at a time."""

    def __init__(
        self,
        store: LedgerStore,
        clock: Clock,
        signer: Signer,
        checkpoint_interval_batches: int = checkpoint_interval_batches_default,
    ) -> None:
        assert 0 < checkpoint_interval_batches <= limits.checkpoint_interval_batches_max
        self.store = store
        self.clock = clock
        self.signer = signer
        self.checkpoint_interval_batches = checkpoint_interval_batches
        self.head_conflicts = 0  # batches decided again because another writer appended first
        self._jitter = random.Random()  # spreads the pauses of writers that collided
        # True while the engine may hold what the store has not made durable, and after a
        # failed rebuild: the next operation rebuilds it from the store first.
        self._stale = True
        self._wrote = False  # whether this service appended an entry (close checkpoints then)
        # Snapshots of the past for as_of reads (past.py); the journal is append-only, so they
        # outlive a reload.
        self.past_states = PastStates()
        self._load()

    def _load(self) -> None:
        self.ledger, self.checkpoint_seq = load_ledger(self.store)
        self.ledger.id_max = self.store.transfer_id_max()
        self.seq, self.hash = self.store.head()
        self._batches_since_checkpoint = self.seq - self.checkpoint_seq
        self.journal_keys = load_journal_keys(self.store, self.seq)
        self._signing_checked = False
        self._stale = False

    # ------------------------------------------------------------------ the journal key

    @property
    def journal_key(self) -> bytes | None:
        """The public key the journal declares in force at its head (None before the first)."""
        return self.journal_keys.current

    def _check_signer(self) -> None:
        """Before the first write: the signer must hold the key the journal declares. A new
        journal (or one older than signing) gets the signer's key declared first, made if the
        signer has none yet."""
        if self._signing_checked:
            return
        declared = self.journal_keys.current
        held = self.signer.public_key()
        if declared is None:
            self._declare_key(None)
        elif held is None:
            raise InputError(
                Result.journal_key_missing,
                f"the journal is signed by {declared.hex()}; give its key file",
            )
        elif held != declared:
            raise InputError(
                Result.journal_key_mismatch,
                f"the journal is signed by {declared.hex()}, this key is {held.hex()}",
            )
        self._signing_checked = True

    def _declare_key(self, old: Signer | None, new: Signer | None = None) -> None:
        """Append a ``journal_keys`` entry: the first key (``old`` None: the signer's own,
        made now if needed) or a rotation from ``old`` to ``new``.

        It carries the timestamp of the entry before it (0 in a new journal) and takes none of
        its own, so a caller that already holds ``next_timestamp()`` for its entry keeps it.
        """
        incoming = self.signer if new is None else new
        public_key = incoming.public_key() or incoming.create()
        timestamp = self.ledger.timestamp_last
        seq = self.seq + 1
        possession = incoming.sign(key_possession_message(seq, self.hash, public_key))
        body = encode_journal_key(seq, timestamp, public_key, possession)
        entry = seal(seq, EntryKind.journal_keys, timestamp, body, self.hash)
        entry = replace(entry, signature=(old or incoming).sign(head_message(seq, entry.hash)))
        self._write(entry)
        self.journal_keys.follow(entry)

    def rotate_journal_key(self, new: Signer) -> bytes:
        """Hand the journal on to ``new``'s key (made now if it has none): the rotation entry
        is signed by the current key and carries the new key's signature over its place.
        Later entries are signed by the new key only; returns its public key."""
        self._fresh()
        self._check_signer()
        if new.public_key() == self.journal_keys.current:
            raise InputError(Result.journal_key_exists, "that key is already in force")
        self._declare_key(self.signer, new)
        self.signer = new
        public_key = self.journal_keys.current
        assert public_key is not None
        return public_key

    def signed_head(self) -> tuple[int, bytes, bytes]:
        """The head to publish (seq, hash, the journal key's signature over them); the
        journal holds it as its last entry's signature. (0, genesis, b"") when empty."""
        if self.seq == 0:
            return 0, self.hash, b""
        last = next(self.store.entries(after_seq=self.seq - 1))
        return last.seq, last.hash, last.signature

    def past_state_seal(self) -> PastStateSeal:
        """What persisting and checking the snapshots of the past needs (past_seal.py): the
        journal key in force, and the signer when it holds that key (else they are only
        loaded and checked, never written)."""
        self._fresh()
        current = self.journal_keys.current
        holds = current is not None and (
            self._signing_checked or self.signer.public_key() == current
        )
        return PastStateSeal(current, self.signer if holds else None)

    def _fresh(self) -> None:
        """Rebuild the engine from the store if a failure left it stale."""
        if self._stale:
            self._load()

    def _recover(self) -> None:
        """After a failure while the engine was ahead of the store: rebuild it from the store.
        If the store cannot be read now either, the service stays stale and rebuilds before
        its next operation (the caller sees the original failure)."""
        self._stale = True
        with suppress(RingfenceError):
            self._load()

    @contextmanager
    def _undone_on_failure(self) -> Iterator[None]:
        """Run a change to the engine and its commit; on any failure, forget the change."""
        self._fresh()
        self._stale = True
        try:
            yield
        except BaseException:
            self._recover()
            raise
        self._stale = False

    def catch_up(self) -> None:
        """Rebuild from the store if another writer appended since this one last looked: a
        work that must start from the journal's head (under its lock) calls it first."""
        self._fresh()
        if self.store.head() != (self.seq, self.hash):
            self._load()

    def next_timestamp(self) -> int:
        """The timestamp the next journal entry will carry (never earlier than the last)."""
        self._fresh()
        return self._next_timestamp()

    def append_entry(self, kind: EntryKind, timestamp: int, encode: Callable[[int], bytes]) -> None:
        """Journal an entry decided elsewhere in the service (the wallet registry's changes),
        stamped ``timestamp`` (from ``next_timestamp``); ``encode(seq)`` gives its body."""
        assert kind not in ledger_definition_kinds
        assert kind is not EntryKind.transfers
        assert timestamp > self.ledger.timestamp_last
        with self._undone_on_failure():
            self._check_signer()
            self._append(kind, timestamp, encode(self.seq + 1))
            self.ledger.timestamp_last = timestamp

    def _next_timestamp(self) -> int:
        return max(self.clock.now_ns(), self.ledger.timestamp_last + 1)

    def _append(
        self,
        kind: EntryKind,
        timestamp: int,
        body: bytes,
        definitions: Sequence[Definition] = (),
    ) -> None:
        self._write(self._sealed(kind, timestamp, body), definitions)

    def _sealed(self, kind: EntryKind, timestamp: int, body: bytes) -> JournalEntry:
        """The next entry, chained to the head and signed with the journal key."""
        entry = seal(self.seq + 1, kind, timestamp, body, self.hash)
        return replace(entry, signature=self.signer.sign(head_message(entry.seq, entry.hash)))

    def _sealed_after(
        self, previous: JournalEntry, kind: EntryKind, timestamp: int, body: bytes
    ) -> JournalEntry:
        """The entry after ``previous`` (not yet written), chained to it and signed."""
        entry = seal(previous.seq + 1, kind, timestamp, body, previous.hash)
        return replace(entry, signature=self.signer.sign(head_message(entry.seq, entry.hash)))

    def _write(self, entry: JournalEntry, definitions: Sequence[Definition] = ()) -> None:
        """Append a sealed, signed entry (the caller undoes the engine's change on failure)."""
        self.store.append(entry, (), definitions, None)
        self.seq, self.hash, self._wrote = entry.seq, entry.hash, True
        if entry.seq == 1:
            self.ledger.ledger_id = entry.hash

    def _checkpoint_if_due(self, seq: int, force: bool) -> Checkpoint | None:
        """A checkpoint of the state as of entry ``seq``, if one is due; built now, written
        once the entry is durable."""
        due = self._batches_since_checkpoint >= self.checkpoint_interval_batches
        if not (force or due):
            return None
        self._batches_since_checkpoint = 0
        return build_checkpoint(self.ledger, seq)

    def checkpoint(self) -> None:
        """Write the current state as a checkpoint now (before a backup; on close after
        writing). A failed write forgets what changed since the last one, so it rebuilds."""
        self._fresh()
        if self.checkpoint_seq == self.seq:
            return
        with self._undone_on_failure():
            checkpoint = build_checkpoint(self.ledger, self.seq)
            self.store.write_checkpoint(checkpoint)
        self.checkpoint_seq = self.seq
        self._batches_since_checkpoint = 0

    def close(self) -> None:
        """Checkpoint what this service wrote, and close the store. A service that only read
        writes nothing: a reader never changes a store, whatever it holds."""
        try:
            if self._wrote and not self._stale:
                self.checkpoint()
        finally:
            self.store.close()

    @property
    def ledger_id(self) -> bytes:
        """What authorisations and endorsements bind to: the hash of the journal's first entry
        (32 zero bytes while the journal is empty)."""
        return self.ledger.ledger_id
