"""adapters/storage/pipelined.py: one append in flight, its failure reported once."""

from __future__ import annotations

import threading

import pytest

from ringfence.adapters.storage.pipelined import PipelinedWriter
from ringfence.core.errors import StorageError


def test_appends_run_in_order_one_at_a_time() -> None:
    writer = PipelinedWriter()
    done: list[int] = []
    release = threading.Event()

    def first() -> None:
        release.wait(5)
        done.append(1)

    pending = writer.begin(first)
    release.set()
    second = writer.begin(lambda: done.append(2))  # waits for the first before it starts
    assert done == [1]
    second.wait()
    pending.wait()
    assert done == [1, 2]
    writer.close()


def test_a_failure_is_raised_to_its_waiter() -> None:
    writer = PipelinedWriter()

    def fail() -> None:
        raise StorageError("disk full")

    pending = writer.begin(fail)
    with pytest.raises(StorageError, match="disk full"):
        pending.wait()
    writer.close()


def test_draining_waits_without_raising_so_the_waiter_still_hears_of_it() -> None:
    writer = PipelinedWriter()

    def fail() -> None:
        raise StorageError("lost connection")

    pending = writer.begin(fail)
    writer.drain()  # another call on the store: it only waits
    with pytest.raises(StorageError, match="lost connection"):
        pending.wait()
    writer.close()



def test_what_a_commit_holds_is_freed_in_the_callers_thread() -> None:
    """The writer thread must not free a batch under Python's lock while the caller waits."""
    freed_in: list[str] = []

    class Batch:
        def __del__(self) -> None:
            freed_in.append(threading.current_thread().name)

    writer = PipelinedWriter()
    batch = Batch()
    pending = writer.begin(lambda held=batch: None)
    del batch  # the commit and the pending append hold it now
    pending.wait()
    writer.close()  # the writer thread is done with the commit
    assert freed_in == []
    del pending
    assert freed_in == [threading.current_thread().name]
