"""service/risk_book.py: the book as a document (round trip, floats refused) and the operations
the CLI runs on a book kept in a RiskBookStore (here an in-memory one): scan, check, fills."""

from __future__ import annotations

import copy
import json

import pytest
from tests.support import journal_signer

from ringfence.adapters.clock import ManualClock
from ringfence.adapters.storage.memory import MemoryStore
from ringfence.core.errors import InputError, Result
from ringfence.core.risk.instruments import Bucket, MarginMode
from ringfence.core.risk.market import MarketData
from ringfence.core.risk.settlement import Fill
from ringfence.demo.venue import fund_buckets, set_up_venue, venue_instruments
from ringfence.service import risk_book
from ringfence.service.ledger import LedgerService
from ringfence.service.risk import RiskService
from ringfence.service.risk_book import book_document, load_book

usdc = 10**6
btc = 10**8
perp = "btc-usdc-perp"


class MemoryBook:
    """A RiskBookStore in memory; what it keeps went through JSON, as the file's does."""

    def __init__(self) -> None:
        self.document: dict[str, object] | None = None
        self.writes = 0

    def read(self) -> dict[str, object]:
        if self.document is None:
            raise InputError(Result.field_required, "no risk book")
        return copy.deepcopy(self.document)

    def write(self, document: dict[str, object]) -> None:
        self.document = json.loads(json.dumps(document))
        self.writes += 1


@pytest.fixture
def venue() -> RiskService:
    ledger = LedgerService(MemoryStore(), ManualClock(), journal_signer())
    revenue = set_up_venue(ledger, ["alice", "bob", "carol"])
    service = RiskService(ledger, revenue)
    service.define_instruments(venue_instruments(ledger.clock.now_ns()))
    buckets = [
        Bucket("alice-x", "alice", MarginMode.cross, "USDC", "USDC"),
        Bucket("bob-iso", "bob", MarginMode.isolated, "USDC", perp),
        Bucket("carol-pm", "carol", MarginMode.portfolio, "BTC", "btc"),
    ]
    pools = {"USDC": "venue-usdc", "BTC": "venue-btc"}
    service.open_buckets([(b, pools[b.settlement]) for b in buckets])
    fund_buckets(ledger, buckets, {"USDC": 10_000 * usdc, "BTC": 2 * btc})
    return service


def _market(service: RiskService, btc_units: int) -> MarketData:
    prices, vols = {}, {}
    for symbol, instrument in service.instruments.items():
        if instrument.option_type is not None:
            prices[symbol], vols[symbol] = btc_units // 10, 600_000
        elif instrument.underlying == "eth":
            prices[symbol] = 340_000
        else:
            prices[symbol] = btc_units
    return MarketData(service.ledger.clock.now_ns(), prices, vols)


def _saved(service: RiskService, market: MarketData | None) -> MemoryBook:
    books = MemoryBook()
    risk_book.save_book(books, service, market)
    return books


def _line(document: dict[str, object]) -> bytes:
    return json.dumps(document).encode()


def test_fill_lines_are_applied_refused_by_line_and_the_book_saved(venue: RiskService) -> None:
    books = _saved(venue, _market(venue, 650_000))
    lines: list[tuple[int, bytes | None]] = [
        (1, _line({"id": 1, "bucket": "alice-x", "symbol": perp, "lots": 10,
                   "price": "65000.0", "fee": usdc})),
        (2, _line({"id": "2", "bucket": "bob-iso", "symbol": perp, "lots": -10,
                   "price": "65000.0"})),
        (3, b"  \n"),  # blank: no result
        (4, None),  # over the length limit
        (5, b"[1, 2]"),
        (6, _line({"id": 3, "bucket": "alice-x", "symbol": perp, "lots": 1, "side": "buy"})),
        (7, _line({"id": 1, "bucket": "alice-x", "symbol": perp, "lots": 11,
                   "price": "65000.0"})),
        (8, _line({"id": 4, "bucket": "alice-x", "symbol": "nothing", "lots": 1,
                   "price": "1"})),
        (9, _line({"id": 5, "bucket": "alice-x", "symbol": perp, "lots": 1,
                   "price": "65000.0", "fee": 1.5})),
    ]
    document = risk_book.apply_fill_lines(venue.ledger, books, lines)
    assert document["ok"] is False
    assert [(row["line"], row["result"]) for row in document["results"]] == [
        (1, "ok"), (2, "ok"), (4, "line_too_long"), (5, "line_malformed"),
        (6, "field_unknown"), (7, "fill_exists_with_different_body"),
        (8, "instrument_not_found"), (9, "amount_must_not_be_float"),
    ]
    assert books.writes == 2
    assert books.document is not None
    saved, _ = load_book(venue.ledger, books.document)
    assert saved.positions[("alice-x", perp)].quantity_lots == 10
    assert saved.positions[("bob-iso", perp)].quantity_lots == -10
    # A saved book keeps fill ids only: a repeated id is refused, its body unknown.
    again = risk_book.apply_fill_lines(venue.ledger, books, lines[:1])
    assert again == {"ok": False, "results": [
        {"line": 1, "result": "fill_exists_with_different_body"}]}
    assert books.writes == 3


