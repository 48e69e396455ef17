"""``ringfence resolution-pack --out FILE.zip``: everything an insolvency practitioner needs, in
one zip with a master index of SHA-256 hashes (service/resolution_pack.py lists the files).

``--scenario FILE`` adds a failure simulation (``insolvency.json``); ``--register FILE`` the
sub-custodian register, ``--policies FILE --prices FILE`` the insurance schedule (both in
``regulatory/``, in the formats ``ringfence regulatory`` reads). The index is printed (with
``--json``, as one document); the pack is checked against its own index before the command
reports success.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

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

name = "resolution-pack"

OutOption = Annotated[
    Path, typer.Option("--out", help="Where to write the pack (a .zip file).", dir_okay=False)
]
ScenarioOption = Annotated[
    Path | None,
    typer.Option("--scenario", help="Add a failure simulation of this scenario (JSON).",
                 exists=True, dir_okay=False, readable=True),
]

RegisterOption = Annotated[
    Path | None, typer.Option("--register", help="Add the sub-custodian register.",
                              dir_okay=False)
]
PoliciesOption = Annotated[
    Path | None, typer.Option("--policies", help="Add the insurance schedule of these "
                              "policies (with --prices).", dir_okay=False)
]
PricesOption = Annotated[
    Path | None, typer.Option("--prices", help="Prices valuing the insurance schedule.",
                              dir_okay=False)
]


def _name(path: Path | None) -> str | None:
    return None if path is None else str(path)


def command(
    context: typer.Context,
    *,
    out: OutOption,
    scenario: ScenarioOption = None,
    register: RegisterOption = None,
    policies: PoliciesOption = None,
    prices: PricesOption = None,
    json_output: JsonOption = False,
) -> None:
    """Write the resolution pack (every file hashed in its master index).

    Wallets and addresses, pools and terms, clients' records and positions, transfers,
    reconciliations, breaks, the journal's head and an audit of it."""
    from ringfence.service.resolution_pack import write_resolution_pack
    from ringfence.service.resolution_pack_regulatory import RegulatoryInputs

    regulatory = RegulatoryInputs(
        bootstrap.regulatory_files(), _name(register), _name(policies), _name(prices)
    )

    with reported(json_output), progress_bar(json_output) as progress, opened(context) as ledger:
        index = write_resolution_pack(
            ledger,
            bootstrap.resolution_pack_files(),
            str(out),
            scenarios=bootstrap.scenario_files(),
            scenario=_name(scenario),
            regulatory=regulatory,
            progress=progress,
        )
    if json_output:
        write_json({"ok": True, "out": str(out), **index})
        return
    table = new_table("file", "sha256", "bytes", "rows", title=f"resolution pack {out}")
    for entry in index["files"]:
        table.add_row(entry["file"], entry["sha256"], f"{entry['bytes']:,}",
                      f"{entry['rows']:,}" if "rows" in entry else "")
    console().print(table)
    say(f"journal entry {index['journal']['seq']}, head {index['journal']['head_hash']}")
