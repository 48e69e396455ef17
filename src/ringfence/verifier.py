"""Check your own inclusion in a proof-of-reserves round, with nothing but the standard library.

This module is written to be read by a client, and to be downloaded and run on its own::

    python verifier.py PROOF.json ROUND.json [NONCE] --client-id ID [--public-key HEX]
                       [--balance ASSET=AMOUNT]... [--decimals ASSET=N]... [--json]

``PROOF.json`` is what ``ringfence por proof CLIENT --json`` prints (a bundle of proofs that
carries this round's nonce for you) or one proof on its own (then give ``NONCE``, 64 hex
digits). ``--client-id`` is your own identifier, as the firm knows you (your client id on
your statements): every leaf is rebuilt from it, so a proof made for anyone else fails.
``ROUND.json`` is the signed round record; take it from a second channel (the firm's site).
``--public-key`` is the firm's published Ed25519 key: only with it is the round's signature
checked against a key you trust. ``--balance BTC=0.8`` is your statement balance in the
asset's major unit; ``--decimals BTC=8`` says how many decimals the asset has, needed only
when the round does not say so itself. ``--json`` prints one JSON document.

It imports no part of ringfence and no third-party package (the project's import rules and a
test hold it to that). The formats are documented in docs/proof-of-reserves.md; in short:

    round record  {"v": "ringfence-por-round/3", "round_id", "previous_round_hash",
                   "snapshot", "snapshot_ns", "journal_head": {"seq", "hash"},
                   "reserves": {...}, "assets": [{"asset", "asset_number", "scale",
                   "unit_exponent", "height", "root": {"sum", "hash"}, "reserves"}],
                   "public_key", "signature"}
    inclusion     {"v": "ringfence-por-proof/3", "round_hash", "asset", "asset_number",
                   "pieces": [{"index", "value"}, ...], "siblings": "<base64>"}
    bundle        {"client", "nonce", "round", "round_hash", "proofs": [inclusion...]}

Sums and values are decimal strings of integers in the asset's proof unit (10^-9 of the
major unit at the finest); hashes are lowercase hex. ``siblings`` is the base64 of 40-byte
records (u64 big-endian sum, then 32-byte hash), in the order ``fold`` consumes them: level
by level from the leaves up, and at each level by ascending index of the nodes already known,
skipping a sibling that is itself known. What is checked, in order:

1. the round record's Ed25519 signature over its hash (RFC 8032, written out below), with
   the key you pinned, or else with the key the round carries, which proves nothing about
   who signed it and is reported as such;
2. the round's reserves lines add up: each asset's coverage is recomputed from the signed
   totals, and a round whose reserves do not cover what it owes is reported as not covered;
3. for each proof, the round record hashes to its ``round_hash`` and has its asset; each
   piece's leaf is recomputed from your client id and the round's nonce (its salt binds a
   hash of your id: nobody else's leaf can be passed off as yours, even with the same
   balance, whatever nonce the firm hands you); the pieces are folded up with parent hashes
   that bind
   the height and both children's sums and hashes, to the round's root, using every sibling
   record exactly once; every sum is in [0, 2^64) and no parent's sum overflows;
4. the pieces add up to your balance, converted exactly to proof units (rounded up, as the
   firm must), when you give it; a balance given for an asset with no proof is refused.

Every refusal has a ``reason`` (a short name, the same as ``ringfence por verify`` and the
browser page where they share it) and a sentence, never a traceback. Exit statuses are those
of ``ringfence por verify``: 0 accepted; 1 the proofs check but the round's reserves do not
cover; 2 bad input (arguments, JSON, keys, balances); 3 a file that cannot be read; 4 a
round or proof refused.

Why one file of more than 500 lines: a client should be able to download a single file and
run it with any Python 3.11, and read all of it; splitting out Ed25519 would make them fetch,
check and place two. The file is in sections: limits, Ed25519, hashes, inclusion, the round,
balances, the bundle, the command line.
"""

from __future__ import annotations

import argparse
import base64
import binascii
import datetime
import hashlib
import hmac
import itertools
import json
import re
import sys
from collections.abc import Callable, Mapping, Sequence
from typing import Any

proof_format = "ringfence-por-proof/3"
round_format = "ringfence-por-round/3"
# Format 2 bound a leaf only to a key the firm handed out, so a firm could show one client
# another's leaf. Its proofs are still checked (``verify_inclusion``, for the firm's auditor),
# but a client is told they prove nothing about them (``identity_not_bound``).
format_versions = {"ringfence-por-proof/2": 2, proof_format: 3}
round_versions = {"ringfence-por-round/2": 2, round_format: 3}
client_id_bytes_max = 255
value_max = 2**64 - 1
height_max = 48
pieces_max = 64
# Private-mode proofs (Pedersen commitments on ristretto255, which the standard library does
# not have) are checked by `ringfence por verify` and by the browser page; this verifier names
# them and refuses to count them, unless its caller passes a checker (``private_check``).
private_proof_format = "ringfence-por-private-proof/1"
PrivateCheck = Callable[[Mapping[str, Any], Mapping[str, Any], bytes, str, "int | None"], int]
proofs_max = 256  # proofs in one bundle, one per asset; assets in one round
pools_max = 4_096  # pools in one asset's statement
sibling_bytes = 40
input_bytes_max = 2 * 2**20  # a bundle or round file (a proof is under 4 KB)
json_depth_max = 32  # lists and objects in one (the formats nest 5 deep)
scale_max = 38  # decimals of an asset's major unit
proof_unit_decimals_max = 9  # round format 2: unit_exponent = max(0, scale - 9)
snapshot_ns_max = 253_402_300_800 * 10**9  # year 10000
_hex_digits = "0123456789abcdefABCDEF"
_asset_code_pattern = re.compile(r"[A-Z][A-Z0-9]{0,11}")  # as ringfence's assets

