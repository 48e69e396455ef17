"""Proof of liabilities: one Merkle sum tree per asset over client balances at a snapshot.

Pure: the caller passes the balances, the master secret, the signing key and the randomness
(a seed, expanded here with SHAKE-256 into a deterministic stream); nothing here reads a
clock, a file or the operating system's random source.

Design (shared/research/proof-of-reserves.md §4, attacks §3; format in docs/proof-of-reserves.md):

- One tree per asset, never netted across assets (attack 6).
- Balances are converted to the asset's proof unit (10^-9 of the major unit at the finest, so
  gwei for ETH and sats for BTC) rounding up, so nothing owed is understated; every leaf and
  every node sum must stay below 2^64 (attack 3).
- Each balance is split into 2 to 4 random positive pieces at random slots of a sparse tree of
  height ceil(log2(pieces)) + slack; empty subtrees are padding nodes of sum zero whose hashes
  come from a key only the firm holds, so the tree's occupancy is not revealed by its shape.
- A leaf hashes a domain tag, the round, the asset, its index, its value and a salt derived
  with HKDF from the client's own key, itself derived from the master secret: only the client
  can recognise their leaves, and equal balances never share a leaf (attack 4); salts change
  every round (attack 11).
- A parent hashes a domain tag, its height, and both children's sums and hashes in fixed-width
  big-endian (attacks 1 and 2).
- A round record holds per-asset roots and totals, the reserves file's hash and the previous
  round's hash, and is signed with Ed25519 (attack 10).

The hashing functions are written again, independently, in ``verifier.py``, which a client
can read; the tests check that the two agree.
"""

from __future__ import annotations

import hashlib
import hmac
import itertools
import json
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Final

import nacl.exceptions
import nacl.signing

from ringfence.core.errors import InputError, Result
from ringfence.core.money import Asset, check_units, mul_div_ceil

# Bounds (to move to core/limits.py, which this change may not edit).
proof_value_max: Final = 2**64 - 1
proof_tree_height_max: Final = 48
proof_pieces_min: Final = 2
proof_pieces_max: Final = 4
proof_height_slack_levels: Final = 3
proof_entries_max: Final = 2**26
# The proof unit is at most this many decimals of the major unit (gwei for ETH).
proof_unit_decimals_max: Final = 9

proof_format: Final = "ringfence-por-proof/1"
round_format: Final = "ringfence-por-round/1"
tag_leaf: Final = b"ringfence/por/leaf/1\x00"
tag_node: Final = b"ringfence/por/node/1\x00"
tag_pad: Final = b"ringfence/por/pad/1\x00"
tag_round: Final = b"ringfence/por/round/1\x00"
tag_round_id: Final = b"ringfence/por/round-id/1\x00"
salt_client: Final = b"ringfence/por/client/1\x00"
salt_leaf: Final = b"ringfence/por/leaf-salt/1\x00"
salt_pad: Final = b"ringfence/por/pad-key/1\x00"
salt_stream: Final = b"ringfence/por/stream/1\x00"

assert proof_entries_max * proof_pieces_max * 2**proof_height_slack_levels <= 2**33
assert proof_tree_height_max < 256  # one byte in the node hash


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


def leaf_salt(key: bytes, round_id: bytes, asset_number: int, piece: int) -> bytes:
    info = round_id + asset_number.to_bytes(4, "big") + piece.to_bytes(4, "big")
    # HKDF-Expand alone (one HMAC): the client's key is already a uniform HKDF output.
    return hmac.digest(key, salt_leaf + info + b"\x01", "sha256")


def leaf_hash(round_id: bytes, asset_number: int, index: int, value: int, salt: bytes) -> bytes:
    assert 0 <= value <= proof_value_max
    assert len(round_id) == 32
    assert len(salt) == 32
    return hashlib.sha256(
        b"".join(
            (
                tag_leaf,
                round_id,
                asset_number.to_bytes(4, "big"),
                index.to_bytes(8, "big"),
                value.to_bytes(8, "big"),
                salt,
            )
        )
    ).digest()


def node_hash(height: int, left: tuple[int, bytes], right: tuple[int, bytes]) -> bytes:
    """Binds the height and both children's sums and hashes (not just the sum: attack 1)."""
    assert 0 < height <= proof_tree_height_max
    assert left[0] + right[0] <= proof_value_max
    return hashlib.sha256(
        b"".join(
            (
                tag_node,
                height.to_bytes(1, "big"),
                left[0].to_bytes(8, "big"),
                left[1],
                right[0].to_bytes(8, "big"),
                right[1],
            )
        )
    ).digest()


def pad_hash(pad_key: bytes, round_id: bytes, asset_number: int, height: int, index: int) -> bytes:
    """An empty subtree's hash: unpredictable without the firm's pad key, sum zero."""
    return hashlib.sha256(
        b"".join(
            (
                tag_pad,
                pad_key,
                round_id,
                asset_number.to_bytes(4, "big"),
                height.to_bytes(1, "big"),
                index.to_bytes(8, "big"),
            )
        )
    ).digest()


