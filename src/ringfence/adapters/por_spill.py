"""A proof-of-liabilities round built with bounded memory: every per-client figure is spilled
by the tasks to a directory, and the coordinator holds only per-range and per-partition totals.

The in-memory build (``core/por/tree.py``'s ``build_trees``) merges every client's balance in
the coordinator, plans the trees there (how many pieces each client gets, which block they go
to: two draws from one SHAKE-256 stream over all clients) and keeps every piece's placement.
This module builds the same round, bit for bit, without that: same seed, same roots, same
proofs. Its stages, on the run's ``Executor``:

1. ``read_range`` (one task per client range): read the range's rows, turn balances into
   proof units and spill the clients owed anything (name, number in the asset's client list
   local to the range, units) to ``read-A-R.npy``; return per asset the range's client count,
   owed count and total.
2. The coordinator draws each asset's piece counts from the round's stream, in the order the
   in-memory plan draws them, into ``drawn-A.u8`` (one byte per owed client, written in chunks:
   the rejection sampling of ``RandomStream.below_many`` redraws the rejected positions in
   order, which is a pass over the file per round of redraws).
3. ``count_range`` (per range): a client's count of pieces is the draw capped by their units;
   return the range's sum. The coordinator sets each tree's height from the total, then draws
   every owed client's block into ``blocks-A.u64`` (the stream's next draw).
4. ``sort_range`` (per range): each client's subtree (``block >> (top - block levels)``);
   the range's clients sorted by subtree, stably (client order within one), to ``sorted-A-R.npy``.
5. ``build_partition`` (per tree partition: consecutive subtrees): the partition's slice of
   every range's sorted file (a binary search each), in range order, which is client order; each
   subtree built by the core's own ``build_subtree`` from the same job the in-memory plan makes,
   and spilled (placement, levels from the block height to the subtree tops, owners' names);
   return only the partition's subtree roots.
6. The coordinator joins the roots under the top of the tree (``level_up``), checks the root
   sum against the ranges' totals, and signs the round (``sign_round`` over each tree's top).

Memory. The coordinator holds per range and per partition a few numbers, the top levels of
each tree (one node per subtree and above), and a chunk of random bytes at a time; a task holds
one range or one partition. Disk: about 130 bytes per client kept (placement, levels, owners'
names), and about 100 more per client of working files while the build runs. A task's files
are written whole before it returns and read files are kept to the end, so a task that Dask
runs again (its worker lost) finds its inputs and writes the same bytes.

A proof is read back from the partition holding the client (``SpilledTrees.proofs``): each
partition keeps its owners' names sorted (``names-P.npy``, memory-mapped, a binary search per
partition), and its placement and levels joined with the tree's top make an ``AssetTree`` that
answers exactly the in-memory tree's proof for that client.

Layout (format 1) of the spill directory, per asset number A (R: range, P: partition)::

    spill.json               format, per asset: code, height, top, block levels, partitions,
                             subtrees per partition, clients, pieces, hashes
    asset-A/top.npz          levels top .. height: index_H, sums_H, hashes_H
    asset-A/part-P.npz       client, owner, piece, index, value (the placement, index order;
                             client: number in the asset's client list, owner: row of names-P),
                             index_H, sums_H, hashes_H for H from the block levels to top
    asset-A/names-P.npy      the partition's owners' UTF-8 names (numpy bytes, sorted)

The working files (``read-``, ``drawn-``, ``blocks-``, ``sorted-``) are removed once the
partitions are built. On a remote cluster the directory must be one every worker can reach
(a shared file system).

Length: this module is longer than the house's 500 lines on purpose. The stages, the draws
and the reading of proofs share one file layout (the names, dtypes and offsets above); split
into modules, each would have to import the others' private layout, and a change of format
would be made in three places instead of one.
"""

from __future__ import annotations

import json
import shutil
import time
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, Final

import numpy as np
import numpy.typing as npt
from Crypto.Hash import SHAKE256

from ringfence.core import limits
from ringfence.core.batch import client_ranges
from ringfence.core.errors import InputError, IntegrityError, Result, StorageError
from ringfence.core.money import Asset
from ringfence.core.por.hashes import (
    U64,
    Bytes2D,
    encode_names,
    format_version,
    hkdf_sha256,
    salt_stream,
)
from ringfence.core.por.inclusion import inclusion_proof
from ringfence.core.por.liabilities import partial_liabilities, proof_units_of, total_of
from ringfence.core.por.placement import Placement, stream_key_of, tree_height
from ringfence.core.por.round import (
    ReservesAttestation,
    Round,
    round_hash,
    round_id_of,
    sign_round,
)
from ringfence.core.por.solvency import prove_pools
from ringfence.core.por.tree import (
    AssetTree,
    Level,
    SubtreeJob,
    TreeContext,
    build_subtree,
    concatenate,
    level_up,
    subtree_seed,
    subtree_top,
    tree_context,
)
from ringfence.service.ports import BalanceCut, CutReader, Executor

