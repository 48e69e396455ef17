"""Bitcoin holdings and inflows from UTXO-set snapshot files: a ``HoldingsSource``.

No Bitcoin node runs here, so Bitcoin holdings come from snapshot files exported from one (the
format: ``core/custody/snapshots.py`` and docs/custody.md). This adapter only reads the files;
all checking is the core's, and it is all or nothing: one bad line in any file raises an
``InputError`` naming the file and line, and the source is never built.

Several files are successive snapshots of the same addresses (say, one a day):

- ``holdings`` answers from the highest snapshot (what the addresses hold now);
- ``inflows`` answers from all of them, each output once (an output still unspent appears in
  every later snapshot), so an output created and spent between two snapshots is the only kind
  never seen; the last height covered is the highest snapshot's.

Two different files at one height, or one output named with different contents in two files,
contradict each other and are refused.
"""

from __future__ import annotations

from collections.abc import Collection, Sequence
from itertools import pairwise
from pathlib import Path
from typing import Final

from ringfence.core import limits
from ringfence.core.collector import collector_paused
from ringfence.core.custody.addresses import Network
from ringfence.core.custody.holdings import Inflow, Observation
from ringfence.core.custody.snapshots import Snapshot, parse_snapshot
from ringfence.core.errors import InputError, Result

source_name_default: Final = "utxo-snapshot"


def read_holdings_file(path: str | Path) -> bytes:
    """A holdings file's bytes, refusing one above ``limits.holdings_file_bytes_max`` before
    reading it (and again after, should it have grown meanwhile)."""
    path = Path(path)
    size = path.stat().st_size
    if size > limits.holdings_file_bytes_max:
        raise InputError(
            Result.holdings_file_too_large,
            f"{path.name}: {size} bytes, at most {limits.holdings_file_bytes_max}",
        )
    with path.open("rb") as file:
        data = file.read(limits.holdings_file_bytes_max + 1)
    if len(data) > limits.holdings_file_bytes_max:
        raise InputError(Result.holdings_file_too_large, f"{path.name} grew while being read")
    return data


def _parse_file(path: str | Path, network: Network | str) -> Snapshot:
    try:
        with collector_paused():
            return parse_snapshot(read_holdings_file(path), network)
    except InputError as error:
        raise InputError(error.code, f"{Path(path).name}: {error.detail}") from None


class UtxoSnapshotSource:
    """Holdings and inflows of Bitcoin addresses from one or more snapshot files of one
    network. The files are read and checked when the source is made."""

    def __init__(
        self,
        paths: Sequence[str | Path],
        network: Network | str,
        name: str = source_name_default,
    ) -> None:
        if not paths:
            raise InputError(Result.holdings_file_empty, "no snapshot files given")
        snapshots = sorted((_parse_file(path, network) for path in paths), key=_height)
        for earlier, later in pairwise(snapshots):
            if earlier.height == later.height and earlier.source != later.source:
                raise InputError(
                    Result.holdings_file_header_invalid,
                    f"{earlier.source} and {later.source} are both at height {later.height}",
                )
        self.name = name
        self.snapshots: tuple[Snapshot, ...] = tuple(_distinct(snapshots))
        if len(self.snapshots) > 1:
            _check_consistent(self.snapshots)
        self.latest = self.snapshots[-1]
        self._holdings = {o.address: o for o in self.latest.observations}

    def holdings(self, addresses: Collection[str]) -> list[Observation]:
        """The latest snapshot's holding of each of ``addresses`` that holds any outputs."""
        found = (self._holdings.get(address) for address in addresses)
        return [observation for observation in found if observation is not None]

    def inflows(self, addresses: Collection[str], from_height: int) -> tuple[list[Inflow], int]:
        """Outputs paying ``addresses`` created at ``from_height`` or above in any snapshot,
        each once (as first seen), and the highest snapshot's height."""
        wanted = frozenset(addresses)
        seen: set[str] = set()
        found: list[Inflow] = []
        for snapshot in self.snapshots:
            for inflow in snapshot.inflows(wanted, from_height):
                if inflow.reference not in seen:
                    seen.add(inflow.reference)
                    found.append(inflow)
        return found, self.latest.height


def _height(snapshot: Snapshot) -> int:
    return snapshot.height


def _distinct(snapshots: list[Snapshot]) -> list[Snapshot]:
    """The snapshots without repeats of one file (the same bytes given twice)."""
    sources: set[str] = set()
    kept = []
    for snapshot in snapshots:
        if snapshot.source not in sources:
            sources.add(snapshot.source)
            kept.append(snapshot)
    return kept


def _check_consistent(snapshots: Sequence[Snapshot]) -> None:
    """An output named in two snapshots pays the same address the same amount at the same
    height in both; anything else means one of the files is wrong."""
    outputs: dict[tuple[str, int], tuple[str, int, int, str]] = {}
    for snapshot in snapshots:
        utxos = snapshot.utxos
        for index, txid in enumerate(utxos.txids):
            key = (txid, utxos.vouts[index])
            body = (utxos.addresses[index], utxos.amounts[index], utxos.heights[index])
            first = outputs.setdefault(key, (*body, snapshot.source))
            if first[:3] != body:
                raise InputError(
                    Result.outpoint_duplicate,
                    f"{txid}:{key[1]} differs between {first[3]} and {snapshot.source}",
                )


class SnapshotFolder:
    """The snapshot files (``*.csv``) in one folder, read anew on every call: the
    ``UtxoSnapshots`` a spend is built from and confirmed by. Dropping the next day's snapshot
    into the folder is how a Bitcoin spend gets confirmed."""

    def __init__(self, folder: Path, network: Network | str) -> None:
        self.folder = folder
        self.network = network

    def snapshots(self) -> tuple[Snapshot, ...]:
        paths = sorted(self.folder.glob("*.csv")) if self.folder.is_dir() else []
        if not paths:
            return ()
        return UtxoSnapshotSource(paths, self.network).snapshots
