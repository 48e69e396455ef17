"""The signer's checks: what a transaction must be before any key is asked to sign it.

A signing key must never be the weak point of segregation, so each signer (each of a vault's
two, independently) reads the transaction itself, not a description of it, and refuses with a
named code anything that is not exactly the approved withdrawal:

1. ``spend_not_approved``: its spend id (the unsigned transaction's txid, or the Keccak-256 of
   the unsigned EIP-1559 bytes) is not the one bound to the withdrawal when it was built, so a
   signature over a different PSBT is never made.
2. Inputs (Bitcoin): each an output the UTXO snapshot shows (``spend_input_unknown``), at an
   address of a wallet of the requesting pool (``spend_input_outside_pool``), described in the
   PSBT with the snapshot's amount and script (``spend_input_mismatch``: BIP 143 signs the
   amount, so a lower one would hide fee), signed with SIGHASH_ALL only (``spend_malformed``:
   another type would let outputs change after signing). Ethereum: the sender, the address of
   the key asked to sign, is a wallet of the pool (``spend_sender_outside_pool``), on the
   expected chain (``spend_chain_mismatch``).
3. Outputs: exactly one pays the destination (``spend_destination_missing``), exactly the order's
   amount, which is the amount held on the ledger (``spend_amount_mismatch``); at most one
   other, change, to an address of the same pool's wallets (``spend_output_outside_pool``),
   and nothing else (``spend_output_extra``: a second change output, Ether sent with a token
   transfer, call data beyond ``transfer``).
4. The fee, inputs minus outputs (Bitcoin) or gas limit times fee cap (Ethereum), within the order's
   bound (``spend_fee_exceeds_bound``).

Before any of these, and again before a signed transaction is sent, the ledger's hold of the
withdrawal (``check_hold``): a pending transfer that is still pending
(``spend_hold_not_found``, ``spend_hold_not_pending``: posted, voided or expired), out of the
order's wallet of the order's pool, of the order's asset and amount (``spend_hold_mismatch``).
The order says what the lifecycle approved; the hold is what the ledger still reserves for it,
so a withdrawal voided (or an order altered) after its transaction was built is never paid.

A replayed broadcast is the signing service's to refuse (it keeps which spends were sent).
``verify_bitcoin_transaction`` checks a finalised transaction against the outputs it spends
before it is handed to a broadcaster: see its docstring for what it verifies and why by hand.

Pure: the caller gathers the registry's addresses (address → pool) and the snapshot's outputs.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Final

import coincurve
from embit.psbt import PSBT
from embit.script import Script
from embit.transaction import SIGHASH, Transaction

from ringfence.core.custody.addresses import Network, hash160
from ringfence.core.custody.spends import SpendOrder, embit_network, outpoint, script_pubkey_of
from ringfence.core.custody.spends_ethereum import (
    checksummed,
    decode_unsigned,
    token_transfer_data,
    transfer_selector,
)
from ringfence.core.errors import InputError, Result

__all__ = [
    "BitcoinFacts",
    "CheckedSpend",
    "EthereumFacts",
    "HoldFacts",
    "check_bitcoin_spend",
    "check_ethereum_spend",
    "check_hold",
    "parse_psbt",
    "psbt_fee",
    "verify_bitcoin_transaction",
]

_sighash_all: Final = SIGHASH.ALL
_multisig_keys: Final = 3
_multisig_threshold: Final = 2
_curve_order: Final = 0xFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFEBAAEDCE6AF48A03BBFD25E8CD0364141


@dataclass(frozen=True, slots=True)
class BitcoinFacts:
    """What a Bitcoin signer checks against: the pool of each of the firm's addresses ("" for
    the house), the unspent outputs of the latest snapshot (``txid:vout`` → address, amount),
    the network, and the spend id approved for the withdrawal."""

    owners: Mapping[str, str]
    utxos: Mapping[str, tuple[str, int]]
    network: Network
    approved_spend_id: str


@dataclass(frozen=True, slots=True)
class EthereumFacts:
    """What an Ethereum signer checks against: the pool of each of the firm's addresses (keys
    lowercase), the chain, the approved spend id and the asset's token contract ("" for
    Ether)."""

    owners: Mapping[str, str]
    chain_id: int
    approved_spend_id: str
    token_contract: str = ""


@dataclass(frozen=True, slots=True)
class CheckedSpend:
    """What passed: the spend id, the fee paid (or at most payable) and the change."""

    spend_id: str
    fee: int
    change: int = 0


@dataclass(frozen=True, slots=True)
class HoldFacts:
    """The ledger's pending transfer named by an order's ``hold_transfer_id``, as the ledger
    has it now: whether it is still pending (else what became of it: posted, voided,
    expired), its amount and asset, and the custody account it takes the amount from (the
    credited side: the pool's wallet that pays), by wallet and pool."""

    status: str  # "pending", "posted", "voided" or "expired"
    amount: int
    asset: str
    wallet: str
    pool: str
    from_custody: bool  # the credited account is a custody account (a wallet's)


def check_hold(order: SpendOrder, hold: HoldFacts | None) -> None:
    """The order is what the ledger still holds for it, or the named refusal."""
    if hold is None:
        raise InputError(
            Result.spend_hold_not_found,
            f"no pending transfer {order.hold_transfer_id} holds withdrawal {order.withdrawal_id}",
        )
    if hold.status != "pending":
        raise InputError(
            Result.spend_hold_not_pending,
            f"the hold {order.hold_transfer_id} of withdrawal {order.withdrawal_id} is "
            f"{hold.status}",
        )
    held = (hold.from_custody, hold.pool, hold.wallet, hold.asset, hold.amount)
    ordered = (True, order.pool, order.wallet, order.asset, order.amount)
    if held != ordered:
        raise InputError(
            Result.spend_hold_mismatch,
            f"the hold takes {hold.amount} {hold.asset} from {hold.wallet} of "
            f"{hold.pool or 'the house'}; the order pays {order.amount} {order.asset} from "
            f"{order.wallet} of {order.pool}",
        )


# ---------------------------------------------------------------------- Bitcoin


def parse_psbt(data: bytes) -> Any:
    try:
        return PSBT.parse(data)
    except Exception:
        raise InputError(Result.spend_malformed, "not a PSBT (BIP 174)") from None


def psbt_fee(psbt_bytes: bytes) -> int:
    """The fee a PSBT pays: its inputs' amounts less its outputs'. The amounts are the PSBT's
    own, which every signer checked against the snapshot before signing
    (``spend_input_mismatch``), so for a spend that was signed this is the fee paid."""
    psbt = parse_psbt(psbt_bytes)
    described = [scope.witness_utxo for scope in psbt.inputs]
    if any(utxo is None for utxo in described):
        raise InputError(Result.spend_malformed, "an input without its amount")
    fee = sum(int(utxo.value) for utxo in described) - sum(int(o.value) for o in psbt.tx.vout)
    if fee < 0:
        raise InputError(Result.spend_malformed, "outputs exceed inputs")
    return fee


def check_bitcoin_spend(order: SpendOrder, psbt_bytes: bytes, facts: BitcoinFacts) -> CheckedSpend:
    """Every check above, in order; the first failure raises its ``InputError``."""
    psbt = parse_psbt(psbt_bytes)
    transaction = psbt.tx
    spend_id = transaction.txid().hex()
    if spend_id != facts.approved_spend_id:
        raise InputError(
            Result.spend_not_approved,
            f"{spend_id} is not the spend approved for withdrawal {order.withdrawal_id}",
        )
    if transaction.locktime != 0 or not transaction.vin or not transaction.vout:
        raise InputError(Result.spend_malformed, "a lock time, no input or no output")
    spent = sum(
        _checked_input(order, vin, scope, facts)
        for vin, scope in zip(transaction.vin, psbt.inputs, strict=True)
    )
    outpoints = {outpoint(vin.txid.hex(), vin.vout) for vin in transaction.vin}
    if len(outpoints) != len(transaction.vin):
        raise InputError(Result.spend_malformed, "an output is spent twice")
    change = _checked_outputs(order, transaction.vout, facts)
    fee = spent - sum(output.value for output in transaction.vout)
    if fee < 0:
        raise InputError(Result.spend_malformed, "outputs exceed inputs")
    if fee > order.fee_max:
        raise InputError(
            Result.spend_fee_exceeds_bound, f"fee {fee} sats, the order allows {order.fee_max}"
        )
    return CheckedSpend(spend_id, fee, change)


def _checked_input(order: SpendOrder, vin: Any, scope: Any, facts: BitcoinFacts) -> int:
    key = outpoint(vin.txid.hex(), vin.vout)
    utxo = facts.utxos.get(key)
    if utxo is None:
        raise InputError(Result.spend_input_unknown, f"{key} is not in the UTXO snapshot")
    address, amount = utxo
    owner = facts.owners.get(address)
    if owner != order.pool:
        whose = "no wallet of the firm" if owner is None else f"pool {owner or 'house'}"
        raise InputError(
            Result.spend_input_outside_pool, f"{key} pays {address}, of {whose}, not {order.pool}"
        )
    script = script_pubkey_of(address, facts.network)
    described = scope.witness_utxo
    if described is None or described.value != amount or described.script_pubkey.data != script:
        raise InputError(
            Result.spend_input_mismatch, f"{key}: the PSBT's amount or script is not the chain's"
        )
    witness_script = scope.witness_script
    if witness_script is not None and (
        script != b"\x00\x20" + hashlib.sha256(witness_script.data).digest()
    ):
        raise InputError(Result.spend_input_mismatch, f"{key}: a witness script of another address")
    if scope.sighash_type not in (None, _sighash_all):
        raise InputError(Result.spend_malformed, f"{key}: sighash type {scope.sighash_type}")
    return int(amount)


def _checked_outputs(order: SpendOrder, outputs: list[Any], facts: BitcoinFacts) -> int:
    """The change paid, after checking destination, amount and change."""
    destination = script_pubkey_of(order.destination, facts.network)
    paid = [output for output in outputs if output.script_pubkey.data == destination]
    if not paid:
        raise InputError(Result.spend_destination_missing, f"nothing pays {order.destination}")
    if len(paid) > 1:
        raise InputError(Result.spend_output_extra, f"{order.destination} is paid twice")
    if paid[0].value != order.amount:
        raise InputError(
            Result.spend_amount_mismatch,
            f"pays {paid[0].value} sats, the withdrawal holds {order.amount}",
        )
    others = [output for output in outputs if output is not paid[0]]
    if len(others) > 1:
        raise InputError(Result.spend_output_extra, f"{len(others)} outputs besides the payment")
    for output in others:
        address = _address_of(output.script_pubkey, facts.network)
        owner = facts.owners.get(address) if address else None
        if owner != order.pool:
            raise InputError(
                Result.spend_output_outside_pool,
                f"change to {address or output.script_pubkey.data.hex()}, not {order.pool}'s",
            )
    return sum(int(output.value) for output in others)


def _address_of(script: Any, network: Network) -> str:
    try:
        address: str = script.address(embit_network(network))
    except Exception:
        return ""  # no address form: it cannot be a wallet of the pool's
    return address


# ---------------------------------------------------------------------- Ethereum


def check_ethereum_spend(
    order: SpendOrder, unsigned: bytes, sender: str, facts: EthereumFacts
) -> CheckedSpend:
    """Every check above for an unsigned EIP-1559 transaction that ``sender`` (the address of
    the key asked to sign) would send."""
    transaction = decode_unsigned(unsigned)
    spend_id = transaction.signing_hash().hex()
    if spend_id != facts.approved_spend_id:
        raise InputError(
            Result.spend_not_approved,
            f"{spend_id} is not the spend approved for withdrawal {order.withdrawal_id}",
        )
    if transaction.chain_id != facts.chain_id:
        raise InputError(
            Result.spend_chain_mismatch, f"chain {transaction.chain_id}, not {facts.chain_id}"
        )
    owner = facts.owners.get(sender.lower())
    if owner != order.pool:
        raise InputError(
            Result.spend_sender_outside_pool, f"{sender} is not a wallet of {order.pool}"
        )
    destination = checksummed(order.destination, "destination")
    if facts.token_contract:
        _check_token_call(order, transaction, destination, facts.token_contract)
    else:
        _check_ether_payment(order, transaction, destination)
    if transaction.max_priority_fee_per_gas > transaction.max_fee_per_gas:
        raise InputError(Result.spend_malformed, "priority fee above the fee cap")
    if transaction.fee_max > order.fee_max:
        raise InputError(
            Result.spend_fee_exceeds_bound,
            f"up to {transaction.fee_max} wei of gas, the order allows {order.fee_max}",
        )
    return CheckedSpend(spend_id, transaction.fee_max)


def _check_ether_payment(order: SpendOrder, transaction: Any, destination: str) -> None:
    if transaction.to != destination:
        raise InputError(Result.spend_destination_missing, f"pays {transaction.to}")
    if transaction.value != order.amount:
        raise InputError(
            Result.spend_amount_mismatch,
            f"pays {transaction.value} wei, the withdrawal holds {order.amount}",
        )
    if transaction.data:
        raise InputError(Result.spend_output_extra, "a payment of Ether carries call data")


def _check_token_call(
    order: SpendOrder, transaction: Any, destination: str, token_contract: str
) -> None:
    if transaction.to != checksummed(token_contract, "token contract"):
        raise InputError(
            Result.spend_destination_missing, f"calls {transaction.to}, not the token's contract"
        )
    if transaction.value:
        raise InputError(Result.spend_output_extra, "Ether sent along with a token transfer")
    data = transaction.data
    if len(data) != 68 or data[:4] != transfer_selector or data[4:16] != bytes(12):
        raise InputError(Result.spend_output_extra, "call data other than transfer(to, amount)")
    if data[16:36] != bytes.fromhex(destination[2:]):
        raise InputError(Result.spend_destination_missing, "the token goes to another address")
    amount = int.from_bytes(data[36:], "big")
    if amount != order.amount:
        raise InputError(
            Result.spend_amount_mismatch,
            f"transfers {amount} units, the withdrawal holds {order.amount}",
        )
    assert data == token_transfer_data(destination, order.amount)


# ---------------------------------------------------------------------- finalised transactions


def verify_bitcoin_transaction(raw: bytes, spent: Mapping[str, tuple[bytes, int]]) -> str:
    """Check that the finalised ``raw`` transaction spends, validly, the outputs ``spent``
    (``txid:vout`` → output script, amount: from the snapshot); return its txid.

    Neither embit nor any maintained Python library offered here runs Bitcoin's script
    interpreter (python-bitcointx, which has one, is not among the packages this project can
    install), so this verifies the two templates ringfence spends, completely: for P2WPKH,
    a witness of [signature, key] whose HASH160 is the program; for 2-of-3 P2WSH, a witness of
    [empty (NULLDUMMY), two signatures, the script] whose SHA-256 is the program and which is
    ``2 <K1> <K2> <K3> 3 CHECKMULTISIG``, with the signatures matched to the keys in script
    order as CHECKMULTISIG does. Every signature is strict DER with SIGHASH_ALL, low S, and
    verifies (libsecp256k1, through coincurve) over the input's BIP 143 digest computed by
    embit. Anything else is refused (``spend_signature_invalid``)."""
    try:
        transaction = Transaction.parse(raw)
    except Exception:
        raise InputError(Result.spend_malformed, "not a Bitcoin transaction") from None
    for index, vin in enumerate(transaction.vin):
        key = outpoint(vin.txid.hex(), vin.vout)
        if key not in spent:
            raise InputError(Result.spend_input_unknown, f"{key} is not an output being spent")
        script, amount = spent[key]
        items = list(vin.witness.items)
        if vin.script_sig.data:
            raise InputError(Result.spend_signature_invalid, f"input {index}: a script_sig")
        if len(script) == 22 and script[:2] == b"\x00\x14":
            _verify_p2wpkh(transaction, index, script[2:], amount, items)
        elif len(script) == 34 and script[:2] == b"\x00\x20":
            _verify_p2wsh(transaction, index, script[2:], amount, items)
        else:
            raise InputError(Result.spend_signature_invalid, f"input {index}: not P2WPKH/P2WSH")
    txid: str = transaction.txid().hex()
    return txid


def _verify_p2wpkh(
    transaction: Any, index: int, program: bytes, amount: int, items: list[bytes]
) -> None:
    if len(items) != 2 or hash160(items[1]) != program:
        raise InputError(Result.spend_signature_invalid, f"input {index}: not [signature, key]")
    script_code = Script(b"\x76\xa9\x14" + program + b"\x88\xac")
    digest = transaction.sighash_segwit(index, script_code, amount, sighash=_sighash_all)
    if not _signature_valid(items[0], items[1], digest):
        raise InputError(Result.spend_signature_invalid, f"input {index}: the signature fails")


def _verify_p2wsh(
    transaction: Any, index: int, program: bytes, amount: int, items: list[bytes]
) -> None:
    if len(items) != 2 + _multisig_threshold or items[0] != b"":
        raise InputError(
            Result.spend_signature_invalid, f"input {index}: not [0, sig, sig, script]"
        )
    witness_script = items[-1]
    if hashlib.sha256(witness_script).digest() != program:
        raise InputError(Result.spend_signature_invalid, f"input {index}: another script")
    keys = _multisig_keys_of(witness_script, index)
    digest = transaction.sighash_segwit(index, Script(witness_script), amount, sighash=_sighash_all)
    remaining = iter(keys)
    for signature in items[1:-1]:
        if not any(_signature_valid(signature, key, digest) for key in remaining):
            raise InputError(Result.spend_signature_invalid, f"input {index}: a signature fails")


def _multisig_keys_of(script: bytes, index: int) -> list[bytes]:
    size = 1 + _multisig_keys * 34 + 2
    ok = (
        len(script) == size
        and script[0] == 0x50 + _multisig_threshold
        and script[-2:] == bytes([0x50 + _multisig_keys, 0xAE])
        and all(script[1 + 34 * k] == 0x21 for k in range(_multisig_keys))
    )
    if not ok:
        raise InputError(Result.spend_signature_invalid, f"input {index}: not a 2-of-3 script")
    return [script[2 + 34 * k : 2 + 34 * k + 33] for k in range(_multisig_keys)]


def _signature_valid(signature: bytes, public_key: bytes, digest: bytes) -> bool:
    """A strict-DER, low-S ECDSA signature with SIGHASH_ALL over ``digest`` by the key."""
    if not signature or signature[-1] != _sighash_all:
        return False
    der = signature[:-1]
    try:
        key = coincurve.PublicKey(public_key)
        return _is_low_s(der) and bool(key.verify(der, digest, hasher=None))
    except (ValueError, TypeError):
        return False


def _is_low_s(der: bytes) -> bool:
    """Strict DER (BIP 66's shape) with s at most half the curve order (BIP 62)."""
    if len(der) < 8 or der[0] != 0x30 or der[1] != len(der) - 2 or der[2] != 0x02:
        return False
    r_length = der[3]
    if 4 + r_length + 2 > len(der) or der[4 + r_length] != 0x02:
        return False
    s_length = der[5 + r_length]
    if 6 + r_length + s_length != len(der):
        return False
    s = int.from_bytes(der[6 + r_length :], "big")
    return 0 < s <= _curve_order // 2
