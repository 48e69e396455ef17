"""What a key signs to prove control of an address, and the signature as the verifier takes it
(core/custody/control.py verifies; service/por_control.py asks the keys).

- Ethereum: EIP-191 ``personal_sign``: Keccak-256 of ``"\\x19Ethereum Signed Message:\\n" +
  length + text``; the signature as ``0x`` and r || s || v, v 27 or 28.
- Bitcoin P2WPKH: BIP-322 *simple*. The message is committed to by a virtual ``to_spend``
  transaction (one input from the null outpoint whose script is ``OP_0 <tagged hash of the
  message>``, one zero-value output paying the address); the key signs, with SIGHASH_ALL, the
  BIP 143 digest of input 0 of the virtual ``to_sign`` transaction that spends it (amount 0, one
  ``OP_RETURN`` output); the signature is the witness stack ``[signature, key]`` serialised and
  base64-encoded.
- Bitcoin P2WSH multisig (the 2-of-3 vaults): BIP-322 *full*. The same ``to_spend`` and
  ``to_sign`` for the P2WSH script; each key signs the BIP 143 digest of input 0 with the
  witness script as script code; the signature is the whole ``to_sign`` with the multisig
  witness ``[<empty>, signatures..., witness script]``, serialised and base64-encoded
  (core/custody/control_bip322.py verifies it).

Pure: the key signs the digest these functions return; nothing here holds a key.
"""

from __future__ import annotations

import base64
import hashlib

from embit.script import Script, Witness
from embit.transaction import (
    Transaction,
    TransactionInput,
    TransactionOutput,
)
from eth_hash.backends.pycryptodome import keccak256

from ringfence.core.custody.spends import script_code

__all__ = [
    "bip322_full_signature",
    "bip322_multisig_digest",
    "bip322_simple_digest",
    "bip322_simple_signature",
    "bip322_to_sign",
    "eip191_digest",
    "eip191_signature",
]

_tag = hashlib.sha256(b"BIP0322-signed-message").digest()


def eip191_digest(message: str) -> bytes:
    text = message.encode()
    return keccak256(b"\x19Ethereum Signed Message:\n" + str(len(text)).encode() + text)


def eip191_signature(recoverable: bytes) -> str:
    """r || s || v (v 0 or 1, as a key returns it) in the form wallets print."""
    assert len(recoverable) == 65 and recoverable[64] in (0, 1)
    return "0x" + recoverable[:64].hex() + f"{recoverable[64] + 27:02x}"


def bip322_to_sign(message: str, script_pubkey: bytes) -> Transaction:
    """BIP-322's virtual ``to_sign`` for ``message`` and the output ``script_pubkey``, every
    field at its default and no witness yet."""
    message_hash = hashlib.sha256(_tag + _tag + message.encode()).digest()
    to_spend = Transaction(
        version=0,
        vin=[TransactionInput(bytes(32), 0xFFFFFFFF, Script(b"\x00\x20" + message_hash), 0)],
        vout=[TransactionOutput(0, Script(script_pubkey))],
        locktime=0,
    )
    return Transaction(
        version=0,
        vin=[TransactionInput(to_spend.txid(), 0, sequence=0)],
        vout=[TransactionOutput(0, Script(b"\x6a"))],
        locktime=0,
    )


def bip322_simple_digest(message: str, script_pubkey: bytes) -> bytes:
    """The digest a P2WPKH key signs for a BIP-322 simple signature of ``message``."""
    assert len(script_pubkey) == 22 and script_pubkey[:2] == b"\x00\x14"
    code = Script(script_code(script_pubkey, b""))
    digest: bytes = bip322_to_sign(message, script_pubkey).sighash_segwit(0, code, 0)
    return digest


def bip322_multisig_digest(message: str, witness_script: bytes) -> bytes:
    """The digest each key of a P2WSH multisig signs for a BIP-322 full signature."""
    script_pubkey = b"\x00\x20" + hashlib.sha256(witness_script).digest()
    to_sign = bip322_to_sign(message, script_pubkey)
    digest: bytes = to_sign.sighash_segwit(0, Script(witness_script), 0)
    return digest


def bip322_full_signature(message: str, witness_script: bytes, ders: list[bytes]) -> str:
    """The signed ``to_sign`` in base64: the witness ``[<empty>, DER + SIGHASH_ALL...,
    witness script]``, ``ders`` in the order of their keys in the script (CHECKMULTISIG's)."""
    script_pubkey = b"\x00\x20" + hashlib.sha256(witness_script).digest()
    to_sign = bip322_to_sign(message, script_pubkey)
    to_sign.vin[0].witness = Witness([b"", *(der + b"\x01" for der in ders), witness_script])
    return base64.b64encode(to_sign.serialize()).decode("ascii")


def bip322_simple_signature(der: bytes, public_key: bytes) -> str:
    """The witness ``[DER signature + SIGHASH_ALL, key]`` serialised, in base64."""
    items = [der + b"\x01", public_key]
    stack = bytes([len(items)]) + b"".join(bytes([len(item)]) + item for item in items)
    return base64.b64encode(stack).decode("ascii")
