"""The ``ringfence`` command line: one program for operators, auditors and scripts.

Every command opens the ledger named by ``--db`` (else ``RINGFENCE_DB``, else
``sqlite:///ringfence.db``), does one thing, and closes it, which checkpoints what it wrote. Every
command that reports something takes ``--json`` and then prints exactly one JSON document on
stdout: amounts as decimal strings in the asset's major unit, ids as decimal strings, and
``"ok"`` saying whether everything asked for succeeded. Without ``--json`` it prints tables.
A progress bar appears only for long work, on a terminal, and never under ``--json``.

Exit statuses (``core.errors``): 0 success, 1 some events or definitions rejected, 2 usage or
input error, 3 storage error, 4 integrity error (``audit verify`` found a problem). An error
prints ``error: <code>: <detail>`` on stderr, or ``{"ok": false, "error": <code>,
"detail": ...}`` on stdout under ``--json``. The codes are the ``Result`` sentences for input
errors, and ``storage_error`` and ``integrity_error`` for the other two classes.

Only ``init`` and ``demo`` create a SQLite database; every other command refuses a file that
does not exist or is not a ringfence database (an empty file included, left untouched), so
that a mistyped ``--db`` cannot report an empty ledger as a clean one. A command that only
reads never writes, not even a checkpoint.
"""

from __future__ import annotations

import importlib
import json
import pkgutil
import sys
import time
from collections import deque
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import IO, Annotated, Any

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
from ringfence.core import errors, limits, wire
from ringfence.core.errors import InputError, IntegrityError, Result, RingfenceError, StorageError
from ringfence.core.model import (
    AccountClass,
    AccountDefinition,
    Pool,
    PoolKind,
    Purpose,
    Terms,
    Transfer,
    check_id,
    check_name,
)
from ringfence.core.money import Asset, format_amount, format_signed_amount
from ringfence.service.ledger_service import Balance, LedgerService
from ringfence.service.ports import Clock
from ringfence.service.streams import Refused

ProgressReport = Callable[[str, int, int], None]

# Rejected lines listed in the table view; the JSON document always lists every line.
rejections_shown_max = 50
_sqlite_prefix = "sqlite:///"
_utf8_bom = b"\xef\xbb\xbf"

