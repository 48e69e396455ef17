"""The journal: canonical fixed-width encodings and the SHA-256 hash chain.

Every committed batch (of transfers, or of asset, client, pool or account definitions) becomes
one journal entry. An entry's body is a 32-byte header followed by fixed-width big-endian
records: 128 bytes per transfer or definition, 32 bytes per pending expiry, then 80 bytes of
evidence per authorised record (its index, the principal's number and the principal's 64-byte
Ed25519 signature: core/principals/authorisation.py, core/principals/records.py). The header counts
each section; entries written before evidence existed count none in bytes that were zero, and decode
as they always did. Last, only in an entry where some transfer carries metadata, the metadata
section: a u32 count (at least one), then per such record, in record order, its index (u32), the
length of its metadata (u16) and the metadata's canonical encoding (core/ledger/metadata.py). The
header has no room left to count it; it is simply what follows the evidence, so an entry with no
metadata is byte for byte what it was before metadata existed, and its hash too. Its hash is
SHA-256 over the previous entry's hash and the body, so editing, deleting, inserting or
reordering anything already written breaks every hash after it. The first entry chains from 32
zero bytes.

A hash chain alone stops nobody who can write the database: they can re-hash everything after
their edit. So every entry also carries an Ed25519 signature by the journal key over its
sequence number and hash (``authenticity.head_message``): signing each entry's hash signs the
head as it stood after that entry, and with it everything before. The key in force is declared
in the journal itself by ``journal_keys`` entries (their codec is in authenticity.py): the
first names the key and is signed by it; each later one (a rotation) is signed by the key it
replaces and carries the new key's signature over its own place in the chain
(``key_possession_message``), so a key can only ever be handed on by its holder.
docs/ledger.md has the threat model.

Names are ASCII of at most 32 bytes, zero-padded; they cannot contain a zero byte, so the
padding is unambiguous. Enumerations are stored as the fixed numbers below, never by name.
"""

from __future__ import annotations

import hashlib
import struct
from collections.abc import Sequence
from dataclasses import dataclass
from enum import IntEnum, unique
from typing import Final, TypeVar

from ringfence.core import limits
from ringfence.core.errors import InputError
from ringfence.core.ledger.changes import Expiry
from ringfence.core.ledger.metadata import (
    RecordMetadata,
    decode_metadata,
    decode_metadata_section,
    encode_metadata_section,
)
from ringfence.core.ledger.model import (
    AccountClass,
    AccountDefinition,
    Authorisation,
    Pool,
    PoolKind,
    Purpose,
    Terms,
    TransferRecord,
)
from ringfence.core.money import Asset
from ringfence.core.principals.records import Principal, PrincipalRole, PrincipalStatus

genesis_hash: Final = bytes(32)
_magic: Final = b"RFJ1"


@unique
class EntryKind(IntEnum):
    transfers = 1
    assets = 2
    clients = 3
    pools = 4
    accounts = 5
    # The wallet registry (core/custody/codec.py encodes these).
    wallets = 6
    designations = 7
    addresses = 8
    encumbrances = 9
    # Reconciliation (core/recon/codec.py encodes these): each run with its coverage lines and
    # the breaks it changed; each operator's action on a break with the break it left.
    reconciliations = 10
    break_actions = 11
    # The journal key: its first declaration and every rotation (see the module docstring).
    journal_keys = 12
    # Principals and their keys (core/principals/records.py); 12 is taken by the journal's own keys.
    principals = 13
    # Withdrawal policy versions (core/policy/codec.py) and withdrawals through their
    # lifecycle (core/withdrawals/codec.py).
    policies = 14
    withdrawals = 15
    # Each credited deposit's place on chain (core/custody/codec.py): its transfer id is a hash,
    # so the transaction behind it is recorded beside it.
    deposit_sources = 16
    # The venue's book (core/venue/codec.py): markets and the book's settings, margin buckets
    # and the takers of close orders, fills (each journaled with its fee transfers in one store
    # transaction), positions set by a settlement or a liquidation, and market data with the
    # volatility model's closes and postings.
    instruments = 17
    buckets = 18
    fills = 19
    positions = 20
    market_data = 21
    # Regulatory records (core/regulatory/records.py): each residual-interest deadline check
    # with the facts its status is computed from, so that a breach is an event of the journal;
    # each version of the sub-custodian register an operator records, as evidence of who held
    # clients' assets when.
    residual_deadlines = 22
    sub_custodian_registers = 23
    # Each possession check an operator records, with the possession breaks it opened,
    # carried or closed (core/regulatory/possession_breaks.py), so that a break keeps its age.
    possession_checks = 24


