"""Authorisation evidence: the canonical instruction a principal signs, and Ed25519 around it.

An internal transfer moves one client's assets to another client, so it needs the paying
client's consent, and the ledger keeps that consent as evidence that a database writer cannot
make: an Ed25519 signature by the authorising principal (core/principals/records.py) over a
fixed-width, domain-tagged encoding of the instruction. The signer (a client's tool: ``ringfence
principals sign``, ``LedgerService.authorise``) and the checker (the engine, and the audit replaying
the journal) build the message with one function, ``instruction_message``.

The instruction (208 bytes, big-endian, zero-padded names)::

    domain tag    32  b"ringfence/authorisation/v1"
    ledger id     32  the hash of the ledger's first journal entry (zeros inside that entry)
    principal     32  the authorising principal's name
    id, debit account, credit account, amount, pending id, reference     16 each (u128)
    timeout_s 4 (u32), asset number 4 (u32), code 2, flags 2, zero padding 4

Every field of the transfer that the instruction decides is covered, so changing any bit of any
of them (the amount, the payee, the linked flag) voids the signature; the timestamp is the
ledger's to assign and is not. The ledger id binds a signature to one ledger: an instruction
signed for a test ledger cannot be replayed on a production ledger where the client holds the
same key. The domain tag keeps these signatures apart from any other message the key signs.

A signing key is kept as its 32-byte Ed25519 seed, written as 64 hex digits on one line (the
format of ``por/signing.key``); ``parse_key_file`` reads it.
"""

from __future__ import annotations

import re
import struct
from typing import Final

import nacl.bindings
import nacl.exceptions
import nacl.signing

from ringfence.core import limits
from ringfence.core.errors import InputError, Result
from ringfence.core.ledger.model import Transfer

authorisation_domain: Final = b"ringfence/authorisation/v1".ljust(32, b"\0")
no_ledger_id: Final = bytes(32)  # the ledger id a signature inside the first entry binds

_instruction: Final = struct.Struct(">32s32s32s16s16s16s16s16s16sIIHH4x")
assert _instruction.size == limits.authorisation_message_bytes
_seed_pattern: Final = re.compile(r"[0-9a-f]{64}\Z")
_signature_hex_digits: Final = 2 * limits.ed25519_signature_bytes


def padded_name(name: str) -> bytes:
    """A principal's or client's name as the 32 zero-padded ASCII bytes messages carry."""
    encoded = name.encode("ascii")
    assert len(encoded) <= limits.name_length_max
    assert b"\0" not in encoded
    return encoded


def instruction_message(
    ledger_id: bytes,
    *,
    principal: str,
    transfer_id: int,
    debit_account: int,
    credit_account: int,
    amount: int,
    pending_id: int,
    reference: int,
    timeout_s: int,
    asset: int,
    code: int,
    flags: int,
) -> bytes:
    """The canonical instruction a principal signs (see the module docstring)."""
    assert len(ledger_id) == 32
    return _instruction.pack(
        authorisation_domain,
        ledger_id,
        padded_name(principal),
        transfer_id.to_bytes(16, "big"),
        debit_account.to_bytes(16, "big"),
        credit_account.to_bytes(16, "big"),
        amount.to_bytes(16, "big"),
        pending_id.to_bytes(16, "big"),
        reference.to_bytes(16, "big"),
        timeout_s,
        asset,
        code,
        flags,
    )


def transfer_instruction(ledger_id: bytes, transfer: Transfer, asset: int) -> bytes:
    """The instruction of a transfer as submitted, authorised by ``transfer.authorised_by``;
    ``asset`` is the number of the debit account's asset. Fields must already be in range
    (the wire format and the engine check them first)."""
    assert transfer.authorised_by
    assert type(transfer.amount) is int
    return instruction_message(
        ledger_id,
        principal=transfer.authorised_by,
        transfer_id=transfer.id,
        debit_account=transfer.debit_account,
        credit_account=transfer.credit_account,
        amount=transfer.amount,
        pending_id=transfer.pending_id,
        reference=transfer.reference,
        timeout_s=transfer.timeout_s,
        asset=asset,
        code=int(transfer.code),
        flags=int(transfer.flags),
    )


# ---------------------------------------------------------------------- Ed25519


def public_key_of(seed: bytes) -> bytes:
    """The 32-byte Ed25519 public key of a 32-byte seed."""
    assert len(seed) == limits.ed25519_seed_bytes
    return bytes(nacl.signing.SigningKey(seed).verify_key)


def sign(seed: bytes, message: bytes) -> bytes:
    """The 64-byte Ed25519 signature of ``message`` by the key with ``seed``."""
    assert len(seed) == limits.ed25519_seed_bytes
    signature = bytes(nacl.signing.SigningKey(seed).sign(message).signature)
    assert len(signature) == limits.ed25519_signature_bytes
    return signature


def signature_verifies(public_key: bytes, message: bytes, signature: bytes) -> bool:
    """True only when ``signature`` is a valid Ed25519 signature of ``message`` by
    ``public_key`` (libsodium: canonical encodings, no small-order keys)."""
    if len(signature) != limits.ed25519_signature_bytes:
        return False
    assert len(public_key) == limits.ed25519_public_key_bytes
    try:
        nacl.signing.VerifyKey(public_key).verify(message, signature)
    except (nacl.exceptions.BadSignatureError, nacl.exceptions.ValueError):
        return False
    return True


def is_valid_public_key(key: bytes) -> bool:
    """A 32-byte canonical Ed25519 point of the prime-order subgroup, not of small order:
    a key no signature could be forged for by construction."""
    if len(key) != limits.ed25519_public_key_bytes:
        return False
    return bool(nacl.bindings.crypto_core_ed25519_is_valid_point(key))


# ---------------------------------------------------------------------- text forms


def key_file_text(seed: bytes) -> str:
    """What a key file holds: the seed as 64 lowercase hex digits and a newline."""
    assert len(seed) == limits.ed25519_seed_bytes
    return seed.hex() + "\n"


def parse_key_file(text: str) -> bytes:
    """A signing key file's seed: 64 lowercase hex digits, surrounding whitespace ignored."""
    stripped = text.strip()
    if not _seed_pattern.match(stripped):
        raise InputError(Result.signing_key_invalid, "a key file holds 64 lowercase hex digits")
    return bytes.fromhex(stripped)


def parse_signature_hex(value: object, what: str = "authorisation") -> bytes:
    """A signature written as 128 lowercase hex digits (the wire format's ``authorisation``)."""
    if not isinstance(value, str):
        raise InputError(Result.authorisation_malformed, f"{what} is a string of hex digits")
    if len(value) != _signature_hex_digits or not re.fullmatch(r"[0-9a-f]*", value):
        raise InputError(
            Result.authorisation_malformed,
            f"{what}: {_signature_hex_digits} lowercase hex digits, not {len(value)} characters",
        )
    return bytes.fromhex(value)