spill_format: Final = 1
# Random bytes drawn per chunk by the coordinator (8 per client): its memory, not the result.
_draw_clients_chunk: Final = 2**21
_empty = np.zeros(0, dtype=np.uint64)


def _asset_folder(folder: str, asset_number: int) -> Path:
    return Path(folder) / f"asset-{asset_number}"


def _names_dtype(width: int) -> np.dtype[Any]:
    return np.dtype([("client", "<u8"), ("value", "<u8"), ("length", "<u8"), ("name", f"S{width}")])


def _sorted_dtype(width: int) -> np.dtype[Any]:
    return np.dtype([("subtree", "<u8"), ("client", "<u8"), ("value", "<u8"), ("count", "<u8"),
                     ("block", "<u8"), ("length", "<u8"), ("name", f"S{width}")])


def _name_rows(names: npt.NDArray[Any], width: int) -> Bytes2D:
    """Names held as numpy bytes (``S``) as zero-padded rows of ``width`` bytes."""
    rows = np.zeros((len(names), width), dtype=np.uint8)
    if len(names):
        raw = np.frombuffer(names.tobytes(), dtype=np.uint8).reshape(len(names), -1)
        rows[:, : raw.shape[1]] = raw
    return rows


# ---------------------------------------------------------------------- 1. read


@dataclass(frozen=True, slots=True)
class RangeTask:
    """One client range of the cut, and where its spill goes."""

    reader: CutReader
    number: int
    folder: str
    assets: tuple[Asset, ...]


RangeCounts = dict[int, tuple[int, int, int]]  # asset number -> clients, owed, total units


def read_range(task: RangeTask) -> RangeCounts:
    """A task: the range's clients owed anything, per asset, spilled; their counts returned."""
    owed = partial_liabilities(task.reader.read())
    codes = {asset.code for asset in task.assets}
    for code in owed:
        if code not in codes:
            raise IntegrityError(f"a client account is in asset {code}, which is not defined")
    counts: RangeCounts = {}
    for asset in task.assets:
        balances = owed.get(asset.code, {})
        units = proof_units_of(balances.values(), asset)
        chosen = np.flatnonzero(units)
        names = list(balances)
        rows, lengths = encode_names([names[position] for position in chosen.tolist()])
        spilled = np.empty(len(chosen), dtype=_names_dtype(rows.shape[1]))
        spilled["client"] = chosen.astype(np.uint64)
        spilled["value"] = units[chosen]
        spilled["length"] = lengths
        spilled["name"] = rows.reshape(-1).view(f"S{rows.shape[1]}")
        folder = _asset_folder(task.folder, asset.number)
        folder.mkdir(parents=True, exist_ok=True)
        np.save(folder / f"read-{task.number}.npy", spilled)
        counts[asset.number] = (len(balances), len(chosen), total_of(units))
    return counts


# ---------------------------------------------------------------------- 2, 3. draws


class _Draws:
    """The round's ``RandomStream`` (``core/por/placement.py``), read incrementally: block
    ``counter`` is SHAKE-256 over the stream's key and the counter, of which the in-memory
    plan takes a prefix in one call. Reading it in chunks gives the same bytes."""

    def __init__(self, seed: bytes) -> None:
        self._key = hkdf_sha256(seed, salt_stream, b"")
        self.counter = 0

    def block(self, counter: int) -> Any:
        return SHAKE256.new(self._key + counter.to_bytes(8, "big"))

    def take(self) -> int:
        taken = self.counter
        self.counter += 1
        return taken


_waiting: Final = 255
# The draw of core/por/placement.py's ``pieces_counts`` (``RandomStream.below_many``), in
# the same order: a count of pieces in [min, max], masked to its bit length and drawn again
# when too big.
_pieces_spread: Final = limits.proof_pieces_max - limits.proof_pieces_min + 1
_pieces_mask: Final = (1 << (_pieces_spread - 1).bit_length()) - 1