# Definitions the ledger engine replays, and the registry's own changes.
ledger_definition_kinds: Final = (
    EntryKind.assets,
    EntryKind.clients,
    EntryKind.pools,
    EntryKind.accounts,
)
registry_kinds: Final = (
    EntryKind.wallets,
    EntryKind.designations,
    EntryKind.addresses,
    EntryKind.encumbrances,
    EntryKind.deposit_sources,
)
recon_kinds: Final = (EntryKind.reconciliations, EntryKind.break_actions)
movement_kinds: Final = (EntryKind.policies, EntryKind.withdrawals)
venue_kinds: Final = (
    EntryKind.instruments,
    EntryKind.buckets,
    EntryKind.fills,
    EntryKind.positions,
    EntryKind.market_data,
)


# magic, kind, evidence records (u24, once three spare bytes), seq, timestamp, records, expiries
_header = struct.Struct(">4sB3sQQII")
_transfer = struct.Struct(">16s16s16s16s16s16sQQIIHH4x")
_expiry = struct.Struct(">16sQ8x")
_asset = struct.Struct(">IB12s32s64s15x")
_client = struct.Struct(">Q32s88x")
_pool = struct.Struct(">32sBBB32s61x")
_account = struct.Struct(">16s12sB32s32s32s3x")
_principal = struct.Struct(">I32sB32s32sB26x")
_evidence = struct.Struct(">II64s8x")

header_bytes: Final = _header.size
assert _header.size == 32
assert _transfer.size == limits.transfer_record_bytes
assert _expiry.size == limits.expiry_record_bytes
assert _asset.size == _client.size == _pool.size == _account.size == _principal.size == 128
assert _evidence.size == limits.evidence_record_bytes

_pool_kinds: Final = {PoolKind.individual: 1, PoolKind.omnibus: 2}
_terms: Final = {Terms.custody: 1, Terms.title_transfer: 2}
_purposes: Final = {Purpose.spot_custody: 1, Purpose.margin_collateral: 2}
_classes: Final = {
    AccountClass.client: 1,
    AccountClass.custody: 2,
    AccountClass.house: 3,
    AccountClass.system: 4,
}


@dataclass(frozen=True, slots=True)
class JournalEntry:
    """One link of the chain: the encoded body, the hashes that bind it and the journal key's
    signature over its place (empty only in journals older than their first key)."""

    seq: int
    kind: EntryKind
    timestamp: int
    body: bytes
    previous_hash: bytes
    hash: bytes
    signature: bytes = b""


@dataclass(frozen=True, slots=True)
class EntryHeader:
    kind: EntryKind
    seq: int
    timestamp: int
    records: int
    expiries: int
    evidence: int = 0  # authorisation records after the records and expiries


def chain(previous_hash: bytes, body: bytes) -> bytes:
    assert len(previous_hash) == 32
    assert len(body) >= header_bytes
    return hashlib.sha256(previous_hash + body).digest()


def seal(seq: int, kind: EntryKind, timestamp: int, body: bytes, previous: bytes) -> JournalEntry:
    return JournalEntry(seq, kind, timestamp, body, previous, chain(previous, body))


def name_bytes(text: str) -> bytes:
    encoded = text.encode("ascii")
    assert len(encoded) <= limits.name_length_max
    assert b"\0" not in encoded
    return encoded


def text_of(raw: bytes) -> str:
    return raw.rstrip(b"\0").decode("ascii")


