"""``ringfence statement ...``: the segregation statement, client statements, the register.

- ``statement segregation`` computes the daily segregation statement (R1) without journaling
  a run (``ringfence reconcile`` journals one);
- ``statement client ID --from D --to D`` is a client's statement of position (MiCA Art.
  75(5)): per asset the opening balance, each movement with its reference, the closing
  balance, its value (with ``--prices``) and where it is held, as JSON, CSV or HTML;
- ``statement register`` exports the register of positions (Art. 75(2)): every movement of
  every client account with the balance it left.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from ringfence.entrypoints.cli.commands.reconcile import (
    AsOfOption,
    ObservationsOption,
    SettingsOption,
    print_statement,
)
from ringfence.entrypoints.cli.output import JsonOption, reported, say, write_json
from ringfence.entrypoints.cli.recon import (
    observations_of,
    one_format,
    opened_recon,
    parse_time,
    prices_of,
    settings_of,
    write_csv,
)
from ringfence.service.recon_documents import (
    client_statement_document,
    client_statement_rows,
    register_csv_columns,
    register_rows,
    segregation_document,
    statement_csv_columns,
)

name = "statement"
app = typer.Typer(
    help="Segregation statement, client statements of position, the register of positions.",
    no_args_is_help=True,
)
CsvOption = Annotated[bool, typer.Option("--csv", help="Print CSV on stdout.")]
_segregation_csv = (
    "pool", "asset", "terms", "segregated", "requirement", "funds", "encumbered", "excess",
    "residual_interest_book", "target", "excess_over_target", "alert", "deficits",
)  # fmt: skip


@app.command("segregation")
def segregation(
    context: typer.Context,
    *,
    as_of: AsOfOption = None,
    observations: ObservationsOption = None,
    settings: SettingsOption = None,
    csv_output: CsvOption = False,
    json_output: JsonOption = False,
) -> None:
    """The daily segregation statement per pool and asset (journals nothing)."""
    one_format(json=json_output, csv=csv_output)
    with reported(json_output), opened_recon(context) as recon:
        as_of_ns = parse_time(as_of, "--as-of", end_of_day=True)
        seen = observations_of(observations, recon.ledger)
        result = recon.statement(as_of_ns, seen, settings_of(settings, recon.ledger))
        document = {"ok": True, **segregation_document(result, recon.ledger.ledger.assets)}
    if json_output:
        write_json(document)
    elif csv_output:
        lines = [*document["segregated"], *document["title_transfer"]]
        write_csv(
            _segregation_csv, ([str(line[key]) for key in _segregation_csv] for line in lines)
        )
    else:
        print_statement(document)


@app.command("client")
def client(
    context: typer.Context,
    client_name: Annotated[str, typer.Argument(metavar="ID", help="The client.")],
    *,
    from_time: Annotated[str, typer.Option("--from", help="Start: ns, ISO-8601 or a date.")],
    to_time: Annotated[str, typer.Option("--to", help="End: ns, ISO-8601 or a date (its end).")],
    prices: Annotated[
        Path | None, typer.Option("--prices", dir_okay=False, help="Prices to value (JSON).")
    ] = None,
    csv_output: CsvOption = False,
    html: Annotated[bool, typer.Option("--html", help="Print an HTML page on stdout.")] = False,
    json_output: JsonOption = False,
) -> None:
    """A client's statement of position over a period."""
    one_format(json=json_output, csv=csv_output, html=html)
    with reported(json_output), opened_recon(context) as recon:
        from_ns = parse_time(from_time, "--from")
        to_ns = parse_time(to_time, "--to", end_of_day=True)
        assert from_ns is not None and to_ns is not None
        # --to is inclusive (the end of the day, or the very time given): the period ends after.
        statement = recon.client_statement(client_name, from_ns, to_ns + 1, prices_of(prices))
        assets = recon.ledger.ledger.assets
        document = {"ok": True, **client_statement_document(statement, assets)}
        rows = client_statement_rows(statement, assets)
    if json_output:
        write_json(document)
    elif csv_output:
        write_csv(statement_csv_columns, rows)
    elif html:
        from ringfence.entrypoints.pages.client_statement import render_client_statement

        typer.echo(render_client_statement(document), nl=False)
    else:
        for entry in document["assets"]:
            say(
                f"{entry['asset']}: opening {entry['opening']}, credits {entry['credits']}, "
                f"debits {entry['debits']}, closing {entry['closing']} "
                f"({len(entry['movements'])} movements)"
            )


@app.command("register")
def register(
    context: typer.Context, csv_output: CsvOption = False, json_output: JsonOption = False
) -> None:
    """The register of positions: every movement of every client account, in journal order."""
    one_format(json=json_output, csv=csv_output)
    with reported(json_output), opened_recon(context) as recon:
        assets = recon.ledger.ledger.assets
        rows = [list(row) for row in register_rows(recon.register(), assets)]
    if json_output:
        keys = register_csv_columns
        write_json({"ok": True, "register": [dict(zip(keys, row, strict=True)) for row in rows]})
    else:
        write_csv(register_csv_columns, rows)