class RandomStream:
    """Deterministic randomness from a caller's seed: SHAKE-256 over an HKDF-derived key and
    a block counter, read in blocks of ``block_bytes``.

    The core may not draw randomness itself; the shell passes a fresh seed from ``secrets``.
    """

    block_bytes: Final = 4_096

    def __init__(self, seed: bytes) -> None:
        assert len(seed) >= 32
        self._key = hkdf_sha256(seed, salt_stream, b"")
        self._counter = 0
        self._buffer = b""
        self._offset = 0

    def _bytes(self, count: int) -> bytes:
        assert count <= self.block_bytes
        if self._offset + count > len(self._buffer):
            block = self._counter.to_bytes(8, "big")
            self._buffer = self._buffer[self._offset :] + hashlib.shake_256(
                self._key + block
            ).digest(self.block_bytes)
            self._offset = 0
            self._counter += 1
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


def proof_unit_exponent(asset: Asset) -> int:
    """Decimals of the minor unit dropped in proofs: 9 for ETH (wei to gwei), 0 for BTC."""
    return max(0, asset.scale - proof_unit_decimals_max)


def to_proof_units(balance: int, asset: Asset) -> int:
    """A balance in minor units, in proof units, rounded up (nothing owed is understated)."""
    assert type(balance) is int
    assert balance >= 0
    return mul_div_ceil(balance, 1, 10 ** proof_unit_exponent(asset))


def split_balance(value: int, stream: RandomStream) -> list[int]:
    """2 to 4 positive random pieces adding up to ``value`` (fewer when ``value`` is tiny)."""
    assert 0 < value <= proof_value_max
    count = min(value, proof_pieces_min + stream.below(proof_pieces_max - proof_pieces_min + 1))
    cuts: set[int] = set()
    while len(cuts) < count - 1:
        cuts.add(1 + stream.below(value - 1))
    edges = [0, *sorted(cuts), value]
    pieces = [high - low for low, high in itertools.pairwise(edges)]
    assert sum(pieces) == value
    assert all(piece > 0 for piece in pieces)
    return pieces


@dataclass(frozen=True, slots=True)
class Leaf:
    client: str
    piece: int  # the piece's number among the client's pieces in this asset
    index: int
    value: int


Node = tuple[int, bytes]  # (sum in proof units, hash)


@dataclass(frozen=True, slots=True)
class AssetTree:
    """One asset's sparse sum tree; ``levels[k]`` maps an index at height k to its node."""

    asset: Asset
    round_id: bytes
    height: int
    levels: tuple[dict[int, Node], ...]
    leaves: Mapping[str, tuple[Leaf, ...]]
    pad_key: bytes

    @property
    def root(self) -> Node:
        return self.levels[self.height][0]

    def node(self, height: int, index: int) -> Node:
        found = self.levels[height].get(index)
        if found is not None:
            return found
        return (0, pad_hash(self.pad_key, self.round_id, self.asset.number, height, index))


def _tree_height(pieces_count: int) -> int:
    height = max(1, (pieces_count - 1).bit_length() + proof_height_slack_levels)
    assert height <= proof_tree_height_max
    return height


def _place_pieces(
    balances: Mapping[str, int], asset: Asset, stream: RandomStream
) -> tuple[int, list[Leaf]]:
    """Split each client's balance (proof units) into pieces at distinct random slots."""
    split: list[tuple[str, int, int]] = []
    for client in sorted(balances):
        value = to_proof_units(check_units(balances[client]), asset)
        if value > proof_value_max:
            raise InputError(Result.overflows_balance, f"{client} holds 2^64 proof units or more")
        if value > 0:
            split.extend(
                (client, piece, part) for piece, part in enumerate(split_balance(value, stream))
            )
    if len(split) > proof_entries_max * proof_pieces_max:
        raise InputError(Result.batch_too_large, f"{len(split)} pieces")
    height = _tree_height(len(split))
    taken: set[int] = set()
    leaves = []
    for client, piece, part in split:
        index = stream.below(2**height)
        while index in taken:
            index = stream.below(2**height)
        taken.add(index)
        leaves.append(Leaf(client, piece, index, part))
    return height, leaves


def _parent_level(below: dict[int, Node], height: int, pad_prefix: bytes) -> dict[int, Node]:
    """The level above ``below``; missing children are padding nodes (hash of the pad prefix
    and index, sum zero). This is the build's hot loop, so ``node_hash`` is inlined here and
    the 64-bit range check on sums is made by the caller, once, on the total: sums only grow
    upwards, so a total below 2^64 bounds every node."""
    sha256 = hashlib.sha256
    node_prefix = tag_node + bytes([height])
    level: dict[int, Node] = {}
    if not below:  # nothing owed in this asset: the tree is all padding
        below = {0: (0, sha256(pad_prefix + bytes(8)).digest())}
    for index, node in below.items():
        parent = index >> 1
        if parent in level:
            continue
        sibling = index ^ 1
        other = below.get(sibling) or (
            0, sha256(pad_prefix + sibling.to_bytes(8, "big")).digest())
        left, right = (other, node) if index & 1 else (node, other)
        preimage = b"".join((node_prefix, left[0].to_bytes(8, "big"), left[1],
                             right[0].to_bytes(8, "big"), right[1]))
        level[parent] = (left[0] + right[0], sha256(preimage).digest())
    return level