def header_for(
    kind: EntryKind, seq: int, timestamp: int, records: int, expiries: int, *, evidence: int = 0
) -> bytes:
    assert 0 < seq < 2**64
    assert 0 <= timestamp < 2**64
    assert records + expiries <= limits.journal_records_per_batch_max
    assert 0 <= evidence <= records
    assert evidence < 2**24
    return _header.pack(
        _magic, kind, evidence.to_bytes(3, "big"), seq, timestamp, records, expiries
    )


def encode_transfers(
    seq: int,
    timestamp: int,
    records: list[TransferRecord],
    expiries: list[Expiry],
    authorisations: list[Authorisation] | tuple[()] = (),
    *,
    metadata: list[RecordMetadata] | tuple[()] = (),
) -> bytes:
    """Header, then one 128-byte record per committed transfer, one per expiry, the evidence
    of each authorised record and, when any record has some, the metadata section."""
    assert records or expiries
    pack = _transfer.pack
    zero = bytes(16)
    parts = [
        header_for(
            EntryKind.transfers,
            seq,
            timestamp,
            len(records),
            len(expiries),
            evidence=len(authorisations),
        )
    ]
    parts.extend(
        pack(
            id_.to_bytes(16, "big"),
            debit.to_bytes(16, "big"),
            credit.to_bytes(16, "big"),
            amount.to_bytes(16, "big"),
            pending_id.to_bytes(16, "big") if pending_id else zero,
            reference.to_bytes(16, "big") if reference else zero,
            timestamp_,
            authoriser,
            timeout_s,
            asset,
            code,
            flags,
        )
        for (
            id_,
            debit,
            credit,
            amount,
            pending_id,
            reference,
            timestamp_,
            authoriser,
            timeout_s,
            asset,
            code,
            flags,
        ) in records
    )
    parts.extend(_expiry.pack(e.pending_id.to_bytes(16, "big"), e.timestamp) for e in expiries)
    parts.extend(_encode_evidence(authorisations, len(records)))
    if metadata:
        parts.extend(encode_metadata_section(metadata, len(records)))
    return b"".join(parts)


def _encode_evidence(authorisations: list[Authorisation] | tuple[()], records: int) -> list[bytes]:
    parts = []
    index_last = -1
    for index, principal, signature in authorisations:
        assert index_last < index < records  # one per record, in record order
        assert 0 < principal < 2**32
        assert len(signature) == limits.ed25519_signature_bytes
        parts.append(_evidence.pack(index, principal, signature))
        index_last = index
    return parts


def encode_transfer(record: TransferRecord) -> bytes:
    """One record alone, as the journal holds it (used to compare projections row by row)."""
    return encode_transfers(1, record.timestamp, [record], [])[header_bytes:]


def decode_header(body: bytes) -> EntryHeader:
    """A stored body's header; ``ValueError`` for anything that is not one (stored bytes are
    input: a tampered store must be reported, never crash its reader)."""
    if len(body) < header_bytes:
        raise ValueError(f"journal entry body is {len(body)} bytes, shorter than its header")
    magic, kind, evidence, seq, timestamp, records, expiries = _header.unpack_from(body)
    if magic != _magic:
        raise ValueError("journal entry has no magic number")
    count = int.from_bytes(evidence, "big")
    return EntryHeader(EntryKind(kind), seq, timestamp, records, expiries, count)


