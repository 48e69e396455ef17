"""The venue's book read from the journal, and the operations the CLI and the API run on it.

The book (instruments, buckets, positions, applied fills, liquidation state, the volatility
model's closes and postings, the last market data and the risk configuration) lives in the
journal (entry kinds 17-21, service/venue_journal.py); each change was journaled as it was
made, a fill with its fee in one store transaction. Each operation reads the book over the
ledger, does one thing and returns a JSON-able document: money as decimal strings of the
settlement asset (``core.money``), Greeks as plain numbers, results as their ``Result``
sentences.

A book kept as a JSON file by earlier versions (``book_document``'s format) is imported once
with ``import_book`` (``ringfence risk import-book FILE``) into a journal that holds none.
"""

from __future__ import annotations

import json
import re
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from decimal import Decimal
from fractions import Fraction
from functools import partial
from typing import Any

from ringfence.core import limits
from ringfence.core.errors import InputError, Result
from ringfence.core.ledger.wire import check_json_depth
from ringfence.core.money import Asset, format_signed_amount
from ringfence.core.risk.config import RiskConfig
from ringfence.core.risk.instruments import (
    Bucket,
    Instrument,
    InstrumentKind,
    MarginMode,
    OptionType,
    Position,
    parse_price,
)
from ringfence.core.risk.market import MarketData
from ringfence.core.risk.posting import VolatilityBook
from ringfence.core.risk.scan import Health
from ringfence.core.risk.scenarios import Profile
from ringfence.core.risk.settlement import Fill
from ringfence.core.venue.codec import PositionChanges
from ringfence.service.ledger import LedgerService
from ringfence.service.ports import Executor
from ringfence.service.risk import RiskService, ScanState
from ringfence.service.risk_ledger import collateral_id
from ringfence.service.venue_journal import (
    fund_row,
    journal_buckets,
    journal_positions,
    read_book,
    seen_fill,
)

# 2: the volatility model's closes and postings, and the market's posted ranges and
# multipliers, are kept; a version-1 book loads with an empty history.
book_version = 2
_order_pattern = re.compile(
    r"(?P<symbol>[a-z0-9][a-z0-9_.:-]*):(?P<lots>-?[0-9]+)@(?P<price>\S+)\Z"
)
fill_fields = frozenset({"id", "bucket", "symbol", "lots", "price", "fee"})


# ---------------------------------------------------------------------- operations


def scan(ledger: LedgerService, executor: Executor | None = None) -> dict[str, Any]:
    """Equity, initial and maintenance requirement, health and Greeks of every bucket, at
    the book's market data (``ringfence risk scan``); with ``executor``, a batch run of
    bucket ranges on it (the same figures)."""
    service, market = load_book_with_market(ledger)
    started = time.perf_counter()
    state = service.scan(market, executor)
    elapsed_ms = (time.perf_counter() - started) * 1000
    rows = scan_rows(state, dict(ledger.ledger.assets))
    return {"ok": True, "buckets": len(rows), "scan_ms": round(elapsed_ms, 3),
            "scenarios": list(state.arrays.scenarios.names), "results": rows}


def scan_rows(state: ScanState, assets: Mapping[str, Asset]) -> list[dict[str, Any]]:
    """One row per bucket of a scan, money in the bucket's settlement asset."""
    result = state.result
    names = state.arrays.scenarios.names
    rows = []
    for k, bucket in enumerate(state.buckets):
        asset = assets[bucket.settlement]
        worst = int(result.worst_scenario[k])
        rows.append({
            "bucket": bucket.name,
            "client": bucket.client,
            "mode": bucket.mode.value,
            "settlement": bucket.settlement,
            "equity": format_signed_amount(int(result.equity[k]), asset),
            "initial": format_signed_amount(int(result.initial[k]), asset),
            "maintenance": format_signed_amount(int(result.maintenance[k]), asset),
            "health": Health(int(result.health[k])).name,
            "worst_scenario": names[worst] if worst >= 0 else None,
            "delta": float(result.delta[k]),
            "gamma": float(result.gamma[k]),
            "vega": float(result.vega[k]),
            "theta_per_year": float(result.theta_per_year[k]),
            "theta_per_day": float(result.theta_per_day[k]),
            "risk_multiplier": float(result.risk_multiplier[k]),
        })
    return rows


