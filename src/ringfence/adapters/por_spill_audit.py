"""The audit of a spilled round, partition by partition (the ``SpilledRound`` port).

A round built with ``por build --spill`` keeps its trees as partitions (``adapters/
por_spill.py``). Putting them together to audit them would hold every client in one process,
as the in-memory build does; this audits the round as it was built instead. The stages that
read, draw, count and sort run again from a cut of the journal at the round's snapshot into a
scratch directory, with the round's build seed (``prepare_partitions``: the same draws, so the
same subtrees). Then one task per partition (``check_partition``) builds the partition again,
exactly as the build's task did, and compares it with the stored one: a SHA-256 digest over
every array of the stored ``part-P.npz`` (placement, every kept level) and ``names-P.npy``
against the same over the rebuilt files, so a leaf changed anywhere in a stored partition,
a partition missing, unreadable or swapped with another is found and named. A task returns
its rebuilt subtree roots, the stored ones and a sentence; the coordinator joins the rebuilt
roots to the root (``join_roots``) and compares the stored top (``top.npz``) and manifest with
the rebuilt ones.

Sampled proofs. The sample is drawn over the owed clients in name order, as the in-memory
audit draws it; the k-th client is found by a selection over the rebuilt partitions' sorted
names (memory-mapped, a binary search per partition and step), and a proof is read from the
one stored partition holding the client, joined with the stored top (``SpilledTrees``). A
partition found damaged answers no proof: the reason comes back instead (a damaged file could
hold anything, and the proof code trusts the layout it reads).

Memory: the coordinator holds a few numbers per range and partition and each tree's top; a
task one partition (about ``limits.batch_range_clients_default`` clients); reading proofs, one
partition at a time. Disk: the scratch directory holds the build's working files while the
checks run, then only the rebuilt names (for the sample) until the caller removes it.
"""

from __future__ import annotations

import hashlib
import zipfile
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Final

import numpy as np
import numpy.typing as npt

from ringfence.adapters.por_spill import (
    PartitionTask,
    Prepared,
    SpilledTrees,
    Stages,
    build_partition,
    join_roots,
    padding_partition,
    partition_tasks,
    partitions_of,
    prepare_partitions,
    remove_working_files,
)
from ringfence.core import limits
from ringfence.core.money import Asset
from ringfence.core.por.inclusion import inclusion_proof
from ringfence.core.por.placement import stream_key_of
from ringfence.core.por.tree import Level
from ringfence.service.ports import BalanceCut, Executor, SpilledAssetCheck

# What reading a damaged or foreign file can raise (numpy refuses pickled objects).
_unreadable: Final = (OSError, ValueError, EOFError, KeyError, zipfile.BadZipFile)
# The manifest's figures a rebuild must give again.
_manifest_fields: Final = ("height", "top", "block_levels", "partitions",
                           "subtrees_per_partition", "clients", "owed", "pieces", "hashes")


def _asset_folder(folder: str, asset_number: int) -> Path:
    return Path(folder) / f"asset-{asset_number}"


def _absorb(digest: Any, key: str, array: npt.NDArray[Any]) -> None:
    digest.update(f"{key}:{array.dtype.str}:{array.shape};".encode())
    digest.update(np.ascontiguousarray(array).tobytes())


def partition_digest(folder: str, asset_number: int, number: int) -> str:
    """SHA-256 over every array of partition ``number``'s files (names first, then the
    placement and levels by name): equal digests, equal partitions."""
    asset_folder = _asset_folder(folder, asset_number)
    digest = hashlib.sha256()
    _absorb(digest, "names", np.load(asset_folder / f"names-{number}.npy"))
    with np.load(asset_folder / f"part-{number}.npz") as part:
        for key in sorted(part.files):
            _absorb(digest, key, part[key])
    return digest.hexdigest()


def _level(arrays: Any, height: int) -> Level:
    return Level(height, arrays[f"index_{height}"], arrays[f"sums_{height}"],
                 arrays[f"hashes_{height}"])


def _same_level(one: Level, other: Level) -> bool:
    return all(np.array_equal(a, b) and a.dtype == b.dtype for a, b in (
        (one.index, other.index), (one.sums, other.sums), (one.hashes, other.hashes)))


@dataclass(frozen=True, slots=True)
class PartitionCheck:
    """One partition to rebuild (into the scratch directory) and compare with the stored."""

    build: PartitionTask
    stored: str  # the stored spill directory
    roots_height: int  # where the stored partition's subtree roots are (the manifest's top)
    padding: bool = False  # the one all-padding partition of an asset no one is owed


