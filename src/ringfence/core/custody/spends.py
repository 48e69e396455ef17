"""Spends: the chain transaction that pays exactly one approved withdrawal from its own pool.

A ``SpendOrder`` is what the withdrawal lifecycle hands to the chain side once a withdrawal is
approved and its ledger hold is in place: everything the transaction must say, and nothing it
may add. Building, the signer's checks (core/custody/spend_checks.py) and broadcasting all take
their facts from it, so a transaction that differs from its order in any input, output, amount
or fee is refused before a key is asked.

This module builds the Bitcoin side: a PSBT (BIP 174, through embit) that spends only outputs
of the pool's own wallets, pays the destination exactly the order's amount and sends the rest
back to the same pool, with a fee bounded by the order. Ethereum spends are built in
core/custody/spends_ethereum.py. Its identity, the *spend id*, is the txid of the unsigned
transaction: it covers every input and output (not the signatures), so the approval of one
spend id can never be spent by a different transaction.

Coin selection is deterministic (the same coins and order give the same transaction, byte for
byte): largest outputs first, then by outpoint, until the amount and the fee at the given rate
are covered. Change below the dust limit goes to the fee rather than to an output nobody
could spend at a profit. Every input and output is P2WPKH or 2-of-3 P2WSH (sorted keys,
BIP 67), the scripts ringfence's wallets use; the fee is computed from the largest signature
(72 bytes), so the real transaction is never smaller than paid for by more than a few bytes.

Pure: no clock, network or files; the caller passes the pool's spendable outputs, the change
address and the fee rate.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from enum import StrEnum, unique
from typing import Any, Final

from embit import ec
from embit.networks import NETWORKS
from embit.psbt import PSBT, DerivationPath
from embit.script import Script, address_to_scriptpubkey
from embit.transaction import (
    Transaction,
    TransactionInput,
    TransactionOutput,
)

from ringfence.core import limits
from ringfence.core.custody.addresses import Network, hash160
from ringfence.core.custody.snapshots import bitcoin_address_problem
from ringfence.core.errors import InputError, Result
from ringfence.core.ledger.model import check_name

__all__ = [
    "BitcoinSpend",
    "Change",
    "Coin",
    "KeyOrigin",
    "SpendOrder",
    "SpendRecord",
    "SpendScript",
    "SpendState",
    "build_bitcoin_spend",
    "der_signature",
    "embit_network",
    "fee_for",
    "outpoint",
    "script_code",
    "script_pubkey_of",
]

_withdrawal_id_pattern: Final = re.compile(r"[0-9A-Za-z._:-]{1,64}")
_txid_pattern: Final = re.compile(r"[0-9a-f]{64}")
# Replace-by-fee signalled (BIP 125), so a spend stuck at a low rate can be bumped by a new,
# again approved, spend of the same inputs; no relative lock time.
sequence_rbf: Final = 0xFFFFFFFD
_signature_bytes_max: Final = 72  # DER, low S: 71 or fewer in practice
_embit_networks: Final = {
    Network.mainnet: NETWORKS["main"],
    Network.testnet: NETWORKS["test"],
    Network.regtest: NETWORKS["regtest"],
}


@dataclass(frozen=True, slots=True)
class SpendOrder:
    """One approved withdrawal, as the chain side must pay it.

    ``amount`` and ``fee_max`` are minor units of the pool's asset (``fee_max`` of the chain's
    fee asset: satoshis, wei); ``destination`` is the chain address the amount goes to.
    ``wallet`` is the pool's wallet that pays (the policy decided on its tier, so no other
    wallet may pay instead); ``hold_transfer_id`` the ledger's pending transfer that holds the
    amount, which the signing service reads back before it signs or sends anything.
    """

    withdrawal_id: str
    pool: str
    asset: str
    amount: int
    destination: str
    fee_max: int
    wallet: str
    hold_transfer_id: int

    def __post_init__(self) -> None:
        if not isinstance(self.withdrawal_id, str) or not _withdrawal_id_pattern.fullmatch(
            self.withdrawal_id
        ):
            raise InputError(Result.spend_order_invalid, f"withdrawal id {self.withdrawal_id!r}")
        check_name(self.pool, "pool")
        check_name(self.wallet, "wallet")
        hold = self.hold_transfer_id
        if type(hold) is not int or not 0 < hold <= limits.id_max:
            raise InputError(Result.spend_order_invalid, f"hold transfer {hold!r}")
        for value, what in ((self.amount, "amount"), (self.fee_max, "fee_max")):
            if type(value) is not int or not 0 < value <= limits.amount_units_max:
                raise InputError(Result.spend_order_invalid, f"{what} {value!r}")
        if (
            not isinstance(self.destination, str)
            or not 0 < len(self.destination) <= limits.address_length_max
            or not self.destination.isascii()
            or not self.destination.isalnum()
        ):
            raise InputError(Result.spend_order_invalid, f"destination {self.destination!r}")


# ---------------------------------------------------------------------- scripts


@dataclass(frozen=True, slots=True)
class KeyOrigin:
    """Where a key comes from in its wallet (BIP 32): the master key's fingerprint and the
    path, for a PSBT signer that derives its keys (a hardware wallet) to find its own."""

    public_key: bytes
    fingerprint: bytes
    path: tuple[int, ...]


@dataclass(frozen=True, slots=True)
class SpendScript:
    """How an address of one of the firm's wallets is spent: one key (P2WPKH) or ``threshold``
    of three (P2WSH over ``sortedmulti``). Keys are compressed SEC 1 (33 bytes)."""

    public_keys: tuple[bytes, ...]
    threshold: int = 1
    origins: tuple[KeyOrigin, ...] = ()

    def __post_init__(self) -> None:
        single = len(self.public_keys) == 1 and self.threshold == 1
        vault = len(self.public_keys) == 3 and self.threshold == 2
        if not (single or vault):
            raise InputError(
                Result.spend_keys_invalid,
                f"{self.threshold} of {len(self.public_keys)}: P2WPKH or 2-of-3 P2WSH only",
            )
        if len(set(self.public_keys)) != len(self.public_keys):
            raise InputError(Result.spend_keys_invalid, "a key is given twice")
        for key in self.public_keys:
            try:
                ec.PublicKey.parse(key)
            except Exception:
                raise InputError(Result.spend_keys_invalid, key.hex()[:70]) from None
            if len(key) != 33:
                raise InputError(Result.spend_keys_invalid, "keys are compressed (33 bytes)")

    @property
    def is_vault(self) -> bool:
        return len(self.public_keys) > 1

    def witness_script(self) -> bytes:
        """``2 <K1> <K2> <K3> 3 CHECKMULTISIG`` with the keys sorted (BIP 67); empty for a
        single key."""
        if not self.is_vault:
            return b""
        pushes = b"".join(b"\x21" + key for key in sorted(self.public_keys))
        return bytes([0x50 + self.threshold]) + pushes + bytes([0x53, 0xAE])

    def script_pubkey(self) -> bytes:
        if self.is_vault:
            return b"\x00\x20" + hashlib.sha256(self.witness_script()).digest()
        return b"\x00\x14" + hash160(self.public_keys[0])

    def address(self, network: Network) -> str:
        address: str = Script(self.script_pubkey()).address(embit_network(network))
        return address

    def input_weight(self) -> int:
        """Weight units of one input spending this script, with the largest signatures."""
        non_witness = 32 + 4 + 1 + 4  # outpoint, empty script_sig, sequence
        if self.is_vault:
            script = self.witness_script()
            items = 1 + self.threshold + 1
            witness = 1 + 1 + self.threshold * (1 + _signature_bytes_max) + 1 + len(script)
            assert items == 4 and len(script) < 253
        else:
            witness = 1 + (1 + _signature_bytes_max) + (1 + 33)
        return non_witness * 4 + witness


def embit_network(network: Network) -> Any:
    return _embit_networks[network]


def script_pubkey_of(address: str, network: Network) -> bytes:
    """The output script paying ``address`` (valid on ``network``), or a named refusal."""
    problem = bitcoin_address_problem(address, network)
    if problem:
        raise InputError(Result.address_invalid_for_network, problem)
    try:
        script: bytes = address_to_scriptpubkey(address).data
    except Exception:
        raise InputError(
            Result.address_invalid_for_network, f"{address}: not a script this build can pay"
        ) from None
    return script


def outpoint(txid: str, vout: int) -> str:
    return f"{txid}:{vout}"


def der_signature(r: int, s: int) -> bytes:
    """(r, s) as a DER ``ECDSA-Sig-Value`` (SEC 1), the form Bitcoin scripts carry."""

    def integer(value: int) -> bytes:
        body = value.to_bytes((value.bit_length() + 8) // 8, "big")  # a leading 0 if needed
        return bytes([0x02, len(body)]) + body

    content = integer(r) + integer(s)
    assert len(content) < 128
    return bytes([0x30, len(content)]) + content


def script_code(script_pubkey: bytes, witness_script: bytes) -> bytes:
    """The script a BIP 143 digest commits to: the witness script of a P2WSH output, the
    P2PKH form of a P2WPKH output's key hash."""
    if script_pubkey[:2] == b"\x00\x20":
        assert hashlib.sha256(witness_script).digest() == script_pubkey[2:]
        return witness_script
    assert len(script_pubkey) == 22 and script_pubkey[:2] == b"\x00\x14"
    return b"\x76\xa9\x14" + script_pubkey[2:] + b"\x88\xac"


