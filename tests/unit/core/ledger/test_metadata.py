"""core/ledger/metadata.py and the journal's metadata section: one canonical encoding (golden
bytes), the limits, refusal of anything not canonical, and journals written before metadata
that still encode and hash bit for bit as they did."""

from __future__ import annotations

import struct

import pytest
from hypothesis import given
from hypothesis import strategies as st

from ringfence.core import limits
from ringfence.core.errors import InputError, Result
from ringfence.core.ledger.engine import Expiry
from ringfence.core.ledger.journal import (
    chain,
    decode_header,
    decode_record_metadata,
    decode_transfers,
    encode_transfers,
    genesis_hash,
    header_bytes,
    metadata_pairs_of,
)
from ringfence.core.ledger.metadata import (
    RecordMetadata,
    check_metadata,
    decode_metadata,
    encode_metadata,
    metadata_encoding,
    no_metadata,
    parse_metadata_filter,
)
from ringfence.core.ledger.model import Authorisation, Transfer, TransferCode, TransferRecord

T0 = 1_700_000_000_000_000_000


def test_the_encoding_is_the_golden_bytes_keys_sorted_and_length_prefixed() -> None:
    encoded = encode_metadata({"txid": "ab12", "output": "1", "memo": "été"})
    assert encoded == (
        b"\x03"
        + b"\x04memo" + b"\x00\x05" + "été".encode()
        + b"\x06output" + b"\x00\x01" + b"1"
        + b"\x04txid" + b"\x00\x04" + b"ab12"
    )  # fmt: skip
    assert decode_metadata(encoded) == {"memo": "été", "output": "1", "txid": "ab12"}
    assert list(decode_metadata(encoded)) == ["memo", "output", "txid"]


def test_the_order_a_map_was_built_in_does_not_change_its_encoding() -> None:
    assert encode_metadata({"b": "2", "a": "1"}) == encode_metadata({"a": "1", "b": "2"})


def test_no_metadata_encodes_as_nothing() -> None:
    assert encode_metadata({}) == b""
    assert encode_metadata(no_metadata) == b""
    assert decode_metadata(b"") == {}
    assert Transfer(1, 2, 3, 4, TransferCode.deposit).metadata is no_metadata
    assert hash(Transfer(1, 2, 3, 4, TransferCode.deposit)) is not None


@pytest.mark.parametrize(
    "metadata",
    [
        {"Txid": "a"},  # upper case
        {"1txid": "a"},  # not starting with a letter
        {"": "a"},
        {"tx id": "a"},
        {"tx:id": "a"},
        {"k" * 33: "a"},
        {"txid": ""},
        {"txid": "a\nb"},
        {"txid": "a\x00"},
        {"txid": "\x7f"},
        {"txid": "\x85"},  # a C1 control
        {"txid": "\ud800"},  # a lone surrogate is no UTF-8
        {"txid": 5},
        {5: "a"},
        ["txid", "a"],
        "txid=a",
    ],
)
def test_malformed_metadata_is_invalid(metadata: object) -> None:
    assert metadata_encoding(metadata) is Result.metadata_invalid
    with pytest.raises(InputError) as caught:
        check_metadata(metadata)
    assert caught.value.code is Result.metadata_invalid