@dataclass(frozen=True, slots=True)
class CheckedPartition:
    number: int
    roots: Level  # rebuilt: the partition's subtree roots
    stored_roots: Level | None  # the stored partition's, None when it cannot be read
    pieces: int
    hashes: int
    fault: str  # empty when the stored partition is the rebuilt one


def check_partition(task: PartitionCheck) -> CheckedPartition:
    """A task: build the partition again, compare its files with the stored ones, keep only
    the rebuilt names (the sample's), and return the roots and what was found."""
    build = task.build
    if task.padding:
        found = padding_partition(build.context, build.master_secret, build.folder)
    else:
        found = build_partition(build)
    asset_number, number = build.context.asset_number, build.number
    rebuilt = partition_digest(build.folder, asset_number, number)
    stored_roots: Level | None = None
    try:
        stored = partition_digest(task.stored, asset_number, number)
        with np.load(_asset_folder(task.stored, asset_number) / f"part-{number}.npz") as part:
            stored_roots = _level(part, task.roots_height)
        fault = "" if stored == rebuilt else "differs from the partition rebuilt from the journal"
    except FileNotFoundError as missing:
        fault = f"missing ({Path(str(missing.filename)).name})"
    except _unreadable as error:
        fault = f"unreadable ({type(error).__name__})"
    (_asset_folder(build.folder, asset_number) / f"part-{number}.npz").unlink()
    return CheckedPartition(number, found.roots, stored_roots, found.pieces, found.hashes, fault)


