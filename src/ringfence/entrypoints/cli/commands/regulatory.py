"""``ringfence regulatory ...``: the reports regulators ask for beyond the daily segregation
statement.

- ``possession``: possession and control per custody pool and asset (R4), and the breaks its
  shortfalls open, each with its cure;
- ``residual-deadline``: residual interest against the undermargined amounts, and the deadline's
  status (CFTC 1.22(c));
- ``collateral``: the weekly crypto-collateral report, per asset, pool and location (CFTC
  tokenised-collateral pilot);
- ``sub-custodians``: the sub-custodian register as of a time, with its findings;
- ``insurance``: covered and uncovered holdings per asset and tier, and the hot-wallet alert;
- ``in-kind``: the in-kind return schedule of a failure scenario (MiCA), per client, pool and
  asset, with the order of the steps (``--csv`` for the rows).

One group, not five top-level words: the reports share their inputs (``--as-of``,
``--observations``, the register) and their reader (compliance), and ``regulatory`` is the
domain's name in every layer (core/regulatory/, service/regulatory.py). Each command parses its
options, calls one function of service/regulatory.py and renders what it returns; file formats
are in docs/regulatory.md. Nothing is journaled, except a residual-interest deadline check
given ``--record`` (then a breach is a ``regulatory.breach`` event), a register given
``--record`` (then its version is evidence in the journal) and a possession check given
``--record`` (then its breaks are carried, with their age, to the next check).
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer

from ringfence import bootstrap
from ringfence.entrypoints.cli.output import (
    JsonOption,
    console,
    new_table,
    opened,
    reported,
    say,
    write_json,
)
from ringfence.service import regulatory as service
from ringfence.service.csv_cells import csv_text

name = "regulatory"
app = typer.Typer(
    help="Possession and control, residual-interest deadline, weekly collateral report, "
    "sub-custodian register, insurance cover.",
    no_args_is_help=True,
)


def _file(option: str, text: str) -> Any:
    return typer.Option(option, dir_okay=False, help=text)


AsOfOption = Annotated[
    str | None,
    typer.Option("--as-of", help="ns, ISO-8601 UTC or a date (its close). Default: now."),
]
ObservationsOption = Annotated[
    Path | None,
    _file("--observations", "Saved holdings (JSON lines); without, holdings are the book."),
]
RegisterOption = Annotated[Path | None, _file("--register", "The sub-custodian register.")]
PricesOption = Annotated[Path, _file("--prices", "Prices (JSON), as `statement client` reads.")]


def _name(path: Path | None) -> str | None:
    return None if path is None else str(path)


def _table(title: str, columns: tuple[str, ...], rows: list[dict[str, Any]]) -> None:
    table = new_table(*columns, title=title)
    for row in rows:
        table.add_row(*(str(row[key]) for key in columns))
    console().print(table)


def _alerts(document: dict[str, Any]) -> None:
    alerts = document.get("alerts") or []
    say(f"alerts: {', '.join(alerts)}" if alerts else "alerts: none")


@app.command("possession")
def possession(
    context: typer.Context,
    *,
    as_of: AsOfOption = None,
    observations: ObservationsOption = None,
    register: RegisterOption = None,
    record: Annotated[
        bool, typer.Option("--record", help="Journal the check: its breaks keep their age.")
    ] = False,
    json_output: JsonOption = False,
) -> None:
    """Possession and control per custody pool and asset (R4), and the breaks it opens."""
    with reported(json_output), opened(context) as ledger:
        document = service.possession_and_control(
            ledger,
            bootstrap.regulatory_files(),
            as_of=as_of,
            observations=_name(observations),
            register=_name(register),
            record=record,
        )
    if json_output:
        write_json(document)
        return
    columns = (
        "pool",
        "asset",
        "entitlement",
        "controlled",
        "approved_sub_custodians",
        "unapproved_sub_custodians",
        "encumbered",
        "deficit",
        "excess",
    )
    _table(f"possession and control as of {document['as_of']}", columns, document["pools"])
    for broken in document["breaks"]:
        say(
            f"break {broken['id']}: {broken['pool']} {broken['asset']} short "
            f"{broken['shortfall']}, first seen {broken['first_seen']} ({broken['age_s']} s); "
            f"cure: {broken['cure']['code']} of {broken['cure']['amount']}"
        )
    for gone in document["closed_breaks"]:
        say(f"break {gone['id']}: {gone['pool']} {gone['asset']} closed {gone['closed_at']}")
    if document["journal_seq"] is not None:
        say(f"recorded: journal entry {document['journal_seq']}")
    _alerts(document)


@app.command("residual-deadline")
def residual_deadline(
    context: typer.Context,
    *,
    requirements: Annotated[
        Path, _file("--requirements", "Margin required per pool, asset, client; the deadline.")
    ],
    as_of: AsOfOption = None,
    observations: ObservationsOption = None,
    settings: Annotated[
        Path | None, _file("--settings", "Residual-interest targets, as `reconcile` reads.")
    ] = None,
    record: Annotated[
        bool, typer.Option("--record", help="Journal the check: a breach becomes an event.")
    ] = False,
    json_output: JsonOption = False,
) -> None:
    """Residual interest against Σ undermargined, and the deadline's status (CFTC 1.22(c))."""
    with reported(json_output), opened(context) as ledger:
        document = service.residual_interest_deadline(
            ledger,
            bootstrap.regulatory_files(),
            requirements_file=str(requirements),
            as_of=as_of,
            observations=_name(observations),
            settings=_name(settings),
            record=record,
        )
    if json_output:
        write_json(document)
        return
    columns = (
        "pool",
        "asset",
        "residual_interest",
        "targeted_residual_interest",
        "undermargined",
        "cover_shortfall",
        "deadline_status",
    )
    _table(f"residual interest, deadline {document['deadline']}", columns, document["lines"])
    _alerts(document)
    if document["journal_seq"] is not None:
        say(f"journaled as entry {document['journal_seq']}")


