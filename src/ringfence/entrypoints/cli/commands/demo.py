"""``ringfence demo``: a synthetic custodian and venue, their day, and its report."""

from __future__ import annotations

import importlib.util
import json
import time
from pathlib import Path
from typing import Annotated, Any

import typer

from ringfence import bootstrap
from ringfence.entrypoints.cli.output import (
    JsonOption,
    database_url,
    opened,
    progress_bar,
    reported,
    say,
    write_json,
)

name = "demo"


def command(
    context: typer.Context,
    clients: Annotated[int, typer.Option(help="Synthetic clients.")] = 10_000,
    seed: Annotated[int, typer.Option(help="Random seed; the same seed builds the same day.")] = 7,
    out: Annotated[Path, typer.Option(help="Folder for report.html and report.json.")] = Path(
        "demo"
    ),
    json_output: JsonOption = False,
) -> None:
    """Build a synthetic custodian and venue, run the day's work, write an HTML report."""
    if importlib.util.find_spec("bip_utils") is None:
        raise typer.BadParameter("the demo needs its extra: pip install 'ringfence[demo]'")
    from ringfence.demo.day import clients_max, clients_min, run_demo
    from ringfence.entrypoints.pages.report import write_report

    if not clients_min <= clients <= clients_max:
        raise typer.BadParameter(f"between {clients_min} and {clients_max}", param_hint="--clients")
    with reported(json_output), progress_bar(json_output) as progress:
        # The demo simulates a day that ends now: its clock starts an hour back and the demo
        # moves it forward, so pending withdrawals can time out as they would in a real day.
        clock = bootstrap.simulated_clock(time.time_ns() - 3_601 * 10**9)
        with opened(context, create=True, clock=clock) as ledger:
            chains = bootstrap.DemoChainFiles(out)
            document = run_demo(
                ledger, clients, seed, progress, chains, documents=bootstrap.ServiceBundle.uploaded
            )
        html_path, json_path = write_report(document, out)
        inputs = _write_inputs(document, out / "inputs")
    if json_output:
        write_json(
            {
                "ok": True,
                "db": bootstrap.redacted_url(database_url(context, create=True)),
                "clients": clients,
                "seed": seed,
                "report_html": str(html_path),
                "report_json": str(json_path),
                "inputs": {name: str(path) for name, path in inputs.items()},
            }
        )
    else:
        say(f"report written to {html_path} (data: {json_path}; files: {out / 'inputs'})")
        for line in document.get("regulatory", {}).get("summary", []):
            say(line)


def _write_inputs(document: dict[str, Any], folder: Path) -> dict[str, Path]:
    """The operator's files the demo's regulatory outputs and failure scene read, as
    ``folder/NAME.json``, for ``ringfence regulatory ...`` and ``resolution-pack`` to read again
    (the Makefile's demo writes a pack from them)."""
    texts = dict(document.get("regulatory", {}).get("inputs", {}))
    scenario = document.get("insolvency", {}).get("scenario")
    if scenario is not None:
        texts["scenario"] = json.dumps(scenario, indent=1)
    folder.mkdir(parents=True, exist_ok=True)
    paths = {}
    for name, text in sorted(texts.items()):
        paths[name] = folder / f"{name}.json"
        paths[name].write_text(text, encoding="utf-8")
    return paths
