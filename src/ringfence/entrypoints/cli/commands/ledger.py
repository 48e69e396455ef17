"""The ledger's own commands: ``init``, definitions (``assets``, ``clients``, ``pools``,
``accounts``), ``transfers submit``, ``balances`` and ``positions``."""

from __future__ import annotations

from collections import deque
from collections.abc import Iterator
from pathlib import Path
from typing import Annotated

import typer

from ringfence import bootstrap
from ringfence.core import limits
from ringfence.core.errors import InputError, Result
from ringfence.core.ledger import wire
from ringfence.core.ledger.model import (
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
from ringfence.entrypoints.cli.lines import (
    LineResult,
    LineResultsWriter,
    RawLine,
    count_lines,
    count_ok,
    print_line_results,
    read_lines,
)
from ringfence.entrypoints.cli.output import (
    JsonlFile,
    JsonOption,
    ProgressReport,
    console,
    database_url,
    new_table,
    opened,
    print_results,
    progress_bar,
    reported,
    say,
    table_keys,
    write_json,
)
from ringfence.service.ledger import Balance, LedgerService
from ringfence.service.streams import Refused

assets_app = typer.Typer(help="Define assets (one ledger each).", no_args_is_help=True)
clients_app = typer.Typer(help="Define clients (asset owners).", no_args_is_help=True)
pools_app = typer.Typer(help="Define pools, the units of segregation.", no_args_is_help=True)
accounts_app = typer.Typer(help="Define accounts.", no_args_is_help=True)
transfers_app = typer.Typer(help="Submit transfers.", no_args_is_help=True)


def register_commands(root: typer.Typer) -> None:
    root.command()(init)
    root.command()(balances)
    root.command()(positions)
    for name, group in (
        ("assets", assets_app),
        ("clients", clients_app),
        ("pools", pools_app),
        ("accounts", accounts_app),
        ("transfers", transfers_app),
    ):
        root.add_typer(group, name=name)


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
