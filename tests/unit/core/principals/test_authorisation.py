"""core/principals/authorisation.py: the canonical instruction, and Ed25519 around it."""

from __future__ import annotations

import hashlib

import pytest

from ringfence.core import limits
from ringfence.core.errors import InputError, Result
from ringfence.core.ledger.model import Transfer, TransferCode, TransferFlags
from ringfence.core.principals.authorisation import (
    authorisation_domain,
    instruction_message,
    is_valid_public_key,
    key_file_text,
    no_ledger_id,
    parse_key_file,
    parse_signature_hex,
    public_key_of,
    sign,
    signature_verifies,
    transfer_instruction,
)

SEED = hashlib.sha256(b"alice's key").digest()
LEDGER = hashlib.sha256(b"a ledger").digest()
FIELDS = {
    "principal": "alice",
    "transfer_id": 2**100 + 7,
    "debit_account": 11,
    "credit_account": 12,
    "amount": 2**127 + 5,
    "pending_id": 0,
    "reference": 99,
    "timeout_s": 60,
    "asset": 3,
    "code": 4,
    "flags": 3,
}


def test_the_instruction_is_the_documented_208_bytes() -> None:
    """Built by hand from the module docstring, not with the module's struct."""
    expected = (
        b"ringfence/authorisation/v1" + bytes(6)
        + LEDGER
        + b"alice" + bytes(27)
        + (2**100 + 7).to_bytes(16, "big")
        + (11).to_bytes(16, "big")
        + (12).to_bytes(16, "big")
        + (2**127 + 5).to_bytes(16, "big")
        + bytes(16)
        + (99).to_bytes(16, "big")
        + (60).to_bytes(4, "big")
        + (3).to_bytes(4, "big")
        + (4).to_bytes(2, "big")
        + (3).to_bytes(2, "big")
        + bytes(4)
    )  # fmt: skip
    message = instruction_message(LEDGER, **FIELDS)
    assert len(message) == limits.authorisation_message_bytes == 208
    assert message == expected
    assert message.startswith(authorisation_domain)


def test_a_transfer_gives_the_instruction_of_its_fields() -> None:
    transfer = Transfer(
        2**100 + 7,
        11,
        12,
        2**127 + 5,
        TransferCode.internal_transfer,
        TransferFlags.linked | TransferFlags.pending,
        0,
        60,
        99,
        "alice",
        "ETH",  # the code is a guard only: the asset's number is what is signed
    )
    assert transfer_instruction(LEDGER, transfer, 3) == instruction_message(LEDGER, **FIELDS)


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("principal", "bob"),
        ("transfer_id", 2**100 + 8),
        ("debit_account", 12),
        ("credit_account", 11),
        ("amount", 2**127 + 4),
        ("pending_id", 1),
        ("reference", 98),
        ("timeout_s", 61),
        ("asset", 4),
        ("code", 1),
        ("flags", 2),
    ],
)
def test_every_field_is_covered(field: str, value: object) -> None:
    signature = sign(SEED, instruction_message(LEDGER, **FIELDS))
    changed = instruction_message(LEDGER, **{**FIELDS, field: value})
    assert not signature_verifies(public_key_of(SEED), changed, signature)


def test_a_signature_binds_its_ledger() -> None:
    message = instruction_message(LEDGER, **FIELDS)
    signature = sign(SEED, message)
    assert signature_verifies(public_key_of(SEED), message, signature)
    elsewhere = instruction_message(no_ledger_id, **FIELDS)
    assert not signature_verifies(public_key_of(SEED), elsewhere, signature)


def test_a_known_signature_pins_the_encoding_and_the_scheme() -> None:
    """RFC 8032 signatures are deterministic: a change to the encoding (or the domain tag, or
    the signature scheme) that would void every signature already journaled fails here."""
    message = instruction_message(LEDGER, **FIELDS)
    assert hashlib.sha256(message).hexdigest() == (
        "79fc6bb4a3f4cbbf53feeef000658ee19357e06efb56e3b138a15da0f90a5204"
    )
    assert sign(SEED, message).hex() == (
        "d38d2b54fd86de88ec10df113905f91e3c05414dfd87e5d973c006fd93f2af5b"
        "cbe18f4ff69824b1d916a6602344a0e8dc933e3af1594f034e2a50425e5d580c"
    )


def test_another_ed25519_implementation_agrees() -> None:
    """A client may sign with any RFC 8032 implementation (here pycryptodome's)."""
    eddsa = pytest.importorskip("Crypto.Signature.eddsa")
    ecc = pytest.importorskip("Crypto.PublicKey.ECC")
    message = instruction_message(LEDGER, **FIELDS)
    theirs = eddsa.new(ecc.construct(curve="Ed25519", seed=SEED), "rfc8032").sign(message)
    assert theirs == sign(SEED, message)
    assert signature_verifies(public_key_of(SEED), message, theirs)


def test_verification_refuses_another_key_a_bit_flip_and_a_wrong_length() -> None:
    message = instruction_message(LEDGER, **FIELDS)
    signature = sign(SEED, message)
    other = public_key_of(hashlib.sha256(b"bob's key").digest())
    assert not signature_verifies(other, message, signature)
    flipped = bytes([signature[0] ^ 1]) + signature[1:]
    assert not signature_verifies(public_key_of(SEED), message, flipped)
    assert not signature_verifies(public_key_of(SEED), message, signature[:63])
    assert not signature_verifies(public_key_of(SEED), message, signature + b"\0")
    assert not signature_verifies(public_key_of(SEED), message, bytes(64))


def test_only_valid_ed25519_points_are_keys() -> None:
    assert is_valid_public_key(public_key_of(SEED))
    assert not is_valid_public_key(bytes(32))  # the identity's neighbour: not a point
    assert not is_valid_public_key((1).to_bytes(32, "little"))  # the identity: small order
    assert not is_valid_public_key(public_key_of(SEED)[:31])
    assert not is_valid_public_key(b"\xff" * 32)  # not canonical


def test_a_key_file_is_64_lowercase_hex_digits() -> None:
    assert key_file_text(SEED) == SEED.hex() + "\n"
    assert parse_key_file(key_file_text(SEED)) == SEED
    for text in ("", SEED.hex()[:63], SEED.hex().upper(), SEED.hex() + "00", "zz" * 32):
        with pytest.raises(InputError) as refused:
            parse_key_file(text)
        assert refused.value.code is Result.signing_key_invalid


def test_a_signature_is_128_lowercase_hex_digits() -> None:
    signature = sign(SEED, b"x")
    assert parse_signature_hex(signature.hex()) == signature
    for value in (
        signature.hex()[:-2],
        signature.hex() + "00",
        signature.hex().upper(),
        " " + signature.hex()[1:],
        "g" * 128,
        42,
        None,
        list(signature),
    ):
        with pytest.raises(InputError) as refused:
            parse_signature_hex(value)
        assert refused.value.code is Result.authorisation_malformed
