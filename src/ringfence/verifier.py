"""Check your own inclusion in a proof-of-liabilities round, with nothing but the standard library.

This module is written to be read by a client (and copied out of the repository if they wish):
it imports no part of ringfence and no third-party package. The format it checks is documented
in docs/proof-of-reserves.md; in short:

    round record  {"v": "ringfence-por-round/2", "round_id", "previous_round_hash",
                   "snapshot", "reserves": {...}, "assets": [{"asset", "asset_number",
                   "unit_exponent", "height", "root": {"sum", "hash"}, "reserves"}],
                   "public_key", "signature"}
    inclusion     {"v": "ringfence-por-proof/2", "round_hash", "asset", "asset_number",
                   "pieces": [{"index", "value"}, ...], "siblings": "<base64>"}

Sums and values are decimal strings of integers in the asset's proof unit; hashes are lowercase
hex. ``siblings`` is the base64 of 40-byte records (u64 big-endian sum, then 32-byte hash), in
the order ``fold`` consumes them: level by level from the leaves up, and at each level by
ascending index of the nodes already known, skipping a sibling that is itself known (so the
pieces' paths share the top of the tree). What is checked:

1. the round record hashes to ``round_hash`` and has the proof's asset;
2. each piece's leaf is recomputed from the client's own key (so nobody else's leaf can be
   passed off as yours, even with the same balance), and the pieces are folded up together
   with parent hashes that bind the height, both children's sums and both children's hashes
   (so a parent cannot claim a sum its children do not add up to), to the round's root, using
   every sibling record exactly once;
3. every sum is an integer in [0, 2^64) and no parent's sum overflows 64 bits;
4. the pieces sum to your balance in proof units, when you give it.

A rejection carries a ``reason`` (a short name, the same in the browser page) and a sentence.
The Ed25519 signature on the round record is not checked here (the standard library has no
Ed25519); check it with any Ed25519 tool over ``round_hash``, with the browser page, or with
``ringfence por verify``.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import itertools
import json
import sys
from collections.abc import Mapping, Sequence
from typing import Any

proof_format = "ringfence-por-proof/2"
round_format = "ringfence-por-round/2"
value_max = 2**64 - 1
height_max = 48
pieces_max = 64
sibling_bytes = 40
_hex_digits = "0123456789abcdefABCDEF"

tag_leaf = b"ringfence/por/leaf/1\x00"
tag_node = b"ringfence/por/node/1\x00"
tag_round = b"ringfence/por/round/1\x00"
tag_round_id = b"ringfence/por/round-id/1\x00"
salt_leaf = b"ringfence/por/leaf-salt/1\x00"


class ProofRejectedError(Exception):
    """The proof does not show what it claims: ``reason`` names the check that failed
    (``malformed``, ``unknown_format``, ``other_round``, ``no_such_asset``,
    ``sum_out_of_range``, ``sum_overflows``, ``root_mismatch``, ``repeated_piece``,
    ``balance_mismatch``, ``chain_broken``), the message says it in a sentence."""

    def __init__(self, reason: str, message: str) -> None:
        super().__init__(message)
        self.reason = reason


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
        raise ProofRejectedError("malformed", f"{what} is not a decimal string")
    value = int(text)
    if value > value_max:
        raise ProofRejectedError("sum_out_of_range", f"{what} is 2^64 or more")
    return value


def _digest(text: object, what: str) -> bytes:
    if not isinstance(text, str) or len(text) != 64 or text.strip(_hex_digits):
        raise ProofRejectedError("malformed", f"{what} is not 64 hex digits")
    try:
        return bytes.fromhex(text)
    except ValueError:
        raise ProofRejectedError("malformed", f"{what} is not 64 hex digits") from None


def _small(value: object, what: str, maximum: int) -> int:
    if type(value) is not int or not 0 <= value <= maximum:
        raise ProofRejectedError("malformed", f"{what} is not an integer in [0, {maximum}]")
    return value


def _siblings(text: object) -> list[tuple[int, bytes]]:
    if not isinstance(text, str):
        raise ProofRejectedError("malformed", "siblings is not a base64 string")
    try:
        raw = base64.b64decode(text.encode("ascii"), validate=True)
    except (binascii.Error, UnicodeEncodeError):
        raise ProofRejectedError("malformed", "siblings is not a base64 string") from None
    if len(raw) % sibling_bytes:
        raise ProofRejectedError("malformed", "siblings is not a whole number of records")
    return [
        (int.from_bytes(raw[at : at + 8], "big"), raw[at + 8 : at + sibling_bytes])
        for at in range(0, len(raw), sibling_bytes)
    ]


def fold(
    leaves: Mapping[int, tuple[int, bytes]], siblings: Sequence[tuple[int, bytes]], height: int
) -> tuple[int, bytes]:
    """Fold leaves (by index) up to the root, taking siblings in proof order; every sibling
    must be used. Returns the root (sum, hash) the proof implies."""
    known = dict(leaves)
    taken = 0
    for level in range(height):
        parents = {}
        for index in sorted(known):
            if index >> 1 in parents:
                continue  # its left sibling was known and has already made the parent
            node = known[index]
            if index ^ 1 in known:
                other = known[index ^ 1]
            elif taken < len(siblings):
                other, taken = siblings[taken], taken + 1
            else:
                raise ProofRejectedError("malformed", "the proof has too few siblings")
            total = node[0] + other[0]
            if total > value_max:
                raise ProofRejectedError("sum_overflows", "a node sum overflows 64 bits")
            left, right = (other, node) if index & 1 else (node, other)
            parents[index >> 1] = (total, node_hash(level + 1, left, right))
        known = parents
    if taken != len(siblings):
        raise ProofRejectedError("malformed", "the proof has siblings left over")
    assert list(known) == [0]
    return known[0]


def _round_asset(record: Mapping[str, Any], proof: Mapping[str, Any]) -> Mapping[str, Any]:
    if record.get("v") != round_format:
        raise ProofRejectedError("unknown_format", "round record has an unknown format")
    if round_hash(record).hex() != proof.get("round_hash"):
        raise ProofRejectedError("other_round", "proof names another round record")
    for entry in record.get("assets", []):
        if entry.get("asset_number") == proof.get("asset_number"):
            if entry.get("asset") != proof.get("asset"):
                raise ProofRejectedError("no_such_asset", "proof's asset differs from the round's")
            return dict(entry)
    raise ProofRejectedError("no_such_asset", "round record has no such asset")


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
        raise ProofRejectedError(
            "malformed", f"proof or round record is malformed ({error!r})") from None


def _verify(
    proof: Mapping[str, Any], record: Mapping[str, Any], client_key: bytes, balance: int | None
) -> int:
    if proof.get("v") != proof_format:
        raise ProofRejectedError("unknown_format", "proof has an unknown format")
    entry = _round_asset(record, proof)
    round_id = _digest(record.get("round_id"), "round_id")
    asset_number = _small(proof.get("asset_number"), "asset_number", 2**32 - 1)
    height = _small(entry.get("height"), "height", height_max)
    root = (_integer(entry["root"].get("sum"), "root sum"),
            _digest(entry["root"].get("hash"), "root"))
    pieces = proof.get("pieces")
    if not isinstance(pieces, list) or not 0 < len(pieces) <= pieces_max:
        raise ProofRejectedError("malformed", "proof has no pieces or too many")
    leaves: dict[int, tuple[int, bytes]] = {}
    for number, piece in enumerate(pieces):
        if not isinstance(piece, dict):
            raise ProofRejectedError("malformed", "piece is not an object")
        index = _small(piece.get("index"), "index", 2**height - 1)
        value = _integer(piece.get("value"), "piece value")
        if index in leaves:
            raise ProofRejectedError("repeated_piece", "two pieces claim one leaf")
        salt = leaf_salt(client_key, round_id, asset_number, number)
        leaves[index] = (value, leaf_hash(round_id, asset_number, index, value, salt))
    total = sum(value for value, _ in leaves.values())
    if fold(leaves, _siblings(proof.get("siblings")), height) != root:
        raise ProofRejectedError("root_mismatch", "the pieces do not lead to the round's root")
    if balance is not None and total != balance:
        raise ProofRejectedError(
            "balance_mismatch", f"pieces add up to {total}, not to the balance {balance}")
    return total


def verify_chain(records: Sequence[Mapping[str, Any]]) -> None:
    """Check that published round records form one chain: each names the previous record's
    hash, and its round id is derived from that hash and its snapshot. Two records for one
    round (a split view) cannot both be in the chain. The first record is taken on trust."""
    for before, after in itertools.pairwise(records):
        previous = round_hash(before)
        if after.get("previous_round_hash") != previous.hex():
            raise ProofRejectedError(
                "chain_broken", "a round record does not name the one before it")
        snapshot = _small(after.get("snapshot"), "snapshot", 2**64 - 1)
        expected = hashlib.sha256(tag_round_id + previous + snapshot.to_bytes(8, "big"))
        if after.get("round_id") != expected.hexdigest():
            raise ProofRejectedError(
                "chain_broken", "a round id is not derived from the round before it")


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
        print(f"REJECTED ({rejection.reason}): {rejection}")
        return 1
    print(f"OK: {total} proof units of {proof['asset']} counted in round {record['round_id']}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
