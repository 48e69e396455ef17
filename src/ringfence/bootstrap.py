"""The composition root: the one place where adapters are chosen and wired.

It refuses to start under ``python -O``: the engine's assertions are part of its safety (they
check invariants where they are made and where they are relied on), and ``-O`` strips them.
"""

from __future__ import annotations

import os

from ringfence.adapters.clock import ManualClock, SystemClock
from ringfence.adapters.storage.memory import MemoryStore
from ringfence.adapters.storage.sqlite import SqliteStore, path_of
from ringfence.core.errors import StorageError
from ringfence.service.ledger_service import LedgerService
from ringfence.service.ports import Clock, LedgerStore

default_url = "sqlite:///ringfence.db"


def database_url(url: str | None = None) -> str:
    """The URL given, else ``RINGFENCE_DB``, else the default SQLite file."""
    return url or os.environ.get("RINGFENCE_DB") or default_url


def open_store(url: str) -> LedgerStore:
    if url == "memory://":
        return MemoryStore()
    if url.startswith("sqlite:"):
        return SqliteStore(path_of(url))
    raise StorageError(f"unsupported database URL {url!r} (use sqlite:///PATH or memory://)")


def simulated_clock(start_ns: int) -> Clock:
    """A clock that starts at ``start_ns`` and moves only when a simulation advances it."""
    return ManualClock(start_ns)


def open_ledger(url: str | None = None, clock: Clock | None = None) -> LedgerService:
    """Open the ledger at ``url`` for reading and writing; close it when done."""
    if not __debug__:
        raise RuntimeError("ringfence refuses to run under python -O: its assertions are checks")
    store = open_store(database_url(url))
    return LedgerService(store, clock or SystemClock())
