"""One asset's Merkle sum tree: levels built in bulk, subtrees, the joined tree.

Each level is a sorted array of indices, an array of sums and a matrix of hashes. Empty
subtrees are padding nodes of sum zero whose hashes come from a key only the firm holds. The
tree is cut into subtrees (``SubtreeJob``) that the shell may build elsewhere (as tasks on a
Dask cluster) by passing its own ``map_jobs`` (an executor's ``map``): the jobs and their
results are plain picklable values, and the tree does not depend on which process built which
subtree.
"""

from __future__ import annotations

import hashlib
import itertools
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import numpy.typing as npt

from ringfence.core import limits
from ringfence.core.errors import InputError, Result
from ringfence.core.money import Asset
from ringfence.core.por.hashes import (
    U64,
    Bytes2D,
    as_rows,
    big_endian,
    client_keys_encoded,
    encode_names,
    format_version,
    format_versions,
    hash_rows,
    hkdf_sha256,
    hmac_rows,
    identity_hashes_encoded,
    leaf_salt_message,
    node_preimage_bytes,
    round_nonces_encoded,
    salt_leaf,
    salt_leaf_bound,
    salt_pad,
    salt_stream,
    sibling_bytes,
    tag_leaf,
    tag_node,
    tag_pad,
)
from ringfence.core.por.liabilities import proof_units_of, total_of
from ringfence.core.por.placement import (
    Placement,
    RandomStream,
    pieces_counts,
    place_in_blocks,
    tree_height,
)

# ---------------------------------------------------------------------- levels


@dataclass(frozen=True, slots=True)
class TreeContext:
    """What every part of one asset's tree is hashed with; ``version`` is the round's format
    (3: leaves bound to their client's identity; 2: rebuilt only to audit older rounds)."""

    round_id: bytes
    asset_number: int
    height: int
    block_levels: int
    pad_key: bytes
    version: int = format_version

    def __post_init__(self) -> None:
        assert self.version in format_versions

    def _pad_prefix(self, height: int) -> bytes:
        return (tag_pad + self.pad_key + self.round_id + self.asset_number.to_bytes(4, "big")
                + height.to_bytes(1, "big"))

    def pad_hashes(self, height: int, indexes: U64) -> Bytes2D:
        """Padding hashes for empty subtrees at ``height`` (``indexes`` sorted ascending).

        At and above the block height each is one SHA-256 of the pad prefix and its index.
        Below it, where most padding is, each block's pads at one height are read in index
        order from one SHAKE-256 stream keyed by the pad prefix and the block's number: the
        same values whether the whole tree or one block is built, for a fraction of the cost.
        """
        prefix = self._pad_prefix(height)
        if height >= self.block_levels:
            rows = np.empty((len(indexes), len(prefix) + 8), dtype=np.uint8)
            rows[:, : len(prefix)] = np.frombuffer(prefix, dtype=np.uint8)
            rows[:, len(prefix) :] = big_endian(indexes)
            return as_rows(hash_rows(rows))
        blocks = indexes >> np.uint64(self.block_levels - height)
        starts = np.flatnonzero(np.r_[True, blocks[1:] != blocks[:-1]])
        counts = np.diff(np.r_[starts, len(blocks)]) * 32
        shake = hashlib.shake_256
        return as_rows(b"".join(
            shake(prefix + block.to_bytes(8, "big")).digest(count)
            for block, count in zip(blocks[starts].tolist(), counts.tolist(), strict=True)))


@dataclass(frozen=True, slots=True)
class Level:
    """The nodes of one height that are not padding: sorted indexes, sums, hashes."""

    height: int
    index: U64
    sums: U64
    hashes: Bytes2D

    def node(self, index: int) -> tuple[int, bytes] | None:
        at = int(np.searchsorted(self.index, np.uint64(index)))
        if at < len(self.index) and int(self.index[at]) == index:
            return int(self.sums[at]), self.hashes[at].tobytes()
        return None