tag_leaf = b"ringfence/por/leaf/1\x00"
tag_node = b"ringfence/por/node/1\x00"
tag_round = b"ringfence/por/round/1\x00"
tag_round_id = b"ringfence/por/round-id/1\x00"
salt_leaf = b"ringfence/por/leaf-salt/1\x00"  # format 2
salt_leaf_bound = b"ringfence/por/leaf-salt/2\x00"  # format 3: binds the client's identity
tag_identity = b"ringfence/por/identity/1\x00"

# The exit statuses of ``ringfence por verify`` (ringfence.core.errors.exit_status_*), copied
# so this file stands alone; a test pins them equal.
exit_status_ok = 0
exit_status_rejected = 1  # the proofs check, and the signed round says reserves do not cover
exit_status_input = 2
exit_status_storage = 3
exit_status_integrity = 4


# Every reason a round or proof is refused for (exit 4), and every reason what the client
# gave is refused for (exit 2, or 3 for a file that cannot be read): closed sets.
rejection_reasons = frozenset({
    "malformed", "unknown_format", "identity_not_bound", "bad_signature",
    "signing_key_not_pinned", "reserves_inconsistent", "other_round", "no_such_asset",
    "sum_out_of_range", "sum_overflows", "root_mismatch", "repeated_piece", "repeated_asset",
    "balance_mismatch", "proof_missing", "chain_broken",
    # private mode: named here, checked by `ringfence por verify` and the browser page
    "private_proof_not_checked", "private_round_asset", "root_does_not_open",
    "sibling_out_of_range"})
refusal_reasons = frozenset({
    "usage", "file_unreadable", "input_too_large", "json_malformed", "client_id_required",
    "client_id_malformed", "nonce_required", "nonce_malformed", "public_key_malformed",
    "balance_malformed", "balance_finer_than_scale", "balance_too_large", "decimals_malformed",
    "decimals_unknown", "decimals_mismatch"})


class ProofRejectedError(Exception):
    """The round or a proof does not show what it claims: ``reason`` (one of
    ``rejection_reasons``) names the check that failed, the message says it in a sentence."""

    def __init__(self, reason: str, message: str) -> None:
        assert reason in rejection_reasons, reason
        super().__init__(message)
        self.reason = reason


class InputRefusedError(Exception):
    """What the client gave cannot be used: ``reason`` (one of ``refusal_reasons``) names it;
    ``exit_status`` is 2, or 3 for a file that cannot be read."""

    def __init__(self, reason: str, message: str, exit_status: int = exit_status_input) -> None:
        assert reason in refusal_reasons, reason
        super().__init__(message)
        self.reason = reason
        self.exit_status = exit_status


# ---------------------------------------------------------------------- Ed25519 (RFC 8032)
#
# Written out by hand because this file must run with the standard library alone, and the
# standard library has no Ed25519. Verifying needs only arithmetic modulo 2^255 - 19 on Python
# integers and SHA-512, which it has. It follows RFC 8032 §5.1 and is checked against the RFC's
# test vectors and against libsodium (PyNaCl) in tests/unit/test_verifier_ed25519.py. It only
# ever handles public values, so it need not run in constant time.

