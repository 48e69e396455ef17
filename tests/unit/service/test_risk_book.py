"""service/risk_book.py: the operations the CLI runs on the book in the journal (scan, check,
fills), and a book kept as a document by earlier versions imported into the journal (round
trip, floats refused, a journal holding a book refuses another)."""

from __future__ import annotations

import copy
import json
from dataclasses import replace

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


def _ledger() -> LedgerService:
    ledger = LedgerService(MemoryStore(), ManualClock(), journal_signer())
    set_up_venue(ledger, ["alice", "bob", "carol"])
    return ledger


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


def _saved(service: RiskService, market: MarketData | None) -> None:
    risk_book.save_book(service, market)


def _imported(document: dict[str, object]) -> tuple[RiskService, MarketData | None]:
    """``document`` (as a file keeps it: through JSON) imported into a fresh journal."""
    ledger = _ledger()
    risk_book.import_book(ledger, json.loads(json.dumps(document)))
    return load_book(ledger)


def _line(document: dict[str, object]) -> bytes:
    return json.dumps(document).encode()


def test_fill_lines_are_applied_refused_by_line_and_journaled(venue: RiskService) -> None:
    _saved(venue, _market(venue, 650_000))
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
    document = risk_book.apply_fill_lines(venue.ledger, lines)
    assert document["ok"] is False
    assert [(row["line"], row["result"]) for row in document["results"]] == [
        (1, "ok"), (2, "ok"), (4, "line_too_long"), (5, "line_malformed"),
        (6, "field_unknown"), (7, "fill_exists_with_different_body"),
        (8, "instrument_not_found"), (9, "amount_must_not_be_float"),
    ]
    saved, _ = load_book(venue.ledger)
    assert saved.positions[("alice-x", perp)].quantity_lots == 10
    assert saved.positions[("bob-iso", perp)].quantity_lots == -10
    # The journal keeps each fill's body: the same fill again is ``exists``, charged once.
    revenue = venue.revenue_accounts["USDC"]
    charged = venue.ledger.balance(revenue).balance
    again = risk_book.apply_fill_lines(venue.ledger, lines[:1])
    assert again == {"ok": True, "results": [{"line": 1, "result": "exists"}]}
    assert venue.ledger.balance(revenue).balance == charged
    # An imported book keeps fill ids only: a repeated id is refused, its body unknown.
    imported, _ = _imported(book_document(saved, None))
    assert imported.apply_fills([Fill(1, "alice-x", perp, 10, 650_000, usdc)]) == [
        Result.fill_exists_with_different_body]


def test_scan_and_check_return_documents_with_money_in_the_settlement_asset(
    venue: RiskService,
) -> None:
    venue.apply_fills([Fill(1, "alice-x", perp, 1_000, 650_000),
                       Fill(2, "bob-iso", perp, -1_000, 650_000)])
    _saved(venue, _market(venue, 640_000))
    entries = venue.ledger.seq
    document = risk_book.scan(venue.ledger)
    json.dumps(document)  # JSON-able as it stands
    assert document["ok"] is True
    assert document["buckets"] == 3
    assert len(document["scenarios"]) == 35
    rows = {row["bucket"]: row for row in document["results"]}
    assert rows["alice-x"]["equity"] == "8999.999999"  # 10,000 - 1,000 lost, one unit down
    assert rows["alice-x"]["health"] == "healthy"
    assert rows["alice-x"]["delta"] == pytest.approx(1.0)
    assert rows["carol-pm"]["equity"] == "2.00000000"  # BTC: 8 places, no position
    small = risk_book.check(venue.ledger, "alice-x", [f"{perp}:100@64000.0"])
    assert small["accepted"] is True
    assert small["equity"] == rows["alice-x"]["equity"]
    huge = risk_book.check(venue.ledger, "alice-x", [f"{perp}:1000000@64000.0"])
    assert huge["accepted"] is False
    assert venue.ledger.seq == entries  # scans and checks journal nothing


@pytest.mark.parametrize(("order", "code"), [
    ("btc-usdc-perp:5", Result.line_malformed),
    ("nothing:5@1", Result.instrument_not_found),
    ("btc-usdc-perp:0@64000.0", Result.quantity_invalid),
    ("btc-usdc-perp:5@64000.05", Result.price_finer_than_tick),
])
def test_a_bad_order_is_refused_with_its_code(
    venue: RiskService, order: str, code: Result
) -> None:
    _saved(venue, _market(venue, 640_000))
    with pytest.raises(InputError) as caught:
        risk_book.check(venue.ledger, "alice-x", [order])
    assert caught.value.code is code


def test_a_book_without_market_data_cannot_be_scanned_or_checked(venue: RiskService) -> None:
    with pytest.raises(InputError) as caught:
        risk_book.scan(venue.ledger)
    assert caught.value.code is Result.mark_price_missing
    with pytest.raises(InputError) as caught:
        risk_book.check(venue.ledger, "alice-x", [f"{perp}:1@64000.0"])
    assert caught.value.code is Result.mark_price_missing
    with pytest.raises(InputError) as caught:
        risk_book.scan(_ledger())  # a journal with no book at all
    assert caught.value.code is Result.mark_price_missing


