"""The pipelined writer both durable stores share: one append in flight, in one thread.

``LedgerStore.append_begin`` lets the service execute the next batch while the previous one
is being committed. A store hands its commit function to ``PipelinedWriter.begin``, which runs
it in the store's one writer thread and returns at once; the connection is never used by two
threads at once, because every other call on the store first waits (``drain``) for the append
in flight. A commit's failure is reported once: to the caller of ``wait()``, or, if another
call drains it first, to whoever waits next (``drain`` only waits; ``wait`` raises).
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
        return _Pending(self, future)

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
    def __init__(self, writer: PipelinedWriter, future: Future[None]) -> None:
        self._writer = writer
        self._future = future

    def wait(self) -> None:
        self._writer.settle(self._future)
