"""The hashes of a proof-of-liabilities tree, its domain tags and its formats.

One at a time (``leaf_hash``, ``node_hash``, ``pad_hash``, client keys and leaf salts): the
definitions, written again independently in ``verifier.py``, which a client can read; the
tests check that the two agree. In bulk (``hash_rows``, ``hmac_rows``, ``client_keys``): the
same hashes over whole levels, never a Python object per node. The preimages of a level are
laid out by numpy in one matrix and hashed by a pipeline of C iterators
(``struct.iter_unpack`` into ``hashlib.sha256``), HMAC included (written out over SHA-256 so
that it runs in bulk; the tests check it against ``hmac``).
"""

from __future__ import annotations

import hashlib
import hmac
import itertools
import struct
from collections.abc import Sequence
from typing import Final

import numpy as np
import numpy.typing as npt

from ringfence.core import limits

# Format 3 binds every leaf to its client's identity (``identity_hash``) under a per-round
# nonce; format 2 bound it only to a key the firm handed out, so a firm could hand one client
# another's key. Rounds are built in format 3; format 2 trees are still rebuilt and their
# proofs still checked, for the audit of rounds made before.
format_version: Final = 3
format_versions: Final = (2, 3)
proof_format: Final = f"ringfence-por-proof/{format_version}"
round_format: Final = f"ringfence-por-round/{format_version}"
tag_leaf: Final = b"ringfence/por/leaf/1\x00"
tag_node: Final = b"ringfence/por/node/1\x00"
tag_pad: Final = b"ringfence/por/pad/1\x00"
tag_round: Final = b"ringfence/por/round/1\x00"
tag_round_id: Final = b"ringfence/por/round-id/1\x00"
salt_client: Final = b"ringfence/por/client/1\x00"
salt_leaf: Final = b"ringfence/por/leaf-salt/1\x00"  # format 2
salt_leaf_bound: Final = b"ringfence/por/leaf-salt/2\x00"  # format 3: binds the identity
salt_nonce: Final = b"ringfence/por/nonce/1\x00"
tag_identity: Final = b"ringfence/por/identity/1\x00"
salt_pad: Final = b"ringfence/por/pad-key/1\x00"
salt_stream: Final = b"ringfence/por/stream/1\x00"
# A sibling in a proof: u64 sum, big-endian, then its 32-byte hash.
sibling_bytes: Final = 40
node_preimage_bytes: Final = len(tag_node) + 1 + 2 * sibling_bytes

U64 = npt.NDArray[np.uint64]
Bytes2D = npt.NDArray[np.uint8]
_digest = type(hashlib.sha256()).digest


# ---------------------------------------------------------------------- one hash at a time


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


def proof_format_of(version: int) -> str:
    assert version in format_versions
    return f"ringfence-por-proof/{version}"


def round_format_of(version: int) -> str:
    assert version in format_versions
    return f"ringfence-por-round/{version}"


def version_of_round(record: object) -> int | None:
    """The format version a round record names (None when it names none we know)."""
    if isinstance(record, dict):
        for version in format_versions:
            if record.get("v") == round_format_of(version):
                return version
    return None


def identity_hash(client: str) -> bytes:
    """What a format 3 leaf commits to about its client: a hash of the identifier the client
    knows (their client id, as on their statements), so the client's own verifier, given
    only what the client types, rebuilds a leaf that no other client's verifier can."""
    encoded = client.encode("utf-8")
    assert 0 < len(encoded) <= limits.proof_client_id_bytes_max
    return hashlib.sha256(tag_identity + encoded).digest()


def round_nonce(master_secret: bytes, round_id: bytes, client: str) -> bytes:
    """The secret a client receives with each round's proofs: it blinds their leaves (so no
    other client can test a guess of who sits in a sibling) and changes every round."""
    assert len(master_secret) >= 32
    assert len(round_id) == 32
    return hkdf_sha256(master_secret, salt_nonce, round_id + client.encode("utf-8"))


