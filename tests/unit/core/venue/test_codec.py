"""core/venue/codec.py: the venue's journal records (kinds 17-21) encode byte for byte as they
first did (tests/data/journal/golden_venue_records.json: bodies kept as written, never
regenerate it), decode back to what was encoded, every record type and the extremes of every
field; a body that is not one a codec wrote is a ``ValueError``, never a crash or a guess."""

from __future__ import annotations

import json
from fractions import Fraction
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from ringfence.core import limits
from ringfence.core.ledger.journal import EntryKind, header_bytes
from ringfence.core.risk.instruments import (
    Bucket,
    Instrument,
    InstrumentKind,
    MarginMode,
    OptionType,
    Position,
)
from ringfence.core.risk.market import MarketData
from ringfence.core.risk.posting import Posting
from ringfence.core.risk.settlement import Fill
from ringfence.core.venue.codec import (
    FundRow,
    MarketRecord,
    PositionChanges,
    Settings,
    decode_buckets,
    decode_fills,
    decode_instruments,
    decode_market,
    decode_positions,
    encode_buckets,
    encode_fills,
    encode_instruments,
    encode_market,
    encode_positions,
)

GOLDEN = Path(__file__).parents[3] / "data" / "journal" / "golden_venue_records.json"
BIG = 2**128 - 1
LONG = 2**63 - 1

INSTRUMENTS = [
    Instrument("btc-usdc-perp", InstrumentKind.perpetual, "btc", "USDC", 6, 1, 1, 1, 3),
    Instrument("b" * 22, InstrumentKind.future, "u" * 32, "ABCDEFGHIJKL", 18, 12, LONG, LONG,
               18, inverse=True, tiers="t" * 16, expiry_ns=2**64 - 1),
    Instrument("btc-7d-65k-p", InstrumentKind.option, "btc", "BTC", 8, 4, 5, 1, 1,
               expiry_ns=1, strike_units=LONG, strike_scale=18, option_type=OptionType.put),
    Instrument("spot", InstrumentKind.spot, "eth", "ETH", 0, 0, 1, 1),
]
SETTINGS = Settings((("BTC", 1), ("USDC", BIG)), "span", b'{"grid":' + b"7" * 300 + b"}")
BUCKETS = [
    Bucket("a" * 21, "c" * 32, MarginMode.cross, "USDC", "USDC"),
    Bucket("b-iso", "bob", MarginMode.isolated, "USDC", "btc-usdc-perp"),
    Bucket("c.pm", "carol", MarginMode.portfolio, "BTC", "u" * 32),
]
TAKERS = [("btc-usdc-perp", "a" * 21), ("b" * 22, "b-iso")]
FILLS = [
    Fill(1, "a" * 21, "btc-usdc-perp", 1, 1),
    Fill(BIG, "b-iso", "b" * 22, -limits.quantity_lots_max, LONG, BIG),
    Fill(2**64, "c.pm", "spot", limits.quantity_lots_max, 650_000, 5),
]
CHANGES = PositionChanges(
    (
        Position("a" * 21, "btc-usdc-perp", 10, Fraction(-6_500_005, 3)),
        Position("b-iso", "b" * 22, -limits.quantity_lots_max,
                 Fraction(-(2**900) + 1, 3**400)),  # a basis of many records
        Position("c.pm", "spot", 0, Fraction(0)),  # closed
        Position("c.pm", "btc-usdc-perp", 0, Fraction(7, 2)),  # closed, its P&L awaiting
    ),
    (1, BIG),
    ("btc-usdc-perp", "b" * 22),
    (FundRow(0, "btc-usdc-perp", 5, 0, 5, 0, True), FundRow(BIG, "b" * 22, BIG, BIG, 0, BIG,
                                                             False)),
    (3, BIG),
)
MARKET = MarketRecord(
    MarketData(2**64 - 1, {"btc-usdc-perp": 650_000, "b" * 22: BIG},
               {"btc-7d-65k-p": 600_000}, {"btc": 300_000, "u" * 32: 1},
               {"btc": 1_200_000}),
    (("btc", 19_000, 65_000 * 10**9), ("u" * 32, 2**64 - 1, BIG)),
    (Posting("btc", 19_000, 2, 3_650, 12_345, 160_000, 200_000, 1_000_000),
     Posting("u" * 32, 2**64 - 1, 2**32 - 1, 2**32 - 1, 2**64 - 1, 2**64 - 1, 2**64 - 1,
             2**64 - 1)),
)


