"""``ringfence liquidation ...``: run a liquidation round over the venue's book; show the funds.

The book is the JSON file of ``ringfence risk`` (``--book``, default ``risk-book.json``); the
money moves through the ledger in ``--db``. ``run`` scans at the book's market data (or at the
prices given with ``--price``), plans with the core planner, posts each market's chain and
updates the book. Running it again on the same book and prices finds nothing more to do; a
replayed round posts nothing new (the ledger answers ``exists``). Amounts in documents are
decimal strings of the market's settlement asset.
"""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path
from typing import Annotated

import typer

from ringfence.core.errors import InputError, Result
from ringfence.core.liquidation.records import LiquidationPolicy
from ringfence.core.money import Asset, format_signed_amount
from ringfence.core.risk.instruments import parse_price
from ringfence.entrypoints.cli.commands.risk import BookOption, _read_book, _write_book
from ringfence.entrypoints.cli.output import JsonOption, opened, reported, say, write_json
from ringfence.service.liquidation import LiquidationService, outcome_document
from ringfence.service.risk import MarketData, RiskService, book_document, load_book

name = "liquidation"
app = typer.Typer(help="Liquidation rounds, insurance funds, auto-deleveraging.",
                  no_args_is_help=True)



@app.command("run")
def run(
    context: typer.Context,
    *,
    book: BookOption = Path("risk-book.json"),
    price: Annotated[
        list[str] | None,
        typer.Option("--price", help="SYMBOL=PRICE: a new mark (decimal string), repeatable."),
    ] = None,
    taker: Annotated[
        list[str] | None,
        typer.Option("--taker", help="SYMBOL=BUCKET: who takes the market's close orders."),
    ] = None,
    partial_ppm: Annotated[int, typer.Option(help="Share of a position closed first.")] = 500_000,
    slippage_ppm: Annotated[int, typer.Option(help="Fillable price against the mark.")] = 5_000,
    fee_ppm: Annotated[int, typer.Option(help="Fee to the market's fund.")] = 5_000,
    global_fund: Annotated[
        bool, typer.Option("--global-fund", help="Let the global fund pay after a market's.")
    ] = False,
    json_output: JsonOption = False,
) -> None:
    """Scan, plan and post one liquidation round; update the book."""
    with reported(json_output), opened(context) as ledger:
        risk, market = load_book(ledger, _read_book(book))
        if market is None:
            raise InputError(Result.mark_price_missing, "the book holds no market data")
        market = _with_prices(risk, market, price or [])
        for text in taker or []:
            symbol, bucket = _pair(text)
            if symbol not in risk.instruments:
                raise InputError(Result.instrument_not_found, symbol)
            risk.takers[symbol] = bucket
        policy = LiquidationPolicy(partial_ppm, slippage_ppm, fee_ppm, global_fund)
        outcome = LiquidationService(risk, policy).liquidate(market)
        _write_book(book, book_document(risk, market))
        document = outcome_document(outcome, _market_assets(risk, dict(ledger.ledger.assets)))
    if json_output:
        write_json(document)
    else:
        say(f"{document['liquidated']} buckets liquidated ({document['partial']} in part), "
            f"{document['deleveraged']} deleveraging fills, {document['transfers']} transfers")
        for symbol, balance in document["insurance"].items():
            say(f"  insurance:{symbol} {balance}")
    if not outcome.ok:
        raise typer.Exit(1)


@app.command("funds")
def funds(
    context: typer.Context,
    book: BookOption = Path("risk-book.json"),
    json_output: JsonOption = False,
) -> None:
    """Each market's insurance fund on the ledger, with its history from the book."""
    with reported(json_output), opened(context) as ledger:
        risk, _ = load_book(ledger, _read_book(book))
        assets = _market_assets(risk, dict(ledger.ledger.assets))
        balances = LiquidationService(risk).insurance_balances()
        funds = {symbol: format_signed_amount(units, assets[symbol])
                 for symbol, units in balances.items()}
        document = {"ok": True, "funds": funds, "halted": sorted(risk.halted),
                    "history": risk.insurance_history}
    if json_output:
        write_json(document)
    else:
        for symbol, balance in funds.items():
            say(f"insurance:{symbol} {balance}")


def _pair(text: str) -> tuple[str, str]:
    symbol, separator, value = text.partition("=")
    if not separator or not symbol or not value:
        raise InputError(Result.line_malformed, f"{text!r}: SYMBOL=VALUE")
    return symbol, value


def _with_prices(risk: RiskService, market: MarketData, prices: list[str]) -> MarketData:
    """The book's market data with the given marks (futures and perpetuals only: an option's
    scan input is the underlying's forward, not a premium)."""
    if not prices:
        return market
    updated = dict(market.prices)
    for text in prices:
        symbol, value = _pair(text)
        instrument = risk.instruments.get(symbol)
        if instrument is None:
            raise InputError(Result.instrument_not_found, symbol)
        if instrument.option_type is not None:
            raise InputError(Result.instrument_invalid, f"{symbol}: set futures' marks only")
        updated[symbol] = parse_price(value, instrument)
    return replace(market, prices=updated)


def _market_assets(risk: RiskService, assets: dict[str, Asset]) -> dict[str, Asset]:
    return {symbol: assets[i.settlement] for symbol, i in risk.instruments.items()}
