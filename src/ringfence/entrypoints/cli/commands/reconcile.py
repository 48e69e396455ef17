"""``ringfence reconcile``: run the daily reconciliation and journal it.

One run computes the segregation statement (R1) per pool and asset, the internal
reconciliation (R5: client liabilities against custody accounts, with causes), the external
reconciliation (R6: each wallet's book against its observed holdings) and the commingling
findings; it journals its summary, coverage lines and the breaks it opened, aged or cured, so
breaks carry over to the next run. Without ``--observations`` funds come from the book and no
external reconciliation is made (the document says ``"funds_basis": "book"``).
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from ringfence.entrypoints.cli.output import (
    JsonOption,
    console,
    new_table,
    reported,
    say,
    write_json,
)
from ringfence.entrypoints.cli.recon import (
    observations_of,
    opened_recon,
    parse_time,
    settings_of,
)
from ringfence.service.recon_documents import history_document, reconciliation_document

name = "reconcile"

AsOfOption = Annotated[
    str | None,
    typer.Option(
        "--as-of",
        help="The statement's time: ns, ISO-8601 UTC or a date (its close). Default: now.",
    ),
]
ObservationsOption = Annotated[
    Path | None,
    typer.Option(
        "--observations",
        dir_okay=False,
        help="Saved holdings: JSON lines of chain, address, asset, amount (minor units), "
        "height, time_ns, source.",
    ),
]
SettingsOption = Annotated[
    Path | None,
    typer.Option(
        "--settings",
        dir_okay=False,
        help="Residual-interest targets per pool and asset and the commingling tolerance (JSON).",
    ),
]


def command(
    context: typer.Context,
    *,
    as_of: AsOfOption = None,
    observations: ObservationsOption = None,
    settings: SettingsOption = None,
    html: Annotated[
        Path | None, typer.Option("--html", dir_okay=False, help="Also write an HTML report.")
    ] = None,
    json_output: JsonOption = False,
) -> None:
    """Reconcile: segregation statement, internal and external reconciliation, breaks."""
    with reported(json_output), opened_recon(context) as recon:
        assets = recon.ledger.ledger.assets
        as_of_ns = parse_time(as_of, "--as-of", end_of_day=True)
        seen = observations_of(observations, recon.ledger)
        run = recon.run(as_of_ns, seen, settings_of(settings, recon.ledger))
        document = {"ok": True, **reconciliation_document(run, recon.history, assets)}
        if html is not None:
            from ringfence.entrypoints.pages.recon_report import render_recon_page

            page = render_recon_page(history_document(run, recon.history, assets))
            html.write_text(page, encoding="utf-8")
            document["report_html"] = str(html)
    if json_output:
        write_json(document)
        return
    print_statement(document)
    say(
        f"external: {len(document['external'])} wallet lines, "
        f"{document['external_differences']} with a difference; "
        f"{len(document['breaks_open'])} breaks open; {len(document['findings'])} findings"
    )


def print_statement(document: dict[str, object]) -> None:
    columns = ("pool", "asset", "requirement", "funds", "excess", "target", "alert")
    table = new_table(*columns, title=f"segregation statement as of {document['as_of']}")
    lines = [*document["segregated"], *document["title_transfer"]]  # type: ignore[misc]
    for line in lines:
        table.add_row(*(str(line[key]) for key in columns))
    console().print(table)
