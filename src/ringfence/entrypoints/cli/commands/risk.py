"""``ringfence risk ...``: scan margin buckets, check orders, import fills, build a venue.

The venue's book (instruments, buckets, positions, applied fill ids, the last market data and
the risk configuration) lives in a JSON file given by ``--book`` (default ``risk-book.json``);
collateral balances come from the ledger in ``--db``. Money in every document is a decimal
string in the settlement asset; Greeks are plain numbers.
"""

from __future__ import annotations

import json
import re
import time
from pathlib import Path
from typing import Annotated, Any

import typer

from ringfence import bootstrap
from ringfence.core.errors import InputError, Result
from ringfence.core.money import Asset, format_signed_amount
from ringfence.core.risk.instruments import parse_price
from ringfence.core.risk.scan import Health
from ringfence.core.risk.settlement import Fill
from ringfence.entrypoints.cli.lines import read_lines
from ringfence.entrypoints.cli.output import (
    JsonlFile,
    JsonOption,
    console,
    finish,
    new_table,
    opened,
    progress_bar,
    reported,
    say,
    write_json,
)
from ringfence.service.ledger import LedgerService
from ringfence.service.risk import RiskService, ScanState, book_document, load_book

name = "risk"
app = typer.Typer(help="Margin buckets: scans, pre-trade checks, fills.", no_args_is_help=True)

BookOption = Annotated[
    Path, typer.Option("--book", help="The venue's book (JSON).", dir_okay=False)
]
_order_pattern = re.compile(
    r"(?P<symbol>[a-z0-9][a-z0-9_.:-]*):(?P<lots>-?[0-9]+)@(?P<price>\S+)\Z"
)


def _read_book(path: Path) -> dict[str, Any]:
    try:
        document = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise InputError(Result.field_required, f"no risk book at {path}") from None
    except (json.JSONDecodeError, UnicodeDecodeError) as error:
        raise InputError(Result.line_malformed, f"risk book {path}: {error}") from None
    if not isinstance(document, dict):
        raise InputError(Result.line_malformed, f"risk book {path} is not an object")
    return document


def _write_book(path: Path, document: dict[str, Any]) -> None:
    temporary = path.with_suffix(path.suffix + ".tmp")
    temporary.write_text(json.dumps(document, indent=1), encoding="utf-8")
    temporary.replace(path)


def _assets(ledger: LedgerService) -> dict[str, Asset]:
    return dict(ledger.ledger.assets)


@app.command("scan")
def scan(
    context: typer.Context,
    book: BookOption = Path("risk-book.json"),
    json_output: JsonOption = False,
) -> None:
    """Equity, initial and maintenance requirement, health and Greeks of every bucket."""
    with reported(json_output), opened(context) as ledger:
        service, market = load_book(ledger, _read_book(book))
        if market is None:
            raise InputError(Result.mark_price_missing, "the book holds no market data")
        started = time.perf_counter()
        state = service.scan(market)
        elapsed_ms = (time.perf_counter() - started) * 1000
        rows = scan_rows(state, _assets(ledger))
    document = {"ok": True, "buckets": len(rows), "scan_ms": round(elapsed_ms, 3),
                "scenarios": list(state.arrays.scenarios.names), "results": rows}
    if json_output:
        write_json(document)
        return
    table = new_table("bucket", "mode", "equity", "initial", "maintenance", "health", "delta")
    for row in rows:
        table.add_row(row["bucket"], row["mode"], row["equity"], row["initial"],
                      row["maintenance"], row["health"], f"{row['delta']:.4f}")
    console().print(table)
    say(f"{len(rows)} buckets scanned in {elapsed_ms:.1f} ms")


def scan_rows(state: ScanState, assets: dict[str, Asset]) -> list[dict[str, Any]]:
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


