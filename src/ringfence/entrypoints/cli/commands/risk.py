"""``ringfence risk ...``: scan margin buckets, check orders, import fills, build a venue.

The venue's book (instruments, buckets, positions, applied fill ids, the last market data and
the risk configuration) lives in a JSON file given by ``--book`` (default ``risk-book.json``);
collateral balances come from the ledger in ``--db``. Money in every document is a decimal
string in the settlement asset; Greeks are plain numbers. Each command calls one function of
``service/risk_book.py`` (``venue``: of the demo) and prints what it returns.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Annotated

import typer

from ringfence import bootstrap
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
from ringfence.service import risk_book

name = "risk"
app = typer.Typer(help="Margin buckets: scans, pre-trade checks, fills.", no_args_is_help=True)

BookOption = Annotated[
    Path, typer.Option("--book", help="The venue's book (JSON).", dir_okay=False)
]


@app.command("scan")
def scan(
    context: typer.Context,
    book: BookOption = Path("risk-book.json"),
    executor: Annotated[str | None, typer.Option(
        "--executor", help="Scan the buckets as a batch run: in-process, dask-local:N or "
        "dask://HOST:PORT (the same figures either way).")] = None,
    json_output: JsonOption = False,
) -> None:
    """Equity, initial and maintenance requirement, health and Greeks of every bucket."""
    with reported(json_output), opened(context) as ledger:
        if executor is None:
            document = risk_book.scan(ledger, bootstrap.risk_book(book))
        else:
            with bootstrap.executor(executor) as runs_on:
                document = risk_book.scan(ledger, bootstrap.risk_book(book), runs_on)
    if json_output:
        write_json(document)
        return
    table = new_table("bucket", "mode", "equity", "initial", "maintenance", "health", "delta")
    for row in document["results"]:
        table.add_row(row["bucket"], row["mode"], row["equity"], row["initial"],
                      row["maintenance"], row["health"], f"{row['delta']:.4f}")
    console().print(table)
    say(f"{document['buckets']} buckets scanned in {document['scan_ms']:.1f} ms")


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
        document = risk_book.check(ledger, bootstrap.risk_book(book), bucket, order)
    if json_output:
        write_json(document)
    else:
        verdict = "accepted" if document["accepted"] else "refused"
        say(f"{bucket}: {verdict} (equity {document['equity']}, initial {document['initial']})")
    finish(document["accepted"])


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
        lines = ((line.number, line.text) for line in read_lines(file))
        document = risk_book.apply_fill_lines(ledger, bootstrap.risk_book(book), lines)
    rows = document["results"]
    if json_output:
        write_json(document)
    else:
        applied = sum(row["result"] == "ok" for row in rows)
        say(f"{applied} fills applied, {len(rows) - applied} not")
    finish(document["ok"])


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
    from ringfence.demo.risk import venue_buckets_max, venue_buckets_min, write_venue

    if not venue_buckets_min <= buckets <= venue_buckets_max:
        raise typer.BadParameter("between 3 and 300,000", param_hint="--buckets")
    with reported(json_output), progress_bar(json_output) as progress:
        clock = bootstrap.simulated_clock(time.time_ns())
        with opened(context, create=True, clock=clock) as ledger:
            summary = write_venue(ledger, bootstrap.risk_book(book), buckets, seed, progress)
    if json_output:
        write_json({"ok": True, "book": str(book), **summary})
    else:
        say(f"venue with {summary['buckets']} buckets; book written to {book}")