def test_a_book_with_float_lots_or_prices_is_refused(venue: RiskService) -> None:
    venue.apply_fills([
        Fill(1, "alice-x", perp, 10, 650_000),
        Fill(2, "bob-iso", perp, -10, 650_000),
    ])
    document = book_document(venue, _market(venue, 650_000))
    bad_lots = copy.deepcopy(document)
    bad_lots["positions"][0]["lots"] = 10.7
    with pytest.raises(InputError) as caught:
        _imported(bad_lots)
    assert caught.value.code is Result.quantity_invalid
    bad_price = copy.deepcopy(document)
    bad_price["market"]["prices"][perp] = 650_000.5
    with pytest.raises(InputError) as caught:
        _imported(bad_price)
    assert caught.value.code is Result.price_invalid
    # A journal that holds a book refuses to import another, and changes nothing.
    entries = venue.ledger.seq
    with pytest.raises(InputError) as caught:
        risk_book.import_book(venue.ledger, document)
    assert caught.value.code is Result.venue_book_exists
    assert venue.ledger.seq == entries


def test_an_imported_book_is_the_book_it_was(venue: RiskService) -> None:
    venue.apply_fills([Fill(1, "alice-x", perp, 10, 650_000, usdc),
                       Fill(2, "bob-iso", perp, -10, 650_000)])
    market = _market(venue, 650_000)
    venue.scan(market)
    document = book_document(venue, market)
    imported, imported_market = _imported(document)
    assert imported_market == market
    again = json.loads(json.dumps(book_document(imported, imported_market)))
    expected = json.loads(json.dumps(document))
    assert {k: v for k, v in again.items() if v != expected[k]} == {}


def test_every_scan_uses_the_range_the_volatility_model_posted(venue: RiskService) -> None:
    # carol-pm holds 1 BTC of the inverse perpetual. The venue sees BTC move 20% a day for
    # three days: the model posts a range over 60% (buffer included), and the portfolio
    # scan widens its grid by it; a venue with no history scans the static ±16% grid.
    venue.apply_fills([Fill(1, "carol-pm", "btc-usd-perp", 650, 650_000),
                       Fill(2, "alice-x", "btc-usd-perp", -650, 650_000)])
    day = 24 * 3600 * 10**9
    start = venue.ledger.clock.now_ns()
    for k, units in enumerate((650_000, 780_000, 624_000, 650_000)):
        market = replace(_market(venue, units), now_ns=start + k * day)
        state = venue.scan(market)
    posted = venue.volatility.latest["btc"]
    assert posted.posted_ppm > 600_000
    assert [p.underlying for p in venue.volatility.postings].count("btc") == 3
    assert posted.posted_ppm >= posted.calculated_ppm * 5 // 4  # the 25% buffer
    carol = state.index["carol-pm"]
    document = book_document(venue, market)
    fresh, _ = _imported({**document, "volatility": {}})
    static = fresh.scan(market)
    assert state.result.maintenance[carol] > static.result.maintenance[carol]
    # The posted history is journaled with the market data and scans the same read back.
    _saved(venue, market)
    again, loaded_market = load_book(venue.ledger)
    assert again.volatility == venue.volatility
    assert loaded_market == market
    assert again.scan(market).result.maintenance[carol] == state.result.maintenance[carol]


def test_a_book_saved_before_postings_loads_and_a_later_version_is_refused(
    venue: RiskService,
) -> None:
    market = replace(_market(venue, 640_000), price_ranges_ppm={"btc": 300_000},
                     multipliers_ppm={"btc": 1_200_000})
    document = book_document(venue, market)
    assert document["version"] == 2
    old = {k: v for k, v in document.items() if k not in ("version", "volatility")}
    loaded, loaded_market = _imported(old)
    assert loaded.volatility.postings == []
    assert loaded_market is not None
    assert loaded_market.price_ranges_ppm == {"btc": 300_000}  # kept, no longer dropped
    assert loaded_market.multipliers_ppm == {"btc": 1_200_000}
    with pytest.raises(InputError) as refused:
        _imported({**document, "version": 3})
    assert refused.value.code is Result.line_malformed


def test_a_second_book_over_a_journal_that_holds_one_is_refused(venue: RiskService) -> None:
    again = RiskService(venue.ledger, venue.revenue_accounts)
    entries = venue.ledger.seq
    with pytest.raises(InputError) as caught:
        again.define_instruments(venue_instruments(venue.ledger.clock.now_ns()))
    assert caught.value.code is Result.venue_book_exists
    assert venue.ledger.seq == entries
    read, _ = load_book(venue.ledger)  # the book read from the journal defines on
    assert read.define_instruments(list(venue.instruments.values())) == [Result.exists] * len(
        venue.instruments)


def test_a_malformed_book_file_journals_nothing_and_the_good_one_imports_after(
    venue: RiskService,
) -> None:
    venue.apply_fills([Fill(1, "alice-x", perp, 10, 650_000, usdc),
                       Fill(2, "bob-iso", perp, -10, 650_000)])
    document = json.loads(json.dumps(book_document(venue, _market(venue, 650_000))))
    bad_basis = copy.deepcopy(document)
    bad_basis["positions"][0]["basis"] = "1/x"
    bad_taker = copy.deepcopy(document)
    bad_taker["liquidation"]["takers"] = {perp: "nobody"}
    bad_position = copy.deepcopy(document)
    bad_position["positions"][0]["bucket"] = "nobody"
    bad_price = copy.deepcopy(document)
    bad_price["market"]["prices"][perp] = 650_000.5
    ledger = _ledger()
    before = ledger.seq
    for bad, code in [(bad_basis, Result.line_malformed), (bad_taker, Result.bucket_not_found),
                      (bad_position, Result.bucket_not_found), (bad_price, Result.price_invalid)]:
        with pytest.raises(InputError) as caught:
            risk_book.import_book(ledger, bad)
        assert caught.value.code is code
        assert ledger.seq == before  # nothing journaled: the good file is not refused after
    risk_book.import_book(ledger, document)
    imported, _ = load_book(ledger)
    assert imported.positions == venue.positions
