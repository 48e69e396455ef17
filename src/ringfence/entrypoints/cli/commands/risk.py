"""``ringfence risk ...``: scan margin buckets, check orders, apply fills, build a venue.

The venue's book (instruments, buckets, positions, applied fills, the last market data and
the risk configuration) lives in the journal of ``--db``, beside the collateral balances
(docs/risk.md); ``import-book`` brings in a book kept as a JSON file by earlier versions.
Money in every document is a decimal string in the settlement asset; Greeks are plain
numbers. Each command calls one function of ``service/risk_book.py`` (``venue``: of the demo)
and prints what it returns.
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

BookFile = Annotated[
    Path, typer.Argument(help="A venue's book kept as a JSON file.", dir_okay=False)
]


@app.command("scan")
def scan(
    context: typer.Context,
    executor: Annotated[str | None, typer.Option(
        "--executor", help="Scan the buckets as a batch run: in-process, dask-local:N or "
        "dask://HOST:PORT (the same figures either way).")] = None,
    json_output: JsonOption = False,
) -> None:
    """Equity, initial and maintenance requirement, health and Greeks of every bucket."""
    with reported(json_output), opened(context) as ledger:
        if executor is None:
            document = risk_book.scan(ledger)
        else:
            with bootstrap.executor(executor) as runs_on:
                document = risk_book.scan(ledger, runs_on)
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
    json_output: JsonOption = False,
) -> None:
    """Would the bucket still cover initial margin with these orders filled?"""
    with reported(json_output), opened(context) as ledger:
        document = risk_book.check(ledger, bucket, order)
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
    json_output: JsonOption = False,
) -> None:
    """Apply a JSONL file of fills (one side each): {"id", "bucket", "symbol", "lots",
    "price" (decimal string), "fee" (minor units, optional)}; each fill is journaled with
    its fee."""
    with reported(json_output), opened(context) as ledger:
        lines = ((line.number, line.text) for line in read_lines(file))
        document = risk_book.apply_fill_lines(ledger, lines)
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
    json_output: JsonOption = False,
) -> None:
    """Build a synthetic venue in the database (fills, a settlement cycle, funding, a scan),
    its book journaled."""
    from ringfence.demo.risk import venue_buckets_max, venue_buckets_min, write_venue

    if not venue_buckets_min <= buckets <= venue_buckets_max:
        raise typer.BadParameter("between 3 and 300,000", param_hint="--buckets")
    with reported(json_output), progress_bar(json_output) as progress:
        clock = bootstrap.simulated_clock(time.time_ns())
        with opened(context, create=True, clock=clock) as ledger:
            summary = write_venue(ledger, buckets, seed, progress)
    if json_output:
        write_json({"ok": True, **summary})
    else:
        say(f"venue with {summary['buckets']} buckets; its book is in the journal")


@app.command("import-book")
def import_book(
    context: typer.Context,
    file: BookFile,
    json_output: JsonOption = False,
) -> None:
    """Journal a venue's book kept as a JSON file by earlier versions (once, into a journal
    that holds no book)."""
    with reported(json_output), opened(context) as ledger:
        document = risk_book.import_book(ledger, bootstrap.risk_book(file).read())
    if json_output:
        write_json(document)
    else:
        say(f"imported {document['instruments']} instruments, {document['buckets']} buckets "
            f"and {document['positions']} positions into the journal")
