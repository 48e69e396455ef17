"""Reconciliation: ``ringfence reconcile``, ``statement ...`` and ``breaks ...``.

``reconcile`` runs the daily reconciliation and journals it. One run computes the segregation
statement (R1) per pool and asset, the internal reconciliation (R5: client liabilities against
custody accounts, with causes), the external reconciliation (R6: each wallet's book against its
observed holdings) and the commingling findings; it journals its summary, coverage lines and
the breaks it opened, aged or cured, so breaks carry over to the next run. Without
``--observations`` funds come from the book and no external reconciliation is made (the
document says ``"funds_basis": "book"``).

``statement`` prints the segregation statement without journaling a run (``segregation``), a
client statement of position (MiCA Art. 75(5): ``client ID --from D --to D``, as JSON, CSV or
HTML) and the register of positions (Art. 75(2): every movement of every client account with
the balance it left). "Statement" names several things; docs/reconciliation.md tells them
apart.

``breaks`` alone lists the ledger's segregation breaks (misdirected deposits, with how much of
each is cured), as it always has. Its subcommands work on the breaks the external
reconciliation opens: ``list`` them, ``explain`` one (its cause and the action decided),
``cure`` one (record the correction and the make-good transfer; it is cured only when both are
recorded and the latest run found no difference). Every action is journaled.

Times (``--as-of``, ``--from``, ``--to``) are nanoseconds since the epoch, an ISO-8601 UTC time
(``2026-11-20T17:00:00Z``) or a date. A date as ``--as-of`` or ``--to`` means the end of that
day (close of business, UTC: the statement covers the whole day); as ``--from``, its start.

Each command parses its options, calls one function of service/recon_requests.py and renders
what it returns.
"""

from __future__ import annotations

import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, Literal

import typer

from ringfence import bootstrap
from ringfence.entrypoints.cli.output import (
    FailOnOption,
    JsonOption,
    alert,
    console,
    finish,
    new_table,
    opened,
    reported,
    say,
    table_keys,
    write_json,
)
from ringfence.service import recon_requests as requests
from ringfence.service.custody import CustodyService
from ringfence.service.recon import ReconService

# Without it, the requirement is summed in this process from the ledger's own state; with it,
# it is a batch run over ranges of clients (the same statement either way).
RequirementExecutor = Annotated[
    str | None,
    typer.Option(
        "--executor",
        help="Sum the segregation requirement as a batch run: "
        "in-process, dask-local:N or dask://HOST:PORT (the same statement either way).",
    ),
]

statement_app = typer.Typer(
    help="Segregation statement, client statements of position, the register of positions.",
    no_args_is_help=True,
)
breaks_app = typer.Typer(
    help="Breaks: the ledger's (no subcommand) and the reconciliation's (list, explain, cure)."
)


def register_commands(root: typer.Typer) -> None:
    root.command("reconcile")(reconcile)
    root.add_typer(statement_app, name="statement")
    root.add_typer(breaks_app, name="breaks")


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
CsvOption = Annotated[bool, typer.Option("--csv", help="Print CSV on stdout.")]
if TYPE_CHECKING:
    CauseWord = str
else:
    # The service's words, as a choice that Typer lists in --help and checks before the service
    # checks them again by name (the API's callers get its named error).
    CauseWord = Literal[requests.cause_names]
BreakId = Annotated[int, typer.Argument(metavar="ID", help="The reconciliation break's id.")]


@contextmanager
def opened_recon(context: typer.Context, executor: str | None = None) -> Iterator[ReconService]:
    """The reconciliation service over the ledger in ``--db`` (closed, and so checkpointed);
    with ``executor``, its segregation requirement is a batch run there."""
    if executor is None:
        with opened(context) as ledger:
            yield ReconService(CustodyService(ledger))
        return
    with bootstrap.executor(executor) as runs_on, opened(context) as ledger:
        yield ReconService(CustodyService(ledger), runs_on)


def _name(path: Path | None) -> str | None:
    return None if path is None else str(path)


