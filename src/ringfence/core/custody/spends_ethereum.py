"""Ethereum spends: the EIP-1559 transaction that pays one approved withdrawal.

Ether is paid by a transaction to the destination with the amount as its value and no data;
an ERC-20 token by a transaction to the token's contract, with no value and the data of
``transfer(destination, amount)`` and nothing else. The sender is an address of one of the
pool's own wallets; its nonce and the gas come from the node and are passed in, so building
stays pure.

The unsigned transaction is kept as its EIP-2718 bytes, ``0x02 || rlp([chainId, nonce,
maxPriorityFeePerGas, maxFeePerGas, gasLimit, to, value, data, accessList])``, and its spend id
is the Keccak-256 of those bytes: exactly the digest the sender's key signs (EIP-1559). The
signer's checks decode these bytes (``decode_unsigned``), never a description beside them. The
encoding is cross-checked with eth-account's own (``TypedTransaction``) when built, and the
signed transaction is assembled by eth-account from the signature the key returns.

Fee bound: the most the transaction can ever cost, ``gasLimit * maxFeePerGas`` wei, must not
exceed the order's ``fee_max``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final

import rlp  # type: ignore[import-untyped]
from eth_hash.backends.pycryptodome import keccak256
from hexbytes import HexBytes

from ringfence.core import limits
from ringfence.core.custody.addresses import eth_checksum_address
from ringfence.core.custody.spends import SpendOrder
from ringfence.core.errors import InputError, Result

__all__ = [
    "EthereumSpend",
    "EthereumTerms",
    "EthereumTransaction",
    "address_of_key",
    "build_ethereum_spend",
    "decode_unsigned",
    "ether_gas_limit",
    "token_transfer_data",
]

transaction_type: Final = 2
# The first four bytes of keccak256("transfer(address,uint256)").
transfer_selector: Final = bytes.fromhex("a9059cbb")
assert keccak256(b"transfer(address,uint256)")[:4] == transfer_selector
ether_gas_limit: Final = 21_000  # a plain value transfer to an address without code
_fields: Final = 9


@dataclass(frozen=True, slots=True)
class EthereumTransaction:
    """The fields of an unsigned EIP-1559 transaction (no access list: ringfence never adds
    one, and the checks refuse one)."""

    chain_id: int
    nonce: int
    max_priority_fee_per_gas: int
    max_fee_per_gas: int
    gas_limit: int
    to: str  # EIP-55
    value: int
    data: bytes

    def unsigned(self) -> bytes:
        payload = [
            self.chain_id,
            self.nonce,
            self.max_priority_fee_per_gas,
            self.max_fee_per_gas,
            self.gas_limit,
            bytes.fromhex(self.to[2:]),
            self.value,
            self.data,
            [],
        ]
        encoded: bytes = rlp.encode(payload)
        return bytes([transaction_type]) + encoded

    def signing_hash(self) -> bytes:
        return keccak256(self.unsigned())

    def as_dict(self) -> dict[str, object]:
        """The transaction as eth-account takes it."""
        return {
            "type": transaction_type,
            "chainId": self.chain_id,
            "nonce": self.nonce,
            "maxPriorityFeePerGas": self.max_priority_fee_per_gas,
            "maxFeePerGas": self.max_fee_per_gas,
            "gas": self.gas_limit,
            "to": self.to,
            "value": self.value,
            "data": HexBytes(self.data),
            "accessList": [],
        }

    def signed(self, y_parity: int, r: int, s: int) -> bytes:
        """The transaction as broadcast, with the signature (y parity, r, s)."""
        assert y_parity in (0, 1)
        # eth-account is imported where a transaction is signed (see build_ethereum_spend).
        from eth_account.typed_transactions import TypedTransaction

        fields = {**self.as_dict(), "v": y_parity, "r": r, "s": s}
        encoded: bytes = TypedTransaction.from_dict(fields).encode()
        return encoded

    @property
    def fee_max(self) -> int:
        return self.gas_limit * self.max_fee_per_gas


def decode_unsigned(data: bytes) -> EthereumTransaction:
    """The transaction in unsigned EIP-1559 bytes; ``spend_malformed`` for anything else (a
    signed transaction, another type, an access list, extra fields)."""
    if not data or data[0] != transaction_type:
        raise InputError(Result.spend_malformed, "not an EIP-1559 transaction")
    try:
        items = rlp.decode(data[1:], strict=True)
    except rlp.DecodingError as error:
        raise InputError(Result.spend_malformed, f"RLP: {error}") from None
    if not isinstance(items, list) or len(items) != _fields:
        raise InputError(Result.spend_malformed, "not the nine fields of an unsigned transaction")
    *scalars, to, value, data_field, access_list = items
    if access_list != [] or not isinstance(to, bytes) or len(to) != 20:
        raise InputError(Result.spend_malformed, "an access list, or no 20-byte recipient")
    numbers = [_scalar(item) for item in (*scalars, value)]
    chain_id, nonce, priority, max_fee, gas_limit, amount = numbers
    if not isinstance(data_field, bytes):
        raise InputError(Result.spend_malformed, "data is not a byte string")
    transaction = EthereumTransaction(
        chain_id, nonce, priority, max_fee, gas_limit, eth_checksum_address(to), amount, data_field
    )
    if transaction.unsigned() != data:
        raise InputError(Result.spend_malformed, "not in canonical encoding")
    return transaction


def _scalar(item: object) -> int:
    # RLP integers have no leading zero byte; a canonical re-encoding is compared above.
    if not isinstance(item, bytes) or len(item) > 32:
        raise InputError(Result.spend_malformed, "a number field is not a 256-bit integer")
    return int.from_bytes(item, "big")


def address_of_key(public_key: bytes) -> str:
    """The EIP-55 address of an uncompressed SEC 1 secp256k1 key (65 bytes)."""
    assert len(public_key) == 65 and public_key[0] == 0x04
    return eth_checksum_address(keccak256(public_key[1:])[12:])


def token_transfer_data(destination: str, amount: int) -> bytes:
    """The call data of ERC-20 ``transfer(destination, amount)``."""
    assert 0 < amount < 2**256
    return (
        transfer_selector + bytes(12) + bytes.fromhex(destination[2:]) + amount.to_bytes(32, "big")
    )


@dataclass(frozen=True, slots=True)
class EthereumTerms:
    """What the node says a spend from ``sender`` needs now. ``token_contract`` is the asset's
    ERC-20 contract, empty for Ether."""

    chain_id: int
    sender: str
    nonce: int
    gas_limit: int
    max_fee_per_gas: int
    max_priority_fee_per_gas: int
    token_contract: str = ""


@dataclass(frozen=True, slots=True)
class EthereumSpend:
    spend_id: str  # Keccak-256 of the unsigned transaction, hex
    transaction: EthereumTransaction

    @property
    def unsigned(self) -> bytes:
        return self.transaction.unsigned()


def checksummed(address: str, what: str) -> str:
    """The EIP-55 spelling of a 0x address; ``address_invalid_for_network`` when it is not
    one (a mixed-case address must carry a valid checksum)."""
    digits = address[2:] if address.startswith("0x") else ""
    try:
        raw = bytes.fromhex(digits)
    except ValueError:
        raw = b""
    if len(raw) != 20 or len(digits) != 40:
        raise InputError(Result.address_invalid_for_network, f"{what} {address!r}")
    canonical = eth_checksum_address(raw)
    if digits not in (digits.lower(), digits.upper()) and address != canonical:
        raise InputError(Result.address_invalid_for_network, f"{what} {address}: checksum")
    return canonical


def build_ethereum_spend(order: SpendOrder, terms: EthereumTerms) -> EthereumSpend:
    """The transaction paying ``order`` from ``terms.sender``; ``spend_fee_exceeds_bound``
    when the most it can cost is above the order's bound."""
    destination = checksummed(order.destination, "destination")
    if destination == checksummed(terms.sender, "sender"):
        raise InputError(Result.spend_order_invalid, "the destination is the sender")
    if not 0 < terms.gas_limit <= limits.ethereum_gas_limit_max:
        raise InputError(Result.spend_fee_rate_invalid, f"gas limit {terms.gas_limit}")
    if not 0 <= terms.max_priority_fee_per_gas <= terms.max_fee_per_gas < 2**256:
        raise InputError(Result.spend_fee_rate_invalid, "priority fee above the fee cap")
    if terms.token_contract:
        to = checksummed(terms.token_contract, "token contract")
        value, data = 0, token_transfer_data(destination, order.amount)
    else:
        to, value, data = destination, order.amount, b""
    transaction = EthereumTransaction(
        terms.chain_id,
        terms.nonce,
        terms.max_priority_fee_per_gas,
        terms.max_fee_per_gas,
        terms.gas_limit,
        to,
        value,
        data,
    )
    if transaction.fee_max > order.fee_max:
        raise InputError(
            Result.spend_fee_exceeds_bound,
            f"up to {transaction.fee_max} wei of gas, the order allows {order.fee_max}",
        )
    digest = transaction.signing_hash()
    # eth-account takes a second to import: it is loaded where an Ethereum transaction is built
    # or signed, not by every command that imports the spend checks.
    from eth_account.typed_transactions import TypedTransaction

    assert TypedTransaction.from_dict(transaction.as_dict()).hash() == digest
    return EthereumSpend(digest.hex(), transaction)