def draw_counts(path: Path, owed: int, draws: _Draws) -> None:
    """Each owed client's drawn count of pieces (2 to 4, before the cap by their units), as
    ``pieces_counts`` draws them: a value below 3 from 8 random bytes masked to 2 bits, drawn
    again for every rejected position, in order, from the next block of the stream."""
    chunk = _draw_clients_chunk
    with path.open("w+b") as file:
        for start in range(0, owed, chunk):
            np.full(min(chunk, owed - start), _waiting, dtype=np.uint8).tofile(file)
        waiting = owed
        while waiting:
            stream, waiting = draws.block(draws.take()), 0
            for start in range(0, owed, chunk):
                file.seek(start)
                drawn = np.fromfile(file, dtype=np.uint8, count=min(chunk, owed - start))
                positions = np.flatnonzero(drawn == _waiting)
                if not len(positions):
                    continue
                raw = np.frombuffer(stream.read(8 * len(positions)), dtype=np.uint64)
                candidate = raw & np.uint64(_pieces_mask)
                fits = candidate < _pieces_spread
                drawn[positions[fits]] = (limits.proof_pieces_min + candidate[fits]).astype(
                    np.uint8)
                waiting += int(np.count_nonzero(~fits))
                file.seek(start)
                drawn.tofile(file)


def draw_blocks(path: Path, owed: int, blocks: int, stream: Any) -> None:
    """Each owed client's block, uniform below ``blocks`` (a power of two: no redraws)."""
    assert blocks & (blocks - 1) == 0
    mask = np.uint64(blocks - 1)
    with path.open("wb") as file:
        for start in range(0, owed, _draw_clients_chunk):
            count = min(_draw_clients_chunk, owed - start)
            (np.frombuffer(stream.read(8 * count), dtype=np.uint64) & mask).tofile(file)


def _slice(path: Path, dtype: Any, offset: int, count: int) -> npt.NDArray[Any]:
    item = np.dtype(dtype).itemsize
    if not count:
        return np.zeros(0, dtype=dtype)
    with path.open("rb") as file:
        file.seek(offset * item)
        found = np.fromfile(file, dtype=dtype, count=count)
    assert len(found) == count
    return found


@dataclass(frozen=True, slots=True)
class RangeDraws:
    """A range's place among the ranges, per asset: (owed before it, clients before it)."""

    number: int
    folder: str
    offsets: Mapping[int, tuple[int, int]]
    shifts: Mapping[int, int] = field(default_factory=dict)  # asset -> top - block levels


def _counts(task: RangeDraws, asset_number: int) -> tuple[npt.NDArray[Any], U64]:
    folder = _asset_folder(task.folder, asset_number)
    spilled = np.load(folder / f"read-{task.number}.npy")
    drawn = _slice(folder / "drawn.u8", np.uint8, task.offsets[asset_number][0], len(spilled))
    counts: U64 = np.minimum(drawn.astype(np.uint64), spilled["value"])
    return spilled, counts


def count_range(task: RangeDraws) -> dict[int, int]:
    """A task: the range's pieces per asset (each draw capped by the client's units)."""
    return {number: int(np.sum(_counts(task, number)[1])) for number in task.offsets}


def sort_range(task: RangeDraws) -> None:
    """A task: the range's owed clients with their counts and blocks, sorted by subtree."""
    for number, (owed_before, clients_before) in task.offsets.items():
        folder = _asset_folder(task.folder, number)
        spilled, counts = _counts(task, number)
        block = _slice(folder / "blocks.u64", np.uint64, owed_before, len(spilled))
        subtree = block >> np.uint64(task.shifts[number])
        order = np.argsort(subtree, kind="stable")
        width = spilled.dtype["name"].itemsize
        rows = np.empty(len(spilled), dtype=_sorted_dtype(width))
        rows["subtree"] = subtree[order]
        rows["client"] = spilled["client"][order] + np.uint64(clients_before)
        rows["value"] = spilled["value"][order]
        rows["count"] = counts[order]
        rows["block"] = block[order]
        rows["length"] = spilled["length"][order]
        rows["name"] = spilled["name"][order]
        # The read file stays until the end: a task Dask runs again reads it again.
        np.save(folder / f"sorted-{task.number}.npy", rows)


# ---------------------------------------------------------------------- 5. partitions


@dataclass(frozen=True, slots=True)
class PartitionTask:
    """Subtrees ``first`` to ``end - 1`` of one asset's tree, from every range's sorted file."""

    context: TreeContext
    master_secret: bytes = field(repr=False)
    asset_seed: bytes = field(repr=False)
    top: int
    number: int
    first: int
    end: int
    ranges: int
    folder: str


@dataclass(frozen=True, slots=True)
class PartitionRoots:
    roots: Level  # the partition's subtree roots, at height ``top``
    pieces: int
    hashes: int


