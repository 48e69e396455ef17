"""core/reserves.py: proof units round up, balances split into random pieces at random slots,
trees are range-checked and deterministic in their seed, rounds are signed and chained."""

from __future__ import annotations

import hashlib

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from ringfence.core import reserves
from ringfence.core.errors import InputError, Result
from ringfence.core.money import Asset
from ringfence.core.reserves import RandomStream

BTC = Asset("BTC", 8, 1)
ETH = Asset("ETH", 18, 2)
USDC = Asset("USDC", 6, 3)
MASTER = b"m" * 32
SIGNING = b"s" * 32
RESERVES = hashlib.sha256(b"reserves file").digest()
GENESIS = bytes(32)


def round_of(liabilities, seed: bytes = b"r" * 32, snapshot: int = 1, previous=GENESIS):
    return reserves.build_round(
        snapshot=snapshot,
        previous_round_hash=previous,
        liabilities=liabilities,
        reserves_hash=RESERVES,
        master_secret=MASTER,
        signing_seed=SIGNING,
        seed=seed,
    )


def test_hkdf_matches_rfc_5869_test_case_1() -> None:
    okm = reserves.hkdf_sha256(
        bytes([0x0B] * 22), bytes(range(13)), bytes(range(0xF0, 0xFA)), 42
    )
    assert okm.hex() == (
        "3cb25f25faacd57a90434f64d0362f2a2d2d0a90cf1a5a4c5db02d56ecc4c5bf34007208d5b887185865"
    )


def test_proof_units_are_gwei_for_eth_and_sats_for_btc_rounding_up() -> None:
    assert reserves.proof_unit_exponent(ETH) == 9
    assert reserves.proof_unit_exponent(BTC) == 0
    assert reserves.proof_unit_exponent(USDC) == 0
    assert reserves.to_proof_units(1, ETH) == 1  # one wei owed counts as one gwei
    assert reserves.to_proof_units(10**9, ETH) == 1
    assert reserves.to_proof_units(10**9 + 1, ETH) == 2
    assert reserves.to_proof_units(0, ETH) == 0
    assert reserves.to_proof_units(12_345, BTC) == 12_345


def test_random_stream_is_deterministic_and_stays_below_its_bound() -> None:
    first, second = RandomStream(b"x" * 32), RandomStream(b"x" * 32)
    drawn = [first.below(7) for _ in range(500)]
    assert drawn == [second.below(7) for _ in range(500)]
    assert set(drawn) == set(range(7))
    assert RandomStream(b"y" * 32).below(2**64) != RandomStream(b"x" * 32).below(2**64)


@settings(max_examples=200)
@given(st.integers(1, 2**64 - 1), st.binary(min_size=32, max_size=32))
def test_split_gives_two_to_four_positive_pieces_adding_up(value: int, seed: bytes) -> None:
    pieces = reserves.split_balance(value, RandomStream(seed))
    assert sum(pieces) == value
    assert all(piece > 0 for piece in pieces)
    assert min(value, 2) <= len(pieces) <= 4


def test_tree_height_leaves_slack_and_root_sums_the_liabilities() -> None:
    built = round_of([(BTC, {"alice": 500, "bob": 500, "carol": 7, "dave": 0})])
    tree = built.trees[BTC.number]
    pieces = sum(len(found) for found in tree.leaves.values())
    assert "dave" not in tree.leaves  # nothing owed, nothing to prove
    assert tree.height == (pieces - 1).bit_length() + reserves.proof_height_slack_levels
    assert tree.root[0] == 1_007
    assert len(tree.levels[0]) == pieces < 2**tree.height  # the rest is padding
    indexes = [leaf.index for found in tree.leaves.values() for leaf in found]
    assert len(set(indexes)) == len(indexes)


def test_the_same_seed_builds_the_same_round_and_another_seed_another() -> None:
    liabilities = [(ETH, {"alice": 3 * 10**18, "bob": 10**9})]
    assert round_of(liabilities).record == round_of(liabilities).record
    other = round_of(liabilities, seed=b"q" * 32)
    assert other.record["assets"][0]["root"] != round_of(liabilities).record["assets"][0]["root"]
    assert other.record["assets"][0]["root"]["sum"] == str(3 * 10**9 + 1)


def test_a_balance_of_2_64_proof_units_is_refused() -> None:
    with pytest.raises(InputError) as caught:
        round_of([(BTC, {"alice": 2**64})])
    assert caught.value.code is Result.overflows_balance
    round_of([(BTC, {"alice": 2**64 - 1})])  # the largest balance that fits


def test_a_total_that_overflows_64_bits_is_refused() -> None:
    with pytest.raises(InputError) as caught:
        round_of([(BTC, {"alice": 2**63, "bob": 2**63})])
    assert caught.value.code is Result.overflows_balance


def test_round_is_signed_and_a_changed_record_fails_the_signature() -> None:
    record = dict(round_of([(BTC, {"alice": 5})]).record)
    assert reserves.verify_round_signature(record)
    record["reserves_hash"] = "00" * 32
    assert not reserves.verify_round_signature(record)
    record = dict(round_of([(BTC, {"alice": 5})]).record, signature="00" * 64)
    assert not reserves.verify_round_signature(record)


def test_rounds_form_a_chain_and_a_split_view_breaks_it() -> None:
    first = round_of([(BTC, {"alice": 5})])
    second = round_of([(BTC, {"alice": 6})], snapshot=2,
                      previous=bytes.fromhex(first.hash))
    assert reserves.verify_chain([first.record, second.record])
    forked = round_of([(BTC, {"alice": 1})], snapshot=1)  # another view of round one
    assert not reserves.verify_chain([forked.record, second.record])


def test_each_client_gets_their_own_key_and_salts_change_every_round() -> None:
    alice, bob = reserves.client_key(MASTER, "alice"), reserves.client_key(MASTER, "bob")
    assert alice != bob
    one = reserves.round_id_of(GENESIS, 1)
    two = reserves.round_id_of(GENESIS, 2)
    assert reserves.leaf_salt(alice, one, 1, 0) != reserves.leaf_salt(alice, two, 1, 0)
    assert reserves.leaf_salt(alice, one, 1, 0) != reserves.leaf_salt(bob, one, 1, 0)


def test_assets_get_separate_trees_and_proofs() -> None:
    built = round_of([(BTC, {"alice": 5}), (ETH, {"alice": 10**18, "bob": 1})])
    assert [entry["asset"] for entry in built.record["assets"]] == ["BTC", "ETH"]
    assert [proof["asset"] for proof in built.proofs("alice")] == ["BTC", "ETH"]
    assert [proof["asset"] for proof in built.proofs("bob")] == ["ETH"]


def test_an_asset_with_nothing_owed_has_a_padding_root_of_sum_zero() -> None:
    built = round_of([(BTC, {"alice": 0}), (ETH, {"alice": 1})])
    entry = built.record["assets"][0]
    assert entry["root"]["sum"] == "0"
    assert entry["height"] == reserves.proof_height_slack_levels + 1
    assert [proof["asset"] for proof in built.proofs("alice")] == ["ETH"]


@pytest.mark.parametrize(
    ("balance", "code"),
    [(-1, Result.amount_must_not_be_negative), (1.5, Result.amount_must_not_be_float),
     (True, Result.amount_must_be_decimal_string)],
)
def test_a_balance_that_is_not_an_amount_is_refused(balance: object, code: Result) -> None:
    with pytest.raises(InputError) as caught:
        round_of([(BTC, {"alice": balance})])
    assert caught.value.code is code