@app.command("check")
def check(
    context: typer.Context,
    bucket: Annotated[str, typer.Argument(help="The bucket to check.")],
    order: Annotated[
        list[str], typer.Option("--order", help="SYMBOL:LOTS@PRICE, e.g. btc-usdc-perp:5@65000.5")
    ],
    book: BookOption = Path("risk-book.json"),
    json_output: JsonOption = False,
) -> None:
    """Would the bucket still cover initial margin with these orders filled?"""
    with reported(json_output), opened(context) as ledger:
        service, market = load_book(ledger, _read_book(book))
        if market is None:
            raise InputError(Result.mark_price_missing, "the book holds no market data")
        orders = [_parse_order(text, service) for text in order]
        service.scan(market)
        started = time.perf_counter()
        result = service.check(bucket, orders)
        elapsed_ms = (time.perf_counter() - started) * 1000
        asset = _assets(ledger)[service.buckets[bucket].settlement]
    document = {
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
    if json_output:
        write_json(document)
    else:
        verdict = "accepted" if result.accepted else "refused"
        say(f"{bucket}: {verdict} (equity {document['equity']}, initial {document['initial']})")
    finish(result.accepted)


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


@app.command("fills")
def fills(
    context: typer.Context,
    file: JsonlFile,
    book: BookOption = Path("risk-book.json"),
    json_output: JsonOption = False,
) -> None:
    """Apply a JSONL file of fills (one side each): {"id", "bucket", "symbol", "lots",
    "price" (decimal string), "fee" (minor units, optional)}. Updates the book file."""
    with reported(json_output), opened(context) as ledger:
        document = _read_book(book)
        service, market = load_book(ledger, document)
        rows: list[dict[str, Any]] = []
        parsed: list[Fill] = []
        for line in read_lines(file):
            if line.is_blank:
                continue
            try:
                parsed.append(_parse_fill(line.text_or_raise(), service))
                rows.append({"line": line.number, "result": None})
            except InputError as error:
                rows.append({"line": line.number, "result": error.code.value})
        results = iter(service.apply_fills(parsed))
        for row in rows:
            if row["result"] is None:
                row["result"] = next(results).value
        _write_book(book, book_document(service, market))
    ok = all(row["result"] in ("ok", "exists") for row in rows)
    if json_output:
        write_json({"ok": ok, "results": rows})
    else:
        applied = sum(row["result"] == "ok" for row in rows)
        say(f"{applied} fills applied, {len(rows) - applied} not")
    finish(ok)


def _parse_fill(text: bytes, service: RiskService) -> Fill:
    try:
        raw = json.loads(text)
    except (json.JSONDecodeError, UnicodeDecodeError):
        raise InputError(Result.line_malformed) from None
    if not isinstance(raw, dict):
        raise InputError(Result.line_malformed)
    unknown = set(raw) - {"id", "bucket", "symbol", "lots", "price", "fee"}
    if unknown:
        raise InputError(Result.field_unknown, ", ".join(sorted(unknown)))
    instrument = service.instruments.get(raw.get("symbol", ""))
    if instrument is None:
        raise InputError(Result.instrument_not_found, str(raw.get("symbol")))
    fill_id: Any = raw.get("id")
    if isinstance(fill_id, str) and fill_id.isdigit():
        fill_id = int(fill_id)
    lots: Any = raw.get("lots")
    fee: Any = raw.get("fee", 0)
    if isinstance(fee, float):  # int() would truncate 1.7 to 1: refuse, never round
        raise InputError(Result.amount_must_not_be_float, f"fee {fee!r}")
    return Fill(
        fill_id, str(raw.get("bucket", "")), instrument.symbol, lots,
        parse_price(raw.get("price"), instrument), fee,
    )


@app.command("venue")
def venue(
    context: typer.Context,
    buckets: Annotated[int, typer.Option(help="Buckets to open (a third per mode).")] = 3_000,
    seed: Annotated[int, typer.Option(help="Random seed.")] = 7,
    book: BookOption = Path("risk-book.json"),
    json_output: JsonOption = False,
) -> None:
    """Build a synthetic venue in the database (fills, a settlement cycle, funding, a scan)
    and write its book."""
    from ringfence.demo.risk import build_venue

    if not 3 <= buckets <= 300_000:
        raise typer.BadParameter("between 3 and 300,000", param_hint="--buckets")
    with reported(json_output), progress_bar(json_output) as progress:
        clock = bootstrap.simulated_clock(time.time_ns())
        with opened(context, create=True, clock=clock) as ledger:
            service, market, summary = build_venue(ledger, buckets, seed, progress)
            _write_book(book, book_document(service, market))
    if json_output:
        write_json({"ok": True, "book": str(book), **summary})
    else:
        say(f"venue with {summary['buckets']} buckets; book written to {book}")
