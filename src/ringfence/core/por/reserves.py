"""Proof of liabilities: one Merkle sum tree per asset over client balances at a snapshot.

Pure: the caller passes the balances, the master secret, the signing key and the randomness
(a seed, expanded here with SHAKE-256 into a deterministic stream); nothing here reads a
clock, a file or the operating system's random source, or starts a process. The shell may
build subtrees in parallel by passing its own ``map_jobs`` (an executor's ``map``): the jobs
and their results are plain picklable values.

Design (shared/research/proof-of-reserves.md §4, attacks §3; format in docs/proof-of-reserves.md):

- One tree per asset, never netted across assets (attack 6).
- Balances are converted to the asset's proof unit (10^-9 of the major unit at the finest, so
  gwei for ETH and sats for BTC) rounding up, so nothing owed is understated; every leaf and
  every node sum must stay below 2^64 (attack 3).
- Each balance is split into 2 to 4 random positive pieces at random distinct slots of one
  random neighbourhood (an aligned block of 2^10 slots) of a sparse tree of height
  ceil(log2(pieces)) + 3; empty subtrees are padding nodes of sum zero whose hashes come from
  a key only the firm holds. Keeping a client's pieces in one neighbourhood lets their paths
  share the top of the tree, which keeps a proof under 4 KB.
- A leaf hashes a domain tag, the round, the asset, its index, its value and a salt derived
  with HMAC from the client's own key, itself derived from the master secret: only the client
  can recognise their leaves, and equal balances never share a leaf (attack 4); salts change
  every round (attack 11).
- A parent hashes a domain tag, its height, and both children's sums and hashes in fixed-width
  big-endian (attacks 1 and 2).
- A round record holds per-asset roots and totals, the reserves (or that they are not yet
  attested) and the previous round's hash, and is signed with Ed25519 (attack 10).

Speed: the build never makes a Python object per node. Each level is a sorted array of
indices, an array of sums and a matrix of hashes; the preimages of a whole level are laid out
by numpy in one matrix and hashed by a pipeline of C iterators (``struct.iter_unpack`` into
``hashlib.sha256``), HMAC included (written out over SHA-256 so that it runs in bulk; the
tests check it against ``hmac``).

The hashing functions are written again, independently, in ``verifier.py``, which a client
can read; the tests check that the two agree.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import itertools
import json
import struct
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Final, cast

import nacl.exceptions
import nacl.signing
import numpy as np
import numpy.typing as npt

from ringfence.core import limits
from ringfence.core.errors import InputError, Result
from ringfence.core.money import Asset, check_units, mul_div_ceil

proof_value_max: Final = limits.proof_value_max
proof_tree_height_max: Final = limits.proof_tree_height_max
proof_pieces_min: Final = limits.proof_pieces_min
proof_pieces_max: Final = limits.proof_pieces_max
proof_height_slack_levels: Final = limits.proof_height_slack_levels
proof_neighbourhood_levels: Final = limits.proof_neighbourhood_levels
proof_entries_max: Final = limits.proof_entries_max
# The proof unit is at most this many decimals of the major unit (gwei for ETH).
proof_unit_decimals_max: Final = 9

proof_format: Final = "ringfence-por-proof/2"
round_format: Final = "ringfence-por-round/2"
tag_leaf: Final = b"ringfence/por/leaf/1\x00"
tag_node: Final = b"ringfence/por/node/1\x00"
tag_pad: Final = b"ringfence/por/pad/1\x00"
tag_round: Final = b"ringfence/por/round/1\x00"
tag_round_id: Final = b"ringfence/por/round-id/1\x00"
salt_client: Final = b"ringfence/por/client/1\x00"
salt_leaf: Final = b"ringfence/por/leaf-salt/1\x00"
salt_pad: Final = b"ringfence/por/pad-key/1\x00"
salt_stream: Final = b"ringfence/por/stream/1\x00"
# A sibling in a proof: u64 sum, big-endian, then its 32-byte hash.
sibling_bytes: Final = 40
node_preimage_bytes: Final = len(tag_node) + 1 + 2 * sibling_bytes

U64 = npt.NDArray[np.uint64]
Bytes2D = npt.NDArray[np.uint8]
_digest = type(hashlib.sha256()).digest


# ---------------------------------------------------------------------- one hash at a time


def hkdf_sha256(key: bytes, salt: bytes, info: bytes, length: int = 32) -> bytes:
    """HKDF (RFC 5869) with SHA-256, from hmac and hashlib."""
    assert 0 < length <= 255 * 32
    prk = hmac.digest(salt, key, "sha256")
    output, block, counter = b"", b"", 1
    while len(output) < length:
        block = hmac.digest(prk, block + info + bytes([counter]), "sha256")
        output += block
        counter += 1
    return output[:length]


def client_key(master_secret: bytes, client: str) -> bytes:
    """A client's long-lived key, issued to them once; it lets them find their own leaves."""
    assert len(master_secret) >= 32
    return hkdf_sha256(master_secret, salt_client, client.encode("utf-8"))


