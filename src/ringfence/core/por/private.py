"""Private mode: Merkle sum trees whose node values are Pedersen commitments.

In the public tree (``tree.py``) a proof shows every sibling's sum in the clear, so a client
learns the totals of the subtrees next to theirs. Here (after DAPOL+, Ji and Chalkias, 2021)
each node holds a commitment C = v·B + r·B~ on ristretto255 (``ristretto.commit``) and a hash;
a parent's commitment is the sum of its children's (values and blindings add up), and its hash
binds its height and both children's commitments and hashes:

    leaf   SHA-256("ringfence/por/private-leaf/1\\0" ‖ round id ‖ u32 asset ‖ u64 index ‖ C ‖
                   secret)
    parent SHA-256("ringfence/por/private-node/1\\0" ‖ u8 height ‖ C_left ‖ hash_left ‖ C_right ‖
                   hash_right)

A client's leaf secret is HMAC-SHA256 under their round nonce (``hashes.round_nonce``, as in
format 3) of the round, the asset and their identity hash; the leaf's blinding is a hash of
that secret. So the client, from the id they type and their nonce, rebuilds their own leaf,
and, as in format 3, a leaf made for one client cannot be shown to another (HMAC under keys
the firm chooses would have to collide). Each sibling on the path comes as a commitment and a
hash; one aggregated Bulletproof (``rangeproof.prove_ranges``, m = 32) shows that every
sibling commitment holds a value in [0, 2^64), so no sibling hides a negative amount that
cancels the client's. Its transcript binds the round, the asset, the leaf's index and hash
and every sibling commitment.

Every tree has height ``limits.proof_private_height`` (32). Its clients' leaves sit at
random distinct slots of one aligned block of 2^d slots (2^d the smallest power of two that
holds them), the block at a random place among the 2^(32-d); every empty subtree is a
padding node: a commitment to zero under a blinding, and a hash, both derived from the pad
key, which a client cannot tell from any other node. A client sees their index (uniform
over 2^32 whatever the number of clients) and 32 commitments that all look alike: the
number of clients is not revealed.

The root is published with its opening (the asset's total in proof units and the sum of all
blindings): anyone checks that the root commitment is the total, which the round's reserves
and pool statements are set against exactly as in public mode. Knowing the sum of the
blindings reveals no sibling's value: it is one equation in 32 unknowns.

Pure: no I/O; randomness comes from the caller's seed (``placement.RandomStream``).
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Final

import numpy as np

from ringfence.core import limits
from ringfence.core.errors import InputError, Result
from ringfence.core.money import Asset
from ringfence.core.por.hashes import hkdf_sha256, identity_hash, round_nonce
from ringfence.core.por.liabilities import proof_units_of, total_of
from ringfence.core.por.placement import RandomStream
from ringfence.core.por.rangeproof import proof_bytes, prove_ranges, verify_ranges
from ringfence.core.por.ristretto import (
    Transcript,
    add,
    blinding_generator,
    commit,
    group_order,
    hash_to_scalar,
    is_point,
    multiply,
)

private_proof_format: Final = "ringfence-por-private-proof/1"
tag_private_leaf: Final = b"ringfence/por/private-leaf/1\x00"
tag_private_node: Final = b"ringfence/por/private-node/1\x00"
tag_private_pad: Final = b"ringfence/por/private-pad/1\x00"
tag_private_path: Final = b"ringfence/por/private-path/1\x00"
salt_private_leaf: Final = b"ringfence/por/private-leaf-secret/1\x00"
salt_private_blinding: Final = b"ringfence/por/private-blinding/1\x00"
salt_private_pad_key: Final = b"ringfence/por/private-pad-key/1\x00"
salt_private_prover: Final = b"ringfence/por/private-prover/1\x00"
sibling_record_bytes: Final = 64  # commitment, then hash
height: Final = limits.proof_private_height

# One node as the firm knows it: value, blinding, commitment, hash.
Opening = tuple[int, int, bytes, bytes]


# ---------------------------------------------------------------------- one node at a time


def leaf_secret(nonce: bytes, round_id: bytes, asset_number: int, identity: bytes) -> bytes:
    """What the client's leaf is salted and blinded with: bound to their identity."""
    assert len(nonce) == 32
    assert len(round_id) == 32
    assert len(identity) == 32
    message = salt_private_leaf + round_id + asset_number.to_bytes(4, "big") + identity
    return hmac.digest(nonce, message, "sha256")


