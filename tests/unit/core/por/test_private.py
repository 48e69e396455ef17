"""core/por/private.py: private-mode trees. An honest proof verifies for its client only; a
firm that forges a sibling commitment to a negative value, swaps sibling commitments, or
shows a range proof made for other values, is refused even when it re-signs the root."""

from __future__ import annotations

import base64
from typing import Any

import pytest

from ringfence.core.errors import InputError, Result
from ringfence.core.money import Asset
from ringfence.core.por import private
from ringfence.core.por.hashes import round_nonce
from ringfence.core.por.private import (
    PrivateRoot,
    PrivateTree,
    build_private_tree,
    path_transcript,
    private_proof,
    private_root_of,
    verify_private_proof,
)
from ringfence.core.por.rangeproof import _prove_many, prove_ranges
from ringfence.core.por.ristretto import add, commit, group_order

ROUND = bytes(range(32))
MASTER = b"m" * 32
SEED = b"s" * 32
BTC = Asset("BTC", 8, 1)
BALANCES = {"alice": 150_000_000, "bob": 150_000_000, "carol": 7, "dave": 0, "erin": 42_000}


@pytest.fixture(scope="module")
def tree() -> PrivateTree:
    return build_private_tree(ROUND, BTC, BALANCES, MASTER, SEED)


@pytest.fixture(scope="module")
def proof(tree: PrivateTree) -> dict[str, Any]:
    found = private_proof(tree, "alice", "ab" * 32)
    assert found is not None
    return found


def root_of(tree: PrivateTree) -> PrivateRoot:
    root = private_root_of({"mode": "private", "root": tree.root_json()})
    assert root is not None
    return root


def verify(
    proof: dict[str, Any], root: PrivateRoot, client: str = "alice"
) -> tuple[str | None, int]:
    return verify_private_proof(proof, root, ROUND, client, round_nonce(MASTER, ROUND, client))


def siblings_of(proof: dict[str, Any]) -> list[tuple[bytes, bytes]]:
    raw = base64.b64decode(proof["siblings"])
    return [(raw[at : at + 32], raw[at + 32 : at + 64]) for at in range(0, len(raw), 64)]


def refold(
    proof: dict[str, Any], client: str, siblings: list[tuple[bytes, bytes]]
) -> tuple[bytes, bytes]:
    """The root a firm would sign over ``siblings`` and the client's own leaf."""
    secret = private.leaf_secret(round_nonce(MASTER, ROUND, client), ROUND, 1,
                                 private.identity_hash(client))
    commitment = commit(int(proof["value"]), private.leaf_blinding(secret))
    node = (commitment, private.leaf_hash(ROUND, 1, proof["index"], commitment, secret))
    for level, sibling in enumerate(siblings):
        left, right = (sibling, node) if (proof["index"] >> level) & 1 else (node, sibling)
        node = (add(left[0], right[0]), private.node_hash(level + 1, left, right))
    return node


def with_siblings(proof: dict[str, Any], siblings: list[tuple[bytes, bytes]],
                  range_proof: bytes | None = None) -> dict[str, Any]:
    changed = dict(proof, siblings=base64.b64encode(b"".join(c + h for c, h in siblings)).decode())
    if range_proof is not None:
        changed["range_proof"] = base64.b64encode(range_proof).decode()
    return changed


def test_the_root_opens_to_the_total_in_proof_units_and_the_proof_verifies(
    tree: PrivateTree, proof: dict[str, Any]
) -> None:
    assert tree.root[0] == sum(BALANCES.values())
    assert set(tree.leaves) == {"alice", "bob", "carol", "erin"}  # nothing owed, no leaf
    assert len(tree.levels) == private.height + 1
    assert verify(proof, root_of(tree)) == (None, 150_000_000)
    assert len(base64.b64decode(proof["range_proof"])) == 992
    assert private_proof(tree, "dave", "ab" * 32) is None


def test_leaves_sit_in_one_block_and_every_missing_sibling_is_padding(tree: PrivateTree) -> None:
    indexes = sorted(tree.leaves.values())
    assert len({index >> 2 for index in indexes}) == 1  # 4 clients: a block of 4 slots
    for level in range(private.height):
        for index in tree.levels[level]:
            assert index ^ 1 in tree.levels[level]
    for level in range(1, private.height + 1):
        below = tree.levels[level - 1]
        for index, (value, blinding, commitment, _) in tree.levels[level].items():
            assert commitment == commit(value, blinding)
            if 2 * index not in below:  # padding: an empty subtree, zero
                assert value == 0
                continue
            left, right = below[2 * index], below[2 * index + 1]
            assert value == left[0] + right[0]
            assert blinding == (left[1] + right[1]) % group_order


def test_a_proof_verifies_for_its_own_client_only(tree: PrivateTree, proof: dict[str, Any]) -> None:
    # bob is owed as much as alice: her leaf cannot be shown to him (identity binding).
    assert verify(proof, root_of(tree), "bob") == ("root_mismatch", 0)
    wrong_nonce = verify_private_proof(proof, root_of(tree), ROUND, "alice", b"\x00" * 32)
    assert wrong_nonce == ("root_mismatch", 0)
    other_round = verify_private_proof(proof, root_of(tree), bytes(32), "alice",
                                       round_nonce(MASTER, ROUND, "alice"))
    assert other_round == ("root_mismatch", 0)
    assert verify(dict(proof, value="150000001"), root_of(tree))[0] == "root_mismatch"
    assert verify(dict(proof, index=proof["index"] ^ 1), root_of(tree))[0] == "root_mismatch"