def _leaf_salt_message(round_id: bytes, asset_number: int, piece: int) -> bytes:
    return salt_leaf + round_id + asset_number.to_bytes(4, "big") + piece.to_bytes(4, "big")


def leaf_salt(key: bytes, round_id: bytes, asset_number: int, piece: int) -> bytes:
    # HKDF-Expand alone (one HMAC): the client's key is already a uniform HKDF output.
    return hmac.digest(key, _leaf_salt_message(round_id, asset_number, piece) + b"\x01", "sha256")


def leaf_hash(round_id: bytes, asset_number: int, index: int, value: int, salt: bytes) -> bytes:
    assert 0 <= value <= proof_value_max
    assert len(round_id) == 32
    assert len(salt) == 32
    return hashlib.sha256(
        tag_leaf + round_id + asset_number.to_bytes(4, "big") + index.to_bytes(8, "big")
        + value.to_bytes(8, "big") + salt
    ).digest()


def node_hash(height: int, left: tuple[int, bytes], right: tuple[int, bytes]) -> bytes:
    """Binds the height and both children's sums and hashes (not just the sum: attack 1)."""
    assert 0 < height <= proof_tree_height_max
    assert left[0] + right[0] <= proof_value_max
    return hashlib.sha256(
        tag_node + height.to_bytes(1, "big") + left[0].to_bytes(8, "big") + left[1]
        + right[0].to_bytes(8, "big") + right[1]
    ).digest()


def pad_hash(pad_key: bytes, round_id: bytes, asset_number: int, height: int, index: int) -> bytes:
    """An empty subtree's hash: unpredictable without the firm's pad key, sum zero."""
    return hashlib.sha256(
        tag_pad + pad_key + round_id + asset_number.to_bytes(4, "big")
        + height.to_bytes(1, "big") + index.to_bytes(8, "big")
    ).digest()


# ---------------------------------------------------------------------- hashes in bulk


def hash_rows(rows: Bytes2D) -> bytes:
    """SHA-256 of every row of a byte matrix, concatenated: one C pipeline, no Python loop."""
    assert rows.ndim == 2
    if rows.shape[0] == 0:
        return b""
    flat = np.ascontiguousarray(rows).reshape(-1)
    unpacked = struct.iter_unpack(f"{rows.shape[1]}s", flat.data)
    return b"".join(map(_digest, itertools.starmap(hashlib.sha256, unpacked)))


def as_rows(digests: bytes, width: int = 32) -> Bytes2D:
    return np.frombuffer(digests, dtype=np.uint8).reshape(-1, width)


def big_endian(values: U64) -> Bytes2D:
    """Each u64 as 8 big-endian bytes, one row per value."""
    return values.astype(">u8").view(np.uint8).reshape(-1, 8)


def hmac_rows(keys: Bytes2D, messages: Bytes2D) -> Bytes2D:
    """HMAC-SHA256 (RFC 2104) of each message under the key on the same row (32-byte keys)."""
    assert keys.shape[1] == 32
    assert keys.shape[0] == messages.shape[0]
    count, width = messages.shape
    inner = np.empty((count, 64 + width), dtype=np.uint8)
    np.bitwise_xor(keys, np.uint8(0x36), out=inner[:, :32])
    inner[:, 32:64] = 0x36
    inner[:, 64:] = messages
    outer = np.empty((count, 96), dtype=np.uint8)
    np.bitwise_xor(keys, np.uint8(0x5C), out=outer[:, :32])
    outer[:, 32:64] = 0x5C
    outer[:, 64:] = as_rows(hash_rows(inner))
    return as_rows(hash_rows(outer))


