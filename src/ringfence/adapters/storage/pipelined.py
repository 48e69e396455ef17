"""The pipelined writer both durable stores share: one append in flight, in one thread.

``LedgerStore.append_begin`` lets the service execute the next batch while the previous one
is being committed. A store hands its commit function to ``PipelinedWriter.begin``, which runs
it in the store's one writer thread and returns at once; the connection is never used by two
threads at once, because every other call on the store first waits (``drain``) for the append
in flight. A commit's failure is reported once: to the caller of ``wait()``, or, if another
call drains it first, to whoever waits next (``drain`` only waits; ``wait`` raises).

What a commit holds (the batch's journal entry and records) is freed in the caller's thread:
the pending append keeps the commit function until the caller drops it, after ``wait()``.
Otherwise the writer thread, holding the last reference once the caller has gone on, frees a
batch's objects under Python's lock just after the commit, while the caller waits for that
lock to go on. On SQLite at 128 transfers a batch the next commit then started during the
engine's next batch in 5-23% of batches instead of 28-57%, and under load the ledger ran at
0.73-0.92 of its rate (BENCHMARKS.md, "Ledger after the one-shape reorganisation").
"""

from __future__ import annotations

from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor

from ringfence.service.ports import PendingAppend


class PipelinedWriter:
    """One writer thread and at most one append in flight."""

    def __init__(self) -> None:
        self._thread = ThreadPoolExecutor(max_workers=1, thread_name_prefix="ringfence-writer")
        self._in_flight: Future[None] | None = None

    def begin(self, commit: Callable[[], None]) -> PendingAppend:
        """Start ``commit`` in the writer thread, after the append in flight, if any."""
        self.drain()
        future = self._thread.submit(commit)
        self._in_flight = future
        return _Pending(self, future, commit)

    def drain(self) -> None:
        """Wait for the append in flight. Its failure is the waiter's to report, once."""
        future, self._in_flight = self._in_flight, None
        if future is not None:
            future.exception()

    def settle(self, future: Future[None]) -> None:
        """Wait for ``future`` and raise its failure, if any."""
        if self._in_flight is future:
            self._in_flight = None
        future.result()

    def close(self) -> None:
        """Wait for the append in flight, then stop the thread (even if waiting failed)."""
        try:
            self.drain()
        finally:
            self._thread.shutdown(wait=True)


class _Pending:
    def __init__(
        self, writer: PipelinedWriter, future: Future[None], commit: Callable[[], None]
    ) -> None:
        self._writer = writer
        self._future = future
        # Only held: so that what the commit captured is freed where this is (module docstring).
        self._commit = commit

    def wait(self) -> None:
        self._writer.settle(self._future)