def check(ledger: LedgerService, bucket: str, orders: Sequence[str]) -> dict[str, Any]:
    """Would ``bucket`` still cover initial margin with these orders (``SYMBOL:LOTS@PRICE``,
    the price a decimal string) filled? (``ringfence risk check``)"""
    service, market = load_book_with_market(ledger)
    parsed = [_parse_order(text, service) for text in orders]
    service.scan(market)
    started = time.perf_counter()
    result = service.check(bucket, parsed)
    elapsed_ms = (time.perf_counter() - started) * 1000
    asset = ledger.ledger.assets[service.buckets[bucket].settlement]
    return {
        "ok": True,
        "bucket": bucket,
        "accepted": result.accepted,
        "reduces_risk": result.reduces_risk,
        "equity": format_signed_amount(result.equity, asset),
        "initial": format_signed_amount(result.initial, asset),
        "initial_before": format_signed_amount(result.initial_before, asset),
        "maintenance": format_signed_amount(result.maintenance, asset),
        "check_ms": round(elapsed_ms, 3),
    }


def apply_fill_lines(
    ledger: LedgerService, lines: Iterable[tuple[int, bytes | None]]
) -> dict[str, Any]:
    """Apply JSON lines of fills (one side each): ``{"id", "bucket", "symbol", "lots",
    "price" (decimal string), "fee" (minor units, optional)}``, given as (line number, text;
    None for a line over the length limit). Each group of fills is journaled with its fees
    (``ringfence risk fills``)."""
    service, _ = load_book(ledger)
    rows = _applied(service, [
        (number, partial(_parse_fill, text, service))
        for number, text in lines if text is None or text.strip()
    ])
    return {"ok": all(row["result"] in ("ok", "exists") for row in rows), "results": rows}


def _applied(
    service: RiskService, items: Sequence[tuple[int, Callable[[], Fill]]]
) -> list[dict[str, Any]]:
    """Parse each item (a refusal is its row's result) and apply the fills parsed."""
    rows: list[dict[str, Any]] = []
    parsed: list[Fill] = []
    for number, parse in items:
        try:
            parsed.append(parse())
            rows.append({"line": number, "result": None})
        except InputError as error:
            rows.append({"line": number, "result": error.code.value})
    results = iter(service.apply_fills(parsed))
    for row in rows:
        if row["result"] is None:
            row["result"] = next(results).value
    return rows


def apply_fill_documents(ledger: LedgerService, documents: Sequence[object]) -> dict[str, Any]:
    """Apply fills given as JSON values (the API's request body), each as a line of
    ``ringfence risk fills`` reads it; at most ``limits.fills_per_request_max``. A result per
    fill, in order (``index`` from 0)."""
    if len(documents) > limits.fills_per_request_max:
        raise InputError(Result.batch_too_large, f"{len(documents)} fills")
    service, _ = load_book(ledger)
    rows = _applied(service, [(k, partial(_fill_of, raw, service))
                              for k, raw in enumerate(documents)])
    for row in rows:
        row["index"] = row.pop("line")
    return {"ok": all(row["result"] in ("ok", "exists") for row in rows), "results": rows}


def save_book(service: RiskService, market: MarketData | None) -> None:
    """Journal the market data the book was last scanned at (everything else was journaled
    as it changed)."""
    if market is not None:
        service.record_market(market)


def load_book_with_market(ledger: LedgerService) -> tuple[RiskService, MarketData]:
    """The book in ``ledger``'s journal, which must hold market data."""
    service, market = load_book(ledger)
    if market is None:
        raise InputError(Result.mark_price_missing, "the book holds no market data")
    return service, market


def _parse_order(text: str, service: RiskService) -> tuple[str, int, int]:
    match = _order_pattern.match(text)
    if match is None:
        raise InputError(Result.line_malformed, f"order {text!r}: SYMBOL:LOTS@PRICE")
    instrument = service.instruments.get(match["symbol"])
    if instrument is None:
        raise InputError(Result.instrument_not_found, match["symbol"])
    lots = int(match["lots"])
    if lots == 0:
        raise InputError(Result.quantity_invalid, text)
    return instrument.symbol, lots, parse_price(match["price"], instrument)


def _parse_fill(text: bytes | None, service: RiskService) -> Fill:
    if text is None:
        raise InputError(Result.line_too_long, f"more than {limits.jsonl_line_bytes_max} bytes")
    check_json_depth(text)
    try:
        raw = json.loads(text)
    except (json.JSONDecodeError, UnicodeDecodeError):
        raise InputError(Result.line_malformed) from None
    return _fill_of(raw, service)