def _partition_rows(task: PartitionTask) -> npt.NDArray[Any]:
    """The partition's clients from every range, in range order (which is client order)."""
    folder = _asset_folder(task.folder, task.context.asset_number)
    parts = []
    for number in range(task.ranges):
        rows = np.load(folder / f"sorted-{number}.npy", mmap_mode="r")
        low, high = np.searchsorted(rows["subtree"], [task.first, task.end]).tolist()
        if high > low:
            parts.append(np.array(rows[low:high]))
    width = max([1, *(part.dtype["name"].itemsize for part in parts)])
    return np.concatenate([part.astype(_sorted_dtype(width)) for part in parts]) if parts else (
        np.empty(0, dtype=_sorted_dtype(width)))


def build_partition(task: PartitionTask) -> PartitionRoots:
    """A task: build the partition's subtrees as the in-memory plan's jobs, spill them, and
    return their roots."""
    context = task.context
    rows = _partition_rows(task)
    order = np.argsort(rows["subtree"], kind="stable")
    rows = rows[order]
    width = rows.dtype["name"].itemsize
    names = _name_rows(rows["name"], width)
    bounds = np.searchsorted(rows["subtree"], np.arange(task.first, task.end + 1,
                                                        dtype=np.uint64))
    results = []
    for number in range(task.first, task.end):
        low, high = int(bounds[number - task.first]), int(bounds[number - task.first + 1])
        if low == high:
            continue  # an empty subtree is a padding node of the level above
        chosen = slice(low, high)
        results.append(build_subtree(SubtreeJob(
            context, task.master_secret,
            subtree_seed(task.asset_seed, context.asset_number, number),
            task.top, number, names[chosen], rows["length"][chosen], rows["client"][chosen],
            rows["value"][chosen], rows["count"][chosen], rows["block"][chosen],
            context.block_levels)))
    return _spill_partition(task, rows, results)


def _spill_partition(task: PartitionTask, rows: npt.NDArray[Any], results: Sequence[Any]
                     ) -> PartitionRoots:
    folder = _asset_folder(task.folder, task.context.asset_number)
    client, piece, index, value = (
        np.concatenate([_empty, *parts]) for parts in zip(
            *(r.placement for r in results), strict=True)) if results else (_empty,) * 4
    by_name = np.argsort(rows["name"], kind="stable")
    names = rows["name"][by_name]
    # A client's number finds its rank among the partition's numbers, and that its row of
    # ``names``: the k-th smallest number is the owner of name row ``owner[k]``.
    owner = np.argsort(rows["client"][by_name], kind="stable").astype(np.uint64)
    positions = np.sort(rows["client"])
    owners = owner[np.searchsorted(positions, client)] if len(client) else _empty
    arrays: dict[str, Any] = {"client": client, "owner": owners, "piece": piece, "index": index,
                              "value": value}
    levels: dict[int, Level] = {}
    for kept in zip(*(result.kept for result in results), strict=True):
        levels[kept[0].height] = concatenate(kept)
    for height, level in levels.items():
        arrays |= {f"index_{height}": level.index, f"sums_{height}": level.sums,
                   f"hashes_{height}": level.hashes}
    np.savez(folder / f"part-{task.number}.npz", **arrays)
    np.save(folder / f"names-{task.number}.npy", names)
    roots = levels.get(task.top, Level(task.top, _empty, _empty,
                                       np.zeros((0, 32), dtype=np.uint8)))
    return PartitionRoots(roots, len(index), sum(result.hashes for result in results))


# ---------------------------------------------------------------------- the round


@dataclass(frozen=True, slots=True)
class _AssetPlan:
    asset: Asset
    clients: int
    owed: int
    total: int
    offsets: list[tuple[int, int]]  # per range: owed before it, clients before it
    stream_counter: int = 0  # the stream block its blocks are drawn from
    pieces: int = 0


def _plans(assets: Sequence[Asset], counts: Sequence[RangeCounts]) -> list[_AssetPlan]:
    plans = []
    for asset in assets:
        offsets, owed, clients, total = [], 0, 0, 0
        for range_counts in counts:
            offsets.append((owed, clients))
            range_clients, range_owed, range_total = range_counts[asset.number]
            clients, owed, total = clients + range_clients, owed + range_owed, total + range_total
        if total > limits.proof_value_max:
            raise InputError(Result.overflows_balance, f"{asset.code} total is 2^64 or more")
        plans.append(_AssetPlan(asset, clients, owed, total, offsets))
    return plans