def kth_name(names: Sequence[npt.NDArray[Any]], rank: int) -> bytes:
    """The name of rank ``rank`` (from 0) among several sorted arrays of distinct names, as
    if they were merged: each step takes the middle of the widest remaining slice as pivot,
    counts what lies below it in every slice by binary search, and keeps the side that holds
    the rank (the widest slice at least halves)."""
    low = [0] * len(names)
    high = [len(array) for array in names]
    while True:
        widest = max(range(len(names)), key=lambda at: high[at] - low[at])
        assert high[widest] > low[widest]  # the rank is below the names left
        pivot = names[widest][(low[widest] + high[widest]) // 2]
        below = [low[at] + int(np.searchsorted(names[at][low[at]:high[at]], pivot, "left"))
                 for at in range(len(names))]
        after = [low[at] + int(np.searchsorted(names[at][low[at]:high[at]], pivot, "right"))
                 for at in range(len(names))]
        less = sum(b - lo for b, lo in zip(below, low, strict=True))
        equal = sum(a - b for a, b in zip(after, below, strict=True))
        if rank < less:
            high = below
        elif rank < less + equal:
            return bytes(pivot)
        else:
            rank -= less + equal
            low = after


@dataclass
class _AssetState:
    """What the checks leave per asset for the sample: the rebuilt partitions' count, the
    stored partitions that answer no proof and why, and a fault of the whole stored tree."""

    partitions: int
    damaged: dict[int, str]
    whole: str = ""


class SpilledRoundFiles:
    """A spilled round's directory, audited partition by partition (see the module
    docstring); ``SpilledTrees`` reads its manifest and answers proofs."""

    def __init__(self, folder: str, record: Mapping[str, Any], assets: Mapping[str, Asset],
                 master_secret: bytes) -> None:
        self.trees = SpilledTrees(folder, record, assets, master_secret)
        self.entries = {entry["asset_number"]: entry for entry in self.trees.manifest["assets"]
                        if entry["asset_number"] in self.trees.assets}
        self.scratch = ""
        self.state: dict[int, _AssetState] = {}

    def asset_numbers(self) -> list[int]:
        return sorted(self.entries)

    def check(
        self, executor: Executor, cut: BalanceCut, assets: Mapping[str, Asset], scratch: str,
        *, build_seed: bytes, clients_per_range: int,
    ) -> dict[int, SpilledAssetCheck]:
        ordered = tuple(sorted(assets.values(), key=lambda asset: asset.number))
        round_id = bytes.fromhex(self.trees.record["round_id"])
        master_secret = self.trees.master_secret
        prepared = prepare_partitions(
            executor, cut, ordered, scratch, seed=build_seed, round_id=round_id,
            master_secret=master_secret, clients_per_range=clients_per_range, clock=Stages())
        self.scratch = scratch
        found = {plan.asset.number: self._check_asset(
            executor, prepared, position, stream_key_of(build_seed, plan.asset.number))
            for position, plan in enumerate(prepared.plans)}
        remove_working_files(scratch, prepared.plans, prepared.ranges)
        return found

    def _check_asset(
        self, executor: Executor, prepared: Prepared, position: int, asset_seed: bytes,
    ) -> SpilledAssetCheck:
        plan = prepared.plans[position]
        context, top = prepared.tops[plan.asset.number]
        entry = self.entries.get(plan.asset.number)
        subtrees = 1 << (context.height - top)
        per_partition = _stored_layout(entry, subtrees) or partitions_of(
            subtrees, plan.owed, limits.batch_range_clients_default)
        checked = list(executor.map(check_partition, self._tasks(
            prepared, position, asset_seed, per_partition, entry)))
        upper, made = join_roots(context, [part.roots for part in checked])
        root = (int(upper[context.height].sums[0]), upper[context.height].hashes[0].tobytes())
        rebuilt = {"height": context.height, "top": top, "block_levels": context.block_levels,
                   "partitions": len(checked), "subtrees_per_partition": per_partition,
                   "clients": plan.clients, "owed": plan.owed,
                   "pieces": sum(part.pieces for part in checked),
                   "hashes": sum(part.hashes for part in checked) + made}
        state = _AssetState(len(checked), {part.number: part.fault for part in checked
                                           if part.fault and part.stored_roots is None})
        self.state[plan.asset.number] = state
        if entry is None:
            state.whole = "the spill keeps no tree for it"
            return SpilledAssetCheck(root, context.height, None, None, plan.owed, ())
        stored_root, state.whole = _stored_root(self.trees.folder, entry)
        top_fault = [state.whole] if state.whole else []
        if self._record_root(plan.asset.number) != (root, context.height):
            # The journal gives another tree (``root_mismatch``): no reference to compare the
            # stored partitions with; the stored root is checked against the record's only.
            return SpilledAssetCheck(root, context.height, stored_root,
                                     entry.get("height") if stored_root else None, plan.owed,
                                     tuple(top_fault))
        faults = top_fault + [f"partition {part.number} (part-{part.number}.npz): {part.fault}"
                              for part in checked if part.fault]
        state.damaged |= {part.number: part.fault for part in checked if part.fault}
        faults += _top_faults(self.trees.folder, entry, upper, checked)
        manifest = [f"spill.json: {name} {entry.get(name)!r}, rebuilt {rebuilt[name]!r}"
                    for name in _manifest_fields if entry.get(name) != rebuilt[name]]
        state.whole = state.whole or "; ".join(manifest)
        faults += manifest + self._extra_partitions(plan.asset.number, len(checked))
        return SpilledAssetCheck(root, context.height, stored_root,
                                 entry.get("height") if stored_root else None, plan.owed,
                                 tuple(faults))

    def _tasks(
        self, prepared: Prepared, position: int, asset_seed: bytes, per_partition: int,
        entry: Mapping[str, Any] | None,
    ) -> Iterable[PartitionCheck]:
        plan = prepared.plans[position]
        context, top = prepared.tops[plan.asset.number]
        master_secret = self.trees.master_secret
        if not plan.owed:
            task = PartitionTask(context, master_secret, b"", context.height, 0, 0, 1, 0,
                                 self.scratch)
            return [PartitionCheck(task, self.trees.folder, context.height, padding=True)]
        stored_top = entry.get("top") if entry is not None else None
        return (PartitionCheck(task, self.trees.folder,
                               stored_top if type(stored_top) is int else top)
                for task in partition_tasks(
                    plan, shape=(context, top), spill=(self.scratch, prepared.ranges),
                    secrets=(master_secret, asset_seed), per_partition=per_partition))

    def _record_root(self, asset_number: int) -> tuple[tuple[int, bytes], int] | None:
        for entry in self.trees.record.get("assets", []):
            if entry.get("asset_number") == asset_number and entry.get("mode") is None:
                root = entry["root"]
                return (int(root["sum"]), bytes.fromhex(root["hash"])), entry["height"]
        return None

    def _extra_partitions(self, asset_number: int, partitions: int) -> list[str]:
        folder = _asset_folder(self.trees.folder, asset_number)
        numbers = sorted(int(path.stem.removeprefix("part-")) for path in folder.glob("part-*.npz")
                         if path.stem.removeprefix("part-").isdigit())
        return [f"partition {number} (part-{number}.npz): not in the rebuilt tree"
                for number in numbers if number >= partitions]

    def rebuilt_clients(self, asset_number: int, ranks: Sequence[int]) -> list[str]:
        folder = _asset_folder(self.scratch, asset_number)
        names = [np.load(folder / f"names-{number}.npy", mmap_mode="r")
                 for number in range(self.state[asset_number].partitions)]
        return [kth_name(names, rank).decode("utf-8") for rank in ranks]

    def proofs(self, asset_number: int, clients: Sequence[str]
               ) -> dict[str, dict[str, Any] | str | None]:
        """Each client's stored proof in one asset, read one stored partition at a time."""
        state = self.state[asset_number]
        if state.whole:
            return dict.fromkeys(clients, f"the stored tree is damaged: {state.whole}")
        entry = self.entries[asset_number]
        by_partition: dict[int, list[str]] = {}
        found: dict[str, dict[str, Any] | str | None] = dict.fromkeys(clients)
        for client in clients:
            number = self._partition_of(asset_number, state, client)
            if number is not None:
                by_partition.setdefault(number, []).append(client)
        for number, held in sorted(by_partition.items()):
            if number in state.damaged:
                found |= dict.fromkeys(held, f"partition {number} of the stored tree "
                                             f"{state.damaged[number]}")
                continue
            tree = self.trees.tree_of(entry, number)
            tree.index_clients()
            found |= {client: inclusion_proof(tree, client, self.trees.round_hash)
                      for client in held}
        return found

    def _partition_of(self, asset_number: int, state: _AssetState, client: str) -> int | None:
        wanted = client.encode("utf-8")
        folder = _asset_folder(self.trees.folder, asset_number)
        stored = self.entries[asset_number].get("partitions")
        for number in range(max(state.partitions, stored if type(stored) is int else 0)):
            try:
                names = np.load(folder / f"names-{number}.npy", mmap_mode="r")
                at = int(np.searchsorted(names, wanted))
                if at < len(names) and names[at] == wanted:
                    return number
            except _unreadable:
                continue  # named by the checks; a client it held has no proof here
        return None


def _joined(levels: Sequence[Level]) -> Level:
    kept = [level for level in levels if len(level.index)]
    if not kept:
        return levels[0] if levels else Level(0, np.zeros(0, np.uint64), np.zeros(0, np.uint64),
                                              np.zeros((0, 32), np.uint8))
    return Level(kept[0].height, np.concatenate([level.index for level in kept]),
                 np.concatenate([level.sums for level in kept]),
                 np.concatenate([level.hashes for level in kept]))


def _stored_root(folder: str, entry: Mapping[str, Any]) -> tuple[tuple[int, bytes] | None, str]:
    """The stored tree's root (``top.npz`` at the manifest's height), or why it has none."""
    height = entry.get("height")
    try:
        with np.load(_asset_folder(folder, entry["asset_number"]) / "top.npz") as top:
            level = _level(top, height) if type(height) is int else None
    except FileNotFoundError:
        return None, "top.npz: missing"
    except _unreadable as error:
        return None, f"top.npz: unreadable ({type(error).__name__})"
    if level is None or len(level.index) != 1:
        return None, "top.npz holds no single root"
    return (int(level.sums[0]), level.hashes[0].tobytes()), ""


def _top_faults(folder: str, entry: Mapping[str, Any], upper: Mapping[int, Level],
                checked: Sequence[CheckedPartition]) -> list[str]:
    """The stored top against the rebuilt one, level by level, and against the stored
    partitions' own roots."""
    try:
        with np.load(_asset_folder(folder, entry["asset_number"]) / "top.npz") as top:
            stored = {height: _level(top, height) for height in upper}
    except _unreadable:
        return []  # named with the root
    faults = []
    if not all(_same_level(stored[height], upper[height]) for height in upper):
        faults.append("top.npz differs from the top rebuilt from the journal")
    roots = [part.stored_roots for part in checked]
    if all(level is not None for level in roots) and not _same_level(
            _joined([level for level in roots if level is not None]), stored[min(upper)]):
        faults.append("the stored partitions' roots are not top.npz's")
    return faults


def _stored_layout(entry: Mapping[str, Any] | None, subtrees: int) -> int | None:
    """The manifest's subtrees per partition, if it is one a build could have chosen."""
    per_partition = None if entry is None else entry.get("subtrees_per_partition")
    if type(per_partition) is not int or per_partition < 1 or per_partition > subtrees:
        return None
    return per_partition if per_partition & (per_partition - 1) == 0 else None