def _fill_of(raw: object, service: RiskService) -> Fill:
    """A fill from its JSON value (a line's, or an item of the API's body, where a number
    with a fraction arrives as a ``Decimal``: refused as a float is)."""
    if not isinstance(raw, dict):
        raise InputError(Result.line_malformed)
    unknown = set(raw) - fill_fields
    if unknown:
        raise InputError(Result.field_unknown, ", ".join(sorted(map(str, unknown))))
    symbol = raw.get("symbol", "")
    instrument = service.instruments.get(symbol) if isinstance(symbol, str) else None
    if instrument is None:
        raise InputError(Result.instrument_not_found, str(raw.get("symbol")))
    fill_id: Any = raw.get("id")
    if isinstance(fill_id, str) and fill_id.isdigit():
        fill_id = int(fill_id)
    lots: Any = raw.get("lots")
    fee: Any = raw.get("fee", 0)
    if isinstance(fee, (float, Decimal)):  # int() would truncate 1.7 to 1: refuse, never round
        raise InputError(Result.amount_must_not_be_float, f"fee {fee!r}")
    return Fill(
        fill_id, str(raw.get("bucket", "")), instrument.symbol, lots,
        parse_price(raw.get("price"), instrument), fee,
    )


# ---------------------------------------------------------------------- the book as a document


def book_document(service: RiskService, market: MarketData | None) -> dict[str, Any]:
    """The venue's book as JSON-able values, in the format earlier versions kept in a file
    (what ``import_book`` reads; tests make such files with it).

    Positions carry their exact basis as a ``"numerator/denominator"`` string.
    """
    pools = {
        name: service.ledger.ledger.accounts[collateral_id(name)].definition.pool
        for name in service.buckets
    }
    document: dict[str, Any] = {
        "version": book_version,
        "config": service.config.to_dict(),
        "profile": service.profile.value,
        "revenue_accounts": {k: str(v) for k, v in service.revenue_accounts.items()},
        "instruments": [_instrument_document(i) for i in service.instruments.values()],
        "buckets": [
            {"name": b.name, "client": b.client, "mode": b.mode.value,
             "settlement": b.settlement, "scope": b.scope, "pool": pools[b.name]}
            for b in service.buckets.values()
        ],
        "positions": [
            {"bucket": p.bucket, "symbol": p.symbol, "lots": p.quantity_lots,
             "basis": f"{p.basis.numerator}/{p.basis.denominator}"}
            for p in service.positions.values()
        ],
        "fills": sorted(str(fill_id) for fill_id in service.fills),
        "liquidation": {
            "takers": dict(sorted(service.takers.items())),
            "rounds": sorted(str(round_id) for round_id in service.liquidation_rounds),
            "halted": sorted(service.halted),
            "insurance_history": list(service.insurance_history),
        },
        "volatility": service.volatility.to_document(),
    }
    if market is not None:
        document["market"] = {
            "now_ns": market.now_ns,
            "prices": dict(market.prices),
            "volatilities_ppm": dict(market.volatilities_ppm),
            "price_ranges_ppm": dict(market.price_ranges_ppm),
            "multipliers_ppm": dict(market.multipliers_ppm),
        }
    return document


def load_book(ledger: LedgerService) -> tuple[RiskService, MarketData | None]:
    """A service over ``ledger`` holding the book its journal holds (empty when none), and
    the market data last journaled (or None)."""
    return RiskService.from_journal(ledger)


def import_book(ledger: LedgerService, document: Mapping[str, Any]) -> dict[str, Any]:
    """Journal a book kept as a JSON file by earlier versions (``risk import-book``): its
    settings and instruments, its buckets and takers, its positions, fill ids and
    liquidation state, and its market data with the volatility model's history. Refused
    (``venue_book_exists``) when the journal already holds a book."""
    if read_book(ledger).entries:
        raise InputError(Result.venue_book_exists, "the journal already holds a venue's book")
    service, market = _service_of_document(ledger, document)  # instruments, buckets journaled
    if service.takers:
        journal_buckets(ledger, (), sorted(service.takers.items()))
    changes = PositionChanges(
        tuple(service.positions.values()), tuple(sorted(service.liquidation_rounds)),
        tuple(sorted(service.halted)), tuple(fund_row(r) for r in service.insurance_history),
        tuple(sorted(service.fills)),
    )
    journal_positions(ledger, changes)
    if market is not None:
        service.record_market(market)
    return {"ok": True, "instruments": len(service.instruments), "buckets": len(service.buckets),
            "positions": len(service.positions), "fills": len(service.fills),
            "market_data": market is not None}


