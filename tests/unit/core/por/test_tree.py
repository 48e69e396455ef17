"""core/por/tree.py: trees are range-checked, padded, one per asset, and the same whichever process
builds which subtree."""

from __future__ import annotations

import pytest
from tests.unit.core.por.support import BTC, ETH, GENESIS, MASTER, SIGNING, round_of

from ringfence.core import limits
from ringfence.core.errors import InputError, Result
from ringfence.core.por.round import build_round


def test_tree_height_leaves_slack_and_root_sums_the_liabilities() -> None:
    built = round_of([(BTC, {"alice": 500, "bob": 500, "carol": 7, "dave": 0})])
    tree = built.trees[BTC.number]
    placement = tree.placement
    pieces = len(placement.index)
    assert tree.clients.index("dave") not in placement.client.tolist()  # nothing owed
    assert tree.height == (pieces - 1).bit_length() + limits.proof_height_slack_levels
    assert tree.root[0] == 1_007
    assert pieces < 2**tree.height  # the rest is padding
    assert len(set(placement.index.tolist())) == pieces
    assert placement.index.tolist() == sorted(placement.index.tolist())

def test_parallel_and_serial_builds_agree_and_subtrees_join_under_the_root() -> None:
    balances = {f"c{number}": 7 * number + 1 for number in range(12_000)}
    serial = round_of([(BTC, balances)])
    calls = []

    def recording_map(function, jobs):
        calls.append(len(jobs))
        return list(reversed([function(job) for job in reversed(jobs)]))

    joined = build_round(
        snapshot=1, previous_round_hash=GENESIS, liabilities=[(BTC, balances)],
        master_secret=MASTER, signing_seed=SIGNING, seed=b"r" * 32, map_jobs=recording_map)
    assert calls == [2]  # enough pieces for two subtrees
    assert joined.record == serial.record
    assert next(joined.proofs("c77")) == next(serial.proofs("c77"))

def test_a_total_that_overflows_64_bits_is_refused() -> None:
    with pytest.raises(InputError) as caught:
        round_of([(BTC, {"alice": 2**63, "bob": 2**63})])
    assert caught.value.code is Result.overflows_balance

def test_assets_get_separate_trees_and_proofs() -> None:
    built = round_of([(BTC, {"alice": 5}), (ETH, {"alice": 10**18, "bob": 1})])
    assert [entry["asset"] for entry in built.record["assets"]] == ["BTC", "ETH"]
    assert [proof["asset"] for proof in built.proofs("alice")] == ["BTC", "ETH"]
    assert [proof["asset"] for proof in built.proofs("bob")] == ["ETH"]

def test_an_asset_with_nothing_owed_has_a_padding_root_of_sum_zero() -> None:
    built = round_of([(BTC, {"alice": 0}), (ETH, {"alice": 1})])
    entry = built.record["assets"][0]
    assert entry["root"]["sum"] == "0"
    assert entry["height"] == limits.proof_height_slack_levels + 1
    assert [proof["asset"] for proof in built.proofs("alice")] == ["ETH"]