def leaf_secrets(
    context: TreeContext, master_secret: bytes, names: Bytes2D, lengths: U64
) -> tuple[Bytes2D, Bytes2D | None]:
    """Per client (rows in the order of ``names``): the key their salts are made with, and
    in format 3 the identity hash their leaves bind (None in format 2)."""
    if context.version == 2:
        return client_keys_encoded(master_secret, names, lengths), None
    nonces = round_nonces_encoded(master_secret, context.round_id, names, lengths)
    return nonces, identity_hashes_encoded(names, lengths)


def _salt_messages(context: TreeContext, piece: U64, identities: Bytes2D | None) -> Bytes2D:
    """Each piece's salt message (``hashes.leaf_salt_message``) and HKDF's 0x01, one per row."""
    if identities is None:
        messages = as_rows(b"".join(
            leaf_salt_message(context.round_id, context.asset_number, number) + b"\x01"
            for number in range(limits.proof_pieces_max)), len(salt_leaf) + 32 + 4 + 4 + 1)
        return messages[piece.astype(np.intp)]
    head = salt_leaf_bound + context.round_id + context.asset_number.to_bytes(4, "big")
    rows = np.empty((len(piece), len(head) + 4 + 32 + 1), dtype=np.uint8)
    rows[:, : len(head)] = np.frombuffer(head, dtype=np.uint8)
    rows[:, len(head) : len(head) + 4] = piece.astype(">u4").view(np.uint8).reshape(-1, 4)
    rows[:, len(head) + 4 : -1] = identities
    rows[:, -1] = 1
    return rows


def leaf_level(
    context: TreeContext, keys: Bytes2D, piece: U64, index: U64, value: U64, *,
    identities: Bytes2D | None = None,
) -> Level:
    """Leaves in bulk: each piece's salt (HMAC under its client's key, binding its client's
    identity in format 3), then its leaf hash."""
    assert bool(np.all(piece < limits.proof_pieces_max))
    assert (identities is None) == (context.version == 2)
    salts = hmac_rows(keys, _salt_messages(context, piece, identities))
    head = tag_leaf + context.round_id + context.asset_number.to_bytes(4, "big")
    rows = np.empty((len(index), len(head) + 8 + 8 + 32), dtype=np.uint8)
    rows[:, : len(head)] = np.frombuffer(head, dtype=np.uint8)
    rows[:, len(head) : len(head) + 8] = big_endian(index)
    rows[:, len(head) + 8 : len(head) + 16] = big_endian(value)
    rows[:, len(head) + 16 :] = salts
    return Level(0, index, value, as_rows(hash_rows(rows)))


def level_up(context: TreeContext, below: Level) -> tuple[Level, int, Bytes2D]:
    """The level above ``below``, the SHA-256 calls made, and the parents' preimages (row j
    holds parent j's tag and height, then its left and right child as u64 sum and hash: the
    sibling records a proof carries). A missing child is padding (sum zero, a pad hash).
    Sums cannot wrap: the caller has checked that the tree's total is below 2^64."""
    height = below.height + 1
    assert height <= context.height
    parent = below.index >> np.uint64(1)
    first = np.ones(len(parent), dtype=bool)
    first[1:] = parent[1:] != parent[:-1]
    index = parent[first]
    slot = (np.cumsum(first) - 1) * 2 + (below.index & np.uint64(1)).astype(np.intp)
    child_sums = np.zeros(2 * len(index), dtype=np.uint64)
    child_sums[slot] = below.sums
    present = np.zeros(2 * len(index), dtype=bool)
    present[slot] = True
    children = np.empty((2 * len(index), sibling_bytes), dtype=np.uint8)
    children[:, :8] = big_endian(child_sums)
    children[slot, 8:] = below.hashes
    missing = np.flatnonzero(~present)
    made = len(index)
    if len(missing):
        pads = index[missing >> 1] * np.uint64(2) + (missing & 1).astype(np.uint64)
        children[missing, 8:] = context.pad_hashes(below.height, pads)
        made += len(missing) if below.height >= context.block_levels else 0
    rows = np.empty((len(index), node_preimage_bytes), dtype=np.uint8)
    rows[:, :22] = np.frombuffer(tag_node + bytes([height]), dtype=np.uint8)
    rows[:, 22:] = children.reshape(len(index), 2 * sibling_bytes)
    sums = child_sums[0::2] + child_sums[1::2]
    return Level(height, index, sums, as_rows(hash_rows(rows))), made, rows