def _service_of_document(
    ledger: LedgerService, document: Mapping[str, Any]
) -> tuple[RiskService, MarketData | None]:
    """A service over ``ledger`` from a book document; returns it and the market (or None).
    The whole document is read and checked (every position's and taker's market and bucket
    defined in it) before anything is journaled, so a malformed file changes nothing.

    Fill ids already applied are remembered by id only: a repeated id is refused with
    ``fill_exists_with_different_body`` (the body it came with is not kept).
    """
    version = document.get("version", 1)
    if version not in (1, book_version):  # 1: saved before the volatility model's postings
        raise InputError(Result.line_malformed, f"risk book version {version!r}")
    try:
        service = RiskService(
            ledger,
            {k: int(v) for k, v in document["revenue_accounts"].items()},
            RiskConfig.from_dict(document.get("config", {})),
            Profile(document.get("profile", "grid")),
        )
        instruments = [_instrument_of(i) for i in document["instruments"]]
        buckets = [
            (Bucket(b["name"], b["client"], MarginMode(b["mode"]), b["settlement"], b["scope"]),
             b["pool"])
            for b in document["buckets"]
        ]  # fmt: skip
        positions = [_position_of(row) for row in document["positions"]]
        fills = [int(fill_id) for fill_id in document.get("fills", [])]
        liquidation = document.get("liquidation", {})
        takers = {str(k): str(v) for k, v in liquidation.get("takers", {}).items()}
        rounds = {int(r) for r in liquidation.get("rounds", [])}
        halted = {str(symbol) for symbol in liquidation.get("halted", [])}
        history = [dict(row) for row in liquidation.get("insurance_history", [])]
        volatility = VolatilityBook.from_document(document.get("volatility", {}))
        raw = document.get("market")
        market = None if raw is None else MarketData(
            _whole(raw["now_ns"], "now_ns"), _numbers(raw, "prices"),
            _numbers(raw, "volatilities_ppm"), _numbers(raw, "price_ranges_ppm"),
            _numbers(raw, "multipliers_ppm"),
        )
    except (KeyError, TypeError, ValueError, AttributeError) as error:
        raise InputError(Result.line_malformed, f"risk book: {error!r}") from None
    symbols = {instrument.symbol for instrument in instruments}
    names = {bucket.name for bucket, _ in buckets}
    for bucket_name, symbol in [(p.bucket, p.symbol) for p in positions] + [
        (bucket, symbol) for symbol, bucket in takers.items()
    ]:
        if symbol not in symbols:
            raise InputError(Result.instrument_not_found, f"risk book: {symbol}")
        if bucket_name not in names:
            raise InputError(Result.bucket_not_found, f"risk book: {bucket_name}")
    service.define_instruments(instruments)  # journaled from here on
    service.open_buckets(buckets)
    service.positions.update({(p.bucket, p.symbol): p for p in positions})
    service.fills.update({fill_id: seen_fill for fill_id in fills})
    service.takers, service.liquidation_rounds, service.halted = takers, rounds, halted
    service.insurance_history, service.volatility = history, volatility
    return service, market


def _position_of(row: Mapping[str, Any]) -> Position:
    numerator, denominator = row["basis"].split("/")
    return Position(row["bucket"], row["symbol"], _whole(row["lots"], "lots"),
                    Fraction(int(numerator), int(denominator)))


def _numbers(raw: Mapping[str, Any], name: str) -> dict[str, int]:
    """One of the market document's maps (absent in older books: empty)."""
    return {k: _whole(v, k) for k, v in raw.get(name, {}).items()}


def _whole(value: object, name: str) -> int:
    """A JSON number that must be an int: a float (``1.5`` or ``2.0``) is refused, never
    truncated by ``int()``."""
    if type(value) is not int:
        code = Result.quantity_invalid if name == "lots" else Result.price_invalid
        raise InputError(code, f"{name}: {value!r} is not an integer")
    return value


def _instrument_document(instrument: Instrument) -> dict[str, Any]:
    document = {
        "symbol": instrument.symbol, "kind": instrument.kind.value,
        "underlying": instrument.underlying, "settlement": instrument.settlement,
        "settlement_scale": instrument.settlement_scale, "price_scale": instrument.price_scale,
        "tick_units": instrument.tick_units, "size_units": instrument.size_units,
        "size_scale": instrument.size_scale, "inverse": instrument.inverse,
        "tiers": instrument.tiers, "expiry_ns": instrument.expiry_ns,
        "strike_units": instrument.strike_units, "strike_scale": instrument.strike_scale,
    }
    if instrument.option_type is not None:
        document["option_type"] = instrument.option_type.value
    return document


def _instrument_of(document: Mapping[str, Any]) -> Instrument:
    values = dict(document)
    values["kind"] = InstrumentKind(values["kind"])
    if "option_type" in values:
        values["option_type"] = OptionType(values["option_type"])
    return Instrument(**values)
