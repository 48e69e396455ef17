"""Where a client's balance goes in the tree: split into random pieces at random slots.

Each balance is split into 2 to 4 random positive pieces at random distinct slots of one random
neighbourhood (an aligned block of 2^10 slots) of a sparse tree of height
ceil(log2(pieces)) + 3. Keeping a client's pieces in one neighbourhood lets their paths share
the top of the tree, which keeps a proof under 4 KB.

The randomness is the caller's: a seed expanded here with SHAKE-256 (``RandomStream``); the
core never draws from the operating system itself.
"""

from __future__ import annotations

import hashlib
import itertools
from dataclasses import dataclass
from typing import Final

import numpy as np

from ringfence.core import limits
from ringfence.core.por.hashes import U64, hkdf_sha256, salt_stream

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
        return _stream_key(self._key, number)

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


def stream_key_of(seed: bytes, number: int) -> bytes:
    """``RandomStream(seed).key_for(number)`` without drawing a stream (the spilled build
    derives each asset's key this way)."""
    assert len(seed) >= 32
    return _stream_key(hkdf_sha256(seed, salt_stream, b""), number)


def _stream_key(key: bytes, number: int) -> bytes:
    return hkdf_sha256(key, salt_stream, number.to_bytes(8, "big"))


def split_balance(value: int, stream: RandomStream) -> list[int]:
    """2 to 4 positive random pieces adding up to ``value`` (fewer when ``value`` is tiny)."""
    values = np.array([value], dtype=np.uint64)
    pieces = split_balances(values, pieces_counts(values, stream), stream)[1].tolist()
    assert sum(pieces) == value
    return [int(piece) for piece in pieces]


def pieces_counts(values: U64, stream: RandomStream) -> U64:
    """How many pieces each positive value is split into: 2 to 4 at random, at most the value."""
    assert bool(np.all(values > 0))
    spread = limits.proof_pieces_max - limits.proof_pieces_min + 1
    drawn: U64 = np.uint64(limits.proof_pieces_min) + stream.below_many(
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
    cut_columns = limits.proof_pieces_max - 1
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
    height = max(1, (pieces_count - 1).bit_length() + limits.proof_height_slack_levels)
    assert height <= limits.proof_tree_height_max
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

