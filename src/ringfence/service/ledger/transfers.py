"""The submit path: batches of transfers decided by the engine and committed pipelined, each
batch's commit overlapping the next one's execution, and streams of any length cut into
batches that keep linked chains whole (``streams.stretches``).
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable, Generator, Iterable, Iterator, Sequence
from contextlib import closing
from dataclasses import dataclass

from ringfence.core import limits
from ringfence.core.collector import collector_paused
from ringfence.core.errors import (
    HeadConflictError,
    InputError,
    Result,
)
from ringfence.core.ledger.journal import (
    EntryKind,
    JournalEntry,
    encode_transfers,
)
from ringfence.core.ledger.model import (
    Transfer,
    TransferRecord,
)
from ringfence.service.ledger.writer import JournalWriter
from ringfence.service.ports import (
    Checkpoint,
    PendingAppend,
)
from ringfence.service.streams import Refused, Stretch, stretches

# What a batch's results cause to be journaled with it: an entry's kind and its encoder
# (seq, timestamp -> body), or None when nothing.
Companion = Callable[[list[Result]], tuple[EntryKind, Callable[[int, int], bytes]] | None]


class TransferWriter(JournalWriter):
    """The writer's transfer batches: ``submit`` one, ``submit_events`` a stream."""

    def submit(self, events: Sequence[Transfer]) -> list[Result]:
        """Execute one batch and return a result per event, after the batch is durable.

        If another process appended first (``HeadConflictError``: nothing of the batch was
        written), the engine reloads the other writers' entries and the batch is decided
        again on the new state, after a pause through the clock that grows with each
        conflict (``limits.head_conflict_backoff_ns_*``, jittered). So a batch commits or is
        refused on its merits; ``HeadConflictError`` reaches the caller only after conflicts
        for ``limits.head_conflict_wait_ns_max``. Never retried on any other failure: after a
        lost connection the outcome is unknown, and the caller resubmits (getting ``exists``
        for what landed).
        """
        return self._retried_on_head_conflicts(lambda: self._submit_once(events))

    def _submit_once(self, events: Sequence[Transfer]) -> list[Result]:
        for results in self.submit_stream([events]):
            return results
        raise AssertionError("a stream of one batch yields one result list")

    def submit_joined(
        self, events: Sequence[Transfer], companion: Companion
    ) -> list[Result]:
        """Execute one batch and journal, in the same store transaction, the entry it causes:
        ``companion(results)`` says which (its kind and ``encode(seq, timestamp)``), or None
        for none. Both land or neither does; a crash can never leave one without the other.

        A venue's fill and the fee it charges commit this way (service/risk.py). Retried on
        a head conflict as ``submit`` is (the batch decided again, so the companion too)."""
        return self._retried_on_head_conflicts(
            lambda: self._submit_joined_once(events, companion)
        )

    def _retried_on_head_conflicts(self, attempt: Callable[[], list[Result]]) -> list[Result]:
        """``attempt()`` again after each head conflict, with a growing jittered pause, until
        it lands or conflicts have lasted ``limits.head_conflict_wait_ns_max`` (``submit``'s
        docstring says why only head conflicts)."""
        deadline = self.clock.now_ns() + limits.head_conflict_wait_ns_max
        pause_max = limits.head_conflict_backoff_ns_min
        while True:
            try:
                return attempt()
            except HeadConflictError:
                self.head_conflicts += 1
                if self.clock.now_ns() >= deadline:
                    raise
            self.clock.sleep_ns(self._jitter.randint(pause_max // 2, pause_max))
            pause_max = min(2 * pause_max, limits.head_conflict_backoff_ns_max)

    def _submit_joined_once(self, events: Sequence[Transfer], companion: Companion) -> list[Result]:
        _check_batch(events)
        with self._undone_on_failure():
            self._check_signer()
            wanted = self.ledger.references(events)
            with collector_paused():
                results, entry, records, checkpoint = self._execute(events, wanted)
            joined = companion(results)
            if joined is None:
                if entry is not None:
                    self.store.append(entry, records, (), checkpoint)
                    self._after_write(entry, checkpoint)
                return results
            kind, encode = joined
            timestamp = self._next_timestamp()
            if entry is None:
                self._append(kind, timestamp, encode(self.seq + 1, timestamp))
            else:
                body = encode(entry.seq + 1, timestamp)
                second = self._sealed_after(entry, kind, timestamp, body)
                self.store.append_joined(entry, records, second, checkpoint)
                self._after_write(entry, checkpoint)
                self.seq, self.hash = second.seq, second.hash
            self.ledger.timestamp_last = timestamp
        return results

    def _after_write(self, entry: JournalEntry, checkpoint: Checkpoint | None) -> None:
        self.seq, self.hash, self._wrote = entry.seq, entry.hash, True
        if checkpoint is not None:
            self.checkpoint_seq = checkpoint.seq

    def submit_all(self, events: Sequence[Transfer]) -> list[Result]:
        """Submit any number of events in batches of at most 8,189; a linked chain commits
        whole or is refused whole (``linked_chain_too_long`` when longer than a batch)."""
        results: list[Result] = []
        for part in self.submit_events(events):
            results.extend(part)
        return results

    def submit_events(self, items: Iterable[Transfer | Refused]) -> Iterator[list[Result]]:
        """Submit a stream of any length, cut into batches by ``streams.stretches`` (the one
        owner of linked chains across batches), pipelined as ``submit_stream``.

        Yields the results of consecutive items, in stream order, as soon as they are
        durable (results decided without the engine go out with the batch after them); the
        stream is read as batches are needed, so memory stays bounded whatever its length.
        """
        planned = stretches(items)
        held: deque[Stretch] = deque()
        exhausted = False

        def batches() -> Iterator[list[Transfer]]:
            nonlocal exhausted
            for stretch in planned:
                held.append(stretch)
                if not stretch.events:
                    return  # only results: end the round so that they go out now
                yield stretch.events
            exhausted = True

        while not exhausted:
            with closing(self.submit_stream(batches())) as stream:
                for results in stream:
                    while not held[0].events:
                        yield held.popleft().merged([])
                    yield held.popleft().merged(results)
            while held:
                yield held.popleft().merged([])

    def submit_stream(
        self, batches: Iterable[Sequence[Transfer]]
    ) -> Generator[list[Result], None, None]:
        """Execute batches in order, each commit overlapping the next batch's execution.

        Yields each batch's results, in order, only once that batch is durable; a batch's
        results never depend on a later one. If anything fails (a commit, a checkpoint, the
        engine, the batches' own iterator), nothing after the last yield is acknowledged: the
        engine is rebuilt from the store and the failure raised. A caller that stops early
        leaves what it was given durable and nothing else in memory.
        """
        self._fresh()
        in_flight: _InFlight | None = None
        self._check_signer()
        try:
            for batch in batches:
                _check_batch(batch)
                wanted = self.ledger.references(batch)
                if wanted and in_flight is not None:  # it may hold what the batch refers to
                    settled, in_flight = self._settle(in_flight), None
                    yield settled
                self._stale = True  # until the batch is handed to the store
                with collector_paused():
                    results, entry, records, checkpoint = self._execute(batch, wanted)
                earlier = None if in_flight is None else self._settle(in_flight)
                in_flight = None
                if entry is not None:
                    pending = self.store.append_begin(entry, records)
                    self.seq, self.hash, self._wrote = entry.seq, entry.hash, True
                    in_flight = _InFlight(pending, results, entry.seq, checkpoint)
                self._stale = False
                if earlier is not None:
                    yield earlier
                if entry is None:  # every event refused and nothing expired: nothing to write
                    yield results
            if in_flight is not None:
                settled, in_flight = self._settle(in_flight), None
                yield settled
        except GeneratorExit:
            if in_flight is not None:  # written, though nobody waits for its results
                self._settle_abandoned(in_flight)
            raise
        except BaseException:
            if self._stale or in_flight is not None:
                self._recover()  # memory must not run ahead of the store
            raise

    def _settle_abandoned(self, in_flight: _InFlight) -> None:
        try:
            self._settle(in_flight)
        except BaseException:
            self._recover()

    def _execute(
        self, batch: Sequence[Transfer], wanted: set[int]
    ) -> tuple[list[Result], JournalEntry | None, list[TransferRecord], Checkpoint | None]:
        """Decide a batch and seal its journal entry (``None`` if it changed nothing)."""
        known = self.store.transfers(wanted) if wanted else {}
        # A retry is compared with the metadata of the transfer it repeats: looked up only for
        # the ids that exist (none, for time-ordered ids that are new).
        known_metadata = self.store.transfer_metadata(known) if known else {}
        outcome = self.ledger.execute(
            batch, self._next_timestamp(), known, known_metadata=known_metadata
        )
        if not (outcome.records or outcome.expiries):
            return outcome.results, None, [], None
        seq = self.seq + 1
        body = encode_transfers(
            seq,
            outcome.timestamp,
            outcome.records,
            outcome.expiries,
            outcome.authorisations,
            metadata=outcome.metadata,
        )
        entry = self._sealed(EntryKind.transfers, outcome.timestamp, body)
        self._batches_since_checkpoint += 1
        checkpoint = self._checkpoint_if_due(entry.seq, force=False)
        return outcome.results, entry, outcome.records, checkpoint

    def _settle(self, in_flight: _InFlight) -> list[Result]:
        """Wait until a batch is durable, then write the checkpoint built with it, if any."""
        in_flight.pending.wait()
        if in_flight.checkpoint is not None:
            self.store.write_checkpoint(in_flight.checkpoint)
            self.checkpoint_seq = in_flight.seq
        return in_flight.results


@dataclass(frozen=True, slots=True)
class _InFlight:
    """A batch executed and being committed; its results wait for the commit."""

    pending: PendingAppend
    results: list[Result]
    seq: int
    checkpoint: Checkpoint | None



def _check_batch(events: Sequence[Transfer]) -> None:
    if not events:
        raise InputError(Result.batch_empty)
    if len(events) > limits.batch_events_max:
        raise InputError(Result.batch_too_large, f"{len(events)} events")


