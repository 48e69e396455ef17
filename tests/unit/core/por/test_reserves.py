"""core/por/reserves.py: proof units round up, balances split into random pieces at random slots,
trees are range-checked and deterministic in their seed, rounds are signed and chained."""

from __future__ import annotations

import hashlib
import hmac

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from ringfence.core.errors import InputError, Result
from ringfence.core.money import Asset
from ringfence.core.por import reserves
from ringfence.core.por.reserves import RandomStream

BTC = Asset("BTC", 8, 1)
ETH = Asset("ETH", 18, 2)
USDC = Asset("USDC", 6, 3)
MASTER = b"m" * 32
SIGNING = b"s" * 32
RESERVES = hashlib.sha256(b"reserves file").digest()
GENESIS = bytes(32)


def round_of(liabilities, seed: bytes = b"r" * 32, snapshot: int = 1, previous=GENESIS,
             attestation=None):
    return reserves.build_round(
        snapshot=snapshot,
        previous_round_hash=previous,
        liabilities=liabilities,
        reserves=attestation,
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
    placement = tree.placement
    pieces = len(placement.index)
    assert tree.clients.index("dave") not in placement.client.tolist()  # nothing owed
    assert tree.height == (pieces - 1).bit_length() + reserves.proof_height_slack_levels
    assert tree.root[0] == 1_007
    assert pieces < 2**tree.height  # the rest is padding
    assert len(set(placement.index.tolist())) == pieces
    assert placement.index.tolist() == sorted(placement.index.tolist())


def test_a_clients_pieces_share_one_block_at_distinct_slots() -> None:
    balances = {f"c{number}": 10**6 + number for number in range(3_000)}
    tree = round_of([(BTC, balances)]).trees[BTC.number]
    placement, shift = tree.placement, tree.context.block_levels
    assert shift == reserves.proof_neighbourhood_levels
    blocks: dict[int, set[int]] = {}
    for client, index in zip(placement.client.tolist(), placement.index.tolist(), strict=True):
        blocks.setdefault(client, set()).add(index >> shift)
    assert all(len(found) == 1 for found in blocks.values())
    assert len({found.pop() for found in blocks.values()}) > 1
    assert len(set(placement.index.tolist())) == len(placement.index)
    pieces = np.bincount(placement.client.astype(np.intp))
    assert set(pieces.tolist()) == {2, 3, 4}


def test_bulk_hashing_matches_hashlib_and_hmac() -> None:
    keys = np.frombuffer(bytes(range(64)), dtype=np.uint8).reshape(2, 32)
    messages = np.frombuffer(b"a" * 70 + b"b" * 70, dtype=np.uint8).reshape(2, 70)
    macs = reserves.hmac_rows(keys, messages)
    for row in range(2):
        assert macs[row].tobytes() == hmac.digest(
            keys[row].tobytes(), messages[row].tobytes(), "sha256")
    assert reserves.hash_rows(messages) == b"".join(
        hashlib.sha256(row.tobytes()).digest() for row in messages)
    names = ["alice", "bob", "carol", "é", "x" * 32]
    derived = reserves.client_keys(MASTER, names)
    assert [row.tobytes() for row in derived] == [reserves.client_key(MASTER, n) for n in names]


def test_parallel_and_serial_builds_agree_and_subtrees_join_under_the_root() -> None:
    balances = {f"c{number}": 7 * number + 1 for number in range(12_000)}
    serial = round_of([(BTC, balances)])
    calls = []

    def recording_map(function, jobs):
        calls.append(len(jobs))
        return list(reversed([function(job) for job in reversed(jobs)]))

    joined = reserves.build_round(
        snapshot=1, previous_round_hash=GENESIS, liabilities=[(BTC, balances)],
        master_secret=MASTER, signing_seed=SIGNING, seed=b"r" * 32, map_jobs=recording_map)
    assert calls == [2]  # enough pieces for two subtrees
    assert joined.record == serial.record
    assert next(joined.proofs("c77")) == next(serial.proofs("c77"))


def test_proofs_are_the_same_with_and_without_the_client_index() -> None:
    balances = {f"c{number}": 1_000 + number for number in range(500)}
    built = round_of([(BTC, balances)])
    scanned = [next(built.proofs(f"c{number}")) for number in (0, 77, 499)]
    built.trees[BTC.number].index_clients()
    assert [next(built.proofs(f"c{number}")) for number in (0, 77, 499)] == scanned
    assert list(built.proofs("nobody")) == []


def test_the_multiproof_sends_shared_siblings_once() -> None:
    order = list(reserves.multiproof_order([4, 5, 7], 3))
    # Level 0: 4 and 5 are siblings (none sent), 7 needs 6. Level 1: 2 and 3 are siblings.
    # Level 2: 1 needs 0.
    assert order == [(0, 6), (2, 0)]


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
    record["snapshot"] = 2
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


def test_reserves_are_recorded_as_not_attested_until_the_reserves_side_gives_totals() -> None:
    built = round_of([(BTC, {"alice": 500}), (ETH, {"alice": 10**18})])
    assert built.record["reserves"] == {"status": "not_attested"}
    assert [entry["reserves"] for entry in built.record["assets"]] == [None, None]
    attested = round_of([(BTC, {"alice": 500}), (ETH, {"alice": 10**18})],
                        attestation=reserves.ReservesAttestation(
                            RESERVES, {BTC.number: 499}, {BTC.number: 510}))
    assert attested.record["reserves"] == {"status": "attested", "file_hash": RESERVES.hex()}
    assert attested.record["assets"][0]["reserves"] == {
        "total": "499", "gross": "510", "covered": False, "coverage_net_bp": "9980",
        "coverage_gross_bp": "10200"}
    assert attested.record["assets"][1]["reserves"] is None
    assert reserves.verify_round_signature(attested.record)


@pytest.mark.parametrize(
    ("balance", "code"),
    [(-1, Result.amount_must_not_be_negative), (1.5, Result.amount_must_not_be_float),
     (True, Result.amount_must_be_decimal_string)],
)
def test_a_balance_that_is_not_an_amount_is_refused(balance: object, code: Result) -> None:
    with pytest.raises(InputError) as caught:
        round_of([(BTC, {"alice": balance})])
    assert caught.value.code is code