@dataclass(frozen=True, slots=True)
class Prepared:
    """Stages 1 to 4 done: per asset its plan, its tree's context and subtree top; the sorted
    files of ``ranges`` ranges written, ready for the partitions."""

    plans: list[_AssetPlan]
    tops: dict[int, tuple[TreeContext, int]]
    ranges: int


def prepare_partitions(
    executor: Executor, cut: BalanceCut, ordered: Sequence[Asset], folder: str, *, seed: bytes,
    round_id: bytes, master_secret: bytes, clients_per_range: int, clock: Stages,
) -> Prepared:
    """Read, draw, count and sort (stages 1 to 4) into ``folder``: what the partitions are
    built from, by a build and by an audit that rebuilds the round."""
    ranges = client_ranges(cut.client_number_max, clients_per_range)
    counts = list(executor.map(read_range, (
        RangeTask(cut.reader(clients), number, folder, tuple(ordered))
        for number, clients in enumerate(ranges))))
    plans = _plans(ordered, counts)
    clock.mark("read")
    draws = _Draws(seed)
    for position, plan in enumerate(plans):  # the stream's blocks, in the in-memory order
        draw_counts(_asset_folder(folder, plan.asset.number) / "drawn.u8", plan.owed, draws)
        plans[position] = replace(plan, stream_counter=draws.take() if plan.owed else -1)
    clock.mark("draw_counts")
    pieces = [0] * len(plans)
    for range_pieces in executor.map(count_range, _range_draws(folder, plans, len(ranges))):
        for position, plan in enumerate(plans):
            pieces[position] += range_pieces[plan.asset.number]
    clock.mark("count")
    for position in range(len(plans)):
        plans[position] = replace(plans[position], pieces=pieces[position])
    tops = _draw_blocks(folder, plans, draws, round_id, master_secret)
    clock.mark("draw_blocks")
    shifts = {number: top - context.block_levels for number, (context, top) in tops.items()}
    list(executor.map(sort_range, _range_draws(folder, plans, len(ranges), shifts)))
    clock.mark("sort")
    return Prepared(plans, tops, len(ranges))


@dataclass
class SpilledBuild:
    """What a spilled build leaves: the signed round, and the directory that answers proofs."""

    round: Round
    folder: str
    manifest: dict[str, Any]
    seconds: dict[str, float] = field(default_factory=dict)  # wall time of each stage


def build_spilled_round(
    executor: Executor, cut: BalanceCut, assets: Mapping[str, Asset], folder: str, *,
    snapshot: int, previous_round_hash: bytes, master_secret: bytes, signing_seed: bytes,
    seed: bytes, snapshot_hash: bytes | None = None, snapshot_ns: int | None = None,
    reserves: ReservesAttestation | None = None,
    clients_per_range: int = limits.batch_range_clients_default,
    clients_per_partition: int = limits.batch_range_clients_default,
) -> SpilledBuild:
    """The round ``core/por/round.py``'s ``build_round`` makes from the same cut and seed,
    built in stages on ``executor`` with every per-client figure spilled to ``folder`` (which
    must not exist, or be empty). A tree partition holds about ``clients_per_partition``
clients (a power of two of subtrees); neither it nor the ranges change the round. With
``reserves``, the round attests them and proves each pool's solvency as ``build_round`` does."""
    assert len(master_secret) >= 32
    Path(folder).mkdir(parents=True, exist_ok=True)
    assert not any(Path(folder).iterdir())
    ordered = tuple(sorted(assets.values(), key=lambda asset: asset.number))
    round_id = round_id_of(previous_round_hash, snapshot)
    clock = Stages()
    prepared = prepare_partitions(executor, cut, ordered, folder, seed=seed, round_id=round_id,
                                  master_secret=master_secret,
                                  clients_per_range=clients_per_range, clock=clock)
    plans, tops, ranges = prepared.plans, prepared.tops, prepared.ranges
    trees: dict[int, AssetTree] = {}
    entries: list[dict[str, Any]] = []
    manifest = {"format": spill_format, "round_id": round_id.hex(), "assets": entries}
    asset_seeds = {asset.number: stream_key_of(seed, asset.number) for asset in ordered}
    for plan in plans:
        context, top = tops[plan.asset.number]
        tree, entry = _build_tree(
            executor, plan, shape=(context, top), spill=(folder, ranges),
            secrets=(master_secret, asset_seeds[plan.asset.number]),
            clients_per_partition=clients_per_partition)
        trees[plan.asset.number] = tree
        entries.append(entry)
    clock.mark("partitions")
    remove_working_files(folder, plans, ranges)
    (Path(folder) / "spill.json").write_text(json.dumps(manifest, indent=1) + "\n")
    statements = {} if reserves is None else {
        number: prove_pools(round_id, number, positions, master_secret=master_secret, seed=seed)
        for number, positions in reserves.pools.items() if positions and number in trees}
    built = sign_round(round_id, previous_round_hash, snapshot, trees,
                       signing_seed=signing_seed, reserves=reserves, snapshot_hash=snapshot_hash,
                       snapshot_ns=snapshot_ns, pool_statements=statements)
    clock.mark("sign")
    return SpilledBuild(built, folder, manifest, clock.seconds)


