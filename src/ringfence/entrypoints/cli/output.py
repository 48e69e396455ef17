"""What every command shares: the ledger it works on, how results and errors are printed.


Every command opens the ledger named by ``--db`` (else ``RINGFENCE_DB``, else
``sqlite:///ringfence.db``), does one thing, and closes it, which checkpoints what it wrote. Every
command that reports something takes ``--json`` and then prints exactly one JSON document on
stdout: amounts as decimal strings in the asset's major unit, ids as decimal strings, and
``"ok"`` saying whether everything asked for succeeded. Without ``--json`` it prints tables.
A progress bar appears only for long work, on a terminal, and never under ``--json``.

Exit statuses (``core.errors``): 0 success, 1 some events or definitions rejected, 2 usage or
input error, 3 storage error, 4 integrity error (``audit verify`` found a problem), 5 a
condition named by ``--fail-on`` found (``reconcile``, ``por build``). An error prints
``error: <code>: <detail>`` on stderr, or ``{"ok": false, "error": <code>, "detail": ...}`` on
stdout under ``--json`` (usage errors too: ``usage_invalid``, ``file_not_found``; see
``usage.py``). Codes and exit statuses come from one table,
``core.errors.error_reports``: the ``Result`` sentences for input errors, and
``storage_error`` and ``integrity_error`` for the other two classes.

Only ``init`` and ``demo`` create a SQLite database; every other command refuses a file that
does not exist or is not a ringfence database (an empty file included, left untouched), so
that a mistyped ``--db`` cannot report an empty ledger as a clean one. A command that only
reads never writes, not even a checkpoint.
"""

from __future__ import annotations

import json
import os
import re
import sys
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

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
    from ringfence.service.policy import Actor

ProgressReport = Callable[[str, int, int], None]

_sqlite_prefix = "sqlite:///"

JsonOption = Annotated[
    bool, typer.Option("--json", help="Print one JSON document on stdout instead of tables.")
]
FailOnOption = Annotated[
    str | None,
    typer.Option(
        "--fail-on",
        metavar="CONDITIONS",
        help="Exit 5 after the report if it finds one of these (comma-separated): "
        "undersegregated, below_target (reconcile), not_covered (por build).",
    ),
]
ExecutorOption = Annotated[
    str,
    typer.Option(
        "--executor",
        help="Where the batch run executes: in-process, dask-local:N "
        "(a local Dask cluster of N worker processes) or dask://HOST:PORT (a running "
        "cluster's scheduler). The result is the same on each.",
    ),
]
# A command that changes something acts as a principal proven by its key file (the Ed25519
# key of ``ringfence principals keygen``): ``acting``.
PrincipalOption = Annotated[
    str, typer.Option("--principal", help="The principal acting (its key file: --key).")
]
PrincipalKeyOption = Annotated[
    Path,
    typer.Option(
        "--key", exists=True, dir_okay=False, readable=True, help="The principal's key file."
    ),
]
# An approval signed elsewhere, and who signs an instruction printed to be signed elsewhere.
SignatureOption = Annotated[
    str | None,
    typer.Option(
        "--signature",
        metavar="HEX",
        help="The approval's signature made elsewhere (an HSM, an air-gapped key) over what "
        "`instruction` prints; it proves who approves, so no --key is needed with it. "
        "Default: signed with the --key file.",
    ),
]
# An approval's key file: the approver's, which signs it; not needed with --signature.
ApproverKeyOption = Annotated[
    Path | None,
    typer.Option(
        "--key",
        exists=True,
        dir_okay=False,
        readable=True,
        help="The approver's key file, which signs the approval (not needed with --signature).",
    ),
]
ApproverOption = Annotated[
    str, typer.Option("--approver", help="The principal who signs the instruction.")
]
# The files kept beside the database that `serve`, `keys` and `events deliver` open.
ApiKeysFileOption = Annotated[
    str | None,
    typer.Option(
        "--api-keys",
        metavar="FILE",
        help="The API key file (default: $RINGFENCE_API_KEYS, else PATH.api-keys beside an "
        "SQLite database).",
    ),
]
WebhooksFileOption = Annotated[
    str | None,
    typer.Option(
        "--webhooks",
        metavar="FILE",
        help="The webhook subscriptions file (default: $RINGFENCE_WEBHOOKS, else "
        "PATH.webhooks beside an SQLite database).",
    ),
]
JsonlFile = Annotated[
    Path,
    typer.Argument(exists=True, dir_okay=False, readable=True, help="A JSONL file."),
]


@dataclass(frozen=True, slots=True)
class Target:
    """The ledger a command works on: its database, its journal key file, and where the
    database's URL came from (``--db``, ``RINGFENCE_DB`` or the default), so that an error
    about it can say which to change."""

    url: str
    journal_key: str | None
    source: str = "--db"


def target_of(db: str | None, journal_key: str | None) -> Target:
    """The root options' target: ``--db``, else ``RINGFENCE_DB``, else the default file."""
    if db:
        return Target(db, journal_key, "--db")
    if os.environ.get("RINGFENCE_DB"):
        return Target(bootstrap.database_url(None), journal_key, "RINGFENCE_DB")
    return Target(bootstrap.database_url(None), journal_key, "default")


_url_sources = {
    "--db": "given by --db",
    "RINGFENCE_DB": "from RINGFENCE_DB",
    "default": "the default, as neither --db nor RINGFENCE_DB is set",
}


