"""The stdlib verifier's Ed25519 (verifier.py, RFC 8032 §5.1): RFC 8032 §7.1's test vectors,
the encodings §5.1.3 and §5.1.7 refuse, and agreement with libsodium (PyNaCl) on random keys
and messages, signatures tampered with included."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import nacl.exceptions
import nacl.signing
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from ringfence import verifier
from ringfence.verifier import Point, decode_point, ed25519_verify, field_p, group_order

VECTORS = json.loads((Path(__file__).parents[1] / "data" / "verifier" / "rfc8032-ed25519.json")
                     .read_text(encoding="utf-8"))["vectors"]


def encode(point: Point) -> bytes:
    """RFC 8032 §5.1.2: y, with the low bit of x in the top bit."""
    x, y, z, _ = point
    inverse = pow(z, -1, field_p)
    x, y = x * inverse % field_p, y * inverse % field_p
    return (y | (x & 1) << 255).to_bytes(32, "little")


def multiply(scalar: int, point: Point) -> Point:
    return verifier._double_multiply(scalar, point, 0, verifier.identity)


def libsodium_verifies(public_key: bytes, message: bytes, signature: bytes) -> bool:
    try:
        nacl.signing.VerifyKey(public_key).verify(message, signature)
    except (nacl.exceptions.BadSignatureError, ValueError):
        return False
    return True


@pytest.mark.parametrize("vector", VECTORS, ids=[vector["name"] for vector in VECTORS])
def test_rfc_8032_vectors_verify_and_each_changed_byte_is_refused(vector: dict[str, str]) -> None:
    key, message, signature = (bytes.fromhex(vector[name])
                               for name in ("public_key", "message", "signature"))
    # The vector as transcribed is what libsodium makes from the RFC's secret key.
    signer = nacl.signing.SigningKey(bytes.fromhex(vector["secret_key"]))
    assert signer.verify_key.encode() == key
    assert signer.sign(message).signature == signature
    assert ed25519_verify(key, message, signature)
    for position in (0, 31, 32, 63):  # R's first and last byte, S's first and last
        changed = bytearray(signature)
        changed[position] ^= 0x01
        assert not ed25519_verify(key, message, bytes(changed))
    assert not ed25519_verify(key, message + b"\x00", signature)
    assert not ed25519_verify(bytes([key[0] ^ 1]) + key[1:], message, signature)


def test_the_sha_abc_vector_signs_sha_512_of_abc() -> None:
    (vector,) = [vector for vector in VECTORS if vector["name"] == "TEST SHA(abc)"]
    assert bytes.fromhex(vector["message"]) == hashlib.sha512(b"abc").digest()


def test_the_base_point_is_the_one_rfc_8032_encodes() -> None:
    decoded = decode_point(bytes.fromhex("58" + "66" * 31))
    assert decoded is not None
    assert verifier._points_equal(decoded, verifier.base_point)
    assert verifier.base_point[1] == 4 * pow(5, -1, field_p) % field_p
    assert verifier._points_equal(multiply(group_order, verifier.base_point), verifier.identity)


def test_an_s_of_l_or_more_is_refused_though_the_equation_holds() -> None:
    vector = VECTORS[0]
    key, signature = bytes.fromhex(vector["public_key"]), bytes.fromhex(vector["signature"])
    scalar = int.from_bytes(signature[32:], "little")
    # [S + L]B = [S]B: only the range check of §5.1.7 step 1 stops this second signature.
    malleated = signature[:32] + (scalar + group_order).to_bytes(32, "little")
    assert not ed25519_verify(key, b"", malleated)
    assert not libsodium_verifies(key, b"", malleated)


def test_decoding_refuses_what_rfc_8032_section_5_1_3_refuses() -> None:
    identity = (1).to_bytes(32, "little")  # y = 1, x = 0
    assert decode_point(identity) is not None
    # y >= p: y = p + 1 names y = 1 again, but is not its canonical encoding.
    assert decode_point((field_p + 1).to_bytes(32, "little")) is None
    assert decode_point((2**255 - 1).to_bytes(32, "little")) is None
    # x = 0 with the sign bit set.
    assert decode_point((1 | 1 << 255).to_bytes(32, "little")) is None
    # A y for which no x exists: (y^2 - 1) / (d y^2 + 1) is not a square.
    off_curve = next(y for y in range(2, 100) if decode_point(y.to_bytes(32, "little")) is None)
    signature = bytes.fromhex(VECTORS[0]["signature"])
    assert not ed25519_verify(off_curve.to_bytes(32, "little"), b"", signature)
    assert not ed25519_verify(bytes.fromhex(VECTORS[0]["public_key"]), b"",
                              off_curve.to_bytes(32, "little") + signature[32:])
    # Every point decodes back from its encoding, both signs of x.
    for scalar in (1, 2, 3, 2**200 + 7):
        point = multiply(scalar, verifier.base_point)
        decoded = decode_point(encode(point))
        assert decoded is not None
        assert verifier._points_equal(decoded, point)


def test_a_key_of_small_order_is_refused() -> None:
    # Under the identity key, R = [S]B makes [S]B = R + [k]A hold for every message.
    identity = (1).to_bytes(32, "little")
    scalar = 12345
    forged = encode(multiply(scalar, verifier.base_point)) + scalar.to_bytes(32, "little")
    assert not ed25519_verify(identity, b"any message", forged)
    assert not libsodium_verifies(identity, b"any message", forged)
    # Only the small-order check refuses it: [S]B + [k](-A) = R holds.
    challenge = int.from_bytes(hashlib.sha512(forged[:32] + identity + b"any message").digest(),
                               "little")
    commitment = decode_point(forged[:32])
    assert commitment is not None
    assert verifier._points_equal(verifier._double_multiply(
        scalar, verifier.base_point, challenge, verifier.identity), commitment)


def test_the_cofactorless_equation_refuses_what_only_the_cofactored_one_accepts() -> None:
    """A signer who adds a point T of order 8 to R makes [S]B = R + [k]A fail by T, while
    [8][S]B = [8]R + [8][k]A (the cofactored equation) still holds: this verifier, like
    libsodium, refuses it."""
    seed, message = b"c" * 32, b"round hash"
    digest = hashlib.sha512(seed).digest()
    secret = int.from_bytes(digest[:32], "little") & (2**254 - 8) | 2**254  # RFC 8032 §5.1.5
    key = nacl.signing.SigningKey(seed).verify_key.encode()
    assert encode(multiply(secret, verifier.base_point)) == key
    some_point = next(point for y in range(2, 100)
                      if (point := decode_point(y.to_bytes(32, "little"))) is not None)
    torsion = multiply(group_order, some_point)  # in the subgroup of order 8
    assert not verifier._points_equal(torsion, verifier.identity)
    nonce = 987654321
    commitment = verifier._point_add(multiply(nonce, verifier.base_point), torsion)
    encoded = encode(commitment)
    challenge = int.from_bytes(hashlib.sha512(encoded + key + message).digest(), "little")
    scalar = (nonce + challenge * secret) % group_order
    signature = encoded + scalar.to_bytes(32, "little")
    assert not ed25519_verify(key, message, signature)
    assert not libsodium_verifies(key, message, signature)
    public = decode_point(key)
    assert public is not None

    def times_8(point: Point) -> Point:
        return multiply(8, point)

    cofactored_left = times_8(multiply(scalar, verifier.base_point))
    cofactored_right = times_8(verifier._point_add(commitment, multiply(challenge, public)))
    assert verifier._points_equal(cofactored_left, cofactored_right)


def test_wrong_lengths_are_refused() -> None:
    vector = VECTORS[1]
    key, signature = bytes.fromhex(vector["public_key"]), bytes.fromhex(vector["signature"])
    assert not ed25519_verify(key[:31], b"r", signature)
    assert not ed25519_verify(key, b"r", signature[:63])
    assert not ed25519_verify(key, b"r", signature + b"\x00")


@settings(max_examples=40, deadline=None)
@given(seed=st.binary(min_size=32, max_size=32), message=st.binary(min_size=1, max_size=300),
       bit=st.integers(min_value=0, max_value=511), where=st.sampled_from(
           ["signature", "message", "key"]))
def test_it_agrees_with_libsodium_on_random_keys_and_tampering(
    seed: bytes, message: bytes, bit: int, where: str
) -> None:
    signer = nacl.signing.SigningKey(seed)
    key, signature = signer.verify_key.encode(), signer.sign(message).signature
    assert ed25519_verify(key, message, signature)
    parts = {"signature": bytearray(signature), "message": bytearray(message),
             "key": bytearray(key)}
    tampered = parts[where]
    tampered[bit // 8 % len(tampered)] ^= 1 << bit % 8
    arguments = (bytes(parts["key"]), bytes(parts["message"]), bytes(parts["signature"]))
    assert ed25519_verify(*arguments) is libsodium_verifies(*arguments) is False
