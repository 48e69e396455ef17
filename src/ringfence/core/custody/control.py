"""Proof of control: a wallet's key signs a challenge bound to one proof-of-reserves round.

Reserves count only wallets the firm can show it controls now (DESIGN.md §6), so each wallet
signs a challenge that names the round, the chain, the address and a recent block hash:

    ringfence proof of control v1
    round: <round id>
    chain: <ethereum | bitcoin>
    address: <address>
    block: <block hash, 64 lowercase hex digits without 0x>

Lines end with a single ``\\n`` and the last line has none; the text is ASCII. The round id
(the reserves round's id in hex, or any 1 to 64 letters, digits and ``.:_-``) stops a signature
from being replayed in a later round; the block hash proves it was made after that block, so a
signature collected from a key long since lost cannot pass for a fresh one; the chain and
address stop a signature for one wallet from standing in for another.

Signatures (``ControlProof.signature``):

- Ethereum: EIP-191 ``personal_sign`` over the text (what wallets' "sign message" does), as
  ``0x`` and 130 hex digits (r, s, v). The signer is recovered and compared with the address,
  ignoring case (EIP-55 checksums are a spelling, not part of the address).
- Bitcoin: BIP-322 *simple* signatures (base64 of the witness stack) for P2WPKH addresses
  (``bc1q``, ``tb1q``, ``bcrt1q`` with a 20-byte program), verified by the ``bip322`` package.
  BIP-322 *full* signatures (base64 of the signed ``to_sign`` transaction; a simple one is
  taken too) for P2WSH multisig addresses (the 2-of-3 vaults: ``bc1q``, ``tb1q``, ``bcrt1q``
  with a 32-byte program), verified by core/custody/control_bip322.py. Other address types
  (taproot, legacy) are refused, not guessed.

``verify_control`` checks, in this order, and answers with the first failure:

1. ``control_signature_invalid``: the signature text is malformed or too long.
2. ``control_message_mismatch``: the signed text is not a challenge in the format above, or it
   names another chain or address than the one whose control is claimed.
3. ``control_round_mismatch``: the challenge is for another round (a replayed old proof).
4. ``control_block_not_recent``: the block it names is not one of the recent blocks given.
5. ``control_address_type_unsupported``: a Bitcoin address other than P2WPKH or P2WSH, or a
   P2WSH witness script other than a bare multisig.
6. The signature itself: ``control_signer_mismatch`` when it is a valid signature by another key
   (the wrong wallet, or, for Ethereum, any other text: recovery then yields another key; for
   a vault, another script's keys or a key not in the vault, or a simple signature over other
   text, which ECDSA cannot tell from another key's);
   ``control_signatures_insufficient`` when a vault's proof carries fewer signatures than its
   threshold (one of a 2-of-3); ``control_signature_invalid`` when it does not verify at all
   (forged, or, for BIP-322, made over other text by the right key).

Pure: no clock, network or files; the caller passes the round and the recent block hashes it
read from the chain.
"""

from __future__ import annotations

import re
from collections.abc import Collection
from dataclasses import dataclass
from typing import Final

import bip322
from embit.script import address_to_scriptpubkey

from ringfence.core import limits
from ringfence.core.custody.control_bip322 import verify_bip322_multisig
from ringfence.core.custody.registry import Chain
from ringfence.core.errors import InputError, Result

challenge_title: Final = "ringfence proof of control v1"
challenge_fields: Final = ("round", "chain", "address", "block")