def client_secret(version: int, master_secret: bytes, round_id: bytes, client: str) -> bytes:
    """The key a client's leaf salts are made with: the round nonce (format 3), or the
    long-lived client key (format 2)."""
    if version == 2:
        return client_key(master_secret, client)
    assert version == 3
    return round_nonce(master_secret, round_id, client)


def leaf_salt_message(
    round_id: bytes, asset_number: int, piece: int, identity: bytes | None = None
) -> bytes:
    """The salt's message: format 2 without ``identity``, format 3 with the client's
    ``identity_hash`` last (32 bytes: every field has a fixed width)."""
    head = round_id + asset_number.to_bytes(4, "big") + piece.to_bytes(4, "big")
    if identity is None:
        return salt_leaf + head
    assert len(identity) == 32
    return salt_leaf_bound + head + identity


def leaf_salt(
    key: bytes, round_id: bytes, asset_number: int, piece: int, identity: bytes | None = None
) -> bytes:
    """A piece's salt (HKDF-Expand, one HMAC: the key is already a uniform HKDF output).
    In format 3 it binds the client's identity: two clients can share a leaf only if HMAC
    under keys the firm chooses collides, which is a SHA-256 collision."""
    message = leaf_salt_message(round_id, asset_number, piece, identity)
    return hmac.digest(key, message + b"\x01", "sha256")


def leaf_hash(round_id: bytes, asset_number: int, index: int, value: int, salt: bytes) -> bytes:
    assert 0 <= value <= limits.proof_value_max
    assert len(round_id) == 32
    assert len(salt) == 32
    return hashlib.sha256(
        tag_leaf + round_id + asset_number.to_bytes(4, "big") + index.to_bytes(8, "big")
        + value.to_bytes(8, "big") + salt
    ).digest()


def node_hash(height: int, left: tuple[int, bytes], right: tuple[int, bytes]) -> bytes:
    """Binds the height and both children's sums and hashes (not just the sum: attack 1)."""
    assert 0 < height <= limits.proof_tree_height_max
    assert left[0] + right[0] <= limits.proof_value_max
    return hashlib.sha256(
        tag_node + height.to_bytes(1, "big") + left[0].to_bytes(8, "big") + left[1]
        + right[0].to_bytes(8, "big") + right[1]
    ).digest()


def pad_hash(pad_key: bytes, round_id: bytes, asset_number: int, height: int, index: int) -> bytes:
    """An empty subtree's hash: unpredictable without the firm's pad key, sum zero."""
    return hashlib.sha256(
        tag_pad + pad_key + round_id + asset_number.to_bytes(4, "big")
        + height.to_bytes(1, "big") + index.to_bytes(8, "big")
    ).digest()


# ---------------------------------------------------------------------- hashes in bulk


def hash_rows(rows: Bytes2D) -> bytes:
    """SHA-256 of every row of a byte matrix, concatenated: one C pipeline, no Python loop."""
    assert rows.ndim == 2
    if rows.shape[0] == 0:
        return b""
    flat = np.ascontiguousarray(rows).reshape(-1)
    unpacked = struct.iter_unpack(f"{rows.shape[1]}s", flat.data)
    return b"".join(map(_digest, itertools.starmap(hashlib.sha256, unpacked)))


def as_rows(digests: bytes, width: int = 32) -> Bytes2D:
    return np.frombuffer(digests, dtype=np.uint8).reshape(-1, width)


def big_endian(values: U64) -> Bytes2D:
    """Each u64 as 8 big-endian bytes, one row per value."""
    return values.astype(">u8").view(np.uint8).reshape(-1, 8)