def one_format(**chosen: bool) -> None:
    """At most one output format may be asked for."""
    picked = [name for name, on in chosen.items() if on]
    if len(picked) > 1:
        raise typer.BadParameter(f"choose one of {', '.join('--' + n for n in picked)}")


# ---------------------------------------------------------------------- reconcile


def reconcile(
    context: typer.Context,
    *,
    as_of: AsOfOption = None,
    observations: ObservationsOption = None,
    settings: SettingsOption = None,
    html: Annotated[
        Path | None, typer.Option("--html", dir_okay=False, help="Also write an HTML report.")
    ] = None,
    fail_on: FailOnOption = None,
    executor: RequirementExecutor = None,
    json_output: JsonOption = False,
) -> None:
    """Reconcile: segregation statement, internal and external reconciliation, breaks.

    With --fail-on undersegregated,below_target it exits 5 after the report when a custody
    pool has that alert."""
    from ringfence.service import alerting

    with reported(json_output), opened_recon(context, executor) as recon:
        conditions = alerting.parse_fail_on(fail_on, alerting.recon_conditions)
        done = requests.reconcile(recon, bootstrap.recon_files(), as_of, _name(observations),
                                  _name(settings), with_history=html is not None)  # fmt: skip
        document = done.document
        found = alerting.recon_alerts(document, conditions)
        if conditions:
            document["alerts"] = found
        if html is not None:
            from ringfence.entrypoints.pages.recon_report import render_recon_page

            assert done.history is not None
            html.write_text(render_recon_page(done.history), encoding="utf-8")
            document["report_html"] = str(html)
    if json_output:
        write_json(document)
    else:
        print_segregation_statement(document)
        say(
            f"external: {len(document['external'])} wallet lines, "
            f"{document['external_differences']} with a difference; "
            f"{len(document['breaks_open'])} breaks open; {len(document['findings'])} findings"
        )
    alert(found, json_output)


def print_segregation_statement(document: dict[str, Any]) -> None:
    columns = ("pool", "asset", "requirement", "funds", "excess", "target", "alert")
    table = new_table(*columns, title=f"segregation statement as of {document['as_of']}")
    for line in [*document["segregated"], *document["title_transfer"]]:
        table.add_row(*(str(line[key]) for key in columns))
    console().print(table)


# ---------------------------------------------------------------------- statement


@statement_app.command("segregation")
def segregation(
    context: typer.Context,
    *,
    as_of: AsOfOption = None,
    observations: ObservationsOption = None,
    settings: SettingsOption = None,
    executor: RequirementExecutor = None,
    csv_output: CsvOption = False,
    json_output: JsonOption = False,
) -> None:
    """The daily segregation statement per pool and asset (journals nothing)."""
    one_format(json=json_output, csv=csv_output)
    files = bootstrap.recon_files()
    chosen = (as_of, _name(observations), _name(settings))
    with reported(json_output), opened_recon(context, executor) as recon:
        if csv_output:
            text = requests.segregation_statement_csv(recon, files, *chosen)
        else:
            document = requests.segregation_statement(recon, files, *chosen)
    if csv_output:
        sys.stdout.write(text)
    elif json_output:
        write_json(document)
    else:
        print_segregation_statement(document)


@statement_app.command("client")
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
    files = bootstrap.recon_files()
    chosen = _name(prices)
    with reported(json_output), opened_recon(context) as recon:
        if csv_output:
            text = requests.client_statement_csv(recon, files, client_name, from_time=from_time,
                                                 to_time=to_time, prices=chosen)  # fmt: skip
        else:
            document = requests.client_statement(recon, files, client_name, from_time=from_time,
                                                 to_time=to_time, prices=chosen)  # fmt: skip
    if csv_output:
        sys.stdout.write(text)
    elif json_output:
        write_json(document)
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
            if entry["movements"]:
                console().print(_movements_table(entry["movements"]))


