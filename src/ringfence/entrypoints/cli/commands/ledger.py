"""The ledger's own commands: ``init``, definitions (``assets``, ``clients``, ``pools``,
``accounts``), ``transfers submit`` and ``transfers list``, ``balances`` and ``positions``.

Each parses its options, calls one function of the ledger service (``service/ledger/``) and
renders what it returns; the service modules are imported inside the commands, so that
``ringfence --help`` stays fast.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated

import typer

from ringfence import bootstrap
from ringfence.entrypoints.cli.lines import LineResultsWriter, print_line_results
from ringfence.entrypoints.cli.output import (
    JsonlFile,
    JsonOption,
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

if TYPE_CHECKING:
    from ringfence.service.ledger.lines import LineResult

assets_app = typer.Typer(help="Define assets (one ledger each).", no_args_is_help=True)
clients_app = typer.Typer(help="Define clients (asset owners).", no_args_is_help=True)
pools_app = typer.Typer(help="Define pools, the units of segregation.", no_args_is_help=True)
accounts_app = typer.Typer(help="Define accounts.", no_args_is_help=True)
transfers_app = typer.Typer(help="Submit and list transfers.", no_args_is_help=True)


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
    from ringfence.service.ledger.documents import journal_head

    with reported(json_output), opened(context, create=True) as ledger:
        db = bootstrap.redacted_url(database_url(context, create=True))
        document = {"ok": True, "db": db, **journal_head(ledger)}
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
    from ringfence.service.ledger.documents import create_asset

    with reported(json_output), opened(context) as ledger:
        results = create_asset(
            ledger, code=code, scale=scale, number=number, chain=chain, contract=contract
        )
    print_results(json_output, "asset", [code], results)


@clients_app.command("create")
def clients_create(
    context: typer.Context,
    names: Annotated[list[str], typer.Argument(help="Client names (a-z 0-9 _ . : -).")],
    json_output: JsonOption = False,
) -> None:
    """Define clients."""
    from ringfence.service.ledger.documents import create_clients

    with reported(json_output), opened(context) as ledger:
        results = create_clients(ledger, names)
    print_results(json_output, "client", names, results)


@pools_app.command("create")
def pools_create(
    context: typer.Context,
    *,
    name: Annotated[str, typer.Argument(help="Pool name.")],
    kind: Annotated[
        str,
        typer.Option(
            metavar="[individual|omnibus]", help="One client's wallets, or shared wallets."
        ),
    ],
    terms: Annotated[
        str,
        typer.Option(metavar="[custody|title_transfer]", help="Whether clients keep title."),
    ],
    purpose: Annotated[
        str, typer.Option(metavar="[spot_custody|margin_collateral]")
    ] = "spot_custody",
    client: Annotated[str, typer.Option(help="The client of an individual pool.")] = "",
    json_output: JsonOption = False,
) -> None:
    """Define a pool."""
    from ringfence.service.ledger.documents import create_pool

    with reported(json_output), opened(context) as ledger:
        results = create_pool(
            ledger, name=name, kind=kind, terms=terms, purpose=purpose, client=client
        )
    print_results(json_output, "pool", [name], results)


@accounts_app.command("create")
def accounts_create(
    context: typer.Context,
    *,
    account_id: Annotated[str, typer.Option("--id", help="Account id, 1..2^128-1.")],
    asset: Annotated[str, typer.Option(help="Asset code.")],
    account_class: Annotated[
        str, typer.Option("--class", metavar="[client|custody|house|system]")
    ],
    owner: Annotated[str, typer.Option(help="Client, wallet, market or house.")],
    kind: Annotated[str, typer.Option(help="available, collateral:B, hot, revenue, ...")],
    pool: Annotated[str, typer.Option(help="Pool name; omit for the house.")] = "",
    json_output: JsonOption = False,
) -> None:
    """Define an account."""
    from ringfence.service.ledger.documents import create_account

    with reported(json_output), opened(context) as ledger:
        created, results = create_account(
            ledger,
            account_id=account_id,
            asset=asset,
            account_class=account_class,
            owner=owner,
            kind=kind,
            pool=pool,
        )
    print_results(json_output, "account", [created], results)


@accounts_app.command("import")
def accounts_import(
    context: typer.Context, file: JsonlFile, json_output: JsonOption = False
) -> None:
    """Define the accounts of a JSONL file, one account object per line."""
    from ringfence.service.ledger.lines import import_account_lines

    with reported(json_output), opened(context) as ledger:
        rows, counts = import_account_lines(ledger, bootstrap.jsonl_file(file))
    print_line_results(json_output, rows, counts)


@transfers_app.command("submit")
def transfers_submit(
    context: typer.Context, file: JsonlFile, json_output: JsonOption = False
) -> None:
    """Submit the transfers of a JSONL file, in order, in batches that keep linked chains whole.

    A line that cannot be parsed is refused with its code; the other events of its linked
    chain are refused as ``linked_event_failed``, and a chain longer than a batch is refused
    whole (``linked_chain_too_long``). A ``withdrawal`` or a ``sweep``, or the post or void of
    a withdrawal's hold, is refused (``transfer_code_reserved``): ``withdrawals request``.
    Results are written as each batch becomes durable.
    """
    from ringfence.service.reserved_transfers import submit_transfer_file

    writer = LineResultsWriter(json_output)
    with (
        reported(json_output, writer),
        progress_bar(json_output) as progress,
        opened(context) as ledger,
    ):

        def durable(rows: list[LineResult], lines_read: int, lines_total: int) -> None:
            for row in rows:
                writer.write(row)
            writer.flush()
            if progress is not None:
                progress("transfers", lines_read, lines_total)

        submitted = submit_transfer_file(ledger, bootstrap.jsonl_file(file), durable)
    writer.finish({"submitted": submitted, "committed": writer.committed})


@transfers_app.command("list")
def transfers_list(
    context: typer.Context,
    *,
    account: Annotated[str, typer.Option(help="Only those with this account on a side.")] = "",
    client: Annotated[str, typer.Option(help="Only those with this client on a side.")] = "",
    code: Annotated[str, typer.Option(help="Only those of this code (deposit, ...).")] = "",
    from_ns: Annotated[int, typer.Option(help="Only those stamped at or after this.")] = 0,
    to_ns: Annotated[int, typer.Option(help="Only those stamped before this.")] = 0,
    metadata: Annotated[
        list[str] | None,
        typer.Option(help="Only those carrying this pair exactly, as KEY=VALUE; repeatable."),
    ] = None,
    cursor: Annotated[str | None, typer.Option(help="From the page after this one.")] = None,
    limit: Annotated[int | None, typer.Option(help="At most this many.")] = None,
    json_output: JsonOption = False,
) -> None:
    """Committed transfers, oldest first, with their metadata, filtered as the REST list is."""
    from ringfence.service import access, access_transfers, policy

    with reported(json_output), opened(context) as ledger:
        page = access_transfers.transfers(
            ledger,
            policy.local_reader,
            account=access.parse_id(account, "account") if account else 0,
            client=client,
            code=code,
            from_ns=from_ns,
            to_ns=to_ns,
            metadata=metadata or (),
            cursor=cursor,
            limit=limit,
        )
    if json_output:
        write_json({"ok": True, **page})
        return
    table = new_table("id", "code", "debit_account", "credit_account", "amount", "asset")
    table.add_column("metadata")
    for row in page["items"]:
        pairs = " ".join(f"{key}={value}" for key, value in row["metadata"].items())
        table.add_row(*(str(row[key]) for key in table_keys(table)[:-1]), pairs)
    console().print(table)
    if page["next_cursor"] is not None:
        say(f"more: --cursor {page['next_cursor']}")


def balances(
    context: typer.Context,
    client: Annotated[str, typer.Option(help="Only this client's accounts.")] = "",
    pool: Annotated[str, typer.Option(help="Only this pool's accounts.")] = "",
    asset: Annotated[str, typer.Option(help="Only accounts in this asset.")] = "",
    json_output: JsonOption = False,
) -> None:
    """Account balances: posted balance and pending debits and credits."""
    from ringfence.service.ledger.documents import balances_document

    with reported(json_output), opened(context) as ledger:
        document = balances_document(ledger, client, pool, asset)
    if json_output:
        write_json(document)
        return
    columns = ("account", "asset", "class", "owner", "kind", "pool", "balance")
    table = new_table(*columns, "debits_pending", "credits_pending")
    for row in _rows(document, "balances"):
        table.add_row(*(str(row[key]) for key in table_keys(table)))
    console().print(table)


def positions(context: typer.Context, json_output: JsonOption = False) -> None:
    """Per pool and asset: holdings, client liabilities, residual interest, shortfall, breaks."""
    from ringfence.service.ledger.documents import positions_document

    with reported(json_output), opened(context) as ledger:
        document = positions_document(ledger)
    if json_output:
        write_json(document)
        return
    table = new_table("pool", "terms", "asset", "holdings", "liabilities", "residual_interest")
    for column in ("shortfall_pending", "breaks_outstanding", "breaks_open"):
        table.add_column(column)
    for row in _rows(document, "positions"):
        table.add_row(*(str(row[key]) for key in table_keys(table)))
    console().print(table)


def _rows(document: dict[str, object], key: str) -> list[dict[str, object]]:
    rows = document[key]
    assert isinstance(rows, list)
    return rows