def leaf_blinding(secret: bytes) -> int:
    return hash_to_scalar(salt_private_blinding, secret)


def leaf_hash(
    round_id: bytes, asset_number: int, index: int, commitment: bytes, secret: bytes
) -> bytes:
    assert 0 <= index < 2**height
    return hashlib.sha256(
        tag_private_leaf + round_id + asset_number.to_bytes(4, "big") + index.to_bytes(8, "big")
        + commitment + secret).digest()


def node_hash(node_height: int, left: tuple[bytes, bytes], right: tuple[bytes, bytes]) -> bytes:
    """Binds the height and both children's commitments and hashes (attack 1, in private)."""
    assert 0 < node_height <= height
    return hashlib.sha256(tag_private_node + node_height.to_bytes(1, "big") + left[0] + left[1]
                          + right[0] + right[1]).digest()


def pad_key_of(master_secret: bytes, round_id: bytes, asset_number: int) -> bytes:
    return hkdf_sha256(master_secret, salt_private_pad_key,
                       round_id + asset_number.to_bytes(4, "big"))


def pad_node(
    pad_key: bytes, round_id: bytes, asset_number: int, node_height: int, index: int
) -> Opening:
    """An empty subtree: zero under a blinding from the pad key; its hash from the same key."""
    prefix = (tag_private_pad + pad_key + round_id + asset_number.to_bytes(4, "big")
              + node_height.to_bytes(1, "big") + index.to_bytes(8, "big"))
    blinding = hash_to_scalar(prefix, b"blinding")
    return 0, blinding, multiply(blinding, blinding_generator), hashlib.sha256(prefix).digest()


def path_transcript(round_id: bytes, asset_number: int, index: int, leaf: bytes) -> Transcript:
    """The range proof's context: this round, asset and leaf (index and hash)."""
    transcript = Transcript(tag_private_path)
    transcript.append(b"round", round_id)
    transcript.append(b"asset", asset_number.to_bytes(4, "big"))
    transcript.append(b"height", height.to_bytes(1, "big"))
    transcript.append(b"index", index.to_bytes(8, "big"))
    transcript.append(b"leaf", leaf)
    return transcript


# ---------------------------------------------------------------------- the tree


@dataclass(frozen=True, slots=True)
class PrivateTree:
    """One asset's private tree as the firm keeps it: every node that is not above an empty
    subtree, padding included (``levels[h]`` maps an index at height h to its opening), and
    each client's leaf index."""

    asset: Asset
    round_id: bytes
    levels: tuple[dict[int, Opening], ...]
    leaves: Mapping[str, int]
    prover_seed: bytes  # the range proofs' secret randomness (``prover_seed_of``)

    @property
    def height(self) -> int:
        return height

    @property
    def root_opening(self) -> Opening:
        return self.levels[height][0]

    @property
    def root(self) -> tuple[int, bytes]:
        value, _, _, root_hash = self.root_opening
        return value, root_hash

    def root_json(self) -> dict[str, str]:
        value, blinding, commitment, root_hash = self.root_opening
        return {"sum": str(value), "hash": root_hash.hex(), "commitment": commitment.hex(),
                "blinding": blinding.to_bytes(32, "little").hex()}


