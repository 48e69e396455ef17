"""``ringfence liquidation ...``: run a liquidation round over the venue's book; show the funds.

The book is the venue's book in the journal of ``--db`` (``ringfence risk``), where the money
moves too. ``run`` scans at the book's market data (or at the
prices given with ``--price``), plans with the core planner, posts each market's chain and
updates the book. Running it again on the same book and prices finds nothing more to do; a
replayed round posts nothing new (the ledger answers ``exists``). Amounts in documents are
decimal strings of the market's settlement asset. Each command calls one function of
``service/liquidation.py`` and prints what it returns.
"""

from __future__ import annotations

from typing import Annotated

import typer

from ringfence.entrypoints.cli.output import (
    JsonOption,
    finish,
    opened,
    reported,
    say,
    write_json,
)
from ringfence.service import liquidation

name = "liquidation"
app = typer.Typer(help="Liquidation rounds, insurance funds, auto-deleveraging.",
                  no_args_is_help=True)


@app.command("run")
def run(
    context: typer.Context,
    *,
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
        document = liquidation.run_round(
            ledger, prices=price or [], takers=taker or [],
            partial_ppm=partial_ppm, slippage_ppm=slippage_ppm, fee_ppm=fee_ppm,
            global_fund=global_fund,
        )
    if json_output:
        write_json(document)
    else:
        say(f"{document['liquidated']} buckets liquidated ({document['partial']} in part), "
            f"{document['deleveraged']} deleveraging fills, {document['transfers']} transfers")
        for symbol, balance in document["insurance"].items():
            say(f"  insurance:{symbol} {balance}")
    finish(document["ok"])


@app.command("funds")
def funds(
    context: typer.Context,
    json_output: JsonOption = False,
) -> None:
    """Each market's insurance fund on the ledger, with its history from the book."""
    with reported(json_output), opened(context) as ledger:
        document = liquidation.funds(ledger)
    if json_output:
        write_json(document)
    else:
        for symbol, balance in document["funds"].items():
            say(f"insurance:{symbol} {balance}")