def hmac_rows(keys: Bytes2D, messages: Bytes2D) -> Bytes2D:
    """HMAC-SHA256 (RFC 2104) of each message under the key on the same row (32-byte keys)."""
    assert keys.shape[1] == 32
    assert keys.shape[0] == messages.shape[0]
    count, width = messages.shape
    inner = np.empty((count, 64 + width), dtype=np.uint8)
    np.bitwise_xor(keys, np.uint8(0x36), out=inner[:, :32])
    inner[:, 32:64] = 0x36
    inner[:, 64:] = messages
    outer = np.empty((count, 96), dtype=np.uint8)
    np.bitwise_xor(keys, np.uint8(0x5C), out=outer[:, :32])
    outer[:, 32:64] = 0x5C
    outer[:, 64:] = as_rows(hash_rows(inner))
    return as_rows(hash_rows(outer))


def encode_names(names: Sequence[str]) -> tuple[Bytes2D, U64]:
    """Names as a zero-padded UTF-8 byte matrix and their lengths: what a subtree job carries
    instead of Python strings (gathering millions of strings in random order is slow)."""
    encoded = [name.encode("utf-8") for name in names]
    lengths = np.fromiter(map(len, encoded), dtype=np.uint64, count=len(encoded))
    width = max(1, int(lengths.max(initial=0)))
    matrix = np.frombuffer(b"".join(item.ljust(width, b"\0") for item in encoded),
                           dtype=np.uint8).reshape(len(encoded), width)
    return matrix, lengths


def client_keys(master_secret: bytes, names: Sequence[str]) -> Bytes2D:
    """``client_key`` for many clients at once (rows in the order of ``names``)."""
    return client_keys_encoded(master_secret, *encode_names(names))


def client_keys_encoded(master_secret: bytes, names: Bytes2D, lengths: U64) -> Bytes2D:
    """``client_key`` for encoded names. HKDF-Extract does not depend on the client, so it is
    made once; HKDF-Expand is one HMAC per client over the name and 0x01, done in bulk for
    names of equal length."""
    return _expand_names(master_secret, salt_client, b"", names, lengths)


def round_nonces_encoded(
    master_secret: bytes, round_id: bytes, names: Bytes2D, lengths: U64
) -> Bytes2D:
    """``round_nonce`` for encoded names, in bulk."""
    assert len(round_id) == 32
    return _expand_names(master_secret, salt_nonce, round_id, names, lengths)


def _expand_names(
    master_secret: bytes, salt: bytes, prefix: bytes, names: Bytes2D, lengths: U64
) -> Bytes2D:
    """HKDF-SHA256(master, salt, prefix + name) per name: the Extract step once, the one
    Expand block per name in bulk for names of equal length."""
    assert len(master_secret) >= 32
    prk_row = np.frombuffer(hmac.digest(salt, master_secret, "sha256"), dtype=np.uint8)
    keys = np.empty((len(lengths), 32), dtype=np.uint8)
    start = len(prefix)
    for length in np.unique(lengths).tolist():
        rows = np.flatnonzero(lengths == length)
        messages = np.empty((len(rows), start + length + 1), dtype=np.uint8)
        messages[:, :start] = np.frombuffer(prefix, dtype=np.uint8)
        messages[:, start : start + length] = names[rows, :length]
        messages[:, start + length] = 1
        keys[rows] = hmac_rows(np.broadcast_to(prk_row, (len(rows), 32)), messages)
    return keys


def identity_hashes_encoded(names: Bytes2D, lengths: U64) -> Bytes2D:
    """``identity_hash`` for encoded names, in bulk."""
    hashes = np.empty((len(lengths), 32), dtype=np.uint8)
    head = len(tag_identity)
    for length in np.unique(lengths).tolist():
        rows = np.flatnonzero(lengths == length)
        messages = np.empty((len(rows), head + length), dtype=np.uint8)
        messages[:, :head] = np.frombuffer(tag_identity, dtype=np.uint8)
        messages[:, head:] = names[rows, :length]
        hashes[rows] = as_rows(hash_rows(messages))
    return hashes