def test_a_forged_sibling_commitment_to_a_negative_value_is_refused(
    tree: PrivateTree, proof: dict[str, Any]
) -> None:
    """The firm hides 150,000,000 of what it owes: one sibling is replaced by a commitment to
    -150,000,000 and the root re-signed (its total is then the understated one). The range
    proof a cheating prover makes from the value's low 64 bits does not check."""
    index = proof["index"]
    openings = [tree.levels[level][(index >> level) ^ 1] for level in range(private.height)]
    negative = (-150_000_000, 12345)
    forged_openings = [(value, blinding) for value, blinding, _, _ in openings]
    forged_openings[5] = negative
    siblings = siblings_of(proof)
    siblings[5] = (commit(*negative), siblings[5][1])
    root_commitment, root_hash = refold(proof, "alice", siblings)
    leaf_value, leaf_blinding = tree.levels[0][index][:2]
    total = leaf_value + sum(value for value, _ in forged_openings)
    blinding = (leaf_blinding + sum(blinding for _, blinding in forged_openings)) % group_order
    assert total == sum(BALANCES.values()) - 150_000_000 - openings[5][0]
    forged_root = PrivateRoot(total, blinding, root_commitment, root_hash)
    leaf = tree.levels[0][index][3]
    value_bits = [((value % 2**64) >> i) & 1 for value, _ in forged_openings for i in range(64)]
    commitments, range_proof = _prove_many(value_bits, forged_openings,
                                           path_transcript(ROUND, 1, index, leaf), SEED, 32)
    assert commitments[5] == siblings[5][0]
    forged = with_siblings(proof, siblings, range_proof)
    assert verify(forged, forged_root) == ("sibling_out_of_range", 0)
    # The honest range proof, kept beside the forged sibling, does not check either.
    assert verify(with_siblings(proof, siblings), forged_root) == ("sibling_out_of_range", 0)


def test_swapped_sibling_commitments_are_refused(tree: PrivateTree, proof: dict[str, Any]) -> None:
    siblings = siblings_of(proof)
    swapped = list(siblings)
    swapped[3], swapped[7] = siblings[7], siblings[3]
    assert verify(with_siblings(proof, swapped), root_of(tree))[0] == "root_mismatch"
    # Re-signed over the swap (commitments and hashes moved together), the range proof,
    # which binds the commitments in order, does not check.
    commitment, root_hash = refold(proof, "alice", swapped)
    resigned = PrivateRoot(root_of(tree).total, root_of(tree).blinding, commitment, root_hash)
    assert verify(with_siblings(proof, swapped), resigned)[0] == "sibling_out_of_range"
    # Only the commitment swapped, the hashes left: the path no longer folds to the root.
    mixed = list(siblings)
    mixed[3], mixed[7] = (siblings[7][0], siblings[3][1]), (siblings[3][0], siblings[7][1])
    assert verify(with_siblings(proof, mixed), root_of(tree))[0] == "root_mismatch"


def test_a_range_proof_made_for_other_values_is_refused(
    tree: PrivateTree, proof: dict[str, Any]
) -> None:
    index = proof["index"]
    openings = [tree.levels[level][(index >> level) ^ 1][:2] for level in range(private.height)]
    leaf = tree.levels[0][index][3]
    other = [(value + 1, blinding) for value, blinding in openings]
    _, other_proof = prove_ranges(other, path_transcript(ROUND, 1, index, leaf), SEED)
    assert verify(with_siblings(proof, siblings_of(proof), other_proof),
                  root_of(tree))[0] == "sibling_out_of_range"
    bob = private_proof(tree, "bob", "ab" * 32)
    assert bob is not None
    bobs_range_proof = base64.b64decode(bob["range_proof"])
    assert verify(with_siblings(proof, siblings_of(proof), bobs_range_proof),
                  root_of(tree))[0] == "sibling_out_of_range"


def test_a_root_that_does_not_open_to_its_total_is_refused(
    tree: PrivateTree, proof: dict[str, Any]
) -> None:
    root = root_of(tree)
    understated = PrivateRoot(root.total - 1, root.blinding, root.commitment, root.hash)
    assert verify(proof, understated) == ("root_does_not_open", 0)
    assert private_root_of({"root": tree.root_json()}) is None  # not a private line
    assert private_root_of({"mode": "private", "root": dict(tree.root_json(), sum="-1")}) is None
    assert private_root_of({"mode": "private",
                            "root": dict(tree.root_json(), commitment="01" * 32)}) is None


@pytest.mark.parametrize("field,value", [
    ("index", -1), ("index", 2**32), ("index", "3"), ("value", "-1"), ("value", str(2**64)),
    ("value", 5), ("value", "²"), ("value", ""), ("siblings", "not base64!"), ("siblings", ""),
    ("range_proof", "AAAA"), ("asset_number", None),
])
def test_malformed_fields_are_refused_by_name(
    tree: PrivateTree, proof: dict[str, Any], field: str, value: object
) -> None:
    assert verify(dict(proof, **{field: value}), root_of(tree)) == ("malformed", 0)


def test_a_point_that_is_not_on_the_group_is_refused(
    tree: PrivateTree, proof: dict[str, Any]
) -> None:
    siblings = siblings_of(proof)
    siblings[0] = (b"\x01" + bytes(31), siblings[0][1])
    assert verify(with_siblings(proof, siblings), root_of(tree)) == ("malformed", 0)


def test_an_empty_asset_is_one_padding_root_and_a_total_of_2_64_is_refused() -> None:
    empty = build_private_tree(ROUND, BTC, {"dave": 0}, MASTER, SEED)
    assert empty.root[0] == 0
    assert root_of(empty).commitment == commit(0, root_of(empty).blinding)
    with pytest.raises(InputError) as raised:
        build_private_tree(ROUND, BTC, {"a": 2**63, "b": 2**63}, MASTER, SEED)
    assert raised.value.code is Result.overflows_balance