_round_id_pattern: Final = re.compile(rf"[0-9A-Za-z.:_-]{{1,{limits.control_round_id_length_max}}}")
_block_hash_pattern: Final = re.compile(r"[0-9a-f]{64}")
_ethereum_address_pattern: Final = re.compile(r"0x[0-9a-fA-F]{40}")
_ethereum_signature_pattern: Final = re.compile(r"0x[0-9a-fA-F]{130}")
_base64_pattern: Final = re.compile(r"[A-Za-z0-9+/]+={0,2}")
# bech32 P2WPKH: human-readable part, "1", witness version 0 ("q"), 32 characters for the
# 20-byte key hash and 6 of checksum. The checksum itself is checked by the BIP-322 verifier.
_p2wpkh_pattern: Final = re.compile(r"(bc|tb|bcrt)1q[02-9ac-hj-np-z]{38}")
# bech32 P2WSH: as above with the 32-byte script hash (52 characters) and the checksum.
_p2wsh_pattern: Final = re.compile(r"(bc|tb|bcrt)1q[02-9ac-hj-np-z]{58}")
_address_pattern: Final = re.compile(rf"[\x21-\x7e]{{1,{limits.address_length_max}}}")

# The bip322 package names why a signature failed only in its message; this one means "valid
# signature by a key that is not the address's" (pinned by the tests).
_bip322_wrong_key_message: Final = "Public key does not match"


@dataclass(frozen=True, slots=True)
class Challenge:
    """What one wallet must sign in one round. Built by the firm, or parsed from signed text."""

    round_id: str
    chain: Chain
    address: str
    block_hash: str

    def __post_init__(self) -> None:
        if not isinstance(self.round_id, str) or not _round_id_pattern.fullmatch(self.round_id):
            raise InputError(Result.control_challenge_invalid, f"round id {self.round_id!r}")
        if not isinstance(self.chain, Chain):
            raise InputError(Result.control_challenge_invalid, f"chain {self.chain!r}")
        if not isinstance(self.address, str) or not _address_pattern.fullmatch(self.address):
            raise InputError(Result.control_challenge_invalid, f"address {self.address!r}")
        if not isinstance(self.block_hash, str) or not _block_hash_pattern.fullmatch(
            self.block_hash
        ):
            raise InputError(Result.control_challenge_invalid, f"block hash {self.block_hash!r}")

    def message(self) -> str:
        """The exact text to sign."""
        values = (self.round_id, self.chain.value, self.address, self.block_hash)
        lines = [f"{field}: {value}" for field, value in zip(challenge_fields, values, strict=True)]
        return "\n".join([challenge_title, *lines])


def parse_challenge(text: str) -> Challenge | None:
    """The challenge ``text`` spells, or ``None`` if it is not exactly one (the byte-for-byte
    format: a text that merely resembles a challenge is not one)."""
    if len(text) > limits.control_message_length_max or not text.isascii():
        return None
    title, *lines = text.split("\n")
    if title != challenge_title or len(lines) != len(challenge_fields):
        return None
    values = []
    for field, line in zip(challenge_fields, lines, strict=True):
        prefix = f"{field}: "
        if not line.startswith(prefix):
            return None
        values.append(line.removeprefix(prefix))
    round_id, chain_text, address, block_hash = values
    if chain_text not in {chain.value for chain in Chain}:
        return None
    try:
        challenge = Challenge(round_id, Chain(chain_text), address, block_hash)
    except InputError:
        return None
    assert challenge.message() == text  # one spelling per challenge
    return challenge


# The longest challenge (the title, four field names, the longest round id, chain and address,
# and a block hash) fits the bound on signed text.
assert limits.control_message_length_max >= (
    len(challenge_title)
    + sum(len(f"\n{field}: ") for field in challenge_fields)
    + limits.control_round_id_length_max
    + max(len(chain.value) for chain in Chain)
    + limits.address_length_max
    + 64
)


@dataclass(frozen=True, slots=True)
class ControlProof:
    """A claim that whoever holds ``address``'s key signed ``message`` with ``signature``.
    Untrusted input: ``verify_control`` judges it; nothing here is checked on construction."""

    chain: Chain
    address: str
    message: str
    signature: str