def build_spilled(
    executor: Executor, cut: BalanceCut, assets: Mapping[str, Asset], folder: str, *,
    snapshot: int, previous_round_hash: bytes, master_secret: bytes, signing_seed: bytes,
    seed: bytes, snapshot_hash: bytes | None, snapshot_ns: int | None,
    reserves: ReservesAttestation | None, clients_per_range: int,
) -> tuple[Round, dict[int, int]]:
    """``build_spilled_round`` as the service's ``SpilledRoundBuilder`` port: the round and
    each asset's count of pieces."""
    built = build_spilled_round(
        executor, cut, assets, folder, snapshot=snapshot, previous_round_hash=previous_round_hash,
        master_secret=master_secret, signing_seed=signing_seed, seed=seed,
        snapshot_hash=snapshot_hash, snapshot_ns=snapshot_ns, reserves=reserves,
        clients_per_range=clients_per_range)
    return built.round, {entry["asset_number"]: entry["pieces"]
                         for entry in built.manifest["assets"]}


class Stages:
    """Wall time per stage, for the benchmark's report."""

    def __init__(self) -> None:
        self.seconds: dict[str, float] = {}
        self._last = time.perf_counter()

    def mark(self, stage: str) -> None:
        now = time.perf_counter()
        self.seconds[stage] = round(now - self._last, 3)
        self._last = now


def _draw_blocks(
    folder: str, plans: Sequence[_AssetPlan], draws: _Draws, round_id: bytes,
    master_secret: bytes,
) -> dict[int, tuple[TreeContext, int]]:
    """Each tree's context (its height, from its pieces) and subtree top; each owed client's
    block drawn to the asset's ``blocks.u64``."""
    tops = {}
    for plan in plans:
        if plan.pieces > limits.proof_entries_max * limits.proof_pieces_max:
            raise InputError(Result.batch_too_large, f"{plan.pieces} pieces")
        context = tree_context(round_id, plan.asset, tree_height(plan.pieces), master_secret)
        tops[plan.asset.number] = (context, subtree_top(context, plan.pieces))
        if plan.owed:
            draw_blocks(_asset_folder(folder, plan.asset.number) / "blocks.u64", plan.owed,
                        1 << (context.height - context.block_levels),
                        draws.block(plan.stream_counter))
    return tops


def _range_draws(folder: str, plans: Sequence[_AssetPlan], ranges: int,
                 shifts: Mapping[int, int] | None = None) -> Iterator[RangeDraws]:
    for number in range(ranges):
        yield RangeDraws(number, folder, {plan.asset.number: plan.offsets[number]
                                          for plan in plans}, dict(shifts or {}))


