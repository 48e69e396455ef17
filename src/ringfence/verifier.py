"""Check your own inclusion in a proof-of-liabilities round, with nothing but the standard library.

This module is written to be read by a client (and copied out of the repository if they wish):
it imports no part of ringfence and no third-party package. The format it checks is documented
in docs/proof-of-reserves.md; in short:

    round record  {"v": "ringfence-por-round/1", "round_id", "previous_round_hash",
                   "snapshot", "reserves_hash", "assets": [{"asset", "asset_number",
                   "unit_exponent", "height", "root": {"sum", "hash"}}], "public_key",
                   "signature"}
    inclusion     {"v": "ringfence-por-proof/1", "round_id", "round_hash", "asset",
                   "asset_number", "unit_exponent", "height", "pieces": [{"index", "value",
                   "path": [{"sum", "hash"}, ...]}], "root": {"sum", "hash"}}

Sums and values are decimal strings of integers in the asset's proof unit; hashes are lowercase
hex. ``path`` runs from the leaf's sibling up to the root's children. What is checked:

1. the round record hashes to ``round_hash`` and names the same round, asset and root;
2. each piece's leaf is recomputed from the client's own key (so nobody else's leaf can be
   passed off as yours, even with the same balance), and folded up its path with a parent hash
   that binds the height, both children's sums and both children's hashes (so a parent cannot
   claim a sum its children do not add up to);
3. every sum is an integer in [0, 2^64) and no parent's sum overflows 64 bits;
4. the pieces sum to your balance in proof units, when you give it.

The Ed25519 signature on the round record is not checked here (the standard library has no
Ed25519); check it with any Ed25519 tool over ``round_hash``, or with ``ringfence por verify``.
"""

from __future__ import annotations

import hashlib
import hmac
import itertools
import json
import sys
from collections.abc import Mapping, Sequence
from typing import Any

proof_format = "ringfence-por-proof/1"
round_format = "ringfence-por-round/1"
value_max = 2**64 - 1
height_max = 48
pieces_max = 64

tag_leaf = b"ringfence/por/leaf/1\x00"
tag_node = b"ringfence/por/node/1\x00"
tag_round = b"ringfence/por/round/1\x00"
tag_round_id = b"ringfence/por/round-id/1\x00"
salt_leaf = b"ringfence/por/leaf-salt/1\x00"


class ProofRejectedError(Exception):
    """The proof does not show what it claims; the message says which check failed."""


def hkdf_sha256(key: bytes, salt: bytes, info: bytes, length: int = 32) -> bytes:
    """HKDF (RFC 5869) with SHA-256."""
    assert 0 < length <= 255 * 32
    prk = hmac.digest(salt, key, "sha256")
    output, block, counter = b"", b"", 1
    while len(output) < length:
        block = hmac.digest(prk, block + info + bytes([counter]), "sha256")
        output += block
        counter += 1
    return output[:length]


def leaf_salt(client_key: bytes, round_id: bytes, asset_number: int, piece: int) -> bytes:
    """The secret that blinds one piece's leaf; only the client (and the firm) can derive it."""
    info = round_id + asset_number.to_bytes(4, "big") + piece.to_bytes(4, "big")
    # HKDF-Expand alone (one HMAC): the client's key is already a uniform HKDF output.
    return hmac.digest(client_key, salt_leaf + info + b"\x01", "sha256")


def leaf_hash(round_id: bytes, asset_number: int, index: int, value: int, salt: bytes) -> bytes:
    return hashlib.sha256(
        tag_leaf
        + round_id
        + asset_number.to_bytes(4, "big")
        + index.to_bytes(8, "big")
        + value.to_bytes(8, "big")
        + salt
    ).digest()


def node_hash(height: int, left: tuple[int, bytes], right: tuple[int, bytes]) -> bytes:
    """A parent binds its height and each child's sum and hash, in fixed widths."""
    return hashlib.sha256(
        tag_node
        + height.to_bytes(1, "big")
        + left[0].to_bytes(8, "big")
        + left[1]
        + right[0].to_bytes(8, "big")
        + right[1]
    ).digest()


def round_hash(record: Mapping[str, Any]) -> bytes:
    """SHA-256 over the record's canonical JSON without its signature."""
    body = {key: value for key, value in record.items() if key != "signature"}
    canonical = json.dumps(body, sort_keys=True, separators=(",", ":"), ensure_ascii=True)
    return hashlib.sha256(tag_round + canonical.encode("ascii")).digest()


def _integer(text: object, what: str) -> int:
    if not isinstance(text, str) or not text.isascii() or not text.isdigit() or len(text) > 20:
        raise ProofRejectedError(f"{what} is not a decimal string")
    value = int(text)
    if value > value_max:
        raise ProofRejectedError(f"{what} is 2^64 or more")
    return value


def _digest(text: object, what: str) -> bytes:
    if not isinstance(text, str) or len(text) != 64:
        raise ProofRejectedError(f"{what} is not 64 hex digits")
    try:
        return bytes.fromhex(text)
    except ValueError:
        raise ProofRejectedError(f"{what} is not 64 hex digits") from None


def _small(value: object, what: str, maximum: int) -> int:
    if type(value) is not int or not 0 <= value <= maximum:
        raise ProofRejectedError(f"{what} is not an integer in [0, {maximum}]")
    return value


