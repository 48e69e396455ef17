"""core/ledger/journal.py: fixed-width encodings that decode to exactly what was encoded, and a hash
chain in which any changed byte shows."""

from __future__ import annotations

import struct

import pytest
from hypothesis import given
from hypothesis import strategies as st

from ringfence.core import limits
from ringfence.core.ledger.engine import Expiry
from ringfence.core.ledger.journal import (
    EntryKind,
    chain,
    decode_definitions,
    decode_evidence,
    decode_header,
    decode_principals,
    decode_transfers,
    encode_definitions,
    encode_principals,
    encode_transfer,
    encode_transfers,
    genesis_hash,
    header_bytes,
    seal,
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

U128_MAX = 2**128 - 1
U64_MAX = 2**64 - 1


def record(transfer_id: int = 1, **fields: int) -> TransferRecord:
    values = {
        "id": transfer_id,
        "debit_account": 2,
        "credit_account": 3,
        "amount": 4,
        "pending_id": 0,
        "reference": 0,
        "timestamp": 1_700_000_000 * 10**9,
        "authoriser": 0,
        "timeout_s": 0,
        "asset": 1,
        "code": 1,
        "flags": 0,
    }
    values.update(fields)
    return TransferRecord(**values)


EXTREME = record(
    U128_MAX,
    debit_account=U128_MAX - 1,
    credit_account=2**64,
    amount=U128_MAX,
    pending_id=2**63,
    reference=2**127 + 5,
    timestamp=U64_MAX,
    authoriser=U64_MAX,
    timeout_s=2**32 - 1,
    asset=2**32 - 1,
    code=2**16 - 1,
    flags=2**16 - 1,
)

u128 = st.integers(0, U128_MAX)
records = st.builds(
    TransferRecord,
    id=st.integers(1, U128_MAX),
    debit_account=u128,
    credit_account=u128,
    amount=u128,
    pending_id=u128,
    reference=u128,
    timestamp=st.integers(0, U64_MAX),
    authoriser=st.integers(0, U64_MAX),
    timeout_s=st.integers(0, 2**32 - 1),
    asset=st.integers(0, 2**32 - 1),
    code=st.integers(0, 2**16 - 1),
    flags=st.integers(0, 2**16 - 1),
)
expiries = st.builds(Expiry, pending_id=st.integers(1, U128_MAX), timestamp=st.integers(0, U64_MAX))


# ---------------------------------------------------------------------- transfers


def test_a_transfer_entry_is_a_header_then_fixed_width_records() -> None:
    body = encode_transfers(7, 99, [record(1), EXTREME], [Expiry(5, 99)])
    assert len(body) == header_bytes + 2 * limits.transfer_record_bytes + (
        limits.expiry_record_bytes
    )
    header = decode_header(body)
    assert (header.kind, header.seq, header.timestamp) == (EntryKind.transfers, 7, 99)
    assert (header.records, header.expiries) == (2, 1)


def test_extreme_values_survive_a_round_trip() -> None:
    _, decoded, decoded_expiries = decode_transfers(
        encode_transfers(1, 2, [EXTREME], [Expiry(U128_MAX, U64_MAX)])
    )
    assert decoded == [EXTREME]
    assert decoded_expiries == [Expiry(U128_MAX, U64_MAX)]


@given(
    seq=st.integers(1, U64_MAX),
    timestamp=st.integers(0, U64_MAX),
    batch=st.lists(records, max_size=5),
    released=st.lists(expiries, max_size=3),
)
def test_transfer_entries_round_trip(
    seq: int, timestamp: int, batch: list[TransferRecord], released: list[Expiry]
) -> None:
    if not batch and not released:
        released = [Expiry(1, timestamp)]
    header, decoded, decoded_expiries = decode_transfers(
        encode_transfers(seq, timestamp, batch, released)
    )
    assert (header.seq, header.timestamp) == (seq, timestamp)
    assert decoded == batch
    assert decoded_expiries == released


def test_encode_transfer_is_the_record_as_the_journal_holds_it() -> None:
    body = encode_transfers(3, 4, [record(1), EXTREME], [])
    assert encode_transfer(EXTREME) == body[header_bytes + limits.transfer_record_bytes :]
    assert len(encode_transfer(record())) == limits.transfer_record_bytes


def test_an_entry_with_nothing_in_it_is_a_programming_error() -> None:
    with pytest.raises(AssertionError):
        encode_transfers(1, 1, [], [])
    with pytest.raises(AssertionError):
        encode_transfers(0, 1, [record()], [])


# ---------------------------------------------------------------------- definitions

ASSETS = [
    Asset("BTC", 8, 1, "bitcoin"),
    Asset("USDC", 6, 2**32 - 1, "ethereum", "0x" + "a" * 62),
    Asset("A1234567890B", 38, 3, "c" * 32),
    Asset("GEM", 0, 4),
]
CLIENTS = [("alice", 1), ("b" * 32, U64_MAX)]
POOLS = [
    Pool("main", PoolKind.omnibus, Terms.custody),
    Pool("margin", PoolKind.omnibus, Terms.custody, Purpose.margin_collateral),
    Pool("v" * 32, PoolKind.individual, Terms.custody, client="d" * 32),
    Pool("earn", PoolKind.omnibus, Terms.title_transfer, Purpose.spot_custody),
]
ACCOUNTS = [
    AccountDefinition(U128_MAX, "A1234567890B", AccountClass.client, "alice", "available", "main"),
    AccountDefinition(2**63, "BTC", AccountClass.client, "o" * 32, "collateral:x", "p" * 32),
    AccountDefinition(1, "BTC", AccountClass.custody, "main-hot", "hot", "main"),
    AccountDefinition(2, "BTC", AccountClass.custody, "house-cold", "cold"),
    AccountDefinition(3, "BTC", AccountClass.house, "house", "insurance:btc-perp"),
    AccountDefinition(4, "BTC", AccountClass.system, "btc-perp", "clearing:btc-perp"),
]


@pytest.mark.parametrize(
    ("kind", "definitions"),
    [
        (EntryKind.assets, ASSETS),
        (EntryKind.clients, CLIENTS),
        (EntryKind.pools, POOLS),
        (EntryKind.accounts, ACCOUNTS),
    ],
)
def test_every_definition_kind_round_trips(kind: EntryKind, definitions: list[object]) -> None:
    body = encode_definitions(kind, 12, 34, definitions)  # type: ignore[arg-type]
    assert len(body) == header_bytes + 128 * len(definitions)
    header, decoded = decode_definitions(body)
    assert (header.kind, header.seq, header.timestamp, header.records) == (
        kind,
        12,
        34,
        len(body) // 128,
    )
    assert decoded == definitions
    assert [type(d) for d in decoded] == [type(d) for d in definitions]


def test_decoded_enumerations_are_the_enumerations_not_their_text() -> None:
    _, decoded = decode_definitions(encode_definitions(EntryKind.pools, 1, 1, POOLS))
    assert all(isinstance(pool, Pool) and type(pool.kind) is PoolKind for pool in decoded)
    _, accounts = decode_definitions(encode_definitions(EntryKind.accounts, 1, 1, ACCOUNTS))
    assert all(type(a.account_class) is AccountClass for a in accounts)  # type: ignore[union-attr]


def test_a_torn_definition_entry_is_refused() -> None:
    body = encode_definitions(EntryKind.clients, 1, 1, CLIENTS)
    with pytest.raises(ValueError, match="torn"):
        decode_definitions(body[:-1])


def test_an_unknown_enumeration_number_is_refused() -> None:
    body = bytearray(encode_definitions(EntryKind.pools, 1, 1, POOLS[:1]))
    body[header_bytes + 32] = 9  # the pool kind byte
    with pytest.raises(ValueError, match="enumeration"):
        decode_definitions(bytes(body))


# ---------------------------------------------------------------------- header and chain


def test_a_body_without_the_magic_number_is_refused() -> None:
    body = bytearray(encode_transfers(1, 1, [record()], []))
    body[0:4] = b"RFJ2"
    with pytest.raises(ValueError, match="magic"):
        decode_header(bytes(body))
    with pytest.raises(ValueError, match="magic"):
        decode_transfers(bytes(body))


def test_a_transfer_entry_of_the_wrong_length_is_refused() -> None:
    body = encode_transfers(1, 1, [record()], [])
    with pytest.raises(ValueError):
        decode_transfers(body[:-1])
    with pytest.raises(ValueError):
        decode_transfers(body + bytes(32))


def test_the_header_layout_is_fixed() -> None:
    body = encode_transfers(258, 2**40 + 7, [record()], [Expiry(1, 2)])
    magic, kind, evidence, seq, timestamp, records_count, expiries_count = struct.unpack_from(
        ">4sB3sQQII", body
    )
    assert evidence == bytes(3)
    assert (magic, kind, seq, timestamp) == (b"RFJ1", 1, 258, 2**40 + 7)
    assert (records_count, expiries_count) == (1, 1)


def test_the_header_counts_evidence_in_what_were_its_spare_bytes() -> None:
    signature = bytes(range(64))
    body = encode_transfers(3, 4, [record(authoriser=9)], [], [Authorisation(0, 9, signature)])
    assert body[5:8] == b"\x00\x00\x01"
    assert decode_header(body).evidence == 1
    # An entry written before evidence existed has zeros there and decodes as it did.
    old = encode_transfers(3, 4, [record()], [Expiry(1, 2)])
    assert old[5:8] == bytes(3)
    assert decode_header(old).evidence == 0
    assert decode_transfers(old)[1:] == ([record()], [Expiry(1, 2)])


# ---------------------------------------------------------------------- evidence


def test_evidence_follows_the_records_and_expiries_and_round_trips() -> None:
    authorised = [record(1, authoriser=4), record(2), record(3, authoriser=2**32 - 1)]
    evidence = [Authorisation(0, 4, b"\x01" * 64), Authorisation(2, 2**32 - 1, b"\xff" * 64)]
    body = encode_transfers(5, 6, authorised, [Expiry(7, 6)], evidence)
    assert len(body) == header_bytes + 3 * 128 + 32 + 2 * limits.evidence_record_bytes
    header, decoded, decoded_expiries = decode_transfers(body)
    assert (decoded, decoded_expiries) == (authorised, [Expiry(7, 6)])
    assert decode_evidence(body, header) == evidence
    assert body[-80:] == (2).to_bytes(4, "big") + (2**32 - 1).to_bytes(4, "big") + b"\xff" * 64 + (
        bytes(8)
    )
    # The rows SQLite cuts out of the body are where they always were.
    assert body[header_bytes : header_bytes + 128] == encode_transfer(authorised[0])


@pytest.mark.parametrize(
    "evidence",
    [
        [Authorisation(1, 4, bytes(64)), Authorisation(0, 4, bytes(64))],  # out of order
        [Authorisation(0, 4, bytes(64)), Authorisation(0, 4, bytes(64))],  # twice for one
    ],
)
def test_evidence_out_of_record_order_is_not_encoded(evidence: list[Authorisation]) -> None:
    with pytest.raises(AssertionError):
        encode_transfers(1, 1, [record(1), record(2)], [], evidence)


def test_torn_or_disordered_evidence_is_refused_on_decode() -> None:
    body = encode_transfers(1, 1, [record(1, authoriser=4)], [], [Authorisation(0, 4, bytes(64))])
    with pytest.raises(ValueError):
        decode_transfers(body[:-1])
    header = decode_header(body)
    for index, principal in ((1, 4), (0, 0)):  # past the last record; no principal
        forged = body[:-80] + struct.pack(">II64s8x", index, principal, bytes(64))
        with pytest.raises(ValueError):
            decode_evidence(forged, header)


# ---------------------------------------------------------------------- principals

KEY = bytes.fromhex("3c1eb31e6b4e4a3b7966df84e9545e0230a5fa3a13dbd200f45c7805d7f696aa")


def test_principal_entries_round_trip_with_their_endorsements() -> None:
    records = [
        (1, Principal("root", PrincipalRole.admin, KEY)),
        (2, Principal("alice", PrincipalRole.client, bytes(31) + b"\1", "alice")),
        (2, Principal("alice", PrincipalRole.client, bytes(31) + b"\1", "alice",
                      PrincipalStatus.revoked)),
        (2**32 - 1, Principal("a" * 32, PrincipalRole.auditor, b"\xee" * 32)),
    ]  # fmt: skip
    endorsements = [Authorisation(1, 1, b"\x05" * 64), Authorisation(3, 1, b"\x06" * 64)]
    body = encode_principals(9, 10, records, endorsements)
    assert len(body) == header_bytes + 4 * 128 + 2 * 80
    header, decoded, decoded_endorsements = decode_principals(body)
    assert (header.kind, header.seq, header.records, header.evidence) == (
        EntryKind.principals,
        9,
        4,
        2,
    )
    assert (decoded, decoded_endorsements) == (records, endorsements)
    assert EntryKind.principals == 13


def test_a_principal_record_that_no_principal_could_be_is_refused() -> None:
    root = Principal("root", PrincipalRole.admin, KEY)
    body = bytearray(encode_principals(1, 1, [(1, root)], []))
    role_offset = header_bytes + 4 + 32
    for offset, value in ((role_offset, 9), (header_bytes + 4, ord("A"))):
        forged = bytearray(body)
        forged[offset] = value
        with pytest.raises(ValueError):
            decode_principals(bytes(forged))
    with pytest.raises(ValueError):
        decode_principals(bytes(body[:-1]))


def chained(bodies: list[bytes]) -> list[bytes]:
    hashes = []
    previous = genesis_hash
    for body in bodies:
        previous = chain(previous, body)
        hashes.append(previous)
    return hashes


def test_changing_any_byte_of_any_body_changes_every_later_hash() -> None:
    bodies = [
        encode_definitions(EntryKind.clients, 1, 10, CLIENTS[:1]),
        encode_transfers(2, 20, [record(1), record(2, amount=9)], [Expiry(7, 20)]),
        encode_transfers(3, 30, [record(3)], []),
    ]
    original = chained(bodies)
    for which, body in enumerate(bodies):
        for offset in range(len(body)):
            tampered = bytearray(body)
            tampered[offset] ^= 0x01
            hashes = chained([*bodies[:which], bytes(tampered), *bodies[which + 1 :]])
            assert hashes[:which] == original[:which]
            for later in range(which, len(bodies)):
                assert hashes[later] != original[later], (which, offset, later)


def test_reordering_or_dropping_entries_changes_the_head() -> None:
    bodies = [encode_transfers(i, i, [record(i)], []) for i in range(1, 4)]
    head = chained(bodies)[-1]
    assert chained([bodies[1], bodies[0], bodies[2]])[-1] != head
    assert chained([bodies[0], bodies[2]])[-1] != head
    assert chained([*bodies, bodies[2]])[-1] != head


def test_seal_binds_the_previous_hash_and_the_body() -> None:
    body = encode_transfers(1, 5, [record()], [])
    entry = seal(1, EntryKind.transfers, 5, body, genesis_hash)
    assert entry.previous_hash == genesis_hash
    assert entry.hash == chain(genesis_hash, body)
    assert seal(1, EntryKind.transfers, 5, body, b"\x01" * 32).hash != entry.hash
    assert len(genesis_hash) == 32
    assert genesis_hash == bytes(32)