def build_private_tree(
    round_id: bytes, asset: Asset, balances: Mapping[str, int], master_secret: bytes,
    seed: bytes,
) -> PrivateTree:
    """The asset's private tree over what each client is owed (minor units; rounded up to
    the proof unit as in public mode). ``overflows_balance`` when the total reaches 2^64."""
    assert len(round_id) == 32
    assert len(master_secret) >= 32
    names = list(balances)
    units = proof_units_of(balances.values(), asset)
    if total_of(units) > limits.proof_value_max:
        raise InputError(Result.overflows_balance, f"{asset.code} total is 2^64 or more")
    owed = [(name, int(value)) for name, value in zip(names, units.tolist(), strict=True) if value]
    if len(owed) > limits.proof_private_clients_max:
        raise InputError(Result.batch_too_large,
                         f"{asset.code}: more clients than a private tree holds")
    stream = RandomStream(hkdf_sha256(seed, salt_private_pad_key, round_id
                                      + asset.number.to_bytes(4, "big")))
    indexes = _place(len(owed), stream)
    pad_key = pad_key_of(master_secret, round_id, asset.number)
    leaves: dict[int, Opening] = {}
    for (name, value), index in zip(owed, indexes, strict=True):
        secret = leaf_secret(round_nonce(master_secret, round_id, name), round_id, asset.number,
                             identity_hash(name))
        blinding = leaf_blinding(secret)
        commitment = commit(value, blinding)
        leaves[index] = (value, blinding, commitment,
                         leaf_hash(round_id, asset.number, index, commitment, secret))
    levels = _levels(leaves, pad_key, round_id, asset.number)
    root_value = levels[height][0][0]
    assert root_value == sum(value for _, value in owed)
    assert root_value <= limits.proof_value_max
    return PrivateTree(asset, round_id, tuple(levels),
                       {name: index for (name, _), index in zip(owed, indexes, strict=True)},
                       prover_seed_of(master_secret, round_id, asset.number))


def prover_seed_of(master_secret: bytes, round_id: bytes, asset_number: int) -> bytes:
    return hkdf_sha256(master_secret, salt_private_prover,
                       round_id + asset_number.to_bytes(4, "big"))


PrivateJob = tuple[bytes, Asset, Mapping[str, int], bytes, bytes]


def build_private_job(job: PrivateJob) -> PrivateTree:
    """``build_private_tree`` on one tuple (round id, asset, balances, master secret, seed):
    what the shell's ``map_jobs`` runs, one asset per task."""
    return build_private_tree(*job)


def _place(count: int, stream: RandomStream) -> list[int]:
    """``count`` distinct slots at random in one aligned block of 2^d at a random place."""
    if count == 0:
        return []
    block_levels = max(1, (count - 1).bit_length())
    block = stream.below(2 ** (height - block_levels))
    keys = stream.below_many(np.full(2**block_levels, 2**62, dtype=np.uint64))
    slots = np.argsort(keys, kind="stable")[:count]
    return [(block << block_levels) + int(slot) for slot in slots.tolist()]


def _levels(
    leaves: dict[int, Opening], pad_key: bytes, round_id: bytes, asset_number: int
) -> list[dict[int, Opening]]:
    """Every level from the leaves up; each missing sibling becomes a padding node."""
    levels = [dict(leaves)]
    if not leaves:  # an empty tree is one padding node at the top
        levels += [{} for _ in range(height - 1)]
        levels.append({0: pad_node(pad_key, round_id, asset_number, height, 0)})
        return levels
    for node_height in range(height):
        level, parents = levels[node_height], {}
        for index in sorted(level):
            if index >> 1 in parents:
                continue
            sibling = index ^ 1
            if sibling not in level:
                level[sibling] = pad_node(pad_key, round_id, asset_number, node_height, sibling)
            left, right = (level[index], level[sibling]) if index < sibling else (
                level[sibling], level[index])
            parents[index >> 1] = (
                left[0] + right[0], (left[1] + right[1]) % group_order, add(left[2], right[2]),
                node_hash(node_height + 1, left[2:], right[2:]))
        levels.append(parents)
    return levels


# ---------------------------------------------------------------------- proofs