@app.command("collateral")
def collateral(
    context: typer.Context,
    *,
    haircuts: Annotated[Path, _file("--haircuts", "Haircut per asset (basis points).")],
    prices: PricesOption,
    as_of: AsOfOption = None,
    observations: ObservationsOption = None,
    register: RegisterOption = None,
    json_output: JsonOption = False,
) -> None:
    """The weekly crypto-collateral report per asset, pool and location."""
    with reported(json_output), opened(context) as ledger:
        document = service.weekly_collateral_report(
            ledger,
            bootstrap.regulatory_files(),
            haircuts=str(haircuts),
            prices=str(prices),
            as_of=as_of,
            observations=_name(observations),
            register=_name(register),
        )
    if json_output:
        write_json(document)
        return
    columns = (
        "asset",
        "pool",
        "location",
        "segregated",
        "quantity",
        "price",
        "haircut_bps",
        "value",
        "value_after_haircut",
    )
    _table(
        f"crypto collateral as of {document['as_of']} ({document['quote']})",
        columns,
        document["lines"],
    )


@app.command("sub-custodians")
def sub_custodians(
    context: typer.Context,
    *,
    register: Annotated[Path, _file("--register", "The sub-custodian register.")],
    as_of: AsOfOption = None,
    observations: ObservationsOption = None,
    record: Annotated[
        bool, typer.Option("--record", help="Journal this version of the register (evidence).")
    ] = False,
    json_output: JsonOption = False,
) -> None:
    """The sub-custodian register as of a time, and its findings."""
    with reported(json_output), opened(context) as ledger:
        document = service.sub_custodian_register(
            ledger,
            bootstrap.regulatory_files(),
            register=str(register),
            as_of=as_of,
            observations=_name(observations),
            record=record,
        )
    if json_output:
        write_json(document)
        return
    if document["journal_seq"] is not None:
        say(f"journaled as entry {document['journal_seq']}")
    columns = ("name", "status", "approved_at_as_of", "latest_soc_period_end")
    _table(f"sub-custodians as of {document['as_of']}", columns, document["sub_custodians"])
    for finding in document["findings"]:
        say(
            f"finding: {finding['kind']} {finding['sub_custodian']} {finding['pool']} "
            f"{finding['asset']} {finding.get('amount', '')} {finding['detail']}".rstrip()
        )


@app.command("insurance")
def insurance(
    context: typer.Context,
    *,
    policies: Annotated[Path, _file("--policies", "The insurance policies (JSON).")],
    prices: PricesOption,
    as_of: AsOfOption = None,
    observations: ObservationsOption = None,
    json_output: JsonOption = False,
) -> None:
    """Covered and uncovered holdings per asset and tier; alert on uncovered hot holdings."""
    with reported(json_output), opened(context) as ledger:
        document = service.insurance(
            ledger,
            bootstrap.regulatory_files(),
            policies=str(policies),
            prices=str(prices),
            as_of=as_of,
            observations=_name(observations),
        )
    if json_output:
        write_json(document)
        return
    columns = ("asset", "tier", "quantity", "value", "covered", "uncovered")
    _table(
        f"insurance cover as of {document['as_of']} ({document['quote']})",
        columns,
        document["lines"],
    )
    _alerts(document)


@app.command("in-kind")
def in_kind(
    context: typer.Context,
    *,
    scenario: Annotated[Path, _file("--scenario", "The failure scenario (JSON), as "
                                    "`insolvency simulate` reads it.")],
    csv_output: Annotated[bool, typer.Option("--csv", help="The returns as CSV rows.")] = False,
    json_output: JsonOption = False,
) -> None:
    """What each client would get back in kind on failure, and the order of the steps."""
    from ringfence.service.in_kind import in_kind_return_schedule, row_header, schedule_rows

    with reported(json_output), opened(context) as ledger:
        document = in_kind_return_schedule(ledger, bootstrap.scenario_files(), str(scenario))
    if json_output:
        write_json(document)
        return
    if csv_output:
        typer.echo(csv_text(row_header, schedule_rows(document)), nl=False)
        return
    for step in document["order_of_operations"]:
        say(f"{step['step']}. {step['what']}")
    columns = ("client", "pool", "asset", "standing", "claim", "returned_in_kind",
               "unsecured_claim")  # fmt: skip
    _table(f"in-kind returns on failure at {document['petition_date']}", columns,
           document["returns"])  # fmt: skip
