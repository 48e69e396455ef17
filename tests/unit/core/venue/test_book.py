"""core/venue/book.py: the book rebuilt from its entries, in journal order; an entry that
refers to a market or a bucket no earlier entry defined, or applies a fill twice, is refused
(``ValueError``: the audit names it), never applied."""

from __future__ import annotations

from fractions import Fraction

import pytest

from ringfence.core.risk.instruments import Bucket, Instrument, InstrumentKind, MarginMode, Position
from ringfence.core.risk.market import MarketData
from ringfence.core.risk.settlement import Fill, apply_fill
from ringfence.core.venue.book import VenueBook
from ringfence.core.venue.codec import (
    FundRow,
    MarketRecord,
    PositionChanges,
    encode_buckets,
    encode_fills,
    encode_instruments,
    encode_market,
    encode_positions,
)

PERP = Instrument("btc-usdc-perp", InstrumentKind.perpetual, "btc", "USDC", 6, 1, 1, 1, 3)
ALICE = Bucket("alice-x", "alice", MarginMode.cross, "USDC", "USDC")
BOB = Bucket("bob-x", "bob", MarginMode.cross, "USDC", "USDC")


def _book() -> VenueBook:
    book = VenueBook()
    book.apply(encode_instruments(1, 1, [PERP], None))
    book.apply(encode_buckets(2, 2, [ALICE, BOB], [(PERP.symbol, BOB.name)]))
    return book


def test_fills_make_the_positions_they_made_when_applied() -> None:
    book = _book()
    fills = [Fill(1, "alice-x", PERP.symbol, 10, 650_000, 5),
             Fill(2, "bob-x", PERP.symbol, -10, 650_000),
             Fill(3, "alice-x", PERP.symbol, -4, 651_000)]
    book.apply(encode_fills(3, 3, fills))
    expected = apply_fill(apply_fill(None, fills[0], PERP), fills[2], PERP)
    assert book.positions[("alice-x", PERP.symbol)] == expected
    assert book.positions[("bob-x", PERP.symbol)] == apply_fill(None, fills[1], PERP)
    assert book.fills == {f.id: f for f in fills}
    assert book.takers == {PERP.symbol: "bob-x"}


def test_positions_entries_set_close_and_remember() -> None:
    book = _book()
    book.apply(encode_fills(3, 3, [Fill(1, "alice-x", PERP.symbol, 10, 650_000)]))
    settled = Position("alice-x", PERP.symbol, 10, Fraction(6_400_000_000))
    closed = Position("bob-x", PERP.symbol, 0, Fraction(0))
    row = FundRow(9, PERP.symbol, 1, 2, 3, 0, False)
    book.apply(encode_positions(4, 4, PositionChanges((settled, closed), (9,), (PERP.symbol,),
                                                      (row,), (77,))))
    assert book.positions == {("alice-x", PERP.symbol): settled}
    assert (book.rounds, book.halted, book.funds) == ({9}, {PERP.symbol}, [row])
    assert book.fills[77] is None  # known by id only
    book.apply(encode_positions(5, 5, PositionChanges((replace_lots(settled, 0),))))
    assert book.positions == {}


def replace_lots(position: Position, lots: int) -> Position:
    return Position(position.bucket, position.symbol, lots, Fraction(0))


def test_market_entries_keep_the_last_market_and_the_closes_as_observed() -> None:
    book = _book()
    day = 19_000
    book.apply(encode_market(3, 3, MarketRecord(MarketData(1, {PERP.symbol: 650_000}),
                                                (("btc", day, 5), ("btc", day + 1, 6)))))
    book.apply(encode_market(4, 4, MarketRecord(MarketData(2, {PERP.symbol: 651_000}),
                                                (("btc", day + 1, 7),))))
    assert book.market == MarketData(2, {PERP.symbol: 651_000})
    assert book.volatility.closes == {"btc": [(day, 5), (day + 1, 7)]}  # that day's replaced
    with pytest.raises(ValueError, match="before its last"):
        book.apply(encode_market(5, 5, MarketRecord(MarketData(3, {}), (("btc", day, 1),))))


@pytest.mark.parametrize(
    ("body", "message"),
    [
        (encode_fills(3, 3, [Fill(1, "nobody", PERP.symbol, 1, 1)]), "no market"),
        (encode_fills(3, 3, [Fill(1, "alice-x", "nothing", 1, 1)]), "no market"),
        (encode_instruments(3, 3, [PERP], None), "defined twice"),
        (encode_buckets(3, 3, [ALICE]), "opened twice"),
        (encode_buckets(3, 3, [], [("nothing", "alice-x")]), "no such market"),
        (encode_positions(3, 3, PositionChanges((Position("x", PERP.symbol, 1, Fraction(1)),))),
         "unknown"),
    ],
)
def test_an_entry_naming_what_no_entry_defined_is_refused(body: bytes, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        _book().apply(body)


def test_a_fill_applied_twice_is_refused() -> None:
    book = _book()
    fill = encode_fills(3, 3, [Fill(1, "alice-x", PERP.symbol, 1, 650_000)])
    book.apply(fill)
    with pytest.raises(ValueError, match="applied twice"):
        book.apply(fill)