def encode_names(names: Sequence[str]) -> tuple[Bytes2D, U64]:
    """Names as a zero-padded UTF-8 byte matrix and their lengths: what a subtree job carries
    instead of Python strings (gathering millions of strings in random order is slow)."""
    encoded = [name.encode("utf-8") for name in names]
    lengths = np.fromiter(map(len, encoded), dtype=np.uint64, count=len(encoded))
    width = max(1, int(lengths.max(initial=0)))
    matrix = np.frombuffer(b"".join(item.ljust(width, b"\0") for item in encoded),
                           dtype=np.uint8).reshape(len(encoded), width)
    return matrix, lengths


def client_keys(master_secret: bytes, names: Sequence[str]) -> Bytes2D:
    """``client_key`` for many clients at once (rows in the order of ``names``)."""
    return client_keys_encoded(master_secret, *encode_names(names))


def client_keys_encoded(master_secret: bytes, names: Bytes2D, lengths: U64) -> Bytes2D:
    """``client_key`` for encoded names. HKDF-Extract does not depend on the client, so it is
    made once; HKDF-Expand is one HMAC per client over the name and 0x01, done in bulk for
    names of equal length."""
    assert len(master_secret) >= 32
    prk_row = np.frombuffer(hmac.digest(salt_client, master_secret, "sha256"), dtype=np.uint8)
    keys = np.empty((len(lengths), 32), dtype=np.uint8)
    for length in np.unique(lengths).tolist():
        rows = np.flatnonzero(lengths == length)
        messages = np.empty((len(rows), length + 1), dtype=np.uint8)
        messages[:, :length] = names[rows, :length]
        messages[:, length] = 1
        keys[rows] = hmac_rows(np.broadcast_to(prk_row, (len(rows), 32)), messages)
    return keys


# ---------------------------------------------------------------------- randomness


