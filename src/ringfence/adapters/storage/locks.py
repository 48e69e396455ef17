"""Named locks over one ledger, across processes: what ``LedgerStore.exclusive`` takes.

A lock is tried, never waited for: the caller learns at once whether it holds it, and a work
that finds it taken answers so by name (``withdrawals_busy``) instead of racing the holder.
Each lock dies with its holder, so a crash never leaves one behind:

- SQLite: ``flock`` on a file beside the database (``<database>.<name>.lock``). Never on the
  database file itself: SQLite's own locks are POSIX record locks, which closing any other
  descriptor of that file would drop.
- PostgreSQL (adapters/storage/postgres.py): a session advisory lock, keyed by the ledger's
  schema and the lock's name, on a connection the store keeps for its locks, unlocked at the
  context's end (a session's end releases it too, but only once its backend has exited);
  taken after a lock of this process per store and name, since one session's advisory locks
  stack and would let a second caller of the same store (nested, or another thread) in.
- Memory (and a SQLite database in memory): a lock of this process, per store.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import threading
from collections.abc import Iterator

from ringfence.core.errors import StorageError


@contextlib.contextmanager
def process_lock(lock: threading.Lock) -> Iterator[bool]:
    """``lock`` tried: True while held, False when another caller holds it."""
    taken = lock.acquire(blocking=False)
    try:
        yield taken
    finally:
        if taken:
            lock.release()


@contextlib.contextmanager
def file_lock(path: str) -> Iterator[bool]:
    """An exclusive ``flock`` on ``path`` (made if missing), tried: True while held."""
    try:
        descriptor = os.open(path, os.O_RDWR | os.O_CREAT, 0o600)
    except OSError as error:
        raise StorageError(f"cannot open the lock file {path}: {error}") from error
    try:
        try:
            fcntl.flock(descriptor, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            yield False
            return
        try:
            yield True
        finally:
            fcntl.flock(descriptor, fcntl.LOCK_UN)
    finally:
        os.close(descriptor)