def decode_transfers(body: bytes) -> tuple[EntryHeader, list[TransferRecord], list[Expiry]]:
    """The records and expiries of a transfers entry (its evidence: ``decode_evidence``)."""
    header = decode_header(body)
    if header.kind is not EntryKind.transfers:
        raise ValueError(f"journal entry {header.seq} holds {header.kind.name}, not transfers")
    expected = (
        header_bytes
        + header.records * _transfer.size
        + header.expiries * _expiry.size
        + header.evidence * _evidence.size
    )
    if len(body) < expected:
        raise ValueError(f"journal entry {header.seq} is {len(body)} bytes, not {expected}")
    if len(body) > expected:  # the metadata section: it must be one
        decode_metadata_section(body, expected, header.records, f"journal entry {header.seq}")
    records = []
    offset = header_bytes
    for _ in range(header.records):
        fields = _transfer.unpack_from(body, offset)
        offset += _transfer.size
        records.append(
            TransferRecord(
                *(int.from_bytes(value, "big") for value in fields[:6]),
                *fields[6:],
            )
        )
    expiries = []
    for _ in range(header.expiries):
        pending_id, timestamp = _expiry.unpack_from(body, offset)
        offset += _expiry.size
        expiries.append(Expiry(int.from_bytes(pending_id, "big"), timestamp))
    return header, records, expiries


def decode_evidence(body: bytes, header: EntryHeader) -> list[Authorisation]:
    """The evidence section of an entry whose header was decoded (and length checked): one
    record per authorised record, in record order, naming a principal."""
    offset = header_bytes + header.records * 128 + header.expiries * _expiry.size
    if len(body) < offset + header.evidence * _evidence.size:
        raise ValueError(f"journal entry {header.seq} has a torn evidence section")
    authorisations = []
    index_last = -1
    for _ in range(header.evidence):
        index, principal, signature = _evidence.unpack_from(body, offset)
        offset += _evidence.size
        if not index_last < index < header.records or principal == 0:
            raise ValueError(f"journal entry {header.seq}: evidence record {index} is out of order")
        authorisations.append(Authorisation(index, principal, signature))
        index_last = index
    return authorisations


def decode_record_metadata(body: bytes, header: EntryHeader) -> list[RecordMetadata]:
    """The metadata section of a transfers entry whose header was decoded (empty when the
    entry has none): each record's canonical metadata, in record order; ``ValueError`` for a
    section ``encode_transfers`` would not have written."""
    end = _fixed_bytes(header)
    if len(body) == end:
        return []
    return decode_metadata_section(body, end, header.records, f"journal entry {header.seq}")


def metadata_pairs_of(
    body: bytes, records: Sequence[TransferRecord]
) -> list[tuple[TransferRecord, dict[str, str]]]:
    """Each record of a transfers entry being appended that carries metadata, with its pairs:
    what a store keeps beside the transfer rows for lookups by pair. An entry without metadata
    costs its header's decoding and no more."""
    header = decode_header(body)
    if header.kind is not EntryKind.transfers or len(body) == _fixed_bytes(header):
        return []
    assert len(records) == header.records
    return [
        (records[item.record_index], decode_metadata(item.encoded))
        for item in decode_record_metadata(body, header)
    ]


def _fixed_bytes(header: EntryHeader) -> int:
    """The length of a transfers entry up to the end of its evidence."""
    return (
        header_bytes
        + header.records * _transfer.size
        + header.expiries * _expiry.size
        + header.evidence * _evidence.size
    )


# ---------------------------------------------------------------------- principals


def encode_principals(
    seq: int,
    timestamp: int,
    records: list[tuple[int, Principal]],
    endorsements: list[Authorisation],
) -> bytes:
    """Header, one 128-byte record per principal change (its number, name, role, client,
    public key and status), then the endorsing admin's evidence for each endorsed one."""
    assert records
    parts = [
        header_for(
            EntryKind.principals, seq, timestamp, len(records), 0, evidence=len(endorsements)
        )
    ]
    parts.extend(
        _principal.pack(
            number,
            name_bytes(p.name),
            p.role,
            name_bytes(p.client),
            p.public_key,
            p.status,
        )
        for number, p in records
    )
    parts.extend(_encode_evidence(endorsements, len(records)))
    return b"".join(parts)


