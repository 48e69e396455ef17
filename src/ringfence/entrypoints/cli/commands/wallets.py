"""``ringfence wallets ...``: custody wallets and their addresses.

``derive`` turns extended public keys into addresses, watch-only: no database, no network, no
secret (a private key is refused). It is how an operator checks a wallet before designating it
to a pool, and how the addresses handed to clients can be recomputed by anyone holding the
public keys.

The registry commands change the journal: ``create`` (a wallet designated to a pool or the
house), ``designate`` (another pool or tier, with history), ``assign`` (derived addresses to a
client or to the pool), ``client-address`` (a client's own outside address), ``list``, and
``scan`` (inflows on chain posted as deposits, exactly once).
"""

from __future__ import annotations

import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, Literal

import typer

from ringfence import bootstrap
from ringfence.core import errors
from ringfence.core.errors import InputError, Result
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
from ringfence.service import custody_requests as requests
from ringfence.service.custody import CustodyService
from ringfence.service.ports import HoldingsSource

name = "wallets"
app = typer.Typer(help="Custody wallets and their addresses.", no_args_is_help=True)

if TYPE_CHECKING:
    KindWord = str
    NetworkWord = str
    ChainWord = str
    SchemeWord = str
else:
    # The service's words, as choices that Typer lists in --help and checks before the service
    # checks them again by name (the API's callers get its named errors).
    KindWord = Literal[requests.address_kind_names]
    NetworkWord = Literal[requests.network_names]
    ChainWord = Literal[requests.chain_names]
    SchemeWord = Literal[requests.scheme_names]


@app.command("derive")
def derive(
    *,
    xpub: Annotated[
        list[str],
        typer.Option(
            "--xpub",
            help="Extended public key: one for bip84 and eth, three (repeat --xpub) for "
            "multisig. Private keys are refused.",
        ),
    ],
    count: Annotated[int, typer.Option(help="How many addresses.")],
    kind: Annotated[KindWord, typer.Option(help="Script type.")] = "bip84",
    start: Annotated[int, typer.Option(help="First address index.")] = 0,
    change: Annotated[
        bool, typer.Option("--change", help="The change chain (/1/i) instead of receive (/0/i).")
    ] = False,
    network: Annotated[
        NetworkWord | None,
        typer.Option(help="Refuse keys of any other network (default: the keys' own)."),
    ] = None,
    json_output: JsonOption = False,
) -> None:
    """Print the addresses of a wallet from its extended public keys, one per line."""
    with reported(json_output), progress_bar(json_output) as progress:
        document = requests.derive_addresses(
            kind, xpub, count, start=start, change=change, network=network, progress=progress
        )
    if json_output:
        write_json(document)
        return
    sys.stdout.write("".join(f"{address}\n" for address in document["addresses"]))


# ---------------------------------------------------------------------- the registry

PoolOption = Annotated[
    str, typer.Option("--pool", help="The pool the wallet is designated to (empty: the house).")
]
TierOption = Annotated[str, typer.Option("--tier", help="hot, warm or cold.")]


@contextmanager
def custody_opened(context: typer.Context) -> Iterator[CustodyService]:
    with opened(context) as ledger:
        yield CustodyService(ledger)


def _report_results(json_output: bool, document: dict[str, Any]) -> None:
    if json_output:
        write_json(document)
    else:
        for entry in document["results"]:
            say(f"{entry['record']}: {entry['result']}")
    if not document["ok"]:
        raise typer.Exit(errors.exit_status_rejected)


@app.command("create")
def create(
    context: typer.Context,
    wallet: Annotated[str, typer.Argument(help="The wallet's name.")],
    *,
    chain: Annotated[ChainWord, typer.Option(help="The wallet's chain.")],
    scheme: Annotated[SchemeWord, typer.Option(help="How its addresses come about.")],
    key: Annotated[
        list[str],
        typer.Option("--key", help="Account xpub (three for multisig), or the fixed address."),
    ],
    pool: PoolOption = "",
    tier: TierOption = "hot",
    network: Annotated[str, typer.Option(help="mainnet, testnet or regtest.")] = "mainnet",
    json_output: JsonOption = False,
) -> None:
    """Define a wallet, designated to a pool or to the house; journaled."""
    with reported(json_output), custody_opened(context) as custody:
        document = requests.create_wallet(custody, wallet, chain=chain, scheme=scheme, keys=key,
                                          pool=pool, tier=tier, network=network)  # fmt: skip
    _report_results(json_output, document)