# ---------------------------------------------------------------------- the build


@dataclass(frozen=True, slots=True)
class Coin:
    """An unspent output of one of the pool's wallets, as the UTXO snapshot shows it."""

    txid: str  # as Bitcoin Core prints it (64 lowercase hex digits)
    vout: int
    amount: int  # satoshis
    address: str
    wallet: str
    script: SpendScript

    def __post_init__(self) -> None:
        assert _txid_pattern.fullmatch(self.txid)
        assert 0 <= self.vout <= limits.bitcoin_vout_max
        assert 0 < self.amount <= limits.bitcoin_supply_sats_max


@dataclass(frozen=True, slots=True)
class Change:
    """Where a spend sends what is left: an address of the same pool's wallet."""

    address: str
    wallet: str
    script: SpendScript


@dataclass(frozen=True, slots=True)
class BitcoinSpend:
    spend_id: str  # the unsigned transaction's txid
    psbt: bytes  # BIP 174, version 0
    coins: tuple[Coin, ...]
    fee: int
    change: int  # 0: no change output


def fee_for(weight: int, fee_rate_sat_per_kvb: int) -> int:
    """Satoshis for a transaction of ``weight`` at ``fee_rate_sat_per_kvb``: virtual size
    rounded up, then the fee rounded up (never below the rate)."""
    virtual_size = -(-weight // 4)
    return -(-virtual_size * fee_rate_sat_per_kvb // 1000)


def _output_weight(script_pubkey: bytes) -> int:
    assert len(script_pubkey) < 253
    return (8 + 1 + len(script_pubkey)) * 4


def _transaction_weight(coins: Sequence[Coin], outputs: Sequence[bytes]) -> int:
    counts = len(_compact_size(len(coins))) + len(_compact_size(len(outputs)))
    overhead = (4 + 4 + counts) * 4 + 2  # version, lock time, counts; segwit marker and flag
    return (
        overhead
        + sum(coin.script.input_weight() for coin in coins)
        + sum(_output_weight(script) for script in outputs)
    )


def _compact_size(value: int) -> bytes:
    if value < 0xFD:
        return bytes([value])
    assert value <= 0xFFFF
    return b"\xfd" + value.to_bytes(2, "little")


def build_bitcoin_spend(
    order: SpendOrder,
    coins: Sequence[Coin],
    change: Change,
    fee_rate_sat_per_kvb: int,
    network: Network,
) -> BitcoinSpend:
    """The PSBT paying ``order`` from ``coins`` (the pool's own spendable outputs), change to
    ``change``. Refused with a named code: a destination not valid on ``network``
    (``address_invalid_for_network``) or one of the firm's own, a fee rate out of range
    (``spend_fee_rate_invalid``), too little to pay amount and fee
    (``spend_funds_insufficient``), a fee above the order's bound (``spend_fee_exceeds_bound``)."""
    if type(fee_rate_sat_per_kvb) is not int or not (
        1000 <= fee_rate_sat_per_kvb <= limits.bitcoin_fee_rate_sat_per_kvb_max
    ):
        raise InputError(Result.spend_fee_rate_invalid, f"{fee_rate_sat_per_kvb!r} sat/kvB")
    destination = script_pubkey_of(order.destination, network)
    if order.destination in {coin.address for coin in coins} | {change.address}:
        raise InputError(Result.spend_order_invalid, "the destination is one of the pool's own")
    if order.amount < limits.bitcoin_dust_sats:
        raise InputError(Result.spend_order_invalid, f"{order.amount} sats is below dust")
    chosen, fee, change_amount = _select(order, coins, destination, change, fee_rate_sat_per_kvb)
    if fee > order.fee_max:
        raise InputError(
            Result.spend_fee_exceeds_bound, f"fee {fee} sats, the order allows {order.fee_max}"
        )
    psbt = _psbt(order, chosen, destination, change, change_amount)
    spend_id = psbt.tx.txid().hex()
    return BitcoinSpend(spend_id, psbt.serialize(), tuple(chosen), fee, change_amount)


def _select(
    order: SpendOrder, coins: Sequence[Coin], destination: bytes, change: Change, rate: int
) -> tuple[list[Coin], int, int]:
    """(coins chosen, fee, change): largest first until amount and fee are covered."""
    unique = {outpoint(coin.txid, coin.vout): coin for coin in coins}
    ordered = sorted(unique.values(), key=lambda c: (-c.amount, c.txid, c.vout))
    change_script = change.script.script_pubkey()
    chosen: list[Coin] = []
    total = 0
    for coin in ordered[: limits.spend_inputs_max]:
        chosen.append(coin)
        total += coin.amount
        with_change = fee_for(_transaction_weight(chosen, [destination, change_script]), rate)
        if total - order.amount - with_change >= limits.bitcoin_dust_sats:
            return chosen, with_change, total - order.amount - with_change
        without_change = fee_for(_transaction_weight(chosen, [destination]), rate)
        if total >= order.amount + without_change:
            return chosen, total - order.amount, 0  # what is left is below dust: the fee
    raise InputError(
        Result.spend_funds_insufficient,
        f"{order.pool}'s spendable outputs ({len(unique)}, at most "
        f"{limits.spend_inputs_max} used) cannot pay {order.amount} sats and the fee",
    )


def _psbt(
    order: SpendOrder, chosen: Sequence[Coin], destination: bytes, change: Change, change_sats: int
) -> Any:
    inputs = [
        TransactionInput(bytes.fromhex(c.txid), c.vout, sequence=sequence_rbf) for c in chosen
    ]
    outputs = [TransactionOutput(order.amount, Script(destination))]
    if change_sats:
        outputs.append(TransactionOutput(change_sats, Script(change.script.script_pubkey())))
    psbt = PSBT(Transaction(version=2, vin=inputs, vout=outputs, locktime=0))
    for scope, coin in zip(psbt.inputs, chosen, strict=True):
        scope.witness_utxo = TransactionOutput(coin.amount, Script(coin.script.script_pubkey()))
        _describe_script(scope, coin.script)
    if change_sats:
        _describe_script(psbt.outputs[1], change.script)
    return psbt


def _describe_script(scope: Any, script: SpendScript) -> None:
    """The witness script and key origins a signer needs to sign an input, or to recognise an
    output as its own change."""
    if script.is_vault:
        scope.witness_script = Script(script.witness_script())
    for origin in script.origins:
        key = ec.PublicKey.parse(origin.public_key)
        scope.bip32_derivations[key] = DerivationPath(origin.fingerprint, list(origin.path))


# ---------------------------------------------------------------------- the record kept


@unique
class SpendState(StrEnum):
    built = "built"
    signed = "signed"
    broadcast = "broadcast"
    abandoned = "abandoned"  # never broadcast; its outputs or nonce are free again


@dataclass(frozen=True, slots=True)
class SpendRecord:
    """A spend as the signing service keeps it: bound to one withdrawal, built once.

    ``unsigned`` is the PSBT (Bitcoin) or the unsigned EIP-1559 transaction (Ethereum);
    ``signed`` the finalised transaction once signed; ``txid`` its chain id once broadcast.
    ``outpoints`` (Bitcoin) are the outputs it spends, kept out of later spends until it is
    confirmed; ``sender`` and ``nonce`` (Ethereum) likewise keep two spends from one nonce."""

    spend_id: str
    withdrawal_id: str
    chain: str
    pool: str
    asset: str
    unsigned: bytes
    state: SpendState = SpendState.built
    outpoints: tuple[str, ...] = ()
    sender: str = ""
    nonce: int = -1
    signed: bytes = b""
    txid: str = ""
    wallets: tuple[str, ...] = field(default=())