def concatenate(levels: Sequence[Level]) -> Level:
    """Levels of one height from disjoint, ordered subtrees, as one level."""
    assert len({level.height for level in levels}) == 1
    return Level(levels[0].height, np.concatenate([level.index for level in levels]),
                 np.concatenate([level.sums for level in levels]),
                 np.concatenate([level.hashes for level in levels]))


# ---------------------------------------------------------------------- subtrees


@dataclass(frozen=True, slots=True)
class SubtreeJob:
    """One subtree to place and build, with everything it needs (picklable: a worker process
    may build it). Its clients' blocks, and so their leaves, lie in
    [number << top, (number + 1) << top). Its randomness is its own stream, derived from the
    round's seed and its number, so the tree does not depend on which process builds it."""

    context: TreeContext
    master_secret: bytes = field(repr=False)
    seed: bytes = field(repr=False)
    top: int
    number: int
    names: Bytes2D  # the clients placed here, UTF-8 in zero-padded rows
    name_lengths: U64
    client: U64  # their numbers in the asset's client list
    value: U64  # what each is owed, in proof units (> 0)
    count: U64  # how many pieces each is split into
    block: U64  # the block each one's pieces go to
    keep_from: int  # levels at this height and above are returned, for proofs


@dataclass(frozen=True, slots=True)
class SubtreeResult:
    number: int
    placement: tuple[U64, U64, U64, U64]  # client, piece, index, value in index order
    kept: tuple[Level, ...]  # heights keep_from .. top, the last one holding the root
    hashes: int  # SHA-256 calls made (HMAC counts two)


def build_subtree(job: SubtreeJob) -> SubtreeResult:
    """Place the job's pieces, then build its subtree bottom-up, level by level, keeping the
    levels proofs will need."""
    context = job.context
    empty = np.zeros(0, dtype=np.uint64)
    if len(job.value):
        owner, piece, index, value = place_in_blocks(
            job.value, job.count, job.block, context.block_levels, RandomStream(job.seed))
        keys, identities = leaf_secrets(context, job.master_secret, job.names, job.name_lengths)
        owners = owner.astype(np.intp)
        level = leaf_level(context, keys[owners], piece, index, value,
                           identities=None if identities is None else identities[owners])
        hashes = (2 if identities is None else 3) * len(job.value) + 3 * len(index)
        placement = (job.client[owner.astype(np.intp)], piece, index, value)
    else:  # nothing owed in this asset: the tree is all padding
        assert job.top == context.height
        zero = np.zeros(1, dtype=np.uint64)
        level, hashes = Level(0, zero, zero, context.pad_hashes(0, zero)), 0
        placement = (empty, empty, empty, empty)
    kept = [level] if job.keep_from <= 0 else []
    while level.height < job.top:
        level, made, _ = level_up(context, level)
        hashes += made
        if level.height >= job.keep_from:
            kept.append(level)
    assert len(level.index) == 1
    assert int(level.index[0]) == job.number
    return SubtreeResult(job.number, placement, tuple(kept), hashes)