def private_proof(tree: PrivateTree, client: str, round_hash_hex: str) -> dict[str, Any] | None:
    """The client's proof in this asset (None when they are owed nothing in it): their leaf's
    index and value, each sibling's commitment and hash, and one range proof for them all."""
    index = tree.leaves.get(client)
    if index is None:
        return None
    number = tree.asset.number
    siblings = [tree.levels[level][(index >> level) ^ 1] for level in range(height)]
    value, _, _, leaf = tree.levels[0][index]
    commitments, range_proof = prove_ranges(
        [(sibling[0], sibling[1]) for sibling in siblings],
        path_transcript(tree.round_id, number, index, leaf), tree.prover_seed)
    assert commitments == [sibling[2] for sibling in siblings]
    return {
        "v": private_proof_format,
        "round_hash": round_hash_hex,
        "asset": tree.asset.code,
        "asset_number": number,
        "index": index,
        "value": str(value),
        "siblings": base64.b64encode(b"".join(s[2] + s[3] for s in siblings)).decode("ascii"),
        "range_proof": base64.b64encode(range_proof).decode("ascii"),
    }


@dataclass(frozen=True, slots=True)
class PrivateRoot:
    """What the signed round says of an asset's private tree."""

    total: int
    blinding: int
    commitment: bytes
    hash: bytes


def private_root_of(entry: Mapping[str, Any]) -> PrivateRoot | None:
    """The private root of a round's asset line; None when the line is not private or is
    malformed."""
    root = entry.get("root") if entry.get("mode") == "private" else None
    try:
        assert isinstance(root, dict)
        total = int(root["sum"])
        blinding = int.from_bytes(bytes.fromhex(root["blinding"]), "little")
        commitment, root_hash = bytes.fromhex(root["commitment"]), bytes.fromhex(root["hash"])
    except (AssertionError, KeyError, TypeError, ValueError):
        return None
    if not (0 <= total <= limits.proof_value_max and blinding < group_order
            and is_point(commitment) and len(root_hash) == 32):
        return None
    return PrivateRoot(total, blinding, commitment, root_hash)


def _decode(text: object, size: int) -> bytes | None:
    if not isinstance(text, str):
        return None
    try:
        data = base64.b64decode(text, validate=True)
    except (binascii.Error, ValueError):
        return None
    return data if len(data) == size else None


def verify_private_proof(
    proof: Mapping[str, Any], root: PrivateRoot, round_id: bytes, client: str, nonce: bytes
) -> tuple[str | None, int]:
    """(None, value) when the proof shows a leaf bound to ``client`` (the id they typed,
    with their nonce) holding ``value`` under the round's private root, with every sibling
    in [0, 2^64); else (the reason, 0): ``malformed``, ``root_mismatch``,
    ``root_does_not_open``, ``sibling_out_of_range``."""
    number, index, value_text = proof.get("asset_number"), proof.get("index"), proof.get("value")
    siblings = _decode(proof.get("siblings"), height * sibling_record_bytes)
    range_proof = _decode(proof.get("range_proof"), proof_bytes(64, height))
    if (type(number) is not int or not 0 <= number < 2**32 or type(index) is not int
            or not 0 <= index < 2**height or not isinstance(value_text, str)
            or re.fullmatch("[0-9]{1,20}", value_text) is None or siblings is None
            or range_proof is None or len(nonce) != 32
            or not 0 < len(client.encode("utf-8")) <= limits.proof_client_id_bytes_max):
        return "malformed", 0
    value = int(value_text)
    records = [siblings[at : at + 64] for at in range(0, len(siblings), 64)]
    commitments = [record[:32] for record in records]
    if value > limits.proof_value_max or not all(map(is_point, commitments)):
        return "malformed", 0
    secret = leaf_secret(nonce, round_id, number, identity_hash(client))
    commitment = commit(value, leaf_blinding(secret))
    leaf = leaf_hash(round_id, number, index, commitment, secret)
    node = (commitment, leaf)
    for level, record in enumerate(records):
        sibling = (record[:32], record[32:])
        left, right = (sibling, node) if (index >> level) & 1 else (node, sibling)
        node = (add(left[0], right[0]), node_hash(level + 1, left, right))
    if node != (root.commitment, root.hash):
        return "root_mismatch", 0
    if commit(root.total, root.blinding) != root.commitment:
        return "root_does_not_open", 0
    if not verify_ranges(commitments, range_proof, path_transcript(round_id, number, index, leaf)):
        return "sibling_out_of_range", 0
    return None, value
