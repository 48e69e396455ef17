"""Ristretto255 points, Pedersen commitments and the Fiat-Shamir transcript of the range proofs.

The group is libsodium's ristretto255 (RFC 9496) through ``rbcl``, a maintained binding that
bundles libsodium with its ristretto255 functions (PyNaCl does not expose them). Points are
their 32-byte canonical encodings; scalars are Python integers modulo the group order.
``rbcl``'s arithmetic does not check its inputs (adding an invalid encoding returns bytes, not
an error), so every point that comes from outside is checked with ``is_point`` first
(``points_of``); the points made here are valid by construction.

Generators: ``value_generator`` is the group's base point B; every other generator is derived
from a domain tag with RFC 9496's one-way map of a SHA-512 hash, so nobody knows a discrete
logarithm between any two of them (the binding of a Pedersen commitment rests on it).

Pure: no randomness is drawn here. A prover's blinding scalars come from ``Transcript.rng``,
which hashes the caller's secret seed with the transcript so far and the witness (as Merlin's
transcript RNG does): never the same scalars for two different statements.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Sequence
from functools import cache
from typing import Final

import rbcl

group_order: Final = 2**252 + 27742317777372353535851937790883648493
point_bytes: Final = 32
identity: Final = bytes(point_bytes)
_transcript_tag: Final = b"ringfence/por/transcript/1\x00"
_generator_tag: Final = b"ringfence/por/generator/1\x00"


class NotAPointError(ValueError):
    """A byte string that is not the canonical encoding of a ristretto255 point."""


def scalar_bytes(scalar: int) -> bytes:
    return (scalar % group_order).to_bytes(32, "little")


def is_point(encoded: object) -> bool:
    """True for the canonical encoding of a ristretto255 point (the identity included)."""
    return (isinstance(encoded, bytes) and len(encoded) == point_bytes
            and bool(rbcl.crypto_core_ristretto255_is_valid_point(encoded)))


def points_of(encodings: Iterable[object]) -> list[bytes]:
    """The encodings, each checked to be a point; ``NotAPointError`` otherwise."""
    found = []
    for encoded in encodings:
        if not is_point(encoded):
            raise NotAPointError("not a ristretto255 point")
        assert isinstance(encoded, bytes)
        found.append(encoded)
    return found


def add(first: bytes, second: bytes) -> bytes:
    return bytes(rbcl.crypto_core_ristretto255_add(first, second))


def subtract(first: bytes, second: bytes) -> bytes:
    return bytes(rbcl.crypto_core_ristretto255_sub(first, second))


def multiply(scalar: int, point: bytes) -> bytes:
    return bytes(rbcl.crypto_scalarmult_ristretto255_allow_scalar_zero(scalar_bytes(scalar),
                                                                        point))


def base_multiply(scalar: int) -> bytes:
    return bytes(rbcl.crypto_scalarmult_ristretto255_base_allow_scalar_zero(
        scalar_bytes(scalar)))


def multi_multiply(scalars: Sequence[int], points: Sequence[bytes]) -> bytes:
    """The sum of scalar times point. libsodium has no multi-scalar multiplication, so this is
    one product per pair (a 64-bit range proof verifies with about 140)."""
    assert len(scalars) == len(points)
    total = identity
    for scalar, point in zip(scalars, points, strict=True):
        if scalar % group_order:
            total = add(total, multiply(scalar, point))
    return total


def hash_to_point(*parts: bytes) -> bytes:
    """RFC 9496's one-way map of SHA-512 over the parts: a point whose discrete logarithm
    nobody knows."""
    digest = hashlib.sha512(b"".join(parts)).digest()
    return bytes(rbcl.crypto_core_ristretto255_from_hash(digest))


def hash_to_scalar(*parts: bytes) -> int:
    """SHA-512 over the parts, reduced modulo the group order (no bias worth the name)."""
    return int.from_bytes(hashlib.sha512(b"".join(parts)).digest(), "little") % group_order


value_generator: Final = base_multiply(1)
blinding_generator: Final = hash_to_point(_generator_tag, b"pedersen-blinding")


@cache
def vector_generators(label: bytes, count: int) -> tuple[bytes, ...]:
    """``count`` independent generators for one use (``label``), by index."""
    return tuple(hash_to_point(_generator_tag, label, index.to_bytes(4, "big"))
                 for index in range(count))


def commit(value: int, blinding: int) -> bytes:
    """The Pedersen commitment value·B + blinding·B~: hiding (blinding uniform) and binding
    (nobody knows log_B B~)."""
    return add(base_multiply(value), multiply(blinding, blinding_generator))


def inverse(scalar: int) -> int:
    assert scalar % group_order
    return pow(scalar, -1, group_order)


def inner_product(first: Sequence[int], second: Sequence[int]) -> int:
    assert len(first) == len(second)
    return sum(a * b for a, b in zip(first, second, strict=True)) % group_order


def powers(base: int, count: int) -> list[int]:
    found, value = [], 1
    for _ in range(count):
        found.append(value)
        value = value * base % group_order
    return found


def _framed(data: bytes) -> bytes:
    return len(data).to_bytes(4, "big") + data


class Transcript:
    """A Fiat-Shamir transcript: every message the prover sends is absorbed (framed with its
    label and length, so no two transcripts read alike), and each challenge is a hash of all
    that came before it. The proof's context (round, asset, pool, what is proved) is absorbed
    first, so a proof checks only for the statement it was made for."""

    def __init__(self, protocol: bytes) -> None:
        self._state = hashlib.sha512(_transcript_tag + _framed(protocol)).digest()

    def append(self, label: bytes, data: bytes) -> None:
        self._state = hashlib.sha512(self._state + _framed(label) + _framed(data)).digest()

    def append_scalar(self, label: bytes, scalar: int) -> None:
        self.append(label, scalar_bytes(scalar))

    def challenge(self, label: bytes) -> int:
        """A challenge scalar, never zero (a zero would make some products vanish)."""
        while True:
            self.append(b"challenge", label)
            value = hash_to_scalar(self._state, b"challenge-value")
            if value:
                self.append_scalar(label, value)
                return value

    def rng(self, seed: bytes, witness: bytes) -> TranscriptRandom:
        """The prover's blinding scalars: from its secret seed, this transcript and the
        witness, so that a fresh statement always gets fresh scalars."""
        assert len(seed) >= 32
        return TranscriptRandom(hashlib.sha512(
            b"ringfence/por/prover-rng/1\x00" + self._state + _framed(seed)
            + _framed(witness)).digest())


class TranscriptRandom:
    """Scalars drawn from a SHAKE-256 stream (uniform: 64 bytes reduced per scalar)."""

    def __init__(self, key: bytes) -> None:
        self._key = key
        self._counter = 0

    def scalar(self) -> int:
        self._counter += 1
        block = hashlib.shake_256(self._key + self._counter.to_bytes(8, "big")).digest(64)
        return int.from_bytes(block, "little") % group_order

    def scalars(self, count: int) -> list[int]:
        return [self.scalar() for _ in range(count)]