def decode_principals(
    body: bytes,
) -> tuple[EntryHeader, list[tuple[int, Principal]], list[Authorisation]]:
    """The records and endorsements of a principals entry; ``ValueError`` if it is torn or
    holds what no record can (an unknown role, a malformed name)."""
    header = decode_header(body)
    if header.kind is not EntryKind.principals or header.expiries:
        raise ValueError(f"journal entry {header.seq} is not a principals entry")
    if len(body) != header_bytes + header.records * 128 + header.evidence * _evidence.size:
        raise ValueError(f"journal entry {header.seq} has a torn body")
    records = []
    for index in range(header.records):
        offset = header_bytes + index * 128
        number, name, role, client, key, status = _principal.unpack_from(body, offset)
        try:
            principal = Principal(
                text_of(name), PrincipalRole(role), key, text_of(client), PrincipalStatus(status)
            )
        except (InputError, ValueError, UnicodeDecodeError) as error:
            raise ValueError(
                f"journal entry {header.seq}: principal record {index}: {error}"
            ) from error
        records.append((number, principal))
    return header, records, decode_evidence(body, header)


# ---------------------------------------------------------------------- definitions

Definition = Asset | tuple[str, int] | Pool | AccountDefinition


def encode_definitions(
    kind: EntryKind, seq: int, timestamp: int, definitions: list[Definition]
) -> bytes:
    assert kind in ledger_definition_kinds
    assert definitions
    parts = [header_for(kind, seq, timestamp, len(definitions), 0)]
    parts.extend(_encode_definition(kind, definition) for definition in definitions)
    return b"".join(parts)


def _encode_definition(kind: EntryKind, definition: Definition) -> bytes:
    if kind is EntryKind.assets:
        assert isinstance(definition, Asset)
        return _asset.pack(
            definition.number,
            definition.scale,
            definition.code.encode("ascii"),
            definition.chain.encode("ascii"),
            definition.contract.encode("ascii"),
        )
    if kind is EntryKind.clients:
        assert isinstance(definition, tuple)
        name, number = definition
        return _client.pack(number, name_bytes(name))
    if kind is EntryKind.pools:
        assert isinstance(definition, Pool)
        return _pool.pack(
            name_bytes(definition.name),
            _pool_kinds[definition.kind],
            _terms[definition.terms],
            _purposes[definition.purpose],
            name_bytes(definition.client),
        )
    assert isinstance(definition, AccountDefinition)
    return _account.pack(
        definition.id.to_bytes(16, "big"),
        definition.asset.encode("ascii"),
        _classes[definition.account_class],
        name_bytes(definition.owner),
        name_bytes(definition.kind),
        name_bytes(definition.pool),
    )


def decode_definitions(body: bytes) -> tuple[EntryHeader, list[Definition]]:
    header = decode_header(body)
    if header.kind not in ledger_definition_kinds:
        raise ValueError(f"journal entry {header.seq} holds {header.kind.name}, not definitions")
    if len(body) != header_bytes + header.records * 128:
        raise ValueError(f"journal entry {header.seq} has a torn body")
    definitions = [
        _decode_definition(header.kind, body[offset : offset + 128])
        for offset in range(header_bytes, len(body), 128)
    ]
    return header, definitions


def _decode_definition(kind: EntryKind, raw: bytes) -> Definition:
    if kind is EntryKind.assets:
        number, scale, code, chain_name, contract = _asset.unpack(raw)
        return Asset(text_of(code), scale, number, text_of(chain_name), text_of(contract))
    if kind is EntryKind.clients:
        number, name = _client.unpack(raw)
        return (text_of(name), number)
    if kind is EntryKind.pools:
        name, pool_kind, terms, purpose, client = _pool.unpack(raw)
        return Pool(
            text_of(name),
            key_of(_pool_kinds, pool_kind),
            key_of(_terms, terms),
            key_of(_purposes, purpose),
            text_of(client),
        )
    account_id, code, account_class, owner, account_kind, pool = _account.unpack(raw)
    return AccountDefinition(
        int.from_bytes(account_id, "big"),
        text_of(code),
        key_of(_classes, account_class),
        text_of(owner),
        text_of(account_kind),
        text_of(pool),
    )


_Key = TypeVar("_Key")


def key_of(table: dict[_Key, int], number: int) -> _Key:
    for key, value in table.items():
        if value == number:
            return key
    raise ValueError(f"unknown enumeration number {number}")
