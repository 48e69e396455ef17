"""What every command shares: the ledger it works on, how results and errors are printed.


Every command opens the ledger named by ``--db`` (else ``RINGFENCE_DB``, else
``sqlite:///ringfence.db``), does one thing, and closes it, which checkpoints what it wrote. Every
command that reports something takes ``--json`` and then prints exactly one JSON document on
stdout: amounts as decimal strings in the asset's major unit, ids as decimal strings, and
``"ok"`` saying whether everything asked for succeeded. Without ``--json`` it prints tables.
A progress bar appears only for long work, on a terminal, and never under ``--json``.

Exit statuses (``core.errors``): 0 success, 1 some events or definitions rejected, 2 usage or
input error, 3 storage error, 4 integrity error (``audit verify`` found a problem). An error
prints ``error: <code>: <detail>`` on stderr, or ``{"ok": false, "error": <code>,
"detail": ...}`` on stdout under ``--json``. Codes and exit statuses come from one table,
``core.errors.error_reports``: the ``Result`` sentences for input errors, and
``storage_error`` and ``integrity_error`` for the other two classes.

Only ``init`` and ``demo`` create a SQLite database; every other command refuses a file that
does not exist or is not a ringfence database (an empty file included, left untouched), so
that a mistyped ``--db`` cannot report an empty ledger as a clean one. A command that only
reads never writes, not even a checkpoint.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer
from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    TaskID,
    TextColumn,
    TimeElapsedColumn,
)
from rich.table import Table

from ringfence import bootstrap
from ringfence.core import errors
from ringfence.core.errors import Result, RingfenceError, StorageError
from ringfence.service.ledger import LedgerService
from ringfence.service.ports import Clock

if TYPE_CHECKING:
    from ringfence.entrypoints.cli.lines import LineResultsWriter

ProgressReport = Callable[[str, int, int], None]

_sqlite_prefix = "sqlite:///"

JsonOption = Annotated[
    bool, typer.Option("--json", help="Print one JSON document on stdout instead of tables.")
]
ExecutorOption = Annotated[
    str,
    typer.Option("--executor", help="Where the batch run executes: in-process, dask-local:N "
                 "(a local Dask cluster of N worker processes) or dask://HOST:PORT (a running "
                 "cluster's scheduler). The result is the same on each."),
]
JsonlFile = Annotated[
    Path,
    typer.Argument(exists=True, dir_okay=False, readable=True, help="A JSONL file."),
]


@dataclass(frozen=True, slots=True)
class Target:
    """The ledger a command works on: its database and its journal key file."""

    url: str
    journal_key: str | None


def target(context: typer.Context) -> Target:
    found = context.find_root().obj
    assert isinstance(found, Target)
    return found


@contextmanager
def reported(json_output: bool, streamed: LineResultsWriter | None = None) -> Iterator[None]:
    """Turn a ``RingfenceError`` into its message and exit status; let everything else out.

    A JSON document already being written (``streamed``) is closed with the error instead, so
    that stdout still holds exactly one document."""
    try:
        yield
    except RingfenceError as error:
        code, detail = errors.error_code(error)
        if streamed is not None and streamed.started:
            streamed.fail(code, detail)
        elif json_output:
            write_json({"ok": False, "error": code, "detail": detail})
        else:
            sys.stderr.write(f"error: {code}: {detail}\n" if detail else f"error: {code}\n")
        raise typer.Exit(errors.exit_status(error)) from None


def database_url(context: typer.Context, create: bool = False) -> str:
    url = target(context).url
    if url.startswith(_sqlite_prefix):
        path = Path(url[len(_sqlite_prefix) :])
        if create:
            path.parent.mkdir(parents=True, exist_ok=True)
        elif not path.is_file():
            raise StorageError(f"no database at {path} (create one with `ringfence init`)")
    return url


@contextmanager
def opened(
    context: typer.Context, create: bool = False, clock: Clock | None = None
) -> Iterator[LedgerService]:
    """The ledger, closed whatever happens (which checkpoints what it wrote, and writes
    nothing for a command that only read)."""
    url = database_url(context, create)
    ledger = bootstrap.open_ledger(url, clock, create, target(context).journal_key)
    try:
        yield ledger
    finally:
        ledger.close()


def write_json(document: object) -> None:
    sys.stdout.write(json.dumps(document, indent=2) + "\n")


def console() -> Console:
    # Piped output is read by people with wide pagers and by grep: do not cut it at 80 columns.
    return Console(highlight=False, width=None if sys.stdout.isatty() else 160)


def new_table(*headers: str, title: str | None = None) -> Table:
    """A table that folds long cells instead of cutting them: an amount is never elided."""
    table = Table(title=title)
    for header in headers:
        table.add_column(header, overflow="fold")
    return table


def say(text: str) -> None:
    console().print(text, soft_wrap=True)


@contextmanager
def progress_bar(json_output: bool) -> Iterator[ProgressReport | None]:
    """A progress callback ``(stage, done, total)``, or None when no bar should show."""
    if json_output or not sys.stdout.isatty():
        yield None
        return
    columns = (
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
    )
    with Progress(*columns, console=console(), transient=True) as bar:
        tasks: dict[str, TaskID] = {}

        def report(stage: str, done: int, total: int) -> None:
            if stage not in tasks:
                tasks[stage] = bar.add_task(stage, total=total)
            bar.update(tasks[stage], completed=done, total=total)

        yield report


def finish(ok: bool) -> None:
    if not ok:
        raise typer.Exit(errors.exit_status_rejected)


def print_results(
    json_output: bool, key: str, names: Sequence[str], results: Sequence[Result]
) -> None:
    """Per-definition results of a create command, and exit 1 if any was rejected."""
    ok = all(result.succeeded for result in results)
    rows = [
        {key: name, "result": result.value} for name, result in zip(names, results, strict=True)
    ]
    if json_output:
        write_json({"ok": ok, "results": rows})
    else:
        table = new_table(key, "result")
        for row in rows:
            table.add_row(row[key], row["result"])
        console().print(table)
    finish(ok)


def table_keys(table: Table) -> list[str]:
    return [str(column.header) for column in table.columns]
