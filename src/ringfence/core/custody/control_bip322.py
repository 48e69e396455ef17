"""BIP-322 *full* signatures of P2WSH multisig addresses (the firm's 2-of-3 vaults), verified.

A full signature is the base64 of the whole virtual ``to_sign`` transaction, signed: its one
input spends output 0 of ``to_spend`` (which commits to the message and the address's script,
core/custody/control_signing.py builds both) and its witness is the multisig witness
``[<empty>, <signature>..., <witness script>]``. A *simple* signature (just that witness
stack, base64) is accepted too, as BIP-322 allows for any segwit address; it is verified as
the full signature with every field at its default.

Written here rather than taken from a library: the ``bip322`` package verifies simple
signatures of P2WPKH and taproot only, and embit builds transactions and BIP 143 digests but
runs no script. The one script accepted is small enough to check exactly, so no interpreter is
needed: ``OP_m <key>... OP_n OP_CHECKMULTISIG`` with compressed keys, the witness script's
SHA-256 being the address's program. Each signature must be strict DER with low S and
SIGHASH_ALL (BIP-322's required rules), and verify with coincurve over the BIP 143 digest of
input 0 (amount 0, the witness script as script code); CHECKMULTISIG's order holds: signatures
match keys in the script's order, each key used at most once.

Refused, not guessed: other witness scripts, more than one input (a proof of funds needs the
UTXO set), ``to_sign`` versions other than 0 and 2 (BIP-322's upgradeable rules). ``nLockTime``
and the first input's ``nSequence`` are left free, as BIP-322 says; the scripts accepted here
hold no time lock, so they restrict nothing.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
from io import BytesIO
from typing import Any, Final

import coincurve
from embit.script import Script, Witness
from embit.transaction import Transaction

from ringfence.core.custody.control_signing import bip322_to_sign
from ringfence.core.errors import Result

_op_checkmultisig: Final = 0xAE
_sighash_all: Final = 0x01
_curve_half_order: Final = 0xFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFEBAAEDCE6AF48A03BBFD25E8CD0364141 // 2
_keys_max: Final = 15  # CHECKMULTISIG's standard bound for a witness script


def verify_bip322_multisig(script_pubkey: bytes, message: str, signature: str) -> Result:
    """``Result.ok`` if ``signature`` (base64, full or simple) proves ``message`` for the P2WSH
    output ``script_pubkey``; else ``control_signature_invalid`` (malformed, over other text,
    fields not as BIP-322 sets them), ``control_signer_mismatch`` (the keys of another script,
    or a signature by a key not in it), ``control_signatures_insufficient`` (fewer signatures
    than the script's threshold) or ``control_address_type_unsupported`` (a witness script
    other than a bare multisig)."""
    assert len(script_pubkey) == 34 and script_pubkey[:2] == b"\x00\x20"
    try:
        data = base64.b64decode(signature, validate=True)
    except (binascii.Error, ValueError):
        return Result.control_signature_invalid
    transaction = _full(data) or _simple(data, script_pubkey, message)
    if transaction is None:
        return Result.control_signature_invalid
    stack = list(transaction.vin[0].witness.items)
    if not stack:
        return Result.control_signature_invalid
    witness_script = stack[-1]
    if hashlib.sha256(witness_script).digest() != script_pubkey[2:]:
        return Result.control_signer_mismatch  # another address's keys, whatever they signed
    if not _shaped_as(transaction, bip322_to_sign(message, script_pubkey)):
        return Result.control_signature_invalid
    parsed = _multisig(witness_script)
    if parsed is None:
        return Result.control_address_type_unsupported
    threshold, keys = parsed
    digest: bytes = transaction.sighash_segwit(0, Script(witness_script), 0, sighash=_sighash_all)
    return _check_multisig(stack[:-1], threshold, keys, digest)


def _full(data: bytes) -> Any:
    """The transaction ``data`` is, whole, or None."""
    stream = BytesIO(data)
    try:
        transaction = Transaction.read_from(stream)
    except Exception:  # embit raises bare exceptions of several kinds on malformed bytes
        return None
    if stream.read(1) or not transaction.vin:
        return None
    return transaction


def _simple(data: bytes, script_pubkey: bytes, message: str) -> Any:
    """The default ``to_sign`` carrying the witness stack ``data`` is, whole, or None."""
    stream = BytesIO(data)
    try:
        witness = Witness.read_from(stream)
    except Exception:  # as above
        return None
    if stream.read(1):
        return None
    transaction = bip322_to_sign(message, script_pubkey)
    transaction.vin[0].witness = witness
    return transaction


def _shaped_as(transaction: Any, expected: Any) -> bool:
    """``transaction`` is ``expected`` (the default ``to_sign``) but for its witness, its
    version (0 or 2), lock time and first sequence."""
    if transaction.version not in (0, 2) or len(transaction.vin) != 1:
        return False
    ours, theirs = expected.vin[0], transaction.vin[0]
    if (theirs.txid, theirs.vout, theirs.script_sig.data) != (ours.txid, ours.vout, b""):
        return False
    outputs = [(out.value, out.script_pubkey.data) for out in transaction.vout]
    return outputs == [(out.value, out.script_pubkey.data) for out in expected.vout]


def _multisig(script: bytes) -> tuple[int, list[bytes]] | None:
    """(m, keys) of ``OP_m <33-byte key>... OP_n OP_CHECKMULTISIG``, or None."""
    if len(script) < 3 or script[-1] != _op_checkmultisig:
        return None
    threshold, count = script[0] - 0x50, script[-2] - 0x50
    if not (1 <= threshold <= count <= _keys_max) or len(script) != 3 + 34 * count:
        return None
    pushes = [script[1 + 34 * k : 35 + 34 * k] for k in range(count)]
    if any(push[0] != 33 for push in pushes):
        return None
    return threshold, [push[1:] for push in pushes]


def _check_multisig(items: list[bytes], threshold: int, keys: list[bytes], digest: bytes) -> Result:
    """CHECKMULTISIG over ``items`` (the dummy, then the signatures) with BIP-322's rules."""
    if not items or items[0] != b"":
        return Result.control_signature_invalid  # the dummy element must be empty (NULLDUMMY)
    signatures = items[1:]
    if len(signatures) > threshold:
        return Result.control_signature_invalid  # CLEANSTACK: nothing may be left over
    if len(signatures) < threshold or any(not signature for signature in signatures):
        return Result.control_signatures_insufficient
    remaining = iter(keys)
    for signature in signatures:
        if signature[-1] != _sighash_all or not _strict_low_s_der(signature[:-1]):
            return Result.control_signature_invalid
        if not any(_valid(key, signature[:-1], digest) for key in remaining):
            return Result.control_signer_mismatch
    return Result.ok


def _valid(key: bytes, der: bytes, digest: bytes) -> bool:
    try:
        return bool(coincurve.PublicKey(key).verify(der, digest, hasher=None))
    except (ValueError, TypeError):
        return False


def _strict_low_s_der(der: bytes) -> bool:
    """BIP 66's strict DER (``IsValidSignatureEncoding`` without the hash type) and low S."""
    if not 8 <= len(der) <= 72 or der[0] != 0x30 or der[1] != len(der) - 2 or der[2] != 0x02:
        return False
    r_length = der[3]
    if 5 + r_length >= len(der) or der[4 + r_length] != 0x02:
        return False
    s_length = der[5 + r_length]
    if r_length + s_length + 6 != len(der):
        return False
    r, s = der[4 : 4 + r_length], der[6 + r_length :]
    for number in (r, s):
        if not number or number[0] & 0x80 or (len(number) > 1 and number[0] == 0 and
                                               not number[1] & 0x80):  # fmt: skip
            return False
    return 0 < int.from_bytes(s, "big") <= _curve_half_order
