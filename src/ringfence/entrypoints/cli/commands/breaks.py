"""``ringfence breaks ...``: the ledger's breaks and the reconciliation's.

``ringfence breaks`` alone lists the ledger's segregation breaks (misdirected deposits, with
how much of each is cured), as it always has. The subcommands work on the breaks the external
reconciliation opens (a wallet's book against its holdings): ``list`` them, ``explain`` one
(its cause and the action decided), ``cure`` one (record the correction and the make-good
transfer; it is cured only when both are recorded and the latest run found no difference).
Every action is journaled.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated

import typer

from ringfence.core import errors
from ringfence.core.ledger.model import check_id
from ringfence.core.money import format_amount
from ringfence.core.recon.breaks import Cause, ReconBreak
from ringfence.entrypoints.cli.output import (
    JsonOption,
    console,
    finish,
    new_table,
    opened,
    reported,
    say,
    table_keys,
    write_json,
)
from ringfence.entrypoints.cli.recon import opened_recon
from ringfence.service.recon import ReconService
from ringfence.service.recon_documents import break_entry, breaks_document

name = "breaks"
app = typer.Typer(
    help="Breaks: the ledger's (no subcommand) and the reconciliation's (list, explain, cure)."
)
BreakId = Annotated[int, typer.Argument(metavar="ID", help="The reconciliation break's id.")]


@app.callback(invoke_without_command=True)
def breaks(context: typer.Context, json_output: JsonOption = False) -> None:
    """Without a subcommand: the ledger's segregation breaks (misdirected deposits)."""
    if context.invoked_subcommand is None:
        ledger_breaks(context, json_output)


@app.command("list")
def list_breaks(
    context: typer.Context,
    include_cured: Annotated[bool, typer.Option("--all", help="Cured breaks too.")] = False,
    json_output: JsonOption = False,
) -> None:
    """The reconciliation's breaks, open ones by default, with age, cause and action."""
    with reported(json_output), opened_recon(context) as recon:
        as_of_ns = recon.as_of(None)
        rows = breaks_document(recon.history, recon.ledger.ledger.assets, as_of_ns, include_cured)
    if json_output:
        write_json({"ok": True, "breaks": rows})
        return
    columns = ("id", "wallet", "asset", "state", "book", "observed", "difference", "age_s")
    table = new_table(*columns, "cause", "action")
    for row in rows:
        table.add_row(*(str(row[key]) for key in (*columns, "cause", "action")))
    console().print(table)


@app.command("explain")
def explain(
    context: typer.Context,
    break_id: BreakId,
    cause: Annotated[Cause, typer.Option(help="Why book and holdings differ.")],
    action: Annotated[str, typer.Option(help="What will be done (at most 94 characters).")],
    json_output: JsonOption = False,
) -> None:
    """Record a break's cause and the action decided."""
    with reported(json_output), opened_recon(context) as recon:
        result, after = recon.explain(break_id, cause, action)
        _print(recon, result, after, json_output)


@app.command("cure")
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
        result = errors.Result.ok
        if correction is not None:
            result, after = recon.correct(break_id, correction)
        if make_good is not None:
            result, after = recon.make_good(break_id, check_id(make_good, "--make-good"))
        _print(recon, result, after, json_output)


def _print(
    recon: ReconService, result: errors.Result, after: ReconBreak, json_output: bool
) -> None:
    entry = break_entry(after, recon.ledger.ledger.assets, recon.as_of(None))
    if json_output:
        write_json({"ok": result.succeeded, "result": result.value, "break": entry})
    else:
        say(f"break {entry['id']}: {result.value}; {entry['state']}")
    finish(result.succeeded)


def ledger_breaks(context: typer.Context, json_output: JsonOption = False) -> None:
    """Segregation breaks (misdirected deposits) and how much of each is cured."""
    with reported(json_output), opened(context) as ledger:
        by_number = ledger.ledger.assets_by_number
        rows = []
        for broken in ledger.breaks():
            asset = by_number[broken.asset]
            seconds, nanoseconds = divmod(broken.opened_at, 10**9)
            opened_at = datetime.fromtimestamp(seconds, UTC).replace(
                microsecond=nanoseconds // 1000
            )
            rows.append(
                {
                    "id": str(broken.id),
                    "pool": broken.pool,
                    "asset": asset.code,
                    "state": broken.state.value,
                    "amount": format_amount(broken.amount, asset),
                    "cured": format_amount(broken.cured, asset),
                    "outstanding": format_amount(broken.outstanding, asset),
                    "opened_at": opened_at.isoformat().replace("+00:00", "Z"),
                    "opened_at_ns": str(broken.opened_at),
                }
            )
    if json_output:
        write_json({"ok": True, "breaks": rows})
        return
    table = new_table("id", "pool", "asset", "state", "amount", "cured", "outstanding", "opened_at")
    for row in rows:
        table.add_row(*(str(row[key]) for key in table_keys(table)))
    console().print(table)