def partitions_of(subtrees: int, owed: int, clients_per_partition: int) -> int:
    """Subtrees per partition: a power of two, about ``clients_per_partition`` clients each."""
    per_partition = max(1, -(-subtrees * clients_per_partition // max(owed, 1)))
    return min(subtrees, 1 << (per_partition - 1).bit_length())


def partition_tasks(
    plan: _AssetPlan, *, shape: tuple[TreeContext, int], spill: tuple[str, int],
    secrets: tuple[bytes, bytes], per_partition: int,
) -> Iterator[PartitionTask]:
    """One asset's partition tasks, ``per_partition`` subtrees each."""
    (context, top), (folder, ranges), (master_secret, asset_seed) = shape, spill, secrets
    partitions = (1 << (context.height - top)) // per_partition
    for number in range(partitions):
        yield PartitionTask(context, master_secret, asset_seed, top, number,
                            number * per_partition, (number + 1) * per_partition, ranges, folder)


def join_roots(context: TreeContext, roots: Sequence[Level]) -> tuple[dict[int, Level], int]:
    """The tree's top: the partitions' subtree roots (in partition order) joined up to the
    root, every level from the subtrees' height; and the SHA-256 calls made."""
    level = concatenate([found for found in roots if len(found.index)])
    upper = {level.height: level}
    hashes = 0
    while level.height < context.height:
        level, made, _ = level_up(context, level)
        upper[level.height] = level
        hashes += made
    return upper, hashes


def _build_tree(
    executor: Executor, plan: _AssetPlan, *, shape: tuple[TreeContext, int],
    spill: tuple[str, int], secrets: tuple[bytes, bytes], clients_per_partition: int,
) -> tuple[AssetTree, dict[str, Any]]:
    """Build one asset's partitions on the executor and join their roots under the top."""
    (context, top), (folder, _), (master_secret, _) = shape, spill, secrets
    per_partition = partitions_of(1 << (context.height - top), plan.owed, clients_per_partition)
    if plan.owed:
        found = list(executor.map(build_partition, partition_tasks(
            plan, shape=shape, spill=spill, secrets=secrets, per_partition=per_partition)))
    else:  # nothing owed: the tree is all padding, one job of the in-memory plan's shape
        found = [padding_partition(context, master_secret, folder)]
    upper, made = join_roots(context, [part.roots for part in found])
    hashes = sum(part.hashes for part in found) + made
    empty = Placement(context.height, context.block_levels, _empty, _empty, _empty, _empty)
    tree = AssetTree(plan.asset, context, (), empty, upper, master_secret, hashes)
    assert tree.root[0] == plan.total
    np.savez(_asset_folder(folder, plan.asset.number) / "top.npz", **top_arrays(upper))
    entry = {"asset": plan.asset.code, "asset_number": plan.asset.number,
             "height": context.height, "top": top, "block_levels": context.block_levels,
             "partitions": len(found), "subtrees_per_partition": per_partition,
             "clients": plan.clients, "owed": plan.owed,
             "pieces": sum(part.pieces for part in found), "hashes": hashes}
    return tree, entry


def top_arrays(upper: Mapping[int, Level]) -> dict[str, Any]:
    """A tree's top levels as ``top.npz`` keeps them."""
    return {f"{name}_{height}": getattr(upper[height], name)
            for height in upper for name in ("index", "sums", "hashes")}


def padding_partition(context: TreeContext, master_secret: bytes, folder: str) -> PartitionRoots:
    asset_folder = _asset_folder(folder, context.asset_number)
    asset_folder.mkdir(parents=True, exist_ok=True)
    task = PartitionTask(context, master_secret, b"", context.height, 0, 0, 1, 0, folder)
    result = build_subtree(SubtreeJob(
        context, master_secret, bytes(32), context.height, 0, np.zeros((0, 1), np.uint8),
        _empty, _empty, _empty, _empty, _empty, context.block_levels))
    return _spill_partition(task, np.empty(0, dtype=_sorted_dtype(1)), [result])


def remove_working_files(folder: str, plans: Sequence[_AssetPlan], ranges: int) -> None:
    for plan in plans:
        asset_folder = _asset_folder(folder, plan.asset.number)
        working = (*(f"read-{n}.npy" for n in range(ranges)),
                   *(f"sorted-{n}.npy" for n in range(ranges)))
        for name in ("drawn.u8", "blocks.u64", *working):
            (asset_folder / name).unlink(missing_ok=True)


# ---------------------------------------------------------------------- proofs


def _manifest(path: Path, round_id: str) -> dict[str, Any]:
    """A spilled round's manifest, refused by name when missing, unreadable, of another format
    or of another round (a damaged or misplaced spill directory)."""
    try:
        manifest = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise StorageError(f"no spill manifest at {path}") from None
    except (OSError, json.JSONDecodeError, UnicodeDecodeError) as error:
        raise InputError(Result.line_malformed, f"spill manifest {path}: {error}") from None
    if not isinstance(manifest, dict) or manifest.get("format") != spill_format:
        raise InputError(Result.line_malformed, f"{path}: not a spill manifest of format "
                         f"{spill_format}")
    if manifest.get("round_id") != round_id:
        raise IntegrityError(f"{path} is the spill of another round")
    return manifest


class SpilledTrees:
    """Proofs read back from a spill directory (``build_spilled_round``'s)."""

    def __init__(self, folder: str, record: Mapping[str, Any], assets: Mapping[str, Asset],
                 master_secret: bytes) -> None:
        self.folder = folder
        self.record = dict(record)
        self.manifest = _manifest(Path(folder) / "spill.json", record["round_id"])
        self.assets = {asset.number: asset for asset in assets.values()}
        self.master_secret = master_secret
        self.round_hash = round_hash(record).hex()

    def _context(self, entry: Mapping[str, Any]) -> TreeContext:
        asset = self.assets[entry["asset_number"]]
        return tree_context(bytes.fromhex(self.record["round_id"]), asset, entry["height"],
                            self.master_secret, format_version)

    def partition_of(self, entry: Mapping[str, Any], client: str) -> int | None:
        """The partition holding the client's pieces in one asset (None: owed nothing)."""
        wanted = client.encode("utf-8")
        folder = _asset_folder(self.folder, entry["asset_number"])
        for number in range(entry["partitions"]):
            names = np.load(folder / f"names-{number}.npy", mmap_mode="r")
            at = int(np.searchsorted(names, wanted))
            if at < len(names) and names[at] == wanted:
                return number
        return None

    def tree_of(self, entry: Mapping[str, Any], partition: int) -> AssetTree:
        """One partition's part of an asset's tree, with the levels above it: an ``AssetTree``
        that answers the proofs of the partition's clients."""
        context = self._context(entry)
        folder = _asset_folder(self.folder, entry["asset_number"])
        names = np.load(folder / f"names-{partition}.npy")
        upper: dict[int, Level] = {}
        with np.load(folder / f"part-{partition}.npz") as part, np.load(folder / "top.npz") as top:
            for height in range(context.block_levels, context.height + 1):
                arrays = top if height >= entry["top"] else part
                upper[height] = Level(height, arrays[f"index_{height}"],
                                      arrays[f"sums_{height}"], arrays[f"hashes_{height}"])
            placement = Placement(context.height, context.block_levels, part["owner"],
                                  part["piece"], part["index"], part["value"])
        clients = tuple(name.decode("utf-8") for name in names.tolist())
        return AssetTree(self.assets[entry["asset_number"]], context, clients, placement, upper,
                         self.master_secret, entry["hashes"])

    def whole_tree(self, entry: Mapping[str, Any]) -> AssetTree:
        """An asset's whole tree, put together from its partitions (an audit's: it holds
        every piece). Clients owed nothing in the asset have no name here (empty strings
        stand at their numbers): they have no proof either."""
        context = self._context(entry)
        folder = _asset_folder(self.folder, entry["asset_number"])
        columns: dict[str, list[Any]] = {}
        names = [""] * entry["clients"]
        for number in range(entry["partitions"]):
            owners = np.load(folder / f"names-{number}.npy").tolist()
            with np.load(folder / f"part-{number}.npz") as part:
                for name in part.files:
                    columns.setdefault(name, []).append(part[name])
                for client, owner in zip(part["client"].tolist(), part["owner"].tolist(),
                                         strict=True):
                    names[client] = owners[owner].decode("utf-8")
        joined = {name: np.concatenate(parts) for name, parts in columns.items()}
        upper = {height: Level(height, joined[f"index_{height}"], joined[f"sums_{height}"],
                               joined[f"hashes_{height}"])
                 for height in range(context.block_levels, entry["top"])}
        with np.load(folder / "top.npz") as top:
            for height in range(entry["top"], context.height + 1):
                upper[height] = Level(height, top[f"index_{height}"], top[f"sums_{height}"],
                                      top[f"hashes_{height}"])
        placement = Placement(context.height, context.block_levels, joined["client"],
                              joined["piece"], joined["index"], joined["value"])
        return AssetTree(self.assets[entry["asset_number"]], context, tuple(names), placement,
                         upper, self.master_secret, entry["hashes"])

    def whole_trees(self) -> dict[int, AssetTree]:
        return {entry["asset_number"]: self.whole_tree(entry)
                for entry in self.manifest["assets"] if entry["asset_number"] in self.assets}

    def client_trees(self, client: str) -> dict[int, AssetTree]:
        """Per asset the client is owed, the partition's tree that answers their proof."""
        found = {}
        for entry in self.manifest["assets"]:
            if entry["asset_number"] not in self.assets:
                continue
            partition = self.partition_of(entry, client)
            if partition is not None:
                found[entry["asset_number"]] = self.tree_of(entry, partition)
        return found

    def proofs(self, client: str) -> list[dict[str, Any]]:
        """The client's inclusion proofs in every asset they are owed, as the in-memory round
        gives them."""
        found = []
        for entry in sorted(self.manifest["assets"], key=lambda e: e["asset_number"]):
            partition = self.partition_of(entry, client)
            if partition is not None:
                proof = inclusion_proof(self.tree_of(entry, partition), client, self.round_hash)
                assert proof is not None
                found.append(proof)
        return found


def remove_spill(folder: str) -> None:
    """Remove a spill directory (a failed or finished benchmark's)."""
    shutil.rmtree(folder, ignore_errors=True)