def test_the_limits_are_named_and_hold_exactly() -> None:
    keys = {f"k{index}": "v" for index in range(limits.metadata_keys_max)}
    assert isinstance(metadata_encoding(keys), bytes)
    keys["k99"] = "v"
    assert metadata_encoding(keys) is Result.metadata_too_large
    longest_key = "k" * limits.metadata_key_length_max
    assert isinstance(metadata_encoding({longest_key: "v"}), bytes)
    value = "é" * (limits.metadata_value_bytes_max // 2)  # 256 bytes of UTF-8
    assert isinstance(metadata_encoding({"memo": value}), bytes)
    assert metadata_encoding({"memo": value + "x"}) is Result.metadata_too_large
    # Four values of 256 bytes are over the 1 KiB of the whole encoding.
    full = {f"k{index}": "x" * 256 for index in range(4)}
    assert metadata_encoding(full) is Result.metadata_too_large
    three = {f"k{index}": "x" * 256 for index in range(3)}
    assert len(encode_metadata(three)) <= limits.metadata_bytes_max


@pytest.mark.parametrize(
    "raw",
    [
        b"\x01\x01a\x00\x01b" + b"x",  # bytes after the last pair
        b"\x02\x01a\x00\x01b",  # one pair short
        b"\x02\x01b\x00\x01b\x01a\x00\x01a",  # keys out of order
        b"\x02\x01a\x00\x01b\x01a\x00\x01c",  # a key twice
        b"\x01\x01A\x00\x01b",  # a key no encoder writes
        b"\x01\x01a\x00\x00",  # an empty value
        b"\x01\x01a\x00\x02\xff\xfe",  # not UTF-8
        b"\x00",  # a count of none
        b"\x01\x01a\x00\x05b",  # torn
    ],
)
def test_bytes_that_are_not_canonical_are_refused(raw: bytes) -> None:
    with pytest.raises(ValueError):
        decode_metadata(raw)


keys = st.from_regex(r"[a-z][a-z0-9_.-]{0,31}", fullmatch=True)
values = st.text(
    st.characters(blacklist_categories=("Cc", "Cs")), min_size=1, max_size=20
)


@given(st.dictionaries(keys, values, max_size=limits.metadata_keys_max))
def test_every_map_within_the_limits_round_trips(metadata: dict[str, str]) -> None:
    encoded = encode_metadata(metadata)
    assert decode_metadata(encoded) == metadata
    assert encode_metadata(decode_metadata(encoded)) == encoded


def test_a_list_filter_is_checked_as_metadata_and_bounded() -> None:
    assert parse_metadata_filter({"txid": "ab"}) == {"txid": "ab"}
    with pytest.raises(InputError) as caught:
        parse_metadata_filter({"TXID": "ab"})
    assert caught.value.code is Result.metadata_invalid
    too_many = {f"k{index}": "v" for index in range(limits.metadata_filters_max + 1)}
    with pytest.raises(InputError) as caught:
        parse_metadata_filter(too_many)
    assert caught.value.code is Result.metadata_too_large


# ---------------------------------------------------------------------- the journal


RECORDS = [
    TransferRecord(10, 1, 3, 5_000, 0, 0, T0, 0, 0, 1, 1, 0),  # a deposit
    TransferRecord(12, 3, 4, 700, 0, 0, T0 + 1, 2, 0, 1, 4, 0),  # an authorised payment
]
EVIDENCE = [Authorisation(1, 2, bytes(range(64)))]


def test_an_entry_without_metadata_hashes_as_it_did_before_metadata_existed() -> None:
    """The hash below was computed by the encoder as it stood before metadata (the same
    records, expiry and evidence): journals kept so far still verify bit for bit."""
    body = encode_transfers(5, T0, RECORDS, [Expiry(9, T0)], EVIDENCE)
    assert len(body) == header_bytes + 2 * 128 + 32 + 80
    assert chain(genesis_hash, body).hex() == (
        "bb780fc7f6b5e33c8c6c720520f4e53b40388cf339068f2bf02ed1f7a5f298a7"
    )
    assert decode_record_metadata(body, decode_header(body)) == []
    assert metadata_pairs_of(body, RECORDS) == []


def test_the_metadata_section_follows_the_evidence_as_golden_bytes() -> None:
    encoded = encode_metadata({"txid": "ab"})
    without = encode_transfers(5, T0, RECORDS, [Expiry(9, T0)], EVIDENCE)
    body = encode_transfers(
        5, T0, RECORDS, [Expiry(9, T0)], EVIDENCE, metadata=[RecordMetadata(1, encoded)]
    )
    section = b"\x00\x00\x00\x01" + b"\x00\x00\x00\x01" + b"\x00\x0a" + b"\x01\x04txid\x00\x02ab"
    assert body == without + section
    header, records, expiries = decode_transfers(body)
    assert (records, expiries) == (RECORDS, [Expiry(9, T0)])
    assert decode_record_metadata(body, header) == [RecordMetadata(1, encoded)]
    assert metadata_pairs_of(body, RECORDS) == [(RECORDS[1], {"txid": "ab"})]
    assert chain(genesis_hash, body) != chain(genesis_hash, without)


@pytest.mark.parametrize(
    "section",
    [
        b"\x00\x00\x00\x00",  # a count of none
        b"\x00\x00\x00\x03",  # more than the records
        b"\x00\x00\x00\x01" + struct.pack(">IH", 2, 4) + b"\x01\x01a\x00",  # past the records
        b"\x00\x00\x00\x01" + struct.pack(">IH", 0, 9) + b"\x01\x01a\x00\x01b",  # torn
        b"\x00\x00\x00\x01" + struct.pack(">IH", 0, 6) + b"\x01\x01a\x00\x01b" + b"\x00",
        b"\x00\x00\x00\x01" + struct.pack(">IH", 0, 6) + b"\x01\x01A\x00\x01b",  # not canonical
        b"\x00\x00\x00\x02"
        + struct.pack(">IH", 1, 6) + b"\x01\x01a\x00\x01b"
        + struct.pack(">IH", 0, 6) + b"\x01\x01a\x00\x01b",  # out of record order
        b"\x00\x00",
    ],
)  # fmt: skip
def test_a_metadata_section_encode_transfers_would_not_write_is_refused(section: bytes) -> None:
    body = encode_transfers(5, T0, RECORDS, [], EVIDENCE) + section
    with pytest.raises(ValueError):
        decode_transfers(body)
    with pytest.raises(ValueError):
        decode_record_metadata(body, decode_header(body))