def test_scan_and_check_return_documents_with_money_in_the_settlement_asset(
    venue: RiskService,
) -> None:
    venue.apply_fills([Fill(1, "alice-x", perp, 1_000, 650_000),
                       Fill(2, "bob-iso", perp, -1_000, 650_000)])
    books = _saved(venue, _market(venue, 640_000))
    document = risk_book.scan(venue.ledger, books)
    json.dumps(document)  # JSON-able as it stands
    assert document["ok"] is True
    assert document["buckets"] == 3
    assert len(document["scenarios"]) == 35
    rows = {row["bucket"]: row for row in document["results"]}
    assert rows["alice-x"]["equity"] == "8999.999999"  # 10,000 - 1,000 lost, one unit down
    assert rows["alice-x"]["health"] == "healthy"
    assert rows["alice-x"]["delta"] == pytest.approx(1.0)
    assert rows["carol-pm"]["equity"] == "2.00000000"  # BTC: 8 places, no position
    small = risk_book.check(venue.ledger, books, "alice-x", [f"{perp}:100@64000.0"])
    assert small["accepted"] is True
    assert small["equity"] == rows["alice-x"]["equity"]
    huge = risk_book.check(venue.ledger, books, "alice-x", [f"{perp}:1000000@64000.0"])
    assert huge["accepted"] is False
    assert books.writes == 1  # scans and checks change no book


@pytest.mark.parametrize(("order", "code"), [
    ("btc-usdc-perp:5", Result.line_malformed),
    ("nothing:5@1", Result.instrument_not_found),
    ("btc-usdc-perp:0@64000.0", Result.quantity_invalid),
    ("btc-usdc-perp:5@64000.05", Result.price_finer_than_tick),
])
def test_a_bad_order_is_refused_with_its_code(
    venue: RiskService, order: str, code: Result
) -> None:
    books = _saved(venue, _market(venue, 640_000))
    with pytest.raises(InputError) as caught:
        risk_book.check(venue.ledger, books, "alice-x", [order])
    assert caught.value.code is code


def test_a_book_without_market_data_cannot_be_scanned_or_checked(venue: RiskService) -> None:
    books = _saved(venue, None)
    with pytest.raises(InputError) as caught:
        risk_book.scan(venue.ledger, books)
    assert caught.value.code is Result.mark_price_missing
    with pytest.raises(InputError) as caught:
        risk_book.check(venue.ledger, books, "alice-x", [f"{perp}:1@64000.0"])
    assert caught.value.code is Result.mark_price_missing
    with pytest.raises(InputError) as caught:
        risk_book.scan(venue.ledger, MemoryBook())
    assert caught.value.code is Result.field_required


def test_a_book_with_float_lots_or_prices_is_refused(venue: RiskService) -> None:
    venue.apply_fills([
        Fill(1, "alice-x", perp, 10, 650_000),
        Fill(2, "bob-iso", perp, -10, 650_000),
    ])
    document = book_document(venue, _market(venue, 650_000))
    fresh = venue.ledger  # the book's accounts are defined already: ``exists``
    bad_lots = copy.deepcopy(document)
    bad_lots["positions"][0]["lots"] = 10.7
    with pytest.raises(InputError) as caught:
        load_book(fresh, bad_lots)
    assert caught.value.code is Result.quantity_invalid
    bad_price = copy.deepcopy(document)
    bad_price["market"]["prices"][perp] = 650_000.5
    with pytest.raises(InputError) as caught:
        load_book(fresh, bad_price)
    assert caught.value.code is Result.price_invalid