def fold_path(
    round_id: bytes, asset_number: int, height: int, piece: Mapping[str, Any], salt: bytes
) -> tuple[int, bytes]:
    """Recompute a piece's leaf and fold it up its path; returns the root it implies."""
    index = _small(piece.get("index"), "index", 2**height - 1)
    value = _integer(piece.get("value"), "piece value")
    path = piece.get("path")
    if not isinstance(path, list) or len(path) != height:
        raise ProofRejectedError("path length differs from the tree height")
    node = (value, leaf_hash(round_id, asset_number, index, value, salt))
    for level, sibling in enumerate(path):
        if not isinstance(sibling, dict):
            raise ProofRejectedError("path entry is not an object")
        other = (_integer(sibling.get("sum"), "sibling sum"), _digest(sibling.get("hash"), "hash"))
        total = node[0] + other[0]
        if total > value_max:
            raise ProofRejectedError("a node sum overflows 64 bits")
        left, right = (other, node) if (index >> level) & 1 else (node, other)
        node = (total, node_hash(level + 1, left, right))
    return node


def _round_asset(record: Mapping[str, Any], proof: Mapping[str, Any]) -> Mapping[str, Any]:
    if record.get("v") != round_format:
        raise ProofRejectedError("round record has an unknown format")
    if round_hash(record).hex() != proof.get("round_hash"):
        raise ProofRejectedError("proof names another round record")
    if record.get("round_id") != proof.get("round_id"):
        raise ProofRejectedError("proof names another round")
    for entry in record.get("assets", []):
        if entry.get("asset_number") == proof.get("asset_number"):
            for field in ("asset", "unit_exponent", "height", "root"):
                if entry.get(field) != proof.get(field):
                    raise ProofRejectedError(f"proof's {field} differs from the round record's")
            return dict(entry)
    raise ProofRejectedError("round record has no such asset")


def verify_inclusion(
    proof: Mapping[str, Any],
    record: Mapping[str, Any],
    client_key: bytes,
    balance: int | None = None,
) -> int:
    """Check a client's inclusion proof against a round record; returns the pieces' total.

    ``balance`` is the client's balance in proof units (the statement's balance rounded up);
    when given, the pieces must add up to exactly it. Raises ``ProofRejectedError`` otherwise.
    """
    try:
        return _verify(proof, record, client_key, balance)
    except (AttributeError, KeyError, TypeError, ValueError) as error:
        raise ProofRejectedError(f"proof or round record is malformed ({error!r})") from None


def _verify(
    proof: Mapping[str, Any], record: Mapping[str, Any], client_key: bytes, balance: int | None
) -> int:
    if proof.get("v") != proof_format:
        raise ProofRejectedError("proof has an unknown format")
    entry = _round_asset(record, proof)
    round_id = _digest(proof.get("round_id"), "round_id")
    asset_number = _small(proof.get("asset_number"), "asset_number", 2**32 - 1)
    height = _small(entry.get("height"), "height", height_max)
    root = (
        _integer(entry["root"].get("sum"), "root sum"),
        _digest(entry["root"].get("hash"), "root"),
    )
    pieces = proof.get("pieces")
    if not isinstance(pieces, list) or not 0 < len(pieces) <= pieces_max:
        raise ProofRejectedError("proof has no pieces or too many")
    total, seen = 0, set()
    for number, piece in enumerate(pieces):
        if not isinstance(piece, dict):
            raise ProofRejectedError("piece is not an object")
        salt = leaf_salt(client_key, round_id, asset_number, number)
        if fold_path(round_id, asset_number, height, piece, salt) != root:
            raise ProofRejectedError(f"piece {number} does not lead to the round's root")
        if piece["index"] in seen:
            raise ProofRejectedError("two pieces claim one leaf")
        seen.add(piece["index"])
        total += int(piece["value"])
    if balance is not None and total != balance:
        raise ProofRejectedError(f"pieces add up to {total}, not to the balance {balance}")
    return total


def verify_chain(records: Sequence[Mapping[str, Any]]) -> None:
    """Check that published round records form one chain: each names the previous record's
    hash, and its round id is derived from that hash and its snapshot. Two records for one
    round (a split view) cannot both be in the chain. The first record is taken on trust."""
    for before, after in itertools.pairwise(records):
        previous = round_hash(before)
        if after.get("previous_round_hash") != previous.hex():
            raise ProofRejectedError("a round record does not name the one before it")
        snapshot = _small(after.get("snapshot"), "snapshot", 2**64 - 1)
        expected = hashlib.sha256(tag_round_id + previous + snapshot.to_bytes(8, "big"))
        if after.get("round_id") != expected.hexdigest():
            raise ProofRejectedError("a round id is not derived from the round before it")


def main(arguments: Sequence[str]) -> int:
    """``python verifier.py PROOF.json ROUND.json CLIENT_KEY_HEX [BALANCE]``"""
    if len(arguments) not in (3, 4):
        print(main.__doc__, file=sys.stderr)
        return 2
    with open(arguments[0], encoding="utf-8") as file:
        proof = json.load(file)
    with open(arguments[1], encoding="utf-8") as file:
        record = json.load(file)
    balance = int(arguments[3]) if len(arguments) == 4 else None
    try:
        total = verify_inclusion(proof, record, bytes.fromhex(arguments[2]), balance)
    except ProofRejectedError as rejection:
        print(f"REJECTED: {rejection}")
        return 1
    print(f"OK: {total} proof units of {proof['asset']} counted in round {proof['round_id']}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