def build_asset_tree(
    round_id: bytes,
    asset: Asset,
    balances: Mapping[str, int],
    master_secret: bytes,
    stream: RandomStream,
) -> AssetTree:
    """Build one asset's tree from client balances in minor units (each ≥ 0)."""
    assert len(round_id) == 32
    pad_key = hkdf_sha256(master_secret, salt_pad, round_id + asset.number.to_bytes(4, "big"))
    height, leaves = _place_pieces(balances, asset, stream)
    keys = {client: client_key(master_secret, client) for client in balances}
    level: dict[int, Node] = {}
    for leaf in leaves:
        salt = leaf_salt(keys[leaf.client], round_id, asset.number, leaf.piece)
        level[leaf.index] = (
            leaf.value,
            leaf_hash(round_id, asset.number, leaf.index, leaf.value, salt),
        )
    # Sums only grow upwards, so a total below 2^64 bounds every node sum in the tree.
    if sum(leaf.value for leaf in leaves) > proof_value_max:
        raise InputError(Result.overflows_balance, f"{asset.code} total is 2^64 or more")
    levels = [level]
    pad_prefix = tag_pad + pad_key + round_id + asset.number.to_bytes(4, "big")
    for height_now in range(1, height + 1):
        level = _parent_level(level, height_now, pad_prefix + bytes([height_now - 1]))
        levels.append(level)
    by_client: dict[str, list[Leaf]] = {}
    for leaf in leaves:
        by_client.setdefault(leaf.client, []).append(leaf)
    tree = AssetTree(
        asset,
        round_id,
        height,
        tuple(levels),
        {client: tuple(found) for client, found in by_client.items()},
        pad_key,
    )
    assert tree.root[0] == sum(leaf.value for leaf in leaves)
    return tree


def _node_json(node: Node) -> dict[str, str]:
    return {"sum": str(node[0]), "hash": node[1].hex()}


def asset_entry(tree: AssetTree) -> dict[str, Any]:
    """The asset's line in the round record."""
    return {
        "asset": tree.asset.code,
        "asset_number": tree.asset.number,
        "unit_exponent": proof_unit_exponent(tree.asset),
        "height": tree.height,
        "root": _node_json(tree.root),
    }


def inclusion_proof(tree: AssetTree, client: str, round_hash_hex: str) -> dict[str, Any]:
    """The client's pieces in this asset, each with its path of siblings to the root."""
    pieces = []
    for leaf in sorted(tree.leaves.get(client, ()), key=lambda found: found.piece):
        path = [
            _node_json(tree.node(height, (leaf.index >> height) ^ 1))
            for height in range(tree.height)
        ]
        pieces.append({"index": leaf.index, "value": str(leaf.value), "path": path})
    return {
        "v": proof_format,
        "round_id": tree.round_id.hex(),
        "round_hash": round_hash_hex,
        **asset_entry(tree),
        "pieces": pieces,
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
            if client in self.trees[number].leaves:
                yield inclusion_proof(self.trees[number], client, self.hash)


def build_round(
    *,
    snapshot: int,
    previous_round_hash: bytes,
    liabilities: Sequence[tuple[Asset, Mapping[str, int]]],
    reserves_hash: bytes,
    master_secret: bytes,
    signing_seed: bytes,
    seed: bytes,
) -> Round:
    """Build every asset's tree and the signed round record. ``seed`` must be fresh each round."""
    assert len(reserves_hash) == 32
    assert len({asset.number for asset, _ in liabilities}) == len(liabilities)
    round_id = round_id_of(previous_round_hash, snapshot)
    stream = RandomStream(seed)
    trees = {
        asset.number: build_asset_tree(round_id, asset, balances, master_secret, stream)
        for asset, balances in sorted(liabilities, key=lambda pair: pair[0].number)
    }
    key = nacl.signing.SigningKey(signing_seed)
    record: dict[str, Any] = {
        "v": round_format,
        "round_id": round_id.hex(),
        "previous_round_hash": previous_round_hash.hex(),
        "snapshot": snapshot,
        "reserves_hash": reserves_hash.hex(),
        "assets": [asset_entry(trees[number]) for number in sorted(trees)],
        "public_key": key.verify_key.encode().hex(),
    }
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


def verify_chain(records: Sequence[Mapping[str, Any]]) -> bool:
    """True when each record names the previous one's hash and derives its round id from it."""
    for before, after in itertools.pairwise(records):
        if after.get("previous_round_hash") != round_hash(before).hex():
            return False
        expected = round_id_of(bytes.fromhex(after["previous_round_hash"]), after["snapshot"])
        if after.get("round_id") != expected.hex():
            return False
    return True