app = typer.Typer(
    name="ringfence",
    help="Keeps clients' crypto assets segregated from the firm's own, and proves it.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
assets_app = typer.Typer(help="Define assets (one ledger each).", no_args_is_help=True)
clients_app = typer.Typer(help="Define clients (asset owners).", no_args_is_help=True)
pools_app = typer.Typer(help="Define pools, the units of segregation.", no_args_is_help=True)
accounts_app = typer.Typer(help="Define accounts.", no_args_is_help=True)
transfers_app = typer.Typer(help="Submit transfers.", no_args_is_help=True)
audit_app = typer.Typer(help="Check the store against its journal.", no_args_is_help=True)
app.add_typer(assets_app, name="assets")
app.add_typer(clients_app, name="clients")
app.add_typer(pools_app, name="pools")
app.add_typer(accounts_app, name="accounts")
app.add_typer(transfers_app, name="transfers")
app.add_typer(audit_app, name="audit")

JsonOption = Annotated[
    bool, typer.Option("--json", help="Print one JSON document on stdout instead of tables.")
]
JsonlFile = Annotated[
    Path,
    typer.Argument(exists=True, dir_okay=False, readable=True, help="A JSONL file."),
]


def main() -> None:
    """Console-script entry point."""
    app(prog_name="ringfence")


@app.callback()
def root(
    context: typer.Context,
    db: Annotated[
        str | None,
        typer.Option(
            "--db",
            metavar="URL",
            help="sqlite:///PATH, postgresql://[USER@]HOST[:PORT]/DB or memory:// (default: "
            "$RINGFENCE_DB, else sqlite:///ringfence.db). An empty PostgreSQL database gets "
            "its schema on first use.",
        ),
    ] = None,
    journal_key: Annotated[
        str | None,
        typer.Option(
            "--journal-key",
            metavar="FILE",
            help="The journal key that signs every entry written (default: "
            "$RINGFENCE_JOURNAL_KEY, else PATH.journal-key beside an SQLite database; made "
            "with a new journal). Reading needs none.",
        ),
    ] = None,
) -> None:
    context.obj = Target(bootstrap.database_url(db), journal_key)


@dataclass(frozen=True, slots=True)
class Target:
    """The ledger a command works on: its database and its journal key file."""

    url: str
    journal_key: str | None


def target(context: typer.Context) -> Target:
    found = context.find_root().obj
    assert isinstance(found, Target)
    return found


# ---------------------------------------------------------------------- plumbing


@contextmanager
def reported(json_output: bool, streamed: LineResultsWriter | None = None) -> Iterator[None]:
    """Turn a ``RingfenceError`` into its message and exit status; let everything else out.

    A JSON document already being written (``streamed``) is closed with the error instead, so
    that stdout still holds exactly one document."""
    try:
        yield
    except RingfenceError as error:
        code, detail = error_code(error)
        if streamed is not None and streamed.started:
            streamed.fail(code, detail)
        elif json_output:
            write_json({"ok": False, "error": code, "detail": detail})
        else:
            sys.stderr.write(f"error: {code}: {detail}\n" if detail else f"error: {code}\n")
        raise typer.Exit(errors.exit_status(error)) from None


def error_code(error: RingfenceError) -> tuple[str, str]:
    if isinstance(error, InputError):
        return error.code.value, error.detail
    if isinstance(error, StorageError):
        return "storage_error", str(error)
    if isinstance(error, IntegrityError):
        return "integrity_error", str(error)
    raise AssertionError(f"unmapped error class {type(error).__name__}")


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


# ---------------------------------------------------------------------- definitions


@app.command()
def init(context: typer.Context, json_output: JsonOption = False) -> None:
    """Create the database (opening it creates the schema) and print where its journal stands."""
    with reported(json_output), opened(context, create=True) as ledger:
        document = {
            "ok": True,
            "db": bootstrap.redacted_url(database_url(context, create=True)),
            "head_seq": ledger.seq,
            "head_hash": ledger.hash.hex(),
        }
    if json_output:
        write_json(document)
    else:
        say(
            f"database {document['db']}: journal at entry {document['head_seq']}, "
            f"head {document['head_hash']}"
        )


@assets_app.command("create")
def assets_create(
    context: typer.Context,
    *,
    code: Annotated[str, typer.Option(help="Asset code, e.g. BTC.")],
    scale: Annotated[int, typer.Option(help="Decimal places of the minor unit (8 for BTC).")],
    number: Annotated[int, typer.Option(help="The ledger's u32 number, fixed forever.")],
    chain: Annotated[str, typer.Option(help="Chain the asset lives on.")] = "",
    contract: Annotated[str, typer.Option(help="Token contract address, if any.")] = "",
    json_output: JsonOption = False,
) -> None:
    """Define an asset."""
    with reported(json_output), opened(context) as ledger:
        results = ledger.define_assets([Asset(code, scale, number, chain, contract)])
    print_results(json_output, "asset", [code], results)


@clients_app.command("create")
def clients_create(
    context: typer.Context,
    names: Annotated[list[str], typer.Argument(help="Client names (a-z 0-9 _ . : -).")],
    json_output: JsonOption = False,
) -> None:
    """Define clients."""
    with reported(json_output):
        if len(names) > limits.definitions_per_request_max:
            raise InputError(Result.batch_too_large, f"{len(names)} clients")
        checked = [check_name(name, "client") for name in names]
        with opened(context) as ledger:
            results = ledger.define_clients(checked)
    print_results(json_output, "client", checked, results)


@pools_app.command("create")
def pools_create(
    context: typer.Context,
    *,
    name: Annotated[str, typer.Argument(help="Pool name.")],
    kind: Annotated[PoolKind, typer.Option(help="One client's wallets, or shared wallets.")],
    terms: Annotated[Terms, typer.Option(help="Whether clients keep title.")],
    purpose: Annotated[Purpose, typer.Option()] = Purpose.spot_custody,
    client: Annotated[str, typer.Option(help="The client of an individual pool.")] = "",
    json_output: JsonOption = False,
) -> None:
    """Define a pool."""
    with reported(json_output), opened(context) as ledger:
        results = ledger.define_pools([Pool(name, kind, terms, purpose, client)])
    print_results(json_output, "pool", [name], results)


@accounts_app.command("create")
def accounts_create(
    context: typer.Context,
    *,
    account_id: Annotated[str, typer.Option("--id", help="Account id, 1..2^128-1.")],
    asset: Annotated[str, typer.Option(help="Asset code.")],
    account_class: Annotated[AccountClass, typer.Option("--class")],
    owner: Annotated[str, typer.Option(help="Client, wallet, market or house.")],
    kind: Annotated[str, typer.Option(help="available, collateral:B, hot, revenue, ...")],
    pool: Annotated[str, typer.Option(help="Pool name; omit for the house.")] = "",
    json_output: JsonOption = False,
) -> None:
    """Define an account."""
    fields: dict[str, object] = {
        "id": account_id,
        "asset": asset,
        "class": account_class.value,
        "owner": owner,
        "kind": kind,
    }
    if pool:
        fields["pool"] = pool
    with reported(json_output):
        definition = wire.parse_account(fields)
        with opened(context) as ledger:
            results = ledger.define_accounts([definition])
    print_results(json_output, "account", [str(definition.id)], results)


@accounts_app.command("import")
def accounts_import(
    context: typer.Context, file: JsonlFile, json_output: JsonOption = False
) -> None:
    """Define the accounts of a JSONL file, one account object per line."""
    with reported(json_output), opened(context) as ledger:
        count_lines(file)
        rows: list[LineResult] = []
        pending: list[tuple[LineResult, AccountDefinition]] = []
        for line in read_lines(file):
            if line.is_blank:
                continue
            row = LineResult(line.number, None, Result.ok, "")
            rows.append(row)
            try:
                definition = wire.parse_account(wire.decode_line(line.text_or_raise()))
            except InputError as error:
                row.result, row.detail = error.code, error.detail
                continue
            row.id = definition.id
            pending.append((row, definition))
            if len(pending) == limits.definitions_per_request_max:
                define_accounts(ledger, pending)
        define_accounts(ledger, pending)
    print_line_results(json_output, rows, {"defined": count_ok(rows)})


def define_accounts(
    ledger: LedgerService, pending: list[tuple[LineResult, AccountDefinition]]
) -> None:
    if pending:
        results = ledger.define_accounts([definition for _, definition in pending])
        for (row, _), result in zip(pending, results, strict=True):
            row.result = result
        pending.clear()


# ---------------------------------------------------------------------- JSONL files


@dataclass(slots=True)
class RawLine:
    """One line of a file; ``text`` is None for a line over the limit, which is not kept."""

    number: int
    text: bytes | None
    names_linked: bool = False  # a kept line says it in its text; this is for dropped ones

    @property
    def is_blank(self) -> bool:
        return self.text is not None and not self.text.strip()

    def text_or_raise(self) -> bytes:
        if self.text is None:
            raise InputError(Result.line_too_long, f"more than {limits.jsonl_line_bytes_max} bytes")
        return self.text


@dataclass(slots=True)
class LineResult:
    line: int
    id: int | None
    result: Result
    detail: str

    def to_json(self) -> dict[str, object]:
        document: dict[str, object] = {
            "line": self.line,
            "id": None if self.id is None else str(self.id),
            "result": self.result.value,
        }
        if self.detail:
            document["detail"] = self.detail
        return document


def count_lines(path: Path) -> int:
    """Lines in a file, refusing the whole file (before anything changes) when too many."""
    count = 0
    last = b"\n"
    with path.open("rb") as stream:
        while chunk := stream.read(1 << 20):
            count += chunk.count(b"\n")
            last = chunk[-1:]
    count += last != b"\n"
    if count > limits.jsonl_lines_max:
        raise InputError(Result.batch_too_large, f"{count} lines, at most {limits.jsonl_lines_max}")
    return count


def read_lines(path: Path) -> Iterator[RawLine]:
    """Each line with its number, never holding more than one line's limit in memory.

    A UTF-8 byte order mark at the start of the file (as some editors write) is not part of
    the first line; anywhere else it is, and the line is malformed."""
    size_max = limits.jsonl_line_bytes_max + 2  # room for the "\r\n" terminator
    number = 0
    with path.open("rb") as stream:
        if stream.read(len(_utf8_bom)) != _utf8_bom:
            stream.seek(0)
        while chunk := stream.readline(size_max):
            number += 1
            if chunk.endswith(b"\n") or len(chunk) < size_max:
                yield RawLine(number, chunk)
            else:
                yield RawLine(number, None, skip_rest_of_line(stream, chunk))


def skip_rest_of_line(stream: IO[bytes], head: bytes) -> bool:
    """Read past the rest of an over-long line; say whether it named the linked flag."""
    marker = b'"linked"'
    seen = marker in head
    tail = head[-len(marker) :]
    while more := stream.readline(1 << 16):
        seen = seen or marker in tail + more
        tail = more[-len(marker) :]
        if more.endswith(b"\n"):
            break
    return seen


def count_ok(rows: Sequence[LineResult]) -> int:
    return sum(1 for row in rows if row.result is Result.ok)


def print_line_results(
    json_output: bool, rows: Sequence[LineResult], counts: dict[str, int]
) -> None:
    """Per-line results; exit 1 if any line was rejected."""
    writer = LineResultsWriter(json_output)
    for row in rows:
        writer.write(row)
    writer.finish(counts)


class LineResultsWriter:
    """Per-line results written as they are decided, so that memory does not grow with the
    file: under ``--json`` one document whose ``results`` array is written row by row (and
    flushed after each batch) and whose summary (``ok`` and the counts) follows it; without, a
    summary line and a table of the first rejections."""

    def __init__(self, json_output: bool) -> None:
        self.json_output = json_output
        self.started = False  # the JSON document has begun on stdout
        self.rows = 0
        self.committed = 0
        self.rejected: list[LineResult] = []  # the first ones, for the table
        self.rejected_count = 0

    def write(self, row: LineResult) -> None:
        if row.result is Result.ok:
            self.committed += 1
        elif not row.result.succeeded:
            self.rejected_count += 1
            if len(self.rejected) < rejections_shown_max:
                self.rejected.append(row)
        if self.json_output:
            head = "\n  " if self.rows == 0 else ",\n  "
            if not self.started:
                sys.stdout.write('{"results": [')
                self.started = True
            sys.stdout.write(head + json.dumps(row.to_json()))
        self.rows += 1

    def flush(self) -> None:
        if self.started:
            sys.stdout.flush()

    def _close(self, summary: dict[str, object]) -> None:
        if not self.started:
            sys.stdout.write('{"results": [')
        sys.stdout.write("\n], " if self.rows else "], ")
        sys.stdout.write(json.dumps(summary)[1:] + "\n")
        sys.stdout.flush()

    def fail(self, code: str, detail: str) -> None:
        """Close a document cut short by an error (rows written so far stand)."""
        self._close({"ok": False, "error": code, "detail": detail})

    def finish(self, counts: dict[str, int]) -> None:
        """Write the summary; exit 1 if any line was rejected."""
        ok = self.rejected_count == 0
        if self.json_output:
            self._close({"ok": ok, **counts})
        else:
            summary = ", ".join(f"{key} {value}" for key, value in counts.items())
            say(f"{self.rows} lines: {summary}, rejected {self.rejected_count}")
            if self.rejected:
                table = new_table("line", "id", "result", "detail")
                for row in self.rejected:
                    table.add_row(str(row.line), str(row.id or ""), row.result.value, row.detail)
                console().print(table)
                if self.rejected_count > rejections_shown_max:
                    say(f"... and {self.rejected_count - rejections_shown_max} more")
        finish(ok)


# ---------------------------------------------------------------------- transfers


@transfers_app.command("submit")
def transfers_submit(
    context: typer.Context, file: JsonlFile, json_output: JsonOption = False
) -> None:
    """Submit the transfers of a JSONL file, in order, in batches that keep linked chains whole.

    A line that cannot be parsed is refused with its code; the other events of its linked
    chain are refused as ``linked_event_failed``, and a chain longer than a batch is refused
    whole (``linked_chain_too_long``). Results are written as each batch becomes durable.
    """
    writer = LineResultsWriter(json_output)
    with (
        reported(json_output, writer),
        progress_bar(json_output) as progress,
        opened(context) as ledger,
    ):
        submitted = submit_file(ledger, file, progress, writer)
    writer.finish({"submitted": submitted, "committed": writer.committed})


def submit_file(
    ledger: LedgerService,
    path: Path,
    progress: ProgressReport | None,
    writer: LineResultsWriter,
) -> int:
    """Hand the file's lines to the ledger as one stream (the ledger cuts it into batches and
    owns linked chains) and write each line's result as it becomes durable. Returns the
    number of lines that parsed as transfers."""
    total = count_lines(path)
    lookups = asset_lookups(ledger)
    waiting: deque[LineResult] = deque()  # rows in stream order, until their results come
    parsed = [0, 0]  # lines read, lines that parsed as transfers

    def items() -> Iterator[Transfer | Refused]:
        for line in read_lines(path):
            parsed[0] = line.number
            if line.is_blank:
                continue
            row, item = parse_transfer_line(line, *lookups)
            parsed[1] += isinstance(item, Transfer)
            waiting.append(row)
            yield item

    for results in ledger.submit_events(items()):
        for result in results:
            row = waiting.popleft()
            if row.result is Result.ok:  # refused lines keep their code and detail
                row.result = result
            writer.write(row)
        writer.flush()
        if progress is not None:
            progress("transfers", parsed[0], total)
    assert not waiting
    return parsed[1]


def asset_lookups(ledger: LedgerService) -> tuple[wire.AssetOfAccount, wire.AssetByCode]:
    state = ledger.ledger

    def asset_of_account(account_id: int) -> Asset | None:
        account = state.accounts.get(account_id)
        return None if account is None else state.assets_by_number[account.asset]

    return asset_of_account, state.assets.get


def parse_transfer_line(
    line: RawLine, asset_of_account: wire.AssetOfAccount, asset_by_code: wire.AssetByCode
) -> tuple[LineResult, Transfer | Refused]:
    """A line's row (its result still ``ok``) and its transfer, or its refusal."""
    row = LineResult(line.number, None, Result.ok, "")
    decoded: object = None
    try:
        decoded = wire.decode_line(line.text_or_raise())
        transfer = wire.parse_transfer(decoded, asset_of_account, asset_by_code)
    except InputError as error:
        row.result, row.detail = error.code, error.detail
        row.id, linked = salvage(decoded, line)
        return row, Refused(error.code, linked)
    row.id = transfer.id
    return row, transfer


def salvage(decoded: object, line: RawLine) -> tuple[int | None, bool]:
    """The id and linked flag of a refused line, as far as they can be told.

    Whether a refused line was meant to be linked decides which events fail with it. When in
    doubt it counts as linked: failing one event too many changes nothing, while committing
    part of a chain would.
    """
    linked = line.names_linked or (line.text is not None and b'"linked"' in line.text)
    transfer_id = None
    if isinstance(decoded, dict):
        flags = decoded.get("flags")
        linked = linked or (isinstance(flags, list) and "linked" in flags)
        try:
            transfer_id = check_id(decoded.get("id"))
        except InputError:
            transfer_id = None
    return transfer_id, linked


# ---------------------------------------------------------------------- reports


@app.command()
def balances(
    context: typer.Context,
    client: Annotated[str, typer.Option(help="Only this client's accounts.")] = "",
    pool: Annotated[str, typer.Option(help="Only this pool's accounts.")] = "",
    asset: Annotated[str, typer.Option(help="Only accounts in this asset.")] = "",
    json_output: JsonOption = False,
) -> None:
    """Account balances: posted balance and pending debits and credits."""
    with reported(json_output), opened(context) as ledger:
        state = ledger.ledger
        if client and client not in state.clients:
            raise InputError(Result.client_not_found, client)
        if pool and pool not in state.pools:
            raise InputError(Result.pool_not_found, pool)
        if asset and asset not in state.assets:
            raise InputError(Result.asset_not_found, asset)
        found = sorted(ledger.balances(client, pool, asset), key=lambda b: b.account.id)
        rows = [balance_to_json(balance, state.assets[balance.account.asset]) for balance in found]
    if json_output:
        write_json({"ok": True, "balances": rows})
        return
    columns = ("account", "asset", "class", "owner", "kind", "pool", "balance")
    table = new_table(*columns, "debits_pending", "credits_pending")
    for row in rows:
        table.add_row(*(str(row[key]) for key in table_keys(table)))
    console().print(table)


def table_keys(table: Table) -> list[str]:
    return [str(column.header) for column in table.columns]


def balance_to_json(balance: Balance, asset: Asset) -> dict[str, object]:
    account = balance.account
    return {
        "account": str(account.id),
        "asset": account.asset,
        "class": account.account_class.value,
        "owner": account.owner,
        "kind": account.kind,
        "pool": account.pool,
        # Only accounts without a limit (network fees, clearing) can be negative.
        "balance": format_signed_amount(balance.balance, asset),
        "debits_pending": format_amount(balance.debits_pending, asset),
        "debits_posted": format_amount(balance.debits_posted, asset),
        "credits_pending": format_amount(balance.credits_pending, asset),
        "credits_posted": format_amount(balance.credits_posted, asset),
    }


@app.command()
def positions(context: typer.Context, json_output: JsonOption = False) -> None:
    """Per pool and asset: holdings, client liabilities, residual interest, shortfall, breaks."""
    with reported(json_output), opened(context) as ledger:
        by_number = ledger.ledger.assets_by_number
        breaks_open: dict[tuple[str, int], int] = {}
        for broken in ledger.breaks():
            if broken.outstanding:
                key = (broken.pool, broken.asset)
                breaks_open[key] = breaks_open.get(key, 0) + 1
        rows = []
        for position in ledger.positions():
            asset = by_number[position.asset]
            pool = position.pool
            rows.append(
                {
                    "pool": pool.name,
                    "kind": pool.kind.value,
                    "terms": pool.terms.value,
                    "purpose": pool.purpose.value,
                    "asset": asset.code,
                    "holdings": format_signed_amount(position.holdings, asset),
                    "liabilities": format_signed_amount(position.liabilities, asset),
                    "residual_interest": format_signed_amount(position.residual_interest, asset),
                    "shortfall_pending": format_amount(position.shortfall_pending, asset),
                    "breaks_outstanding": format_amount(position.breaks_outstanding, asset),
                    "breaks_open": breaks_open.get((pool.name, position.asset), 0),
                }
            )
    if json_output:
        write_json({"ok": True, "positions": rows})
        return
    table = new_table("pool", "terms", "asset", "holdings", "liabilities", "residual_interest")
    for column in ("shortfall_pending", "breaks_outstanding", "breaks_open"):
        table.add_column(column)
    for row in rows:
        table.add_row(*(str(row[key]) for key in table_keys(table)))
    console().print(table)


def breaks(context: typer.Context, json_output: JsonOption = False) -> None:
    """Segregation breaks (misdirected deposits) and how much of each is cured.

    Registered as ``ringfence breaks`` by the ``breaks`` group (entrypoints/commands/breaks.py),
    which adds the reconciliation's breaks as subcommands."""
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


# ---------------------------------------------------------------------- audit, demo, bench


@audit_app.command("verify")
def audit_verify(
    context: typer.Context,
    json_output: JsonOption = False,
    public_keys: Annotated[
        list[str] | None,
        typer.Option(
            "--public-key",
            metavar="HEX",
            help="A journal public key the firm published (repeatable). Default: the key in "
            "the journal key file, if there is one.",
        ),
    ] = None,
    expect_heads: Annotated[
        list[str] | None,
        typer.Option(
            "--expect-head",
            metavar="SEQ:HASH",
            help="A head published earlier that the journal must still hold (repeatable).",
        ),
    ] = None,
    rounds: Annotated[
        list[Path] | None,
        typer.Option(
            "--round",
            exists=True,
            dir_okay=False,
            help="A proof-of-reserves round file whose journal head must still be there.",
        ),
    ] = None,
) -> None:
    """Replay the journal and check the hash chain, every signature, row, balance and
    invariant, and that each published head is still there.

    Reads the store directly, without loading the ledger: loading replays the journal and
    could itself fail on a tampered file, which is exactly what this command must report.
    """
    from ringfence.core.authenticity import parse_public_key
    from ringfence.service.audit import published_heads, verify_store

    with reported(json_output), progress_bar(json_output) as progress:
        url = database_url(context)
        trusted = [parse_public_key(text) for text in public_keys or ()]
        if not trusted:
            own = bootstrap.journal_signer(url, target(context).journal_key).public_key()
            trusted = [] if own is None else [own]
        heads = published_heads(expect_heads or (), [path.read_bytes() for path in rounds or ()])
        store = bootstrap.open_store(url, create=False)
        try:
            step = None if progress is None else audit_progress(progress)
            report = verify_store(store, step, trusted, heads)
        finally:
            store.close()
    if json_output:
        write_json(report.to_json())
    elif report.ok:
        say(
            f"audit: ok — {report.entries:,} journal entries, {report.transfers:,} transfers and "
            f"{report.accounts:,} accounts replayed; head {report.head_seq} {report.head_hash}"
        )
        say(_key_line(report.journal_keys, report.key_trusted, report.heads_checked))
    else:
        table = new_table("kind", "where", "detail")
        for problem in report.problems:
            table.add_row(problem.kind, problem.where, problem.detail)
        console().print(table)
        say(f"audit: {len(report.problems)} problems")
    if not report.ok:
        raise typer.Exit(errors.exit_status_integrity)


def _key_line(keys: list[tuple[int, str]], trusted: bool, heads: int) -> str:
    signed = f"signed by journal key {keys[-1][1]}" if keys else "no journal key"
    rotations = f" ({len(keys) - 1} rotations)" if len(keys) > 1 else ""
    trust = "a key you trust" if trusted else "not checked against a published key (--public-key)"
    return f"journal {signed}{rotations}, {trust}; {heads} published heads found"


def audit_progress(progress: ProgressReport) -> Callable[[int, int], None]:
    return lambda done, total: progress("audit", done, total)


@app.command()
def demo(
    context: typer.Context,
    clients: Annotated[int, typer.Option(help="Synthetic clients.")] = 10_000,
    seed: Annotated[int, typer.Option(help="Random seed; the same seed builds the same day.")] = 7,
    out: Annotated[Path, typer.Option(help="Folder for report.html and report.json.")] = Path(
        "demo"
    ),
    json_output: JsonOption = False,
) -> None:
    """Build a synthetic custodian and venue, run the day's work, write an HTML report."""
    from ringfence.entrypoints.report import write_report
    from ringfence.service.demo import clients_max, clients_min, run_demo

    if not clients_min <= clients <= clients_max:
        raise typer.BadParameter(f"between {clients_min} and {clients_max}", param_hint="--clients")
    with reported(json_output), progress_bar(json_output) as progress:
        # The demo simulates a day that ends now: its clock starts an hour back and the demo
        # moves it forward, so pending withdrawals can time out as they would in a real day.
        clock = bootstrap.simulated_clock(time.time_ns() - 3_601 * 10**9)
        with opened(context, create=True, clock=clock) as ledger:
            chains = bootstrap.DemoChainFiles(out)
            document = run_demo(ledger, clients, seed, progress, chains)
        html_path, json_path = write_report(document, out)
    if json_output:
        write_json(
            {
                "ok": True,
                "db": bootstrap.redacted_url(database_url(context, create=True)),
                "clients": clients,
                "seed": seed,
                "report_html": str(html_path),
                "report_json": str(json_path),
            }
        )
    else:
        say(f"report written to {html_path} (data: {json_path})")


@app.command()
def bench(
    context: typer.Context,
    name: Annotated[str, typer.Argument(help="Benchmark name, e.g. ledger.")],
    quick: Annotated[bool, typer.Option(help="Fewer and smaller runs, for a smoke test.")] = False,
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
    url = target(context).url  # benchmarks make their own databases; only PostgreSQL's is used
    with reported(json_output), progress_bar(json_output) as progress:
        if name == "ledger" and url.startswith(("postgresql://", "postgres://")):
            from ringfence.bench.ledger import run_bench

            document = run_bench(quick, progress, url)
        else:
            document = benchmarks.run(name, quick, progress)
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


def _register_command_groups() -> None:
    """Add each area's command group from ``ringfence.entrypoints.commands``."""
    from ringfence.entrypoints import commands

    for found in sorted(pkgutil.iter_modules(commands.__path__), key=lambda m: m.name):
        module = importlib.import_module(f"{commands.__name__}.{found.name}")
        if hasattr(module, "command"):  # one top-level command (``ringfence reconcile``)
            app.command(module.name)(module.command)
        else:
            app.add_typer(module.app, name=module.name)


_register_command_groups()