def _movements_table(movements: list[dict[str, Any]]) -> Any:
    # The txid is printed whole (folded, never cut): a client checks it in a block explorer.
    table = new_table("time", "transfer", "code", "pool", "amount", "chain", "txid")
    for m in movements:
        table.add_row(
            m["time"], m["transfer_id"], m["code"], m["pool"], m["amount"],
            m["chain"] or "", m["txid"] or "",
        )  # fmt: skip
    return table


@statement_app.command("register")
def register(
    context: typer.Context, csv_output: CsvOption = False, json_output: JsonOption = False
) -> None:
    """The register of positions: every movement of every client account, in journal order."""
    one_format(json=json_output, csv=csv_output)
    with reported(json_output), opened_recon(context) as recon:
        if json_output:
            document = requests.register_of_positions(recon)
        else:
            text = requests.register_of_positions_csv(recon)
    if json_output:
        write_json(document)
    else:
        sys.stdout.write(text)


# ---------------------------------------------------------------------- breaks


@breaks_app.callback(invoke_without_command=True)
def breaks(context: typer.Context, json_output: JsonOption = False) -> None:
    """Without a subcommand: the ledger's segregation breaks (misdirected deposits)."""
    if context.invoked_subcommand is None:
        ledger_breaks(context, json_output)


@breaks_app.command("list")
def list_breaks(
    context: typer.Context,
    include_cured: Annotated[bool, typer.Option("--all", help="Cured breaks too.")] = False,
    json_output: JsonOption = False,
) -> None:
    """The reconciliation's breaks, open ones by default, with age, cause and action."""
    with reported(json_output), opened_recon(context) as recon:
        document = requests.reconciliation_breaks(recon, include_cured)
    if json_output:
        write_json(document)
        return
    columns = ("id", "wallet", "asset", "state", "book", "observed", "difference", "age_s")
    table = new_table(*columns, "cause", "action")
    for row in document["breaks"]:
        table.add_row(*(str(row[key]) for key in (*columns, "cause", "action")))
    console().print(table)


@breaks_app.command("explain")
def explain(
    context: typer.Context,
    break_id: BreakId,
    cause: Annotated[
        CauseWord,
        typer.Option(
            metavar="CAUSE",
            help=f"Why book and holdings differ: {', '.join(requests.cause_names)}.",
        ),
    ],
    action: Annotated[str, typer.Option(help="What will be done (at most 94 characters).")],
    json_output: JsonOption = False,
) -> None:
    """Record a break's cause and the action decided."""
    with reported(json_output), opened_recon(context) as recon:
        document = requests.explain_break(recon, break_id, cause, action)
        _print_break_action(document, json_output)


@breaks_app.command("cure")
def cure(
    context: typer.Context,
    break_id: BreakId,
    correction: Annotated[
        str | None, typer.Option(help="The correction's reference (a transfer, a chain tx).")
    ] = None,
    make_good: Annotated[
        str | None, typer.Option("--make-good", help="The house's transfer into the pool.")
    ] = None,
    json_output: JsonOption = False,
) -> None:
    """Record the correction and/or the make-good transfer (exit 1 while the break stays open).

    A break is cured only when both are recorded and the latest run found no difference; the
    result says what is missing."""
    if correction is None and make_good is None:
        raise typer.BadParameter("give --correction, --make-good or both")
    with reported(json_output), opened_recon(context) as recon:
        document = requests.cure_break(recon, break_id, correction, make_good)
        _print_break_action(document, json_output)


def _print_break_action(document: dict[str, Any], json_output: bool) -> None:
    if json_output:
        write_json(document)
    else:
        say(f"break {document['break']['id']}: {document['result']}; {document['break']['state']}")
    finish(document["ok"])


def ledger_breaks(context: typer.Context, json_output: JsonOption = False) -> None:
    """Segregation breaks (misdirected deposits) and how much of each is cured."""
    with reported(json_output), opened(context) as ledger:
        document = requests.ledger_breaks(ledger)
    if json_output:
        write_json(document)
        return
    table = new_table("id", "pool", "asset", "state", "amount", "cured", "outstanding", "opened_at")
    for row in document["breaks"]:
        table.add_row(*(str(row[key]) for key in table_keys(table)))
    console().print(table)
