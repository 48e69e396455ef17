"""The composition root: the one place where adapters are chosen and wired.

It refuses to start under ``python -O``: the engine's assertions are part of its safety (they
check invariants where they are made and where they are relied on), and ``-O`` strips them.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from ringfence.adapters.clock import ManualClock, SystemClock
from ringfence.adapters.storage import postgres, sqlite
from ringfence.adapters.storage.memory import MemoryStore
from ringfence.adapters.storage.postgres import PostgresStore, url_prefixes
from ringfence.adapters.storage.sqlite import SqliteStore, path_of
from ringfence.core.errors import StorageError
from ringfence.service.ledger_service import LedgerService
from ringfence.service.ports import Clock, DevelopmentChain, HoldingsSource, LedgerStore

default_url = "sqlite:///ringfence.db"


def database_url(url: str | None = None) -> str:
    """The URL given, else ``RINGFENCE_DB``, else the default SQLite file."""
    return url or os.environ.get("RINGFENCE_DB") or default_url


def redacted_url(url: str) -> str:
    """A database URL fit to print: any password in it replaced by ``***``."""
    return postgres.redacted(url)


def open_store(url: str, create: bool = True) -> LedgerStore:
    """The store at ``url``; without ``create`` a SQLite file that is not already a ringfence
    database is refused, untouched."""
    if url == "memory://":
        return MemoryStore()
    if url.startswith("sqlite:"):
        return SqliteStore(path_of(url), create)
    if url.startswith(url_prefixes):
        return PostgresStore(url)
    raise StorageError(
        f"unsupported database URL {redacted_url(url)!r} "
        "(use sqlite:///PATH, postgresql://[USER@]HOST[:PORT]/DATABASE or memory://)"
    )


def schema_status(url: str) -> dict[str, Any]:
    """Where the database's schema stands, without changing it (``ringfence db status``)."""
    if url.startswith(url_prefixes):
        status = postgres.schema_status(url)
        return {
            "ok": True,
            "engine": "postgresql",
            "version": status.version,
            "latest": status.latest,
            "current": status.current,
            "applied": [
                {"version": version, "name": name, "applied_at": applied_at}
                for version, name, applied_at in status.applied
            ],
            "pending": [{"version": version, "name": name} for version, name in status.pending],
        }
    if url.startswith("sqlite:"):
        # SQLite's store refuses a version it does not know on open.
        SqliteStore(path_of(url), create=False).close()
        return {
            "ok": True,
            "engine": "sqlite",
            "version": sqlite.schema_version,
            "latest": sqlite.schema_version,
            "current": True,
            "applied": [],
            "pending": [],
        }
    raise StorageError(
        f"{redacted_url(url)!r} has no schema to report (use sqlite:///PATH or postgresql://)"
    )


def upgrade_schema(url: str) -> list[int]:
    """Apply the pending migrations (``ringfence db upgrade``); return the versions applied."""
    if url.startswith(url_prefixes):
        return postgres.upgrade(url)
    schema_status(url)  # SQLite: opening checks the version; there is nothing to migrate
    return []


def simulated_clock(start_ns: int) -> Clock:
    """A clock that starts at ``start_ns`` and moves only when a simulation advances it."""
    return ManualClock(start_ns)


def open_ledger(
    url: str | None = None, clock: Clock | None = None, create: bool = True
) -> LedgerService:
    """Open the ledger at ``url`` for reading and writing (``create``: a new SQLite file gets
    its schema); close it when done."""
    if not __debug__:
        raise RuntimeError("ringfence refuses to run under python -O: its assertions are checks")
    store = open_store(database_url(url), create)
    return LedgerService(store, clock or SystemClock())


def ethereum_source(
    rpc_url: str, native_asset: str, tokens: dict[str, str], chain_id: int, confirmations: int
) -> HoldingsSource:
    """Holdings and inflows from an Ethereum JSON-RPC node that must answer ``chain_id``,
    read ``confirmations`` blocks below its head (tokens: contract -> asset code)."""
    from ringfence.adapters.chains.ethereum import EthereumHoldings

    return EthereumHoldings(rpc_url, native_asset, tokens, confirmations, chain_id=chain_id)


def utxo_snapshot_source(paths: list[str], network: str) -> HoldingsSource:
    """Bitcoin holdings and inflows from UTXO-set snapshot files (no node needed)."""
    from ringfence.adapters.chains.utxo_snapshot import UtxoSnapshotSource

    return UtxoSnapshotSource(paths, network)


class DemoChainFiles:
    """The demo's chains: its UTXO snapshot kept in ``folder``; anvil when installed."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder

    def bitcoin_snapshot(self, text: bytes) -> HoldingsSource:
        self.folder.mkdir(parents=True, exist_ok=True)
        path = self.folder / "utxo-snapshot.csv"
        path.write_bytes(text)
        return utxo_snapshot_source([str(path)], "mainnet")

    def ethereum(self) -> DevelopmentChain | None:
        from ringfence.adapters.chains.devnode import DevelopmentNode, anvil_path

        binary = anvil_path()
        return None if binary is None else DevelopmentNode(binary)