field_p = 2**255 - 19
group_order = 2**252 + 27742317777372353535851937790883648493  # L, the base point's order
curve_d = -121665 * pow(121666, -1, field_p) % field_p
sqrt_minus_one = pow(2, (field_p - 1) // 4, field_p)
Point = tuple[int, int, int, int]  # extended coordinates X, Y, Z, T: x = X/Z, y = Y/Z, xy = T/Z
identity: Point = (0, 1, 1, 0)


def _point_add(first: Point, second: Point) -> Point:
    """RFC 8032 §5.1.4's addition (complete: it also doubles and adds the identity)."""
    x1, y1, z1, t1 = first
    x2, y2, z2, t2 = second
    p = field_p
    a, b = (y1 - x1) * (y2 - x2) % p, (y1 + x1) * (y2 + x2) % p
    c, d = t1 * 2 * curve_d * t2 % p, z1 * 2 * z2 % p
    e, f, g, h = b - a, d - c, d + c, b + a
    return e * f % p, g * h % p, f * g % p, e * h % p


def _point_double(point: Point) -> Point:
    """RFC 8032 §5.1.4's doubling."""
    x1, y1, z1, _ = point
    p = field_p
    a, b, c = x1 * x1 % p, y1 * y1 % p, 2 * z1 * z1 % p
    h = a + b
    e, g = h - (x1 + y1) * (x1 + y1), a - b
    f = c + g
    return e * f % p, g * h % p, f * g % p, e * h % p


def _points_equal(first: Point, second: Point) -> bool:
    x1, y1, z1, _ = first
    x2, y2, z2, _ = second
    return (x1 * z2 - x2 * z1) % field_p == 0 and (y1 * z2 - y2 * z1) % field_p == 0


def decode_point(encoded: bytes) -> Point | None:
    """RFC 8032 §5.1.3: the point a 32-byte encoding names, or None when it names none or is
    not the canonical encoding (y must be below p; x = 0 must have sign bit 0)."""
    assert len(encoded) == 32
    number = int.from_bytes(encoded, "little")
    sign, y = number >> 255, number & (2**255 - 1)
    p = field_p
    if y >= p:
        return None
    u, v = (y * y - 1) % p, (curve_d * y * y + 1) % p
    x = u * pow(v, 3, p) * pow(u * pow(v, 7, p), (p - 5) // 8, p) % p
    if (v * x * x - u) % p != 0:
        if (v * x * x + u) % p != 0:
            return None  # u/v has no square root: no point has this y
        x = x * sqrt_minus_one % p
    if x == 0 and sign == 1:
        return None
    if x & 1 != sign:
        x = p - x
    return x, y, 1, x * y % p


# B (RFC 8032 §5.1): y = 4/5 and x even; a test checks it is what "5866...66" decodes to.
_base_x = 15112221349535400772501151409588531511454012693041857206046113283949847762202
_base_y = 46316835694926478169428394003475163141307993866256225615783033603165251855960
base_point: Point = (_base_x, _base_y, 1, _base_x * _base_y % field_p)


def _double_multiply(first: int, first_point: Point, second: int, second_point: Point) -> Point:
    """[first]first_point + [second]second_point, the two scalars read bit by bit together
    (Straus): one doubling per bit for both products."""
    both = _point_add(first_point, second_point)
    addends = {(1, 0): first_point, (0, 1): second_point, (1, 1): both}
    result = identity
    for bit in reversed(range(max(first.bit_length(), second.bit_length()))):
        result = _point_double(result)
        pair = (first >> bit & 1, second >> bit & 1)
        if pair != (0, 0):
            result = _point_add(result, addends[pair])
    return result


def ed25519_verify(public_key: bytes, message: bytes, signature: bytes) -> bool:
    """True when ``signature`` is a valid Ed25519 signature of ``message`` by ``public_key``
    (RFC 8032 §5.1.7, pure Ed25519: no context, no prehash)."""
    if len(public_key) != 32 or len(signature) != 64:
        return False
    key, commitment = decode_point(public_key), decode_point(signature[:32])
    scalar = int.from_bytes(signature[32:], "little")
    if key is None or commitment is None or scalar >= group_order:
        return False  # §5.1.7 step 1; an S of L or more would make signatures malleable
    if _points_equal(_point_double(_point_double(_point_double(key))), identity):
        # Not in the RFC, as libsodium: under a key of small order, [k]A takes one of eight
        # values, so anyone can make a signature that verifies, for any message.
        return False
    digest = hashlib.sha512(signature[:32] + public_key + message).digest()
    # k is the digest read as an integer (§5.1.7 step 2); reducing it modulo 8L, a multiple of
    # every point's order, leaves [k]A unchanged and halves the work.
    challenge = int.from_bytes(digest, "little") % (8 * group_order)
    # The cofactorless equation [S]B = R + [k]A, which §5.1.7 step 3 says is sufficient
    # ("it's sufficient, but not required, to instead check [S]B = R + [k]A'"): it is the
    # one libsodium checks, so this verifier and `ringfence por verify` (PyNaCl) agree on
    # every signature an honest signer makes, and refuses one whose R hides a point of small
    # order (the cofactored [8][S]B = [8]R + [8][k]A would accept it; a test shows one).
    # Rearranged as [S]B + [k](-A) = R.
    x, y, z, t = key
    negated = (-x % field_p, y, z, -t % field_p)
    return _points_equal(_double_multiply(scalar, base_point, challenge, negated), commitment)


# ---------------------------------------------------------------------- hashes


def identity_hash(client_id: str) -> bytes:
    """What a leaf commits to about its client: a hash of the client's own identifier."""
    return hashlib.sha256(tag_identity + client_id.encode("utf-8")).digest()


def leaf_salt(
    secret: bytes, round_id: bytes, asset_number: int, piece: int, identity: bytes | None = None
) -> bytes:
    """The secret that blinds one piece's leaf, made with the round's nonce for the client
    (format 3, ``identity`` the hash of their id, which it binds) or their key (format 2,
    ``identity`` None); only the client (and the firm) can derive it. Two clients could share
    a format 3 leaf only if HMAC collided under keys the firm chose: a SHA-256 collision."""
    info = round_id + asset_number.to_bytes(4, "big") + piece.to_bytes(4, "big")
    message = salt_leaf + info if identity is None else salt_leaf_bound + info + identity
    # HKDF-Expand alone (one HMAC): the nonce or key is already a uniform HKDF output.
    return hmac.digest(secret, message + b"\x01", "sha256")


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


# ---------------------------------------------------------------------- fields


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
    return bytes.fromhex(text)


def _small(value: object, what: str, maximum: int) -> int:
    if type(value) is not int or not 0 <= value <= maximum:
        raise ProofRejectedError("malformed", f"{what} is not an integer in [0, {maximum}]")
    return value


def _is_asset_code(text: object) -> bool:
    return isinstance(text, str) and _asset_code_pattern.fullmatch(text) is not None


def hex_bytes(text: object, length: int) -> bytes | None:
    """``length`` bytes written as exactly ``2 * length`` hex digits, or None."""
    if not isinstance(text, str) or len(text) != 2 * length or text.strip(_hex_digits):
        return None
    return bytes.fromhex(text)


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


# ---------------------------------------------------------------------- inclusion


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


def _version(document: Mapping[str, Any], versions: Mapping[str, int]) -> int | None:
    """The format version a document names (None: one this verifier does not know)."""
    named = document.get("v")
    return versions.get(named) if isinstance(named, str) else None


def _round_asset(
    record: Mapping[str, Any], proof: Mapping[str, Any], version: int
) -> Mapping[str, Any]:
    if _version(record, round_versions) != version:
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
    secret: bytes,
    balance: int | None = None,
    client_id: str | None = None,
) -> int:
    """Check a client's inclusion proof against a round record; returns the pieces' total.

    ``secret`` is the round's nonce for the client and ``client_id`` their identifier
    (format 3), or the client key of a format 2 proof (``client_id`` unused). ``balance`` is
    the client's balance in proof units (the statement's balance rounded up;
    ``proof_units_of_balance`` converts one); when given, the pieces must add up to exactly
    it. Raises ``ProofRejectedError`` otherwise, and ``InputRefusedError`` for a format 3
    proof without a client id. The round's signature is not checked here (``check_round``
    does it, and refuses format 2 rounds to clients)."""
    try:
        return _verify(proof, record, secret, balance, client_id)
    except (AttributeError, KeyError, TypeError, ValueError) as error:
        raise ProofRejectedError(
            "malformed", f"proof or round record is malformed ({error!r})") from None


def _verify(
    proof: Mapping[str, Any], record: Mapping[str, Any], secret: bytes, balance: int | None,
    client_id: str | None,
) -> int:
    version = _version(proof, format_versions)
    if version is None:
        raise ProofRejectedError("unknown_format", "proof has an unknown format")
    identity = None
    if version == 3:
        identity = identity_hash(check_client_id(client_id))
    entry = _round_asset(record, proof, version)
    if entry.get("mode") == "private":
        raise ProofRejectedError(
            "private_round_asset", "the round proves this asset in private mode only")
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
        salt = leaf_salt(secret, round_id, asset_number, number, identity)
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


# ---------------------------------------------------------------------- the round


def check_round(record: object, pinned_key: bytes | None) -> dict[str, Any]:
    """Check a round record's format, signature and reserves lines; return what it says:
    its hash, snapshot, signature status and each asset's coverage. Raises
    ``ProofRejectedError`` for a round that must not be relied on.

    With ``pinned_key`` (the firm's published key) the signature must verify with that key:
    status ``valid``. Without it, it must verify with the key the round carries, which shows
    only that the record is intact, not who made it: status ``not_pinned``, never ``valid``."""
    if not isinstance(record, dict):
        raise ProofRejectedError("malformed", "the round record is not a JSON object")
    if _version(record, round_versions) == 2:
        raise ProofRejectedError(
            "identity_not_bound", "the round is of format 2, whose leaves are not bound to "
            "their clients' identities: the firm could show you another client's leaf. Ask "
            "for a proof in a current round")
    if record.get("v") != round_format:
        raise ProofRejectedError("unknown_format", "the round record has an unknown format")
    carried = hex_bytes(record.get("public_key"), 32)
    signature = hex_bytes(record.get("signature"), 64)
    if carried is None or signature is None:
        raise ProofRejectedError(
            "bad_signature", "the round's public key or signature is not hex of the right length")
    if pinned_key is not None and carried != pinned_key:
        raise ProofRejectedError(
            "signing_key_not_pinned", "the round is signed by another key than the one given")
    digest = round_hash(record)
    if not ed25519_verify(carried, digest, signature):
        raise ProofRejectedError("bad_signature", "the round's Ed25519 signature does not check")
    snapshot = _small(record.get("snapshot"), "snapshot", value_max)
    facts: dict[str, Any] = {
        "round_hash": digest.hex(),
        "round_id": _digest(record.get("round_id"), "round_id").hex(),
        "snapshot": snapshot,
        "snapshot_time": _snapshot_time(record.get("snapshot_ns")),
        "journal_head": _journal_head(record.get("journal_head"), snapshot),
        "signature": "valid" if pinned_key is not None else "not_pinned",
        "public_key": carried.hex(),
    }
    facts["reserves"], facts["assets"] = _coverage(record.get("reserves"), record.get("assets"))
    return facts


def _snapshot_time(value: object) -> str | None:
    """The snapshot's time (``snapshot_ns``, UTC) when the round records one."""
    if value is None:
        return None
    # A decimal string, as every large number in the formats: JSON numbers beyond 2^53 lose
    # digits in a browser, which would change the round's hash there.
    if not isinstance(value, str) or not value.isascii() or not value.isdigit() or (
            len(value) > 21 or int(value) >= snapshot_ns_max):
        raise ProofRejectedError("malformed", "snapshot_ns is not a time before the year 10000")
    nanoseconds = int(value)
    moment = datetime.datetime.fromtimestamp(nanoseconds // 10**9, tz=datetime.UTC)
    return moment.strftime("%Y-%m-%dT%H:%M:%S") + f".{nanoseconds % 10**9:09d}Z"


def _journal_head(value: object, snapshot: int) -> dict[str, Any] | None:
    """The journal head the round was built at, which must be its snapshot's entry."""
    if value is None:
        return None
    if not isinstance(value, dict) or type(value.get("seq")) is not int or (
            value["seq"] != snapshot):
        raise ProofRejectedError("malformed", "the journal head is not the snapshot's entry")
    return {"seq": snapshot, "hash": _digest(value.get("hash"), "journal head").hex()}


def _coverage(reserves: object, assets: object) -> tuple[str, list[dict[str, Any]]]:
    """Each asset's liabilities (the root's sum) against its signed reserves, coverage
    recomputed here: a line that contradicts its own totals refuses the round."""
    statuses = ("attested", "not_attested")
    if not isinstance(reserves, dict) or reserves.get("status") not in statuses:
        raise ProofRejectedError("malformed", "the round's reserves have no known status")
    status = reserves["status"]
    if status == "attested":
        _digest(reserves.get("file_hash"), "reserves file hash")
    if not isinstance(assets, list) or not 0 < len(assets) <= proofs_max:
        raise ProofRejectedError("malformed", "the round's assets are not a list")
    lines: list[dict[str, Any]] = []
    for entry in assets:
        if not isinstance(entry, dict) or not _is_asset_code(entry.get("asset")):
            raise ProofRejectedError("malformed", "an asset line has no valid asset code")
        root = entry.get("root")
        owed = _integer(root.get("sum") if isinstance(root, dict) else None, "root sum")
        line = {"asset": entry["asset"], "liabilities": str(owed),
                **_asset_scale(entry), **_reserves_line(entry.get("reserves"), owed, status)}
        if "pools" in entry:
            line["pools"] = _pool_claims(entry["pools"])
        if any(other["asset"] == line["asset"] for other in lines):
            raise ProofRejectedError("malformed", f"the round lists {line['asset']} twice")
        lines.append(line)
    return status, lines


def _asset_scale(entry: Mapping[str, Any]) -> dict[str, Any]:
    """The asset's unit exponent and, when the round fixes it, its scale (decimals of the
    major unit): a ``scale`` the round carries, else ``unit_exponent + 9`` when the exponent
    is positive (format 2 drops ``max(0, scale - 9)`` decimals); otherwise unknown (None)."""
    exponent = _small(entry.get("unit_exponent"), "unit_exponent",
                      scale_max - proof_unit_decimals_max)
    if entry.get("scale") is None:
        return {"unit_exponent": exponent,
                "scale": exponent + proof_unit_decimals_max if exponent else None}
    scale = _small(entry.get("scale"), "scale", scale_max)
    if exponent != max(0, scale - proof_unit_decimals_max):
        raise ProofRejectedError("malformed", "the asset's scale and unit exponent disagree")
    return {"unit_exponent": exponent, "scale": scale}


def _reserves_line(line: object, owed: int, status: str) -> dict[str, Any]:
    if status == "not_attested":
        if line is not None:
            raise ProofRejectedError(
                "reserves_inconsistent", "a round without reserves lists some for an asset")
        return {"status": "not_attested"}
    if not isinstance(line, dict):
        raise ProofRejectedError(
            "reserves_inconsistent", "an attested round lists no reserves for an asset")
    net = _integer(line.get("total"), "reserves total")
    gross = _integer(line.get("gross"), "gross reserves")
    net_bp, gross_bp = _basis_points(net, owed), _basis_points(gross, owed)
    claimed = (line.get("covered"), line.get("coverage_net_bp"), line.get("coverage_gross_bp"))
    if net > gross or claimed != (net >= owed, net_bp, gross_bp):
        raise ProofRejectedError(
            "reserves_inconsistent", "an asset's coverage contradicts its own totals")
    return {"status": "covered" if net >= owed else "not_covered", "reserves_net": str(net),
            "reserves_gross": str(gross), "coverage_net_bp": net_bp,
            "coverage_gross_bp": gross_bp}


def _pool_claims(statement: object) -> list[dict[str, Any]]:
    """Each pool's own coverage as the round claims it: a pool with a coverage proof claims
    to be covered, one without says it is not. The proofs themselves (Pedersen commitments
    and range proofs on ristretto255) need more than the standard library: ``ringfence por
    verify`` checks them. A pool the firm itself reports short is reported here too."""
    lines = statement.get("pools") if isinstance(statement, dict) else None
    if not isinstance(lines, list) or not 0 < len(lines) <= pools_max:
        raise ProofRejectedError("malformed", "an asset's pools statement lists no pools")
    claims: list[dict[str, Any]] = []
    for line in lines:
        if not isinstance(line, dict) or not isinstance(line.get("pool"), str) or not (
                line["pool"]) or not isinstance(line.get("coverage_proof"), str | None):
            raise ProofRejectedError("malformed", "a pool line has no name or proof")
        if any(claim["pool"] == line["pool"] for claim in claims):
            raise ProofRejectedError("malformed", f"pool {line['pool']} is listed twice")
        claims.append({"pool": line["pool"],
                       "reserves": str(_integer(line.get("reserves"), "pool reserves")),
                       "claim": "not_covered" if line.get("coverage_proof") is None
                       else "covered"})
    return claims


def _basis_points(reserves: int, owed: int) -> str | None:
    """Coverage in basis points, rounded down (never overstated); none when nothing is owed."""
    return None if owed == 0 else str(reserves * 10_000 // owed)


def check_client_id(client_id: object) -> str:
    """The client's identifier as they typed it: 1 to 255 bytes of UTF-8, no control
    characters (which no statement shows)."""
    if client_id is None:
        raise InputRefusedError(
            "client_id_required", "give your client id as the firm knows you (--client-id): "
            "each leaf is rebuilt from it")
    if not isinstance(client_id, str) or not client_id or any(
            ord(character) < 0x20 or ord(character) == 0x7F for character in client_id):
        raise InputRefusedError("client_id_malformed", "the client id is empty or not text")
    try:
        encoded = client_id.encode("utf-8")
    except UnicodeEncodeError:
        raise InputRefusedError("client_id_malformed", "the client id is not UTF-8") from None
    if len(encoded) > client_id_bytes_max:
        raise InputRefusedError(
            "client_id_malformed", f"the client id is over {client_id_bytes_max} bytes")
    return client_id


# ---------------------------------------------------------------------- balances

_amount_pattern = re.compile(r"([0-9]{1,30})(?:\.([0-9]{1,40}))?")


def proof_units_of_balance(text: str, scale: int, unit_exponent: int) -> int:
    """A balance in the asset's major unit (``"0.8"``) in proof units, in exact integer
    arithmetic: to minor units (at most ``scale`` decimals, never rounded), then up to the
    proof unit, as the firm must round (nothing owed is understated)."""
    assert 0 <= unit_exponent <= scale <= scale_max
    found = _amount_pattern.fullmatch(text)
    if found is None:
        raise InputRefusedError(
            "balance_malformed", f"balance {text!r} is not a decimal number such as 0.8")
    whole, fraction = found.group(1), found.group(2) or ""
    if len(fraction) > scale:
        raise InputRefusedError(
            "balance_finer_than_scale",
            f"balance {text} has {len(fraction)} decimals; the asset has only {scale}")
    minor = int(whole + fraction.ljust(scale, "0"))
    units = -(-minor // 10**unit_exponent)
    if units > value_max:
        raise InputRefusedError("balance_too_large", f"balance {text} is 2^64 proof units or more")
    return units


def major_units(units: int, unit_exponent: int, scale: int) -> str:
    """Proof units as a decimal string in the major unit, with every decimal a proof unit
    has (exact: ``0.80000000`` BTC, ``2.000000001`` ETH)."""
    decimals = scale - unit_exponent
    whole, fraction = divmod(units, 10**decimals)
    return f"{whole}.{fraction:0{decimals}d}" if decimals else str(whole)


def _scale_for(line: Mapping[str, Any], given: int | None) -> int:
    """The asset's scale: the round's when it fixes one (what the client says must agree),
    else what the client says, which the round's proof unit must allow."""
    code, scale = line["asset"], line["scale"]
    if scale is not None:
        if given is not None and given != scale:
            raise InputRefusedError(
                "decimals_mismatch", f"{code} has {scale} decimals in the round, not {given}")
        return int(scale)
    if given is None:
        raise InputRefusedError(
            "decimals_unknown",
            f"the round does not say how many decimals {code} has: give --decimals {code}=N "
            "(8 for bitcoin), as on your statement")
    if given > proof_unit_decimals_max:
        raise InputRefusedError(
            "decimals_mismatch",
            f"{code} cannot have {given} decimals: its proof unit in the round is its minor unit")
    return given


# ---------------------------------------------------------------------- the bundle

verdict_exit_status = {"accepted": exit_status_ok, "not_covered": exit_status_rejected,
                       "rejected": exit_status_integrity}


def verify_bundle(
    bundle: object,
    record: object,
    *,
    client_id: str | None = None,
    nonce: bytes | None = None,
    pinned_key: bytes | None = None,
    balances: Mapping[str, str] | None = None,
    decimals: Mapping[str, int] | None = None,
    private_check: PrivateCheck | None = None,
) -> dict[str, Any]:
    """Check a bundle (``por proof --json``) or one proof against a round record, as the
    client ``client_id``: the round first, then each proof against the client's balance in
    its asset (major units) when given. ``nonce`` is the round's nonce for the client when
    the proof file does not carry it. A private-mode proof is refused as
    ``private_proof_not_checked`` unless ``private_check`` (proof, record, nonce, client id,
    balance in proof units or None) checks it and returns its value.

    Returns the report: ``verdict`` is ``accepted``, ``not_covered`` (every proof checks, but
    the signed round says an asset's reserves do not cover it) or ``rejected``; ``round`` is
    what the round says (None when it is refused); ``results`` has a line per proof, and per
    balance given for an asset that has no proof. Raises ``InputRefusedError`` for what the
    client gave that cannot be used (no client id, a missing or malformed nonce, a bad
    balance)."""
    if not isinstance(bundle, dict) or not isinstance(record, dict):
        raise InputRefusedError(
            "json_malformed", "the proof file and the round record must be JSON objects")
    client_id = check_client_id(client_id)
    try:
        facts = check_round(record, pinned_key)
    except ProofRejectedError as rejection:
        return _report(None, [_rejected(None, rejection)], client_id)
    key = nonce if nonce is not None else _bundle_nonce(bundle)
    lines = {line["asset"]: line for line in facts["assets"]}
    balances, decimals = balances or {}, decimals or {}
    scales = {code: _scale_for(lines[code], decimals.get(code))
              for code in {*balances, *decimals} & lines.keys()}
    units = {code: proof_units_of_balance(text, scales[code], lines[code]["unit_exponent"])
             for code, text in balances.items() if code in lines}
    proofs = bundle.get("proofs", [bundle])
    if not isinstance(proofs, list) or not 0 < len(proofs) <= proofs_max:
        return _report(facts, [_rejected(None, ProofRejectedError(
            "malformed", f"the bundle does not hold 1 to {proofs_max} proofs"))], client_id)
    results: list[dict[str, Any]] = []
    for proof in proofs:
        code = proof.get("asset") if isinstance(proof, dict) else None
        code = code if _is_asset_code(code) else None
        try:
            if code is not None and any(result["asset"] == code for result in results):
                raise ProofRejectedError("repeated_asset", f"a second proof for {code}")
            if isinstance(proof, dict) and _version(proof, format_versions) == 2:
                raise ProofRejectedError(
                    "identity_not_bound", "a format 2 proof is not bound to your identity")
            total = _check_one(proof, record, key, (units.get(code or ""), client_id),
                               private_check)
        except ProofRejectedError as rejection:
            results.append(_rejected(code, rejection))
            continue
        assert code is not None  # the round has the proof's asset, and its code is valid
        scale = scales.get(code, lines[code]["scale"])
        results.append(_counted(code, total, lines[code], balances.get(code), scale))
    for code in balances:
        if not any(result["asset"] == code for result in results):
            results.append(_rejected(code, ProofRejectedError(
                "proof_missing", f"no proof counts your {code} balance in this round")))
    return _report(facts, results, client_id)


def _check_one(
    proof: object, record: Mapping[str, Any], key: bytes,
    client: tuple[int | None, str], private_check: PrivateCheck | None,
) -> int:
    balance, client_id = client
    if isinstance(proof, dict) and proof.get("v") == private_proof_format:
        if private_check is None:
            raise ProofRejectedError(
                "private_proof_not_checked", "a private-mode proof needs ristretto255, which "
                "the standard library does not have: check it with `ringfence por verify` or "
                "the browser page")
        return private_check(proof, record, key, client_id, balance)
    return verify_inclusion(proof, record, key, balance, client_id)  # type: ignore[arg-type]


def _counted(
    code: str, total: int, line: Mapping[str, Any], balance: str | None, scale: int | None
) -> dict[str, Any]:
    """An accepted proof's line: what it counts, in the major unit when the scale is known."""
    counted = None if scale is None else major_units(total, line["unit_exponent"], scale)
    return {"asset": code, "ok": True, "proof_units": str(total), "counted": counted,
            "balance": balance}


def _bundle_nonce(bundle: Mapping[str, Any]) -> bytes:
    if "nonce" not in bundle:
        raise InputRefusedError(
            "nonce_required", "give the round's nonce for you: the proof file does not carry it")
    nonce = hex_bytes(bundle["nonce"], 32)
    if nonce is None:
        raise InputRefusedError("nonce_malformed", "the proof file's nonce is not 64 hex digits")
    return nonce


def _rejected(asset: str | None, rejection: ProofRejectedError) -> dict[str, Any]:
    return {"asset": asset, "ok": False, "reason": rejection.reason, "detail": str(rejection)}


def _shortfalls(facts: Mapping[str, Any]) -> list[str]:
    """What the signed round says is not covered: assets, then pools (``BTC pool p``)."""
    return [line["asset"] for line in facts["assets"] if line["status"] == "not_covered"] + [
        f"{line['asset']} pool {pool['pool']}" for line in facts["assets"]
        for pool in line.get("pools", []) if pool["claim"] == "not_covered"]


def _report(
    facts: dict[str, Any] | None, results: list[dict[str, Any]], client_id: str
) -> dict[str, Any]:
    if facts is None or not results or not all(result["ok"] for result in results):
        verdict = "rejected"
    elif _shortfalls(facts):
        verdict = "not_covered"
    else:
        verdict = "accepted"
    return {"ok": verdict == "accepted", "verdict": verdict, "client_id": client_id,
            "round": facts, "results": results}


# ---------------------------------------------------------------------- the command line


class _ArgumentParser(argparse.ArgumentParser):
    """Refuses bad arguments with a named reason instead of exiting, so ``--json`` still
    prints one JSON document."""

    def error(self, message: str) -> Any:
        raise InputRefusedError("usage", message)


def _parser() -> argparse.ArgumentParser:
    parser = _ArgumentParser(
        prog="verifier.py", allow_abbrev=False,
        description="Check your inclusion in a signed proof-of-reserves round.",
        epilog="Exit status: 0 accepted; 1 the proofs check but reserves do not cover; "
               "2 bad input; 3 a file cannot be read; 4 the round or a proof is refused.")
    parser.add_argument("proof", metavar="PROOF.json",
                        help="`ringfence por proof CLIENT --json` output, or one proof")
    parser.add_argument("round", metavar="ROUND.json", help="the signed round record")
    parser.add_argument("nonce", metavar="NONCE", nargs="?",
                        help="the round's nonce for you (hex), if the proof file does not "
                             "carry it")
    parser.add_argument("--client-id", metavar="ID",
                        help="your client id, as the firm knows you: every leaf is bound to it")
    parser.add_argument("--public-key", metavar="HEX",
                        help="the firm's published signing key: refuse a round signed by any other")
    parser.add_argument("--balance", metavar="ASSET=AMOUNT", action="append", default=[],
                        help="your statement balance in the major unit, e.g. BTC=0.8")
    parser.add_argument("--decimals", metavar="ASSET=N", action="append", default=[],
                        help="the asset's decimals (BTC=8), if the round does not say")
    parser.add_argument("--json", action="store_true", help="print one JSON document")
    return parser


def _pairs(texts: Sequence[str], option: str) -> dict[str, str]:
    found: dict[str, str] = {}
    for text in texts:
        code, equals, value = text.partition("=")
        if not _is_asset_code(code) or not equals or code in found:
            raise InputRefusedError(f"{option}_malformed", f"--{option} {text!r} is not ASSET=VALUE"
                                    " (once per asset)")
        found[code] = value
    return found


def parse_amounts(
    balances: Sequence[str], decimals: Sequence[str]
) -> tuple[dict[str, str], dict[str, int]]:
    """``--balance ASSET=AMOUNT`` and ``--decimals ASSET=N`` options, each once per asset."""
    found = {}
    for code, text in _pairs(decimals, "decimals").items():
        if not text.isascii() or not text.isdigit() or int(text) > scale_max:
            raise InputRefusedError("decimals_malformed", f"--decimals {code}={text!r}")
        found[code] = int(text)
    return _pairs(balances, "balance"), found


def read_json(path: str, what: str) -> Any:
    """A JSON file of at most ``input_bytes_max`` bytes, or a named refusal."""
    try:
        with open(path, "rb") as file:
            raw = file.read(input_bytes_max + 1)
    except (OSError, ValueError) as error:
        raise InputRefusedError("file_unreadable", f"cannot read the {what} {path!r}: {error}",
                                exit_status_storage) from None
    if len(raw) > input_bytes_max:
        raise InputRefusedError("input_too_large", f"the {what} is over {input_bytes_max} bytes")
    try:
        document = json.loads(raw.decode("utf-8"))
    except (UnicodeDecodeError, ValueError, RecursionError) as error:
        raise InputRefusedError("json_malformed", f"the {what} is not JSON ({error})") from None
    if _depth(document) > json_depth_max:
        raise InputRefusedError("json_malformed", f"the {what} nests over {json_depth_max} deep")
    return document


def _depth(document: object) -> int:
    """How deep lists and objects nest in a JSON document (without recursion)."""
    deepest, waiting = 0, [(document, 1)]
    while waiting:
        value, depth = waiting.pop()
        if isinstance(value, dict | list):
            deepest = max(deepest, depth)
            children = value.values() if isinstance(value, dict) else value
            waiting += [(child, depth + 1) for child in children
                        if isinstance(child, dict | list)]
    return deepest


def run(arguments: Sequence[str]) -> dict[str, Any]:
    """Parse the arguments, read the files and check them: the report of ``verify_bundle``.
    Raises ``InputRefusedError`` for arguments or files that cannot be used."""
    options = _parser().parse_args(list(arguments))
    nonce = pinned_key = None
    client_id = check_client_id(options.client_id)
    if options.nonce is not None:
        nonce = hex_bytes(options.nonce, 32)
        if nonce is None:
            raise InputRefusedError("nonce_malformed", "the nonce is not 64 hex digits")
    if options.public_key is not None:
        pinned_key = hex_bytes(options.public_key, 32)
        if pinned_key is None:
            raise InputRefusedError("public_key_malformed", "the public key is not 64 hex digits")
    balances, decimals = parse_amounts(options.balance, options.decimals)
    bundle = read_json(options.proof, "proof file")
    record = read_json(options.round, "round record")
    return verify_bundle(bundle, record, client_id=client_id, nonce=nonce, pinned_key=pinned_key,
                         balances=balances, decimals=decimals)


def main(arguments: Sequence[str]) -> int:
    """``python verifier.py PROOF.json ROUND.json [NONCE] --client-id ID [--public-key HEX]
    [--balance ASSET=AMOUNT]... [--decimals ASSET=N]... [--json]``; returns the exit status."""
    json_output = "--json" in arguments
    try:
        report = run(arguments)
    except InputRefusedError as refusal:
        if json_output:
            _write(sys.stdout, _json_text({"ok": False, "error": refusal.reason,
                                           "detail": str(refusal)}))
        else:
            _write(sys.stderr, f"error: {refusal.reason}: {refusal}\n")
        return refusal.exit_status
    except SystemExit as stop:  # --help
        return stop.code if isinstance(stop.code, int) else exit_status_input
    _write(sys.stdout, _json_text(report) if json_output else render_text(report))
    return verdict_exit_status[report["verdict"]]


def render_text(report: Mapping[str, Any]) -> str:
    """The report for a person: the round, its signature, each asset's coverage, each proof,
    and a verdict that names a shortfall first."""
    facts = report["round"]
    lines = [f"Client id {report['client_id']}: every leaf below is rebuilt from it"]
    if facts is not None:
        head = facts["journal_head"]
        lines += [f"Round {facts['round_hash']}",
                  f"  snapshot:     journal entry {facts['snapshot']}, "
                  + (f"taken at {facts['snapshot_time']}" if facts["snapshot_time"]
                     else "no time recorded in the round")]
        if head is not None:
            lines.append(f"  journal head: {head['hash']}")
        if facts["signature"] == "valid":
            lines.append(f"  signature:    valid, by the key you pinned, {facts['public_key']}")
        else:
            lines += ["  signature:    NOT CHECKED AGAINST A KEY YOU TRUST. It checks with the "
                      "key the round carries,",
                      f"                {facts['public_key']}, which anyone can make:",
                      "                give the firm's published key with --public-key."]
        lines += _coverage_text(facts)
    lines.append("Your proofs:")
    for result in report["results"]:
        code = result["asset"] or ("round" if facts is None else "proof")
        if not result["ok"]:
            lines.append(f"  {code}: REJECTED ({result['reason']}): {result['detail']}")
            continue
        counted = f" ({result['counted']} {code})" if result["counted"] is not None else ""
        lines.append(f"  {code}: OK, {result['proof_units']} proof units{counted} counted"
                     + (f", matching your balance {result['balance']}" if result["balance"]
                        else "; give --balance to compare them with your statement"))
    lines.append(_verdict_text(report))
    return "\n".join(lines) + "\n"


def _coverage_text(facts: Mapping[str, Any]) -> list[str]:
    if facts["reserves"] == "not_attested":
        return ["  reserves:     NOT ATTESTED in this round: it shows what the firm owes, "
                "not that it holds it"]
    lines = ["  reserves, as the firm signed them (net: less encumbered and unproven holdings):"]
    for line in facts["assets"]:
        def amount(units: str, line: Mapping[str, Any] = line) -> str:
            if line["scale"] is None:
                return f"{units} proof units"
            return f"{major_units(int(units), line['unit_exponent'], line['scale'])} " + (
                line["asset"])
        lines += [
            f"    {line['asset']}: {'covered' if line['status'] == 'covered' else 'NOT COVERED'}"
            f", owes {amount(line['liabilities'])}",
            f"      reserves net   {amount(line['reserves_net'])} "
            f"({_percent(line['coverage_net_bp'])})",
            f"      reserves gross {amount(line['reserves_gross'])} "
            f"({_percent(line['coverage_gross_bp'])})"]
        lines += [f"      pool {pool['pool']}: "
                  + ("covered" if pool["claim"] == "covered" else "NOT COVERED")
                  + f" by its own reserves of {amount(pool['reserves'])}, as the round claims"
                  + " (ringfence por verify checks its proofs)" for pool in line.get("pools", [])]
    return lines


def _percent(basis_points: str | None) -> str:
    if basis_points is None:
        return "nothing owed"
    whole, hundredths = divmod(int(basis_points), 100)
    return f"{whole}.{hundredths:02d}% of what it owes"


def _verdict_text(report: Mapping[str, Any]) -> str:
    facts = report["round"]
    if report["verdict"] == "rejected":
        return "REJECTED: do not rely on this round; the reasons are above."
    if report["verdict"] == "not_covered":
        return (f"NOT COVERED: your proofs check, but the firm's signed round says its reserves "
                f"of {', '.join(_shortfalls(facts))} do not cover what it owes.")
    if facts["reserves"] == "not_attested":
        return ("ACCEPTED: your balances are counted in what the firm owes; this round attests "
                "no reserves.")
    return "ACCEPTED: your balances are counted, and the round's reserves cover what it owes."


def _json_text(document: Mapping[str, Any]) -> str:
    return json.dumps(document, indent=1, ensure_ascii=True) + "\n"


def _write(stream: Any, text: str) -> None:
    """Write text that may quote what a file or an argument held, whatever it holds."""
    encoding = getattr(stream, "encoding", None) or "utf-8"
    stream.write(text.encode(encoding, "backslashreplace").decode(encoding))


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