def subtree_top(context: TreeContext, pieces: int) -> int:
    """The height of the subtrees a tree of ``pieces`` pieces is cut into: about
    ``proof_subtree_leaves_max`` leaves each, and two at least past 2^15 pieces (enough work
    for two processes); never below a block."""
    wanted = max(1 if pieces >= 2**15 else 0,
                 (-(-pieces // limits.proof_subtree_leaves_max) - 1).bit_length())
    return context.height - min(wanted, context.height - context.block_levels)


def subtree_seed(asset_seed: bytes, asset_number: int, number: int) -> bytes:
    """Subtree ``number``'s own stream, from its asset's."""
    return hkdf_sha256(asset_seed, salt_stream, b"subtree" + asset_number.to_bytes(4, "big")
                       + number.to_bytes(8, "big"))


def subtree_jobs(
    context: TreeContext, master_secret: bytes, seed: bytes,
    names: tuple[Bytes2D, U64], owed: tuple[U64, U64, U64, U64],
) -> list[SubtreeJob]:
    """Cut the tree into aligned subtrees of about ``proof_subtree_leaves_max`` leaves (and
    at least two once there is enough work for two processes); a block never straddles two
    subtrees, so each client's leaves are in one job. ``owed`` holds, per client owed
    anything: their number, value, count of pieces and block."""
    client, value, count, block = owed
    pieces = int(np.sum(count))
    top = subtree_top(context, pieces)
    cut = context.height - top
    empty = np.zeros(0, dtype=np.uint64)
    if pieces == 0:
        return [SubtreeJob(context, master_secret, seed, top, 0, names[0][:0], empty, empty,
                           empty, empty, empty, context.block_levels)]
    subtree = block >> np.uint64(top - context.block_levels)
    order = np.argsort(subtree, kind="stable")
    bounds = np.searchsorted(subtree[order], np.arange(2**cut + 1, dtype=np.uint64))
    jobs = []
    for number in range(2**cut):
        chosen = order[int(bounds[number]) : int(bounds[number + 1])]
        if not len(chosen):
            continue  # an empty subtree is a padding node of the level above
        job_seed = subtree_seed(seed, context.asset_number, number)
        jobs.append(SubtreeJob(
            context, master_secret, job_seed, top, number, names[0][client[chosen]],
            names[1][client[chosen]], client[chosen], value[chosen], count[chosen],
            block[chosen], context.block_levels))
    return jobs


# ---------------------------------------------------------------------- trees


Node = tuple[int, bytes]  # (sum in proof units, hash)


@dataclass(frozen=True, slots=True)
class AssetTree:
    """One asset's tree as kept to answer proofs: the placed leaves and every level from the
    block height up (a proof rebuilds the one block it needs from the leaves)."""

    asset: Asset
    context: TreeContext
    clients: tuple[str, ...]  # every client given, in the order given; ``client`` indexes it
    placement: Placement
    upper: Mapping[int, Level]  # heights block_levels .. height
    master_secret: bytes = field(repr=False)
    hashes: int = 0  # SHA-256 calls the build made
    # Filled by ``index_clients``: client name -> number, and the pieces ordered by client.
    lookup: dict[str, Any] = field(default_factory=dict, repr=False, compare=False)

    def index_clients(self) -> None:
        """Prepare for many proofs: without this index each proof scans the clients."""
        if not self.lookup:
            order = np.argsort(self.placement.client, kind="stable")
            self.lookup.update(numbers={name: n for n, name in enumerate(self.clients)},
                               order=order, owners=self.placement.client[order])

    def pieces_of(self, client: str) -> npt.NDArray[np.intp]:
        """Rows of the client's pieces in the placement (empty when they have none)."""
        if self.lookup:
            number = self.lookup["numbers"].get(client)
            if number is None:
                return np.zeros(0, dtype=np.intp)
            low, high = np.searchsorted(self.lookup["owners"], [number, number + 1]).tolist()
            rows: npt.NDArray[np.intp] = self.lookup["order"][low:high]
            return rows
        try:
            number = self.clients.index(client)
        except ValueError:
            return np.zeros(0, dtype=np.intp)
        return np.flatnonzero(self.placement.client == np.uint64(number))

    @property
    def height(self) -> int:
        return self.context.height

    @property
    def root(self) -> Node:
        top = self.upper[self.height]
        assert len(top.index) == 1
        return int(top.sums[0]), top.hashes[0].tobytes()

    def node(self, height: int, index: int) -> Node:
        """A node at or above the block height (padding when no leaf is below it)."""
        found = self.upper[height].node(index)
        if found is not None:
            return found
        return 0, self.context.pad_hashes(height, np.array([index], np.uint64))[0].tobytes()


def combine(
    asset: Asset, context: TreeContext, clients: tuple[str, ...], *,
    master_secret: bytes, results: Sequence[SubtreeResult],
) -> AssetTree:
    """Join built subtrees (in order) under the top of the tree."""
    assert results
    assert [result.number for result in results] == sorted(r.number for r in results)
    client, piece, index, value = (
        np.concatenate(parts) for parts in zip(*(r.placement for r in results), strict=True))
    placement = Placement(context.height, context.block_levels, client, piece, index, value)
    by_height: dict[int, Level] = {}
    for levels in zip(*(result.kept for result in results), strict=True):
        by_height[levels[0].height] = concatenate(levels)
    level = by_height[max(by_height)]
    hashes = sum(result.hashes for result in results)
    while level.height < context.height:
        level, made, _ = level_up(context, level)
        by_height[level.height] = level
        hashes += made
    tree = AssetTree(asset, context, clients, placement, by_height, master_secret, hashes)
    assert tree.root[0] == total_of(placement.value)
    return tree


# ---------------------------------------------------------------------- rounds

MapJobs = Callable[[Callable[[SubtreeJob], SubtreeResult], Sequence[SubtreeJob]],
                   Iterable[SubtreeResult]]


def tree_context(
    round_id: bytes, asset: Asset, height: int, master_secret: bytes,
    version: int = format_version,
) -> TreeContext:
    """The hashing context of one asset's tree in one round (the pad key is derived per
    round and asset from the master secret)."""
    pad_key = hkdf_sha256(master_secret, salt_pad, round_id + asset.number.to_bytes(4, "big"))
    return TreeContext(round_id, asset.number, height,
                       min(limits.proof_neighbourhood_levels, height), pad_key, version)


def plan_trees(
    round_id: bytes,
    liabilities: Sequence[tuple[Asset, Mapping[str, int]]],
    master_secret: bytes,
    seed: bytes,
    *,
    version: int = format_version,
) -> list[tuple[Asset, TreeContext, tuple[str, ...], list[SubtreeJob]]]:
    """Per asset: how many pieces each client gets (which fixes the tree's height), which
    block each client's pieces go to, and the subtree jobs (the serial part of a build)."""
    stream = RandomStream(seed)
    plans = []
    for asset, balances in sorted(liabilities, key=lambda pair: pair[0].number):
        names = tuple(balances)
        units = proof_units_of(balances.values(), asset)
        # Sums only grow upwards, so a total below 2^64 bounds every node sum in the tree.
        if total_of(units) > limits.proof_value_max:
            raise InputError(Result.overflows_balance, f"{asset.code} total is 2^64 or more")
        owed = np.flatnonzero(units).astype(np.uint64)
        counts = pieces_counts(units[owed], stream)
        pieces = int(np.sum(counts))
        if pieces > limits.proof_entries_max * limits.proof_pieces_max:
            raise InputError(Result.batch_too_large, f"{pieces} pieces")
        context = tree_context(round_id, asset, tree_height(pieces), master_secret, version)
        blocks = stream.below_many(np.full(
            len(owed), 1 << (context.height - context.block_levels), dtype=np.uint64))
        encoded = encode_names(names)
        jobs = subtree_jobs(context, master_secret, stream.key_for(asset.number), encoded,
                            (owed, units[owed], counts, blocks))
        plans.append((asset, context, names, jobs))
    return plans


def build_trees(
    round_id: bytes,
    liabilities: Sequence[tuple[Asset, Mapping[str, int]]],
    master_secret: bytes,
    seed: bytes,
    map_jobs: MapJobs = map,
    *,
    version: int = format_version,
) -> dict[int, AssetTree]:
    """Every asset's tree. ``map_jobs`` builds the subtrees (the shell may pass a process
    pool's ``map``); the result does not depend on it. ``version`` 2 rebuilds a tree of a
    round made before leaves were bound to identities (for its audit)."""
    assert len(round_id) == 32
    assert len(master_secret) >= 32
    assert len({asset.number for asset, _ in liabilities}) == len(liabilities)
    plans = plan_trees(round_id, liabilities, master_secret, seed, version=version)
    jobs = [job for *_, asset_jobs in plans for job in asset_jobs]
    results = iter(list(map_jobs(build_subtree, jobs)))
    trees = {}
    for asset, context, names, asset_jobs in plans:
        built = list(itertools.islice(results, len(asset_jobs)))
        trees[asset.number] = combine(asset, context, names, master_secret=master_secret,
                                      results=built)
    return trees