@app.command("designate")
def designate(
    context: typer.Context,
    wallet: Annotated[str, typer.Argument(help="The wallet's name.")],
    *,
    pool: Annotated[str | None, typer.Option(
        "--pool", help="The pool to designate it to (\"\": the house). Default: unchanged.",
    )] = None,
    tier: Annotated[str | None, typer.Option(
        "--tier", help="hot, warm or cold. Default: unchanged.")] = None,
    json_output: JsonOption = False,
) -> None:
    """Move a wallet to another pool (only when empty) or tier; journaled with its history.
    What is not given stays as it is."""
    with reported(json_output), custody_opened(context) as custody:
        document = requests.designate_wallet(custody, wallet, pool, tier)
    _report_results(json_output, document)


@app.command("assign")
def assign(
    context: typer.Context,
    wallet: Annotated[str, typer.Argument(help="The wallet's name.")],
    *,
    count: Annotated[int, typer.Option(help="How many addresses.")] = 1,
    start: Annotated[int, typer.Option(help="First address index.")] = 0,
    client: Annotated[
        str, typer.Option(help="The client they are deposit addresses of (none: the pool's).")
    ] = "",
    change: Annotated[bool, typer.Option("--change", help="The change branch.")] = False,
    json_output: JsonOption = False,
) -> None:
    """Derive addresses of a wallet and assign them to a client or to the wallet's pool."""
    with reported(json_output), custody_opened(context) as custody:
        document = requests.assign_addresses(
            custody, wallet, count=count, start=start, client=client, change=change
        )
    _report_results(json_output, document)


@app.command("client-address")
def client_address(
    context: typer.Context,
    address: Annotated[str, typer.Argument(help="An address outside the firm.")],
    *,
    client: Annotated[str, typer.Option(help="The client it belongs to.")],
    json_output: JsonOption = False,
) -> None:
    """Record a client's own outside address (where they send from and withdraw to)."""
    with reported(json_output), custody_opened(context) as custody:
        document = requests.record_client_address(custody, address, client)
    _report_results(json_output, document)


@app.command("list")
def list_wallets(context: typer.Context, json_output: JsonOption = False) -> None:
    """Wallets with their pool, tier, keys, address count and designation history."""
    with reported(json_output), custody_opened(context) as custody:
        document = requests.list_wallets(custody)
    if json_output:
        write_json(document)
        return
    table = new_table("wallet", "chain", "scheme", "pool", "tier", "addresses", "changes")
    for w in document["wallets"]:
        pool = w["pool"] or "(house)"
        table.add_row(
            w["name"],
            w["chain"],
            w["scheme"],
            pool,
            w["tier"],
            str(w["addresses"]),
            str(len(w["history"]) - 1),
        )
    console().print(table)


EthRpcOption = Annotated[str | None, typer.Option(help="An Ethereum JSON-RPC URL.")]
NativeAssetOption = Annotated[str, typer.Option(help="The asset code of ether.")]
TokenOption = Annotated[
    list[str] | None, typer.Option(help="CONTRACT=ASSET for each ERC-20 watched (repeat).")
]
SnapshotOption = Annotated[
    list[Path] | None,
    typer.Option(
        "--utxo-snapshot",
        exists=True,
        dir_okay=False,
        help="A Bitcoin UTXO-set snapshot file (repeat for several heights).",
    ),
]
NetworkOption = Annotated[str, typer.Option(help="The snapshots' Bitcoin network.")]
ChainIdOption = Annotated[
    int | None,
    typer.Option(help="The Ethereum chain id the node must answer (required with --eth-rpc)."),
]
ConfirmationsOption = Annotated[
    int, typer.Option(min=0, help="Blocks below the head a deposit must be (reorg safety).")
]
confirmations_default = 12


