"""``ringfence bench NAME``: run a benchmark and print its figures."""

from __future__ import annotations

from typing import Annotated, Any

import typer

from ringfence.core.errors import InputError, Result
from ringfence.entrypoints.cli.output import (
    JsonOption,
    console,
    new_table,
    progress_bar,
    reported,
    target,
    write_json,
)

name = "bench"


def command(
    context: typer.Context,
    name: Annotated[str, typer.Argument(help="Benchmark name, e.g. ledger.")],
    *,
    quick: Annotated[bool, typer.Option(help="Fewer and smaller runs, for a smoke test.")] = False,
    accounts: Annotated[int | None, typer.Option(
        "--accounts", min=1,
        help="bench por: build one round over this many clients' accounts.")] = None,
    executor: Annotated[str | None, typer.Option(
        "--executor", help="bench por: where the round runs (default dask-local:2).")] = None,
    json_output: JsonOption = False,
) -> None:
    """Run a benchmark and print operations per second per case.

    Benchmarks run on fresh temporary databases; with a PostgreSQL ``--db`` the ledger
    benchmark runs each case in a scratch schema of that database instead (dropped after).
    """
    from ringfence import bench as benchmarks

    with reported(json_output):
        available = benchmarks.names()
        if name not in available:
            raise InputError(
                Result.name_invalid, f"no benchmark {name!r}; available: {', '.join(available)}"
            )
        options: dict[str, Any] = {}
        if accounts is not None:
            options["accounts"] = accounts
        if executor is not None:
            options["executor"] = executor
        if options and name != "por":
            raise InputError(Result.field_unknown, "--accounts and --executor are bench por's")
    url = target(context).url  # benchmarks make their own databases; only PostgreSQL's is used
    with reported(json_output), progress_bar(json_output) as progress:
        if name == "ledger" and url.startswith(("postgresql://", "postgres://")):
            from ringfence.bench.ledger import run_bench

            document = run_bench(quick, progress, url)
        elif name == "api":
            from ringfence.bench.api import run_bench as run_api_bench
            from ringfence.entrypoints.api.app import create_app

            document = run_api_bench(quick, progress, app_factory=create_app)
        else:
            document = benchmarks.run(name, quick, progress, **options)
    if json_output:
        write_json(document)
        return
    results: list[dict[str, Any]] = document.get("results", [])
    keys = ["case", "ops_per_s"]
    keys += sorted({key for result in results for key in result} - set(keys))
    table = new_table(*keys, title=f"bench {name}")
    for result in results:
        table.add_row(*(format_cell(result.get(key)) for key in keys))
    console().print(table)


def format_cell(value: object) -> str:
    if isinstance(value, list):
        return ", ".join(format_cell(item) for item in value)
    if isinstance(value, float):
        return f"{value:,.0f}" if value >= 100 else f"{value:.3g}"
    return "" if value is None else str(value)