class RandomStream:
    """Deterministic randomness from a caller's seed: SHAKE-256 over an HKDF-derived key and
    a block counter.

    The core may not draw randomness itself; the shell passes a fresh seed from ``secrets``.
    """

    block_bytes: Final = 4_096

    def __init__(self, seed: bytes) -> None:
        assert len(seed) >= 32
        self._key = hkdf_sha256(seed, salt_stream, b"")
        self._counter = 0
        self._buffer = b""
        self._offset = 0

    def key_for(self, number: int) -> bytes:
        """A key for an independent stream (one per asset, then one per subtree)."""
        return hkdf_sha256(self._key, salt_stream, number.to_bytes(8, "big"))

    def _block(self, count: int) -> bytes:
        block = hashlib.shake_256(self._key + self._counter.to_bytes(8, "big")).digest(count)
        self._counter += 1
        return block

    def _bytes(self, count: int) -> bytes:
        assert count <= self.block_bytes
        if self._offset + count > len(self._buffer):
            self._buffer = self._buffer[self._offset :] + self._block(self.block_bytes)
            self._offset = 0
        taken = self._buffer[self._offset : self._offset + count]
        self._offset += count
        return taken

    def below(self, bound: int) -> int:
        """A uniform integer in [0, bound), by rejection sampling (no modulo bias)."""
        assert bound > 0
        bits = (bound - 1).bit_length()
        while True:
            value = int.from_bytes(self._bytes((bits + 7) // 8 or 1), "big") >> (-bits % 8)
            if value < bound:
                return value

    def below_many(self, bounds: U64) -> U64:
        """A uniform integer in [0, bound) for each bound, by rejection sampling in bulk:
        each draw is masked to the bound's bit length and drawn again while it is too big."""
        assert bounds.dtype == np.uint64
        assert bool(np.all(bounds > 0))
        mask = bounds - np.uint64(1)
        for shift in (1, 2, 4, 8, 16, 32):
            mask |= mask >> np.uint64(shift)
        drawn = np.zeros(len(bounds), dtype=np.uint64)
        waiting = np.arange(len(bounds))
        while len(waiting):
            raw = np.frombuffer(self._block(8 * len(waiting)), dtype=np.uint64)
            candidate = raw & mask[waiting]
            fits = candidate < bounds[waiting]
            drawn[waiting[fits]] = candidate[fits]
            waiting = waiting[~fits]
        return drawn


# ---------------------------------------------------------------------- proof units


def proof_unit_exponent(asset: Asset) -> int:
    """Decimals of the minor unit dropped in proofs: 9 for ETH (wei to gwei), 0 for BTC."""
    return max(0, asset.scale - proof_unit_decimals_max)


def to_proof_units(balance: int, asset: Asset) -> int:
    """A balance in minor units, in proof units, rounded up (nothing owed is understated)."""
    assert type(balance) is int
    assert balance >= 0
    return mul_div_ceil(balance, 1, 10 ** proof_unit_exponent(asset))


def proof_units_of(balances: Iterable[object], asset: Asset) -> U64:
    """Every balance (minor units) in proof units, rounded up, as u64; refuses what is not an
    amount or reaches 2^64 proof units, naming the first such balance."""
    values = list(balances)
    divisor = 10 ** proof_unit_exponent(asset)
    if set(map(type, values)) <= {int}:  # the fast path: plain integers
        integers = cast(list[int], values)
        units = integers if divisor == 1 else list(
            map(mul_div_ceil, integers, itertools.repeat(1), itertools.repeat(divisor)))
        try:
            return np.array(units, dtype=np.uint64).reshape(-1)
        except OverflowError:
            pass  # negative or too large: the slow path below names it
    checked = []
    for position, value in enumerate(values):
        units_one = to_proof_units(check_units(value), asset)
        if units_one > proof_value_max:
            raise InputError(
                Result.overflows_balance, f"balance {position} is 2^64 proof units or more")
        checked.append(units_one)
    return np.array(checked, dtype=np.uint64).reshape(-1)


def total_of(values: U64) -> int:
    """The exact sum of u64 values (numpy's own sum would wrap at 2^64)."""
    high = int(np.sum(values >> np.uint64(32), dtype=np.uint64))
    low = int(np.sum(values & np.uint64(0xFFFFFFFF), dtype=np.uint64))
    assert len(values) < 2**32  # neither partial sum can wrap
    return (high << 32) + low


def split_balance(value: int, stream: RandomStream) -> list[int]:
    """2 to 4 positive random pieces adding up to ``value`` (fewer when ``value`` is tiny)."""
    values = np.array([value], dtype=np.uint64)
    pieces = split_balances(values, pieces_counts(values, stream), stream)[1].tolist()
    assert sum(pieces) == value
    return [int(piece) for piece in pieces]


def pieces_counts(values: U64, stream: RandomStream) -> U64:
    """How many pieces each positive value is split into: 2 to 4 at random, at most the value."""
    assert bool(np.all(values > 0))
    spread = proof_pieces_max - proof_pieces_min + 1
    drawn: U64 = np.uint64(proof_pieces_min) + stream.below_many(
        np.full(len(values), spread, dtype=np.uint64))
    counts: U64 = np.minimum(drawn, values)
    return counts


def split_balances(
    values: U64, pieces_count: U64, stream: RandomStream
) -> tuple[U64, U64, U64]:
    """Split each positive value into its count of positive random pieces.

    Returns, per piece in order of value then piece: the value's position, the piece's value
    and its number among that value's pieces. The cuts are distinct uniform points of
    [1, value - 1], drawn again while two of a value's cuts coincide."""
    assert values.dtype == np.uint64
    assert bool(np.all(values > 0))
    assert bool(np.all((pieces_count >= 1) & (pieces_count <= np.minimum(values, 4))))
    count = len(values)
    cut_columns = proof_pieces_max - 1
    bounds = np.maximum(values - np.uint64(1), np.uint64(1))
    used = (pieces_count - np.uint64(1)).astype(np.int64)
    cuts = np.empty((count, cut_columns), dtype=np.uint64)
    waiting = np.arange(count)
    while len(waiting):
        for column in range(cut_columns):
            cuts[waiting, column] = np.uint64(1) + stream.below_many(bounds[waiting])
        drawn, wanted = cuts[waiting], used[waiting]
        clash = np.zeros(len(waiting), dtype=bool)
        for first, second in itertools.combinations(range(cut_columns), 2):
            clash |= (wanted > second) & (drawn[:, first] == drawn[:, second])
        waiting = waiting[clash]
    unused = np.arange(cut_columns)[None, :] >= used[:, None]
    cuts[unused] = np.broadcast_to(values[:, None], cuts.shape)[unused]
    cuts.sort(axis=1)
    edges = np.concatenate(
        [np.zeros((count, 1), dtype=np.uint64), cuts, values[:, None]], axis=1)
    parts = np.diff(edges, axis=1)
    kept = parts > 0
    owner, number = np.nonzero(kept)
    assert len(owner) == int(np.sum(pieces_count))
    return owner.astype(np.uint64), parts[kept], number.astype(np.uint64)


@dataclass(frozen=True, slots=True)
class Placement:
    """One asset's pieces in index order: whose (the client's position in the asset's client
    list), which piece of theirs, at which leaf slot, of what value (proof units)."""

    height: int
    block_levels: int  # a client's pieces share one aligned block of 2^block_levels slots
    client: U64
    piece: U64
    index: U64
    value: U64


def tree_height(pieces_count: int) -> int:
    height = max(1, (pieces_count - 1).bit_length() + proof_height_slack_levels)
    assert height <= proof_tree_height_max
    return height


def _distinct_slots(base: U64, offsets: U64, slots: U64, stream: RandomStream) -> U64:
    """Slots ``base | offset``; where two pieces share a slot, the later one is drawn again
    within its block until every slot is distinct. Only the few redrawn pieces are checked
    again (against the slots already taken and each other), not the whole level."""
    index = base | offsets
    order = np.argsort(index, kind="stable")
    ordered = index[order]
    repeated = np.flatnonzero(ordered[1:] == ordered[:-1]) + 1
    taken = np.delete(ordered, repeated)  # sorted, distinct
    waiting = order[repeated]
    for _ in range(64):  # each round redraws the few collisions: 64 is never reached
        if not len(waiting):
            return index
        index[waiting] = base[waiting] | stream.below_many(slots[waiting])
        drawn = index[waiting]
        at = np.minimum(np.searchsorted(taken, drawn), len(taken) - 1)
        clash = taken[at] == drawn
        among = np.argsort(drawn, kind="stable")
        repeat = np.zeros(len(drawn), dtype=bool)
        repeat[among[1:]] = drawn[among][1:] == drawn[among][:-1]
        accepted = ~clash & ~repeat
        taken = np.sort(np.concatenate([taken, drawn[accepted]]))
        waiting = waiting[~accepted]
    raise AssertionError("pieces could not be placed at distinct slots")


def place_in_blocks(
    values: U64, pieces_count: U64, blocks: U64, block_levels: int, stream: RandomStream
) -> tuple[U64, U64, U64, U64]:
    """Split each value and place its pieces at distinct random slots of its block; a piece
    that lands on a taken slot is drawn again within its block. Returns, in index order: each
    piece's owner (position in ``values``), piece number, index and value."""
    owner, parts, numbers = split_balances(values, pieces_count, stream)
    base = (blocks << np.uint64(block_levels))[owner]
    slots = np.full(len(parts), 1 << block_levels, dtype=np.uint64)
    index = _distinct_slots(base, stream.below_many(slots), slots, stream)
    order = np.argsort(index)
    return owner[order], numbers[order], index[order], parts[order]


# ---------------------------------------------------------------------- levels


@dataclass(frozen=True, slots=True)
class TreeContext:
    """What every part of one asset's tree is hashed with."""

    round_id: bytes
    asset_number: int
    height: int
    block_levels: int
    pad_key: bytes

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


def leaf_level(
    context: TreeContext, keys: Bytes2D, piece: U64, index: U64, value: U64
) -> Level:
    """Leaves in bulk: each piece's salt (HMAC under its client's key), then its leaf hash."""
    assert bool(np.all(piece < proof_pieces_max))
    messages = as_rows(b"".join(
        _leaf_salt_message(context.round_id, context.asset_number, number) + b"\x01"
        for number in range(proof_pieces_max)), len(salt_leaf) + 32 + 4 + 4 + 1)
    salts = hmac_rows(keys, messages[piece.astype(np.intp)])
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
        keys = client_keys_encoded(job.master_secret, job.names, job.name_lengths)
        level = leaf_level(context, keys[owner.astype(np.intp)], piece, index, value)
        hashes = 2 * len(job.value) + 3 * len(index)
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
    wanted = max(1 if pieces >= 2**15 else 0,
                 (-(-pieces // limits.proof_subtree_leaves_max) - 1).bit_length())
    cut = min(wanted, context.height - context.block_levels)
    top = context.height - cut
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
        job_seed = hkdf_sha256(seed, salt_stream, b"subtree" + context.asset_number.to_bytes(
            4, "big") + number.to_bytes(8, "big"))
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


def _block_siblings(tree: AssetTree, block: int) -> dict[tuple[int, int], bytes]:
    """Rebuild one block from its stored leaves up to the block height: the sibling record
    (u64 sum and hash) of every child below the block height, by (height, index)."""
    context, placement = tree.context, tree.placement
    shift = np.uint64(context.block_levels)
    low, high = np.searchsorted(
        placement.index, np.array([block, block + 1], dtype=np.uint64) << shift).tolist()
    owners, local = np.unique(placement.client[low:high], return_inverse=True)
    keys = client_keys(tree.master_secret, [tree.clients[owner] for owner in owners.tolist()])
    level = leaf_level(context, keys[local], placement.piece[low:high],
                       placement.index[low:high], placement.value[low:high])
    records = {}
    while level.height < context.block_levels:
        level, _, rows = level_up(context, level)
        for parent, row in zip(level.index.tolist(), rows, strict=True):
            for side in (0, 1):
                start = 22 + side * sibling_bytes
                records[level.height - 1, 2 * parent + side] = row[
                    start : start + sibling_bytes].tobytes()
    return records


def multiproof_order(indexes: Iterable[int], height: int) -> Iterator[tuple[int, int]]:
    """The (height, index) of every sibling a proof carries, in the order it carries them:
    level by level from the leaves up, at each level by ascending index of the nodes already
    known, skipping siblings that are themselves known (so shared paths are sent once)."""
    known = sorted(set(indexes))
    for level in range(height):
        present = set(known)
        for index in known:
            if index ^ 1 not in present:
                yield level, index ^ 1
        known = sorted({index >> 1 for index in known})


def inclusion_proof(tree: AssetTree, client: str, round_hash_hex: str) -> dict[str, Any] | None:
    """The client's pieces in this asset with the siblings that lead them to the root."""
    rows = tree.pieces_of(client)
    if not len(rows):
        return None
    rows = rows[np.argsort(tree.placement.piece[rows])]
    indexes = tree.placement.index[rows].tolist()
    blocks = {index >> tree.context.block_levels for index in indexes}
    assert len(blocks) == 1  # a client's pieces share one block
    below = _block_siblings(tree, blocks.pop())
    siblings = []
    for height, index in multiproof_order(indexes, tree.height):
        if height < tree.context.block_levels:
            siblings.append(below[height, index])
        else:
            total, digest = tree.node(height, index)
            siblings.append(total.to_bytes(8, "big") + digest)
    return {
        "v": proof_format,
        "round_hash": round_hash_hex,
        "asset": tree.asset.code,
        "asset_number": tree.asset.number,
        "pieces": [{"index": index, "value": str(int(value))}
                   for index, value in zip(indexes, tree.placement.value[rows].tolist(),
                                           strict=True)],
        "siblings": base64.b64encode(b"".join(siblings)).decode("ascii"),
    }


# ---------------------------------------------------------------------- rounds

MapJobs = Callable[[Callable[[SubtreeJob], SubtreeResult], Sequence[SubtreeJob]],
                   Iterable[SubtreeResult]]


def _node_json(node: Node) -> dict[str, str]:
    return {"sum": str(node[0]), "hash": node[1].hex()}


@dataclass(frozen=True, slots=True)
class ReservesAttestation:
    """The reserves side's input to a round (the seam for the wallet registry): the hash of
    the reserves file and, per asset number, the unencumbered holdings of client-designated
    wallets in proof units, rounded down (so reserves are never overstated)."""

    file_hash: bytes
    totals: Mapping[int, int]
    gross: Mapping[int, int] = field(default_factory=dict)  # before encumbrances and proofs


def reserves_entry(
    liabilities: int, reserves: int | None, gross: int | None = None
) -> dict[str, Any] | None:
    """An asset's reserves line: the net total (what the round attests), whether it covers
    the liabilities, and net and gross coverage in basis points rounded down (none when
    nothing is owed); None = not attested."""
    if reserves is None:
        return None
    gross = reserves if gross is None else gross
    assert 0 <= reserves <= gross <= proof_value_max
    net_bp = None if liabilities == 0 else str(reserves * 10_000 // liabilities)
    gross_bp = None if liabilities == 0 else str(gross * 10_000 // liabilities)
    return {"total": str(reserves), "gross": str(gross), "covered": reserves >= liabilities,
            "coverage_net_bp": net_bp, "coverage_gross_bp": gross_bp}


def asset_entry(
    tree: AssetTree, reserves: int | None = None, gross: int | None = None
) -> dict[str, Any]:
    """The asset's line in the round record."""
    return {
        "asset": tree.asset.code,
        "asset_number": tree.asset.number,
        "unit_exponent": proof_unit_exponent(tree.asset),
        "height": tree.height,
        "root": _node_json(tree.root),
        "reserves": reserves_entry(tree.root[0], reserves, gross),
    }


def round_id_of(previous_round_hash: bytes, snapshot: int) -> bytes:
    """A round is named by the round before it and the ledger position of its snapshot."""
    assert len(previous_round_hash) == 32
    assert 0 <= snapshot < 2**64
    return hashlib.sha256(tag_round_id + previous_round_hash + snapshot.to_bytes(8, "big")).digest()


def round_hash(record: Mapping[str, Any]) -> bytes:
    """SHA-256 over the record's canonical JSON without its signature."""
    body = {key: value for key, value in record.items() if key != "signature"}
    canonical = json.dumps(body, sort_keys=True, separators=(",", ":"), ensure_ascii=True)
    return hashlib.sha256(tag_round + canonical.encode("ascii")).digest()


@dataclass(frozen=True, slots=True)
class Round:
    record: dict[str, Any]
    trees: Mapping[int, AssetTree]  # by asset number

    @property
    def hash(self) -> str:
        return round_hash(self.record).hex()

    def proofs(self, client: str) -> Iterator[dict[str, Any]]:
        for number in sorted(self.trees):
            proof = inclusion_proof(self.trees[number], client, self.hash)
            if proof is not None:
                yield proof


def tree_context(round_id: bytes, asset: Asset, height: int, master_secret: bytes) -> TreeContext:
    """The hashing context of one asset's tree in one round (the pad key is derived per
    round and asset from the master secret)."""
    pad_key = hkdf_sha256(master_secret, salt_pad, round_id + asset.number.to_bytes(4, "big"))
    return TreeContext(round_id, asset.number, height,
                       min(proof_neighbourhood_levels, height), pad_key)


def plan_trees(
    round_id: bytes,
    liabilities: Sequence[tuple[Asset, Mapping[str, int]]],
    master_secret: bytes,
    seed: bytes,
) -> list[tuple[Asset, TreeContext, tuple[str, ...], list[SubtreeJob]]]:
    """Per asset: how many pieces each client gets (which fixes the tree's height), which
    block each client's pieces go to, and the subtree jobs (the serial part of a build)."""
    stream = RandomStream(seed)
    plans = []
    for asset, balances in sorted(liabilities, key=lambda pair: pair[0].number):
        names = tuple(balances)
        units = proof_units_of(balances.values(), asset)
        # Sums only grow upwards, so a total below 2^64 bounds every node sum in the tree.
        if total_of(units) > proof_value_max:
            raise InputError(Result.overflows_balance, f"{asset.code} total is 2^64 or more")
        owed = np.flatnonzero(units).astype(np.uint64)
        counts = pieces_counts(units[owed], stream)
        pieces = int(np.sum(counts))
        if pieces > proof_entries_max * proof_pieces_max:
            raise InputError(Result.batch_too_large, f"{pieces} pieces")
        context = tree_context(round_id, asset, tree_height(pieces), master_secret)
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
) -> dict[int, AssetTree]:
    """Every asset's tree. ``map_jobs`` builds the subtrees (the shell may pass a process
    pool's ``map``); the result does not depend on it."""
    assert len(round_id) == 32
    assert len(master_secret) >= 32
    assert len({asset.number for asset, _ in liabilities}) == len(liabilities)
    plans = plan_trees(round_id, liabilities, master_secret, seed)
    jobs = [job for *_, asset_jobs in plans for job in asset_jobs]
    results = iter(list(map_jobs(build_subtree, jobs)))
    trees = {}
    for asset, context, names, asset_jobs in plans:
        built = list(itertools.islice(results, len(asset_jobs)))
        trees[asset.number] = combine(asset, context, names, master_secret=master_secret,
                                      results=built)
    return trees


def build_round(
    *,
    snapshot: int,
    previous_round_hash: bytes,
    liabilities: Sequence[tuple[Asset, Mapping[str, int]]],
    master_secret: bytes,
    signing_seed: bytes,
    seed: bytes,
    reserves: ReservesAttestation | None = None,
    map_jobs: MapJobs = map,
    snapshot_hash: bytes | None = None,
) -> Round:
    """Build every asset's tree and the signed round record. ``seed`` must be fresh each
    round; ``reserves`` None records the reserves as not yet attested; ``snapshot_hash`` is
    the journal's hash at entry ``snapshot``, which the round then signs."""
    round_id = round_id_of(previous_round_hash, snapshot)
    trees = build_trees(round_id, liabilities, master_secret, seed, map_jobs)
    return sign_round(round_id, previous_round_hash, snapshot, trees,
                      signing_seed=signing_seed, reserves=reserves, snapshot_hash=snapshot_hash)


def sign_round(
    round_id: bytes, previous_round_hash: bytes, snapshot: int, trees: Mapping[int, AssetTree],
    *, signing_seed: bytes, reserves: ReservesAttestation | None = None,
    snapshot_hash: bytes | None = None,
) -> Round:
    """The round record over built trees, signed. With ``snapshot_hash`` it carries the
    journal head it was built at (``journal_head``): anyone holding the round can later check
    that the journal still holds that exact head (``ringfence audit verify --round``)."""
    totals = reserves.totals if reserves is not None else {}
    gross = reserves.gross if reserves is not None else {}
    key = nacl.signing.SigningKey(signing_seed)
    record: dict[str, Any] = {
        "v": round_format,
        "round_id": round_id.hex(),
        "previous_round_hash": previous_round_hash.hex(),
        "snapshot": snapshot,
        "reserves": (
            {"status": "not_attested"} if reserves is None
            else {"status": "attested", "file_hash": reserves.file_hash.hex()}),
        "assets": [asset_entry(trees[number], totals.get(number), gross.get(number))
                   for number in sorted(trees)],
        "public_key": key.verify_key.encode().hex(),
    }
    if snapshot_hash is not None:
        assert len(snapshot_hash) == 32
        record["journal_head"] = {"seq": snapshot, "hash": snapshot_hash.hex()}
    record["signature"] = key.sign(round_hash(record)).signature.hex()
    assert verify_round_signature(record)
    return Round(record, trees)


def verify_round_signature(record: Mapping[str, Any]) -> bool:
    """True when the record's Ed25519 signature over its hash checks with its public key."""
    try:
        key = nacl.signing.VerifyKey(bytes.fromhex(record["public_key"]))
        key.verify(round_hash(record), bytes.fromhex(record["signature"]))
    except (nacl.exceptions.BadSignatureError, ValueError, KeyError, TypeError):
        return False
    return True


def round_journal_head(record: Mapping[str, Any]) -> tuple[int, bytes]:
    """The journal head a signed round was built at; ``InputError`` if the round's signature
    fails or it names no head."""
    if not verify_round_signature(record):
        raise InputError(Result.published_head_invalid, "the round's signature does not check")
    head = record.get("journal_head")
    if not isinstance(head, dict):
        raise InputError(Result.published_head_invalid, "the round names no journal head")
    seq, hash_hex = head.get("seq"), head.get("hash")
    if type(seq) is not int or not 0 < seq < 2**64 or not isinstance(hash_hex, str):
        raise InputError(Result.published_head_invalid, f"journal head {head!r}")
    try:
        head_hash = bytes.fromhex(hash_hex)
    except ValueError:
        raise InputError(Result.published_head_invalid, f"hash {hash_hex!r}") from None
    if len(head_hash) != 32:
        raise InputError(Result.published_head_invalid, f"hash {hash_hex!r}")
    return seq, head_hash


def verify_chain(records: Sequence[Mapping[str, Any]]) -> bool:
    """True when each record names the previous one's hash and derives its round id from it."""
    for before, after in itertools.pairwise(records):
        if after.get("previous_round_hash") != round_hash(before).hex():
            return False
        expected = round_id_of(bytes.fromhex(after["previous_round_hash"]), after["snapshot"])
        if after.get("round_id") != expected.hex():
            return False
    return True