def encoded_now() -> dict[str, bytes]:
    return {
        "instruments": encode_instruments(17, 1_000, INSTRUMENTS, SETTINGS),
        "instruments_only": encode_instruments(18, 1_001, INSTRUMENTS[:1], None),
        "buckets": encode_buckets(19, 1_002, BUCKETS, TAKERS),
        "fills": encode_fills(20, 1_003, FILLS),
        "positions": encode_positions(21, 1_004, CHANGES),
        "market_data": encode_market(22, 1_005, MARKET),
    }


@pytest.fixture(scope="module")
def golden() -> dict[str, bytes]:
    kept = json.loads(GOLDEN.read_text())
    return {name: bytes.fromhex(text) for name, text in kept.items()}


def test_every_body_encodes_as_it_first_did(golden: dict[str, bytes]) -> None:
    now = encoded_now()
    assert sorted(now) == sorted(golden)
    for name, body in now.items():
        assert body == golden[name], name


def test_every_body_decodes_as_it_first_did(golden: dict[str, bytes]) -> None:
    assert decode_instruments(golden["instruments"]) == (INSTRUMENTS, SETTINGS)
    assert decode_instruments(golden["instruments_only"]) == (INSTRUMENTS[:1], None)
    assert decode_buckets(golden["buckets"]) == (BUCKETS, TAKERS)
    assert decode_fills(golden["fills"]) == FILLS
    assert decode_positions(golden["positions"]) == CHANGES
    assert decode_market(golden["market_data"]) == MARKET


def test_each_kind_is_read_only_by_its_own_codec(golden: dict[str, bytes]) -> None:
    decoders = {
        EntryKind.instruments: decode_instruments, EntryKind.buckets: decode_buckets,
        EntryKind.fills: decode_fills, EntryKind.positions: decode_positions,
        EntryKind.market_data: decode_market,
    }  # fmt: skip
    bodies = {EntryKind.instruments: golden["instruments"], EntryKind.buckets: golden["buckets"],
              EntryKind.fills: golden["fills"], EntryKind.positions: golden["positions"],
              EntryKind.market_data: golden["market_data"]}  # fmt: skip
    for kind, decode in decoders.items():
        for other, body in bodies.items():
            if other is not kind:
                with pytest.raises(ValueError, match="is not"):
                    decode(body)  # type: ignore[operator]


def _with_record(body: bytes, index: int, record: bytes) -> bytes:
    offset = header_bytes + index * 128
    return body[:offset] + record + body[offset + 128 :]


def test_torn_and_unknown_records_are_refused(golden: dict[str, bytes]) -> None:
    with pytest.raises(ValueError, match="torn"):
        decode_fills(golden["fills"][:-1])
    with pytest.raises(ValueError, match="unknown fills record type 9"):
        decode_fills(_with_record(golden["fills"], 1, b"\x09" + bytes(127)))
    with pytest.raises(ValueError, match="unknown buckets record type"):
        decode_buckets(_with_record(golden["buckets"], 0, b"\x07" + bytes(127)))
    # A position whose basis continues past the entry's last record is cut short.
    positions = golden["positions"]
    first_piece = next(
        k for k in range(len(positions) // 128) if positions[header_bytes + k * 128] == 2
    )
    with pytest.raises(ValueError, match="cut short"):
        decode_positions(_with_record(positions, first_piece, b"\x03" + bytes(127)))
    with pytest.raises(ValueError, match="starts with its time"):
        decode_market(_with_record(golden["market_data"], 0, b"\x02" + bytes(127)))
    with pytest.raises(ValueError, match="out of order"):
        decode_instruments(_with_record(golden["instruments"], len(INSTRUMENTS) + 3,
                                        b"\x04\x00\x05" + bytes(125)))


@given(
    lots=st.integers(-limits.quantity_lots_max, limits.quantity_lots_max),
    numerator=st.integers(-(2**2000), 2**2000),
    denominator=st.integers(1, 2**1000),
)
def test_any_exact_basis_survives_the_journal(lots: int, numerator: int, denominator: int) -> None:
    position = Position("a", "m", lots, Fraction(numerator, denominator))
    body = encode_positions(1, 1, PositionChanges((position,)))
    assert decode_positions(body).positions == (position,)
