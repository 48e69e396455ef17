"""Fixed-width journal records for the wallet registry.

The registry's changes are journal entries framed like any other of plain records
(core/ledger/framing.py: the journal's header, then 128-byte big-endian records, chained by
SHA-256), so a designation cannot change without leaving a link in the chain. Records:

    wallets        a wallet record (type 1: number, name, chain, scheme, tier, pool, network,
                   key count) followed by one key record per key (type 2: wallet number,
                   ordinal, the extended public key or address as ASCII, at most 111 bytes)
    designations   wallet number, pool (empty: the house), tier
    addresses      wallet number (0: a client's own outside address), client number (0: none),
                   child index, change flag, the address as ASCII (at most 90 bytes)
    encumbrances   id, wallet number, asset number, amount, beneficiary, start and end times,
                   kind (pledge, lock; release ends an earlier one)
    deposit_sources  a credited deposit's transfer id, chain and chain reference as ASCII (in
                   100 bytes: ``txid:vout``, or an Ethereum hash and log index)

Wallets and clients are named by their numbers where a record would not hold both names and an
address; the registry and the ledger map the numbers back.
"""

from __future__ import annotations

import struct
from collections.abc import Callable
from dataclasses import dataclass
from typing import Final

from ringfence.core import limits
from ringfence.core.custody.registry import (
    AddressAssignment,
    Chain,
    ClientAddress,
    DepositSource,
    Designation,
    Encumbrance,
    EncumbranceKind,
    RegistryRecord,
    Release,
    Scheme,
    Wallet,
)
from ringfence.core.ledger.framing import framed, record_bytes, u128_bytes, u128_of, unframed
from ringfence.core.ledger.journal import (
    EntryHeader,
    EntryKind,
    key_of,
    name_bytes,
    registry_kinds,
    text_of,
)
from ringfence.core.ledger.model import custody_tiers

_wallet: Final = struct.Struct(">BI32sBBB32s32sB23x")
_key: Final = struct.Struct(">BIBB111s10x")
_designation: Final = struct.Struct(">I32sB91x")
_address: Final = struct.Struct(">IQIBB90s20x")
_encumbrance: Final = struct.Struct(">16sII16s32sQQB39x")
_deposit_source: Final = struct.Struct(">16sBB100s10x")
assert _wallet.size == _key.size == _designation.size == record_bytes
assert _address.size == _encumbrance.size == record_bytes
assert limits.wallet_key_length_max == 111
assert limits.address_length_max == 90

_record_wallet: Final = 1
_record_key: Final = 2
_chains: Final = {Chain.bitcoin: 1, Chain.ethereum: 2}
_schemes: Final = {Scheme.address: 1, Scheme.bip84: 2, Scheme.multisig: 3, Scheme.eth: 4}
_tiers: Final = {tier: number for number, tier in enumerate(custody_tiers, start=1)}
_encumbrance_kinds: Final = {EncumbranceKind.pledge: 1, EncumbranceKind.lock: 2}
_release: Final = 3


@dataclass(frozen=True, slots=True)
class Numbers:
    """Name <-> number maps the records need: wallets from the registry, clients and assets
    from the ledger."""

    wallet_number: Callable[[str], int]
    wallet_name: Callable[[int], str]
    client_number: Callable[[str], int]
    client_name: Callable[[int], str]
    asset_number: Callable[[str], int]
    asset_code: Callable[[int], str]


def encode_registry(
    kind: EntryKind, seq: int, timestamp: int, records: list[RegistryRecord], numbers: Numbers
) -> bytes:
    assert kind in registry_kinds
    assert records
    raw: list[bytes] = []
    for record in records:
        raw.extend(_encode(kind, record, numbers))
    return framed(kind, seq, timestamp, raw)


def _encode(kind: EntryKind, record: RegistryRecord, numbers: Numbers) -> list[bytes]:
    if kind is EntryKind.wallets:
        assert isinstance(record, Wallet)
        number = numbers.wallet_number(record.name)
        head = _wallet.pack(
            _record_wallet,
            number,
            name_bytes(record.name),
            _chains[record.chain],
            _schemes[record.scheme],
            _tiers[record.tier],
            name_bytes(record.pool),
            name_bytes(record.network),
            len(record.keys),
        )
        keys = [
            _key.pack(_record_key, number, ordinal, len(key), key.encode("ascii"))
            for ordinal, key in enumerate(record.keys)
        ]
        return [head, *keys]
    if kind is EntryKind.designations:
        assert isinstance(record, Designation)
        number = numbers.wallet_number(record.wallet)
        return [_designation.pack(number, name_bytes(record.pool), _tiers[record.tier])]
    if kind is EntryKind.addresses:
        return [_encode_address(record, numbers)]
    if kind is EntryKind.deposit_sources:
        assert isinstance(record, DepositSource)
        reference = record.reference.encode("ascii")
        return [
            _deposit_source.pack(
                u128_bytes(record.transfer_id), _chains[record.chain], len(reference), reference
            )
        ]
    return [_encode_encumbrance(record, numbers)]