def _source(
    eth_rpc: str | None,
    native_asset: str,
    token: list[str] | None,
    utxo_snapshot: list[Path] | None,
    network: str,
    *,
    ethereum: tuple[int | None, int],
) -> tuple[HoldingsSource, str]:
    """Exactly one source, and its chain: an Ethereum node (of the chain id given, read
    ``confirmations`` below its head) or Bitcoin snapshot files."""
    if (eth_rpc is None) == (not utxo_snapshot):
        raise InputError(Result.field_required, "give --eth-rpc or --utxo-snapshot (one)")
    if eth_rpc is not None:
        chain_id, confirmations = ethereum
        if chain_id is None:
            # Addresses are the same on every Ethereum network: a scan of a test network's
            # node must never credit clients with its coins.
            raise InputError(Result.field_required, "--chain-id with --eth-rpc")
        tokens = dict(_token_pair(text) for text in token or [])
        source = bootstrap.ethereum_source(eth_rpc, native_asset, tokens, chain_id, confirmations)
        return source, "ethereum"
    assert utxo_snapshot
    paths = [str(p) for p in utxo_snapshot]
    return bootstrap.utxo_snapshot_source(paths, network), "bitcoin"


@app.command("scan")
def scan(
    context: typer.Context,
    *,
    eth_rpc: EthRpcOption = None,
    native_asset: NativeAssetOption = "ETH",
    token: TokenOption = None,
    utxo_snapshot: SnapshotOption = None,
    network: NetworkOption = "mainnet",
    chain_id: ChainIdOption = None,
    confirmations: ConfirmationsOption = confirmations_default,
    from_height: Annotated[int, typer.Option(help="First block to scan.")] = 0,
    json_output: JsonOption = False,
) -> None:
    """Post the inflows to registered addresses as deposits (exactly once; safe to repeat)."""
    with reported(json_output), custody_opened(context) as custody:
        source, chain = _source(eth_rpc, native_asset, token, utxo_snapshot, network,
                                ethereum=(chain_id, confirmations))  # fmt: skip
        document = requests.scan_deposits(custody, source, chain, from_height)
    if json_output:
        write_json(document)
    else:
        say(
            f"height {document['height']}: {len(document['posted'])} posted, "
            f"{len(document['already_posted'])} already posted, "
            f"{len(document['refused'])} refused, {len(document['unattributed'])} unattributed"
        )
    if not document["ok"]:
        raise typer.Exit(errors.exit_status_rejected)


@app.command("holdings")
def holdings(
    context: typer.Context,
    *,
    eth_rpc: EthRpcOption = None,
    native_asset: NativeAssetOption = "ETH",
    token: TokenOption = None,
    utxo_snapshot: SnapshotOption = None,
    network: NetworkOption = "mainnet",
    chain_id: ChainIdOption = None,
    confirmations: ConfirmationsOption = confirmations_default,
    out: Annotated[
        Path | None, typer.Option(help="Write the observations here (JSON lines).")
    ] = None,
    json_output: JsonOption = False,
) -> None:
    """What every registered address holds now, per the source: the observations file that
    `reconcile --observations` and `por build --holdings` read."""
    with reported(json_output), custody_opened(context) as custody:
        source, chain = _source(eth_rpc, native_asset, token, utxo_snapshot, network,
                                ethereum=(chain_id, confirmations))  # fmt: skip
        found = requests.export_holdings(custody, bootstrap.recon_files(), source, chain,
                                         None if out is None else str(out))  # fmt: skip
    if json_output:
        write_json(found.document)
    elif out is None:
        sys.stdout.write(found.lines)
    else:
        say(f"{found.document['observations']} observations written to {out}")


def _token_pair(text: str) -> tuple[str, str]:
    contract, _, asset = text.partition("=")
    if not contract or not asset:
        raise InputError(Result.field_unknown, f"--token {text!r}: expected CONTRACT=ASSET")
    return contract, asset
