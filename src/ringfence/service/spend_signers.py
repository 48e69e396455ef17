"""Bitcoin signers: each checks the PSBT for itself, signs its inputs, and the partial PSBTs
are combined, finalised and verified (service/spends.py calls ``sign_bitcoin_spend``).

A signer here is one key (a ``ChainKey``: a key on an HSM) behind the checks of
core/custody/spend_checks.py. It signs the BIP 143 digest of each input whose script holds its
key, computed from the snapshot's amount and script (never from the PSBT's description of
them), with SIGHASH_ALL. A 2-of-3 vault needs two such signers with keys of the vault, each on
its own device; each is handed the same approved PSBT and returns its own partial PSBT, as a
separate device would. Combining accepts a partial only if it is of the same unsigned
transaction (``spend_signature_mismatch``) and each of its signatures verifies over that
input's digest by a key of that input (``spend_signature_invalid``).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import coincurve
from embit import ec
from embit.finalizer import finalize_psbt
from embit.script import Script

from ringfence.core.custody.addresses import hash160
from ringfence.core.custody.spend_checks import (
    BitcoinFacts,
    check_bitcoin_spend,
    parse_psbt,
    verify_bitcoin_transaction,
)
from ringfence.core.custody.spends import (
    SpendOrder,
    der_signature,
    outpoint,
    script_code,
    script_pubkey_of,
)
from ringfence.core.errors import InputError, Result
from ringfence.service.ports import ChainKey

if TYPE_CHECKING:
    from ringfence.service.spends import WalletSigning

_sighash_all = 0x01


def sign_bitcoin_spend(
    order: SpendOrder, psbt: bytes, facts: BitcoinFacts, wallets: Sequence[WalletSigning]
) -> tuple[bytes, str]:
    """The finalised transaction and its txid, signed by enough of the wallets' keys; the
    first refusal of any signer's checks stops it before that signer's key is asked."""
    keys = _signers(wallets)
    partials = [partial_signature(key, order, psbt, facts) for key in keys]
    combined = combine(psbt, partials, facts)
    final = finalize_psbt(combined)
    if final is None:
        raise InputError(
            Result.spend_signers_insufficient, f"{len(keys)} signers did not sign every input"
        )
    raw: bytes = final.serialize()
    spent = {
        key: (script_pubkey_of(address, facts.network), amount)
        for key, (address, amount) in facts.utxos.items()
    }
    txid = verify_bitcoin_transaction(raw, spent)
    if txid != facts.approved_spend_id:
        raise InputError(Result.spend_signature_mismatch, f"finalised as {txid}")
    return raw, txid


def _signers(wallets: Sequence[WalletSigning]) -> list[ChainKey]:
    """As many keys of each wallet as its script needs (one, or two of a vault's three), in
    the order configured; ``spend_signers_insufficient`` when a wallet has fewer."""
    keys: list[ChainKey] = []
    for wallet in wallets:
        script = wallet.script
        if script is None:
            raise InputError(Result.spend_keys_invalid, f"{wallet.wallet}: no script")
        usable = [key for key in wallet.keys if key.public_key() in script.public_keys]
        if len(usable) < script.threshold:
            raise InputError(
                Result.spend_signers_insufficient,
                f"{wallet.wallet}: {len(usable)} of the {script.threshold} keys it needs",
            )
        keys.extend(usable[: script.threshold])
    return keys


def partial_signature(key: ChainKey, order: SpendOrder, psbt: bytes, facts: BitcoinFacts) -> bytes:
    """One signer's work: the checks, then its signatures, as a partial PSBT."""
    check_bitcoin_spend(order, psbt, facts)
    public = key.public_key()
    if public is None:
        raise InputError(Result.spend_signers_insufficient, "a signer has no key")
    parsed = parse_psbt(psbt)
    transaction = parsed.tx
    for index, scope in enumerate(parsed.inputs):
        if not _can_sign(public, index, transaction, scope, facts):
            continue
        digest = _digest(transaction, index, scope, facts)
        r, s = key.sign_digest(digest)
        scope.partial_sigs[ec.PublicKey.parse(public)] = der_signature(r, s) + bytes([1])
    signed: bytes = parsed.serialize()
    return signed


def combine(psbt: bytes, partials: Sequence[bytes], facts: BitcoinFacts) -> Any:
    """The PSBT with every partial's signatures, each verified first."""
    base = parse_psbt(psbt)
    transaction = base.tx
    for data in partials:
        partial = parse_psbt(data)
        txid = partial.tx.txid().hex()
        if txid != facts.approved_spend_id:
            raise InputError(
                Result.spend_signature_mismatch, f"a signature over {txid}, not the spend's"
            )
        for index, (ours, theirs) in enumerate(zip(base.inputs, partial.inputs, strict=True)):
            digest = _digest(transaction, index, ours, facts)
            for key, signature in theirs.partial_sigs.items():
                public = key.sec()
                if not (
                    _can_sign(public, index, transaction, ours, facts)
                    and _valid(public, signature, digest)
                ):
                    raise InputError(
                        Result.spend_signature_invalid, f"input {index}: a signature fails"
                    )
                ours.partial_sigs[key] = signature
    return base


def _can_sign(public: bytes, index: int, transaction: Any, scope: Any, facts: BitcoinFacts) -> bool:
    """Whether ``public`` is a key of input ``index``: one of a vault's three (its witness
    script, which the checks matched to the address), or the key a P2WPKH program hashes."""
    if scope.witness_script is not None:
        data = scope.witness_script.data
        return public in {data[2 + 34 * k : 35 + 34 * k] for k in range((len(data) - 3) // 34)}
    vin = transaction.vin[index]
    address, _ = facts.utxos[outpoint(vin.txid.hex(), vin.vout)]
    return script_pubkey_of(address, facts.network)[2:] == hash160(public)


def _digest(transaction: Any, index: int, scope: Any, facts: BitcoinFacts) -> bytes:
    """The BIP 143 digest of input ``index`` from the snapshot's amount and script."""
    vin = transaction.vin[index]
    address, amount = facts.utxos[outpoint(vin.txid.hex(), vin.vout)]
    script = script_pubkey_of(address, facts.network)
    witness = scope.witness_script.data if scope.witness_script is not None else b""
    code = script_code(script, witness)
    digest: bytes = transaction.sighash_segwit(index, Script(code), amount, sighash=_sighash_all)
    return digest


def _valid(public: bytes, signature: bytes, digest: bytes) -> bool:
    if signature[-1:] != bytes([_sighash_all]):
        return False
    try:
        return bool(coincurve.PublicKey(public).verify(signature[:-1], digest, hasher=None))
    except (ValueError, TypeError):
        return False
