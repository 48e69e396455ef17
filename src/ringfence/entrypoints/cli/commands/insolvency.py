"""``ringfence insolvency simulate --scenario FILE``: if the firm failed, what would each
client get back, as it is segregated and as if it were commingled?

The scenario file's format is in docs/insolvency.md. With ``--json`` the whole document is
printed (every client's recovery, both ways); without, a summary and the first clients.
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
    progress_bar,
    reported,
    say,
    write_json,
)

name = "insolvency"
app = typer.Typer(
    help="Simulate the firm's failure: who gets what back, segregated and commingled.",
    no_args_is_help=True,
)
ScenarioFile = Annotated[
    Path,
    typer.Option("--scenario", help="The failure scenario (JSON, docs/insolvency.md).",
                 exists=True, dir_okay=False, readable=True),
]


SimulationExecutor = Annotated[
    str | None,
    typer.Option("--executor", help="Run the clients' part as a batch run in client ranges: "
                 "in-process, dask-local:N or dask://HOST:PORT (the same result)."),
]


@app.command("simulate")
def simulate(
    context: typer.Context, scenario: ScenarioFile, json_output: JsonOption = False,
    executor: SimulationExecutor = None,
) -> None:
    """Run a failure scenario on the ledger: classification, tracing, preferences, recovery
    in kind, the estate's waterfall; segregated and commingled side by side. With
    --executor, the clients' part runs as a batch run in client ranges (the same result)."""
    from ringfence.service.insolvency import simulate_scenario_file

    with (reported(json_output), progress_bar(json_output) as progress,
          bootstrap.executor(executor or bootstrap.executor_default) as runs_on,
          opened(context) as ledger):
        files = bootstrap.scenario_files()
        result = simulate_scenario_file(ledger, files, str(scenario), progress,
                                        None if executor is None else runs_on)
    if json_output:
        write_json(result)
        return
    print_summary(result)


def print_summary(result: dict[str, Any]) -> None:
    from ringfence.service.insolvency import insolvency_clients_shown_max as clients_shown

    quote = result["quote"]
    prices = ", ".join(f"{code} {price} {quote}" for code, price in result["prices"].items())
    say(f"petition {result['petition_date']}, payout {result['payout']}, prices {prices}")
    table = new_table("structure", "claims", "recovered", "rate", "estate paid", "admin costs",
                      title="Recovery")
    for key in ("segregated", "commingled"):
        outcome = result[key]
        table.add_row(key, outcome["claims_value"], outcome["recovered_value"],
                      outcome["recovery_rate"], outcome["estate"]["paid_value"],
                      outcome["estate"]["admin_costs_paid"])
    console().print(table)
    bands = new_table("rate band", "segregated", "commingled", title="Clients per recovery rate")
    for index, label in enumerate(result["rate_bands"]):
        bands.add_row(label, str(result["segregated"]["rate_distribution"][index]),
                      str(result["commingled"]["rate_distribution"][index]))
    console().print(bands)
    clients = new_table("client", "claims", "segregated", "commingled",
                        title=f"First {clients_shown} clients")
    for row in result["clients"][:clients_shown]:
        clients.add_row(row["client"], row["claims_value"],
                        row["segregated"]["recovery_rate"], row["commingled"]["recovery_rate"])
    console().print(clients)
    held = [p for p in result["preferences"] if p["held_back"]]
    ignored = [d for d in result["displayed_transfers"] if not d["posted"]]
    say(f"preferences held back: {len(held)}; displayed transfers ignored (never posted): "
        f"{len(ignored)}")
