"""core/por/placement.py: the random stream, balances split into random pieces at random slots of
one block."""

from __future__ import annotations

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st
from tests.unit.core.por.support import BTC, round_of

from ringfence.core import limits
from ringfence.core.por.placement import RandomStream, split_balance


def test_random_stream_is_deterministic_and_stays_below_its_bound() -> None:
    first, second = RandomStream(b"x" * 32), RandomStream(b"x" * 32)
    drawn = [first.below(7) for _ in range(500)]
    assert drawn == [second.below(7) for _ in range(500)]
    assert set(drawn) == set(range(7))
    assert RandomStream(b"y" * 32).below(2**64) != RandomStream(b"x" * 32).below(2**64)

@settings(max_examples=200)
@given(st.integers(1, 2**64 - 1), st.binary(min_size=32, max_size=32))
def test_split_gives_two_to_four_positive_pieces_adding_up(value: int, seed: bytes) -> None:
    pieces = split_balance(value, RandomStream(seed))
    assert sum(pieces) == value
    assert all(piece > 0 for piece in pieces)
    assert min(value, 2) <= len(pieces) <= 4

def test_a_clients_pieces_share_one_block_at_distinct_slots() -> None:
    balances = {f"c{number}": 10**6 + number for number in range(3_000)}
    tree = round_of([(BTC, balances)]).trees[BTC.number]
    placement, shift = tree.placement, tree.context.block_levels
    assert shift == limits.proof_neighbourhood_levels
    blocks: dict[int, set[int]] = {}
    for client, index in zip(placement.client.tolist(), placement.index.tolist(), strict=True):
        blocks.setdefault(client, set()).add(index >> shift)
    assert all(len(found) == 1 for found in blocks.values())
    assert len({found.pop() for found in blocks.values()}) > 1
    assert len(set(placement.index.tolist())) == len(placement.index)
    pieces = np.bincount(placement.client.astype(np.intp))
    assert set(pieces.tolist()) == {2, 3, 4}