def _encode_address(record: RegistryRecord, numbers: Numbers) -> bytes:
    if isinstance(record, ClientAddress):
        wallet, client, index, change = 0, numbers.client_number(record.client), 0, False
    else:
        assert isinstance(record, AddressAssignment)
        wallet = numbers.wallet_number(record.wallet)
        client = numbers.client_number(record.client) if record.client else 0
        index, change = record.index, record.change
    address = record.address.encode("ascii")
    return _address.pack(wallet, client, index, int(change), len(address), address)


def _encode_encumbrance(record: RegistryRecord, numbers: Numbers) -> bytes:
    if isinstance(record, Release):
        return _encumbrance.pack(u128_bytes(record.id), 0, 0, bytes(16), b"", 0, 0, _release)
    assert isinstance(record, Encumbrance)
    return _encumbrance.pack(
        u128_bytes(record.id),
        numbers.wallet_number(record.wallet),
        numbers.asset_number(record.asset),
        u128_bytes(record.amount),
        name_bytes(record.beneficiary),
        record.start_ns,
        record.until_ns,
        _encumbrance_kinds[record.kind],
    )


def decode_registry(
    body: bytes, numbers: Numbers, wallet_numbers_next: int
) -> tuple[EntryHeader, list[RegistryRecord]]:
    """The records of one registry entry. Wallets defined in this entry are numbered from
    ``wallet_numbers_next`` on (the registry numbers them in order)."""
    header, raw = unframed(body, registry_kinds, "a registry entry")
    if header.kind is EntryKind.wallets:
        return header, list(_decode_wallets(raw, wallet_numbers_next))
    if header.kind is EntryKind.designations:
        return header, [_decode_designation(r, numbers) for r in raw]
    if header.kind is EntryKind.addresses:
        return header, [_decode_address(r, numbers) for r in raw]
    if header.kind is EntryKind.deposit_sources:
        return header, [_decode_deposit_source(r) for r in raw]
    return header, [_decode_encumbrance(r, numbers) for r in raw]


def _decode_wallets(raw: list[bytes], number_next: int) -> list[Wallet]:
    wallets = []
    position = 0
    while position < len(raw):
        fields = _wallet.unpack(raw[position])
        record_type, number, name, chain, scheme, tier, pool, network, key_count = fields
        if record_type != _record_wallet or number != number_next:
            raise ValueError(f"wallet record {position} is out of order")
        if position + key_count >= len(raw):
            raise ValueError(f"wallet {number} lacks key records")
        keys = []
        for ordinal in range(key_count):
            key_raw = raw[position + 1 + ordinal]
            key_type, key_wallet, key_ordinal, length, text = _key.unpack(key_raw)
            if (key_type, key_wallet, key_ordinal) != (_record_key, number, ordinal):
                raise ValueError(f"key record {ordinal} of wallet {number} is out of order")
            keys.append(text[:length].decode("ascii"))
        wallets.append(
            Wallet(
                text_of(name),
                key_of(_chains, chain),
                key_of(_schemes, scheme),
                tuple(keys),
                text_of(pool),
                key_of(_tiers, tier),
                text_of(network),
            )
        )
        position += 1 + key_count
        number_next += 1
    return wallets


def _decode_designation(raw: bytes, numbers: Numbers) -> Designation:
    number, pool, tier = _designation.unpack(raw)
    return Designation(numbers.wallet_name(number), text_of(pool), key_of(_tiers, tier))


def _decode_address(raw: bytes, numbers: Numbers) -> AddressAssignment | ClientAddress:
    wallet, client, index, change, length, text = _address.unpack(raw)
    address = text[:length].decode("ascii")
    if wallet == 0:
        return ClientAddress(address, numbers.client_name(client))
    client_name = numbers.client_name(client) if client else ""
    return AddressAssignment(address, numbers.wallet_name(wallet), index, bool(change), client_name)


def _decode_deposit_source(raw: bytes) -> DepositSource:
    transfer_id, chain, length, text = _deposit_source.unpack(raw)
    return DepositSource(
        u128_of(transfer_id), key_of(_chains, chain), text[:length].decode("ascii")
    )


def _decode_encumbrance(raw: bytes, numbers: Numbers) -> Encumbrance | Release:
    id_raw, wallet, asset, amount, beneficiary, start_ns, until_ns, kind = _encumbrance.unpack(raw)
    if kind == _release:
        return Release(u128_of(id_raw))
    return Encumbrance(
        u128_of(id_raw),
        numbers.wallet_name(wallet),
        numbers.asset_code(asset),
        u128_of(amount),
        key_of(_encumbrance_kinds, kind),
        text_of(beneficiary),
        start_ns,
        until_ns,
    )
