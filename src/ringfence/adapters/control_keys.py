"""Proof-of-control signatures from key files (the ``ControlSigner`` port): what a wallet's
keys sign for a proof-of-reserves round when they are held in files, as in development, a
test, or the README's walkthrough. A firm's production keys sign in its HSM or its signers'
wallets, which return the same control file (``por build --control``).

A key file holds one key as text:

- a BIP-32 extended private key (``xprv``/``zprv`` on mainnet, ``tprv``/``vprv`` on testnet
  and regtest), usually a wallet's account key (BIP 84: ``m/84'/0'/0'``): it signs for the
  P2WPKH addresses of its receive and change branches (``0/i`` and ``1/i``), found by deriving
  both up to ``limits.control_key_search_index_max``, or for its own address;
- an Ethereum private key, ``0x`` and 64 hex digits: it signs for its own address.

Signatures are the ones ``core/custody/control.py`` verifies: BIP-322 *simple* for Bitcoin
(the witness spending the virtual ``to_spend`` transaction, built here with embit, which
reproduces BIP-322's published test vectors) and EIP-191 ``personal_sign`` for Ethereum
(eth-account). No library in the environment signs BIP-322: the ``bip322`` package only
verifies, so the two virtual transactions are built here, as the BIP specifies them.
"""

from __future__ import annotations

import base64
import re
from collections.abc import Collection
from pathlib import Path

from embit import bip32, ec, hashes, script
from embit.script import Script, Witness
from embit.transaction import SIGHASH, Transaction, TransactionInput, TransactionOutput

from ringfence.core import limits
from ringfence.core.errors import InputError, Result, StorageError

_ethereum_key = re.compile(r"0x[0-9a-fA-F]{64}\Z")


class KeyFileControlSigner:
    """Signs challenges with the keys in ``paths`` (read once, when made)."""

    def __init__(self, paths: Collection[str]) -> None:
        if len(paths) > limits.control_key_files_max:
            raise InputError(Result.field_unknown, f"at most {limits.control_key_files_max} keys")
        self._extended: list[bip32.HDKey] = []
        self._bitcoin: dict[bytes, ec.PrivateKey] = {}  # witness program -> key
        self._ethereum: dict[str, bytes] = {}  # lowercase address -> key
        self._searched = 0
        for path in paths:
            self._load(path)

    def signature(self, chain: str, address: str, message: str) -> str | None:
        """The signature of ``message`` by ``address``'s key, or None if no file holds it."""
        if chain == "ethereum":
            key = self._ethereum.get(address.lower())
            if key is None:
                return None
            from eth_account import Account  # a second to import: only for Ethereum keys
            from eth_account.messages import encode_defunct

            signed = Account.from_key(key).sign_message(encode_defunct(text=message))
            return str(signed.signature.to_0x_hex())
        program = _witness_program(address)
        bitcoin_key = None if program is None else self._bitcoin_key(program)
        if bitcoin_key is None:
            return None
        return bip322_sign_simple(bitcoin_key, address, message)

    def _load(self, path: str) -> None:
        try:
            text = Path(path).read_text(encoding="ascii").strip()
        except (OSError, UnicodeDecodeError) as error:
            raise StorageError(f"cannot read key file {path}: {error}") from None
        if _ethereum_key.match(text):
            from eth_account import Account  # a second to import: only for Ethereum keys

            account = Account.from_key(bytes.fromhex(text[2:]))
            self._ethereum[account.address.lower()] = bytes.fromhex(text[2:])
            return
        try:
            extended = bip32.HDKey.from_string(text)
        except Exception:  # embit raises bare exceptions of several kinds for a bad key
            raise InputError(Result.signing_key_invalid, f"{path}: not a key") from None
        if not extended.is_private:
            raise InputError(Result.signing_key_invalid, f"{path}: an extended public key")
        self._extended.append(extended)
        self._remember(extended.key)

    def _remember(self, key: ec.PrivateKey) -> None:
        self._bitcoin[script.p2wpkh(key.get_public_key()).data[2:]] = key

    def _bitcoin_key(self, program: bytes) -> ec.PrivateKey | None:
        """The key for a witness program, deriving further down both branches until found."""
        while program not in self._bitcoin and self._searched < limits.control_key_search_index_max:
            for extended in self._extended:
                for branch in (0, 1):
                    self._remember(extended.derive([branch, self._searched]).key)
            self._searched += 1
        return self._bitcoin.get(program)


def _witness_program(address: str) -> bytes | None:
    """A P2WPKH address's 20-byte program, None for any other address."""
    try:
        data = script.address_to_scriptpubkey(address).data
    except Exception:  # embit raises bare exceptions for an address it cannot decode
        return None
    return data[2:] if len(data) == 22 and data[:2] == b"\x00\x14" else None


def bip322_sign_simple(key: ec.PrivateKey, address: str, message: str) -> str:
    """BIP-322's simple signature by a P2WPKH key: base64 of the witness that spends the
    virtual ``to_spend`` output, signed as BIP 143 signs a P2WPKH input."""
    message_hash = hashes.tagged_hash("BIP0322-signed-message", message.encode())
    to_spend = Transaction(
        version=0,
        vin=[TransactionInput(b"\x00" * 32, 0xFFFFFFFF, Script(b"\x00\x20" + message_hash), 0)],
        vout=[TransactionOutput(0, script.address_to_scriptpubkey(address))],
        locktime=0,
    )
    to_sign = Transaction(
        version=0,
        vin=[TransactionInput(to_spend.txid(), 0, sequence=0)],
        vout=[TransactionOutput(0, Script(b"\x6a"))],  # OP_RETURN
        locktime=0,
    )
    script_code = script.p2pkh(key.get_public_key())  # BIP 143's scriptCode for P2WPKH
    digest = to_sign.sighash_segwit(0, script_code, 0)
    signature = key.sign(digest).serialize() + bytes([SIGHASH.ALL])
    witness = Witness([signature, key.get_public_key().sec()])
    return base64.b64encode(witness.serialize()).decode()