def verify_control(
    proof: ControlProof, expected_round: str, recent_block_hashes: Collection[str]
) -> Result:
    """``Result.ok`` if ``proof`` shows control of its address in round ``expected_round`` with
    a challenge naming one of ``recent_block_hashes`` (64 lowercase hex digits each); else the
    first reason it fails, in the order of the module's docstring."""
    assert isinstance(proof.chain, Chain)
    assert isinstance(proof.address, str)
    assert isinstance(proof.message, str)
    assert isinstance(proof.signature, str)
    assert _round_id_pattern.fullmatch(expected_round), expected_round
    assert len(recent_block_hashes) <= limits.control_recent_blocks_max
    if not 0 < len(proof.signature) <= limits.control_signature_length_max:
        return Result.control_signature_invalid
    if not proof.signature.isascii():
        return Result.control_signature_invalid
    challenge = parse_challenge(proof.message)
    if challenge is None or challenge.chain is not proof.chain:
        return Result.control_message_mismatch
    if challenge.address.lower() != proof.address.lower():
        return Result.control_message_mismatch
    if challenge.round_id != expected_round:
        return Result.control_round_mismatch
    if challenge.block_hash not in recent_block_hashes:
        return Result.control_block_not_recent
    if proof.chain is Chain.ethereum:
        return verify_personal_sign(proof.address, proof.message, proof.signature)
    if _p2wsh_pattern.fullmatch(proof.address.lower()):
        return verify_bip322_full(proof.address, proof.message, proof.signature)
    return verify_bip322_simple(proof.address, proof.message, proof.signature)


def verify_personal_sign(address: str, message: str, signature: str) -> Result:
    """EIP-191 version 0x45 (``personal_sign``): recover the signer and compare addresses."""
    if not _ethereum_address_pattern.fullmatch(address):
        return Result.control_address_type_unsupported  # not an Ethereum address at all
    if not _ethereum_signature_pattern.fullmatch(signature):
        return Result.control_signature_invalid
    # eth-account takes a second to import: only a round with Ethereum wallets waits for it.
    from eth_account import Account
    from eth_account.messages import encode_defunct
    from eth_keys.exceptions import BadSignature, ValidationError

    try:
        signer = Account.recover_message(
            encode_defunct(text=message), signature=bytes.fromhex(signature[2:])
        )
    except (BadSignature, ValidationError, ValueError):
        return Result.control_signature_invalid  # v out of range, r or s not a curve point
    if signer.lower() != address.lower():
        return Result.control_signer_mismatch
    return Result.ok


def verify_bip322_simple(address: str, message: str, signature: str) -> Result:
    """BIP-322 simple signature of a P2WPKH address."""
    if not _p2wpkh_pattern.fullmatch(address.lower()) or address not in (
        address.lower(),
        address.upper(),
    ):
        return Result.control_address_type_unsupported
    if not _base64_pattern.fullmatch(signature) or len(signature) % 4:
        return Result.control_signature_invalid
    try:
        bip322.verify_simple_encoded(address.lower(), message, signature)
    except bip322.VerificationError as error:
        if str(error) == _bip322_wrong_key_message:
            return Result.control_signer_mismatch
        return Result.control_signature_invalid
    return Result.ok


def verify_bip322_full(address: str, message: str, signature: str) -> Result:
    """BIP-322 full (or simple) signature of a P2WSH multisig address."""
    if address not in (address.lower(), address.upper()):
        return Result.control_address_type_unsupported  # mixed case is not bech32
    try:
        script_pubkey: bytes = address_to_scriptpubkey(address.lower()).data
    except Exception:  # embit raises its own and bare errors for a bad checksum or length
        return Result.control_address_type_unsupported
    if len(script_pubkey) != 34 or script_pubkey[:2] != b"\x00\x20":
        return Result.control_address_type_unsupported
    if not _base64_pattern.fullmatch(signature) or len(signature) % 4:
        return Result.control_signature_invalid
    return verify_bip322_multisig(script_pubkey, message, signature)