def missing_database(chosen: Target, path: Path) -> StorageError:
    """The error for a database file that is not there, naming the path looked at, where its
    URL came from, and the two ways out."""
    return StorageError(
        f"no database at {path.absolute()} ({_url_sources[chosen.source]}): name your "
        f"database with --db sqlite:///PATH or RINGFENCE_DB, or create this one with "
        f"`ringfence --db {chosen.url} init`"
    )


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
    chosen = target(context)
    url = chosen.url
    if url.startswith(_sqlite_prefix):
        path = Path(url[len(_sqlite_prefix) :])
        if create:
            path.parent.mkdir(parents=True, exist_ok=True)
        elif not path.is_file():
            raise missing_database(chosen, path)
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


@contextmanager
def acting(
    context: typer.Context, json_output: bool, principal: str, key: Path
) -> Iterator[tuple[LedgerService, Actor]]:
    """The ledger (``opened``) and the principal its key file proves (``--principal`` and
    ``--key``), with errors ``reported``: what a command that acts as a principal runs in."""
    # Imported here: every command imports this module, and only these need the policy service.
    from ringfence.service.policy import acting as actor_of

    with reported(json_output), opened(context) as ledger:
        yield ledger, actor_of(ledger, bootstrap.principal_files(), principal, str(key))


def write_json(document: object) -> None:
    sys.stdout.write(json.dumps(document, indent=2) + "\n")


class ReportConsole(Console):
    """A console that never cuts a report's numbers (see ``ReportTable``)."""

    def print(self, *objects: Any, **options: Any) -> None:
        tables = [item for item in objects if isinstance(item, ReportTable)]
        needed = max((table.fit(self.width) for table in tables), default=0)
        if needed <= self.width:
            super().print(*objects, **options)
            return
        # Even with its text folded the table is wider than the terminal: print it whole and
        # let the terminal wrap its lines, rather than crop a number.
        width = self.width
        self.width = needed
        try:
            super().print(*objects, **options)
        finally:
            self.width = width


def console() -> Console:
    # Piped output is read by people with wide pagers and by grep: do not cut it at 80 columns.
    # No markup: tables and lines carry others' text (metadata, memos, reasons, names), and a
    # memo "[/bold]" would crash the print, a "[link=...]" become a terminal hyperlink.
    return ReportConsole(markup=False, highlight=False, width=None if sys.stdout.isatty() else 160)


_number = re.compile(r"[-+]?[0-9][0-9,_]*(?:\.[0-9]+)?%?\Z")


class ReportTable(Table):
    """A table whose numbers are never cut or folded. A column whose every cell is a number
    (an amount, an id, a count) keeps its longest number's width; the text columns share what
    is left, folding their long cells, down to ``text_width_min`` characters each.

    Rich alone would, on a narrow terminal, narrow every column alike once its text columns are
    as narrow as each other, and fold ``0.50000000`` into ``0.5000`` and ``0000``."""

    text_width_min = 4
    border_per_column = 3  # a rule and a space either side

    def __init__(self, *args: Any, **options: Any) -> None:
        super().__init__(*args, **options)
        self.numeric: list[bool] = []
        self.longest: list[int] = []

    def add_row(self, *renderables: Any, **options: Any) -> None:
        super().add_row(*renderables, **options)
        while len(self.numeric) < len(self.columns):
            self.numeric.append(True)
            self.longest.append(len(str(self.columns[len(self.longest)].header)))
        for index, cell in enumerate(renderables):
            text = cell if isinstance(cell, str) else ""
            self.numeric[index] &= text in ("", "-") or bool(_number.match(text))
            self.longest[index] = max(self.longest[index], len(text))

    def fit(self, width: int) -> int:
        """Fix the columns' widths to fit ``width``; return the width the table needs, more
        than ``width`` when its numbers and least text do not fit."""
        room = width - self.border_per_column * len(self.columns) - 1
        if sum(self.longest) <= room:
            return width  # everything fits as it is: Rich lays it out
        numbers = [len(max(self._cells(i), key=len, default="")) for i in range(len(self.columns))]
        headers = [min(len(str(column.header)), self.text_width_min) for column in self.columns]
        widths = [
            max(numbers[i], headers[i]) if self.numeric[i] else self.longest[i]
            for i in range(len(self.columns))
        ]
        floors = [
            widths[i] if self.numeric[i] else min(widths[i], self.text_width_min)
            for i in range(len(widths))
        ]
        while sum(widths) > room:
            widest = max(range(len(widths)), key=lambda i: widths[i] - floors[i])
            if widths[widest] == floors[widest]:
                break
            widths[widest] -= 1
        for column, column_width in zip(self.columns, widths, strict=True):
            column.width = column_width
        return sum(widths) + self.border_per_column * len(widths) + 1

    def _cells(self, index: int) -> list[str]:
        return [cell for cell in self.columns[index].cells if isinstance(cell, str)]


def new_table(*headers: str, title: str | None = None) -> Table:
    """A table that folds long text instead of cutting it and keeps numbers whole."""
    table = ReportTable(title=title)
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


def alert(found: Sequence[str], json_output: bool) -> None:
    """Exit with the alert status when ``--fail-on`` conditions were found (the report has been
    printed; without ``--json`` the conditions are named on stderr)."""
    if found:
        if not json_output:
            sys.stderr.write(f"alert: {', '.join(found)}\n")
        raise typer.Exit(errors.exit_status_alert)


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
