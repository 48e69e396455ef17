"""What an operator asks of custody, one function per request: plain strings in (a chain, a
scheme, a script type, a network), the document to show out.

``ringfence wallets ...`` calls exactly one of these each and renders what comes back; the API
will call the same ones. Each word is checked here against the core's own set (with its named
error), so a caller never needs the core's types.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from enum import StrEnum
from typing import Any, TypeVar

from ringfence.core.custody.addresses import AddressKind, Branch, Network, check_range
from ringfence.core.custody.addresses import watch_only_wallet as parsed_wallet
from ringfence.core.custody.registry import Chain, ClientAddress, Designation, Scheme, Wallet
from ringfence.core.errors import InputError, Result
from ringfence.core.recon.files import observation_line
from ringfence.service.custody import CustodyService
from ringfence.service.ports import HoldingsSource, ReconFiles

# The words each option accepts.
address_kind_names = tuple(kind.value for kind in AddressKind)
network_names = tuple(network.value for network in Network)
chain_names = tuple(chain.value for chain in Chain)
scheme_names = tuple(scheme.value for scheme in Scheme)

# Addresses derived between two progress reports: about a third of a second of work.
derive_chunk_addresses = 10_000

ProgressReport = Callable[[str, int, int], None]
Word = TypeVar("Word", bound=StrEnum)


@dataclass(frozen=True, slots=True)
class HoldingsExport:
    """What ``wallets holdings`` found: the document to print and the observations as the
    JSON lines ``reconcile --observations`` reads (printed when no file was asked for)."""

    document: dict[str, Any]
    lines: str


def derive_addresses(
    kind: str,
    xpubs: Sequence[str],
    count: int,
    *,
    start: int = 0,
    change: bool = False,
    network: str | None = None,
    progress: ProgressReport | None = None,
) -> dict[str, Any]:
    """Addresses of a wallet from its extended public keys, watch-only (a private key is
    refused): ``count`` from index ``start`` on the receive or the change branch."""
    branch = Branch.change if change else Branch.receive
    wallet = parsed_wallet(_word(AddressKind, kind, Result.address_kind_unknown), xpubs,
                           None if network is None else _network(network))  # fmt: skip
    start, count = check_range(start, count)
    addresses: list[str] = []
    for offset in range(0, count, derive_chunk_addresses):
        size = min(derive_chunk_addresses, count - offset)
        addresses += wallet.addresses(start + offset, size, branch)
        if progress is not None:
            progress("derive", len(addresses), count)
    return {
        "ok": True,
        "kind": wallet.kind.value,
        "network": wallet.network.value,
        "chain": branch.name,
        "start": start,
        "count": count,
        "descriptor": wallet.descriptor(branch),
        "addresses": addresses,
    }


def create_wallet(
    custody: CustodyService,
    name: str,
    *,
    chain: str,
    scheme: str,
    keys: Sequence[str],
    pool: str = "",
    tier: str = "hot",
    network: str = "mainnet",
) -> dict[str, Any]:
    """Define a wallet, designated to ``pool`` (empty: the house); journaled."""
    record = Wallet(
        name,
        _word(Chain, chain, Result.chain_unknown),
        _word(Scheme, scheme, Result.field_unknown),
        tuple(keys),
        pool,
        tier,
        network,
    )
    return _results([name], custody.change([record]))


def designate_wallet(
    custody: CustodyService, name: str, pool: str | None = None, tier: str | None = None
) -> dict[str, Any]:
    """Move a wallet to another pool (only when empty; "" is the house) or tier; journaled with
    its history. What is not given stays as it is: moving a cold wallet to another pool keeps
    it cold, and a new tier keeps its pool."""
    if pool is None and tier is None:
        raise InputError(Result.field_required, "a pool, a tier or both")
    current = custody.registry.wallets.get(name)
    if current is not None:
        pool = current.pool if pool is None else pool
        tier = current.tier if tier is None else tier
    # An unknown wallet is refused by name when the change is judged (wallet_not_found).
    designation = Designation(name, pool or "", tier or "hot")
    return _results([name], custody.change([designation]))


def assign_addresses(
    custody: CustodyService,
    wallet: str,
    *,
    count: int = 1,
    start: int = 0,
    client: str = "",
    change: bool = False,
) -> dict[str, Any]:
    """Derive addresses of ``wallet`` and assign them to ``client`` (none: the pool's)."""
    check_range(start, count)
    results = custody.assign_derived(wallet, start, count, client, change)
    addresses = [
        a.address
        for a in sorted(custody.addresses_of(wallet), key=lambda a: a.index)
        if start <= a.index < start + count and a.change == change
    ]
    return _results(addresses, results)


def record_client_address(custody: CustodyService, address: str, client: str) -> dict[str, Any]:
    """Record a client's own outside address (where they send from and withdraw to)."""
    return _results([address], custody.change([ClientAddress(address, client)]))


def list_wallets(custody: CustodyService) -> dict[str, Any]:
    """Wallets with their pool, tier, keys, address count and designation history."""
    return {"ok": True, "wallets": custody.wallets()}


def scan_deposits(
    custody: CustodyService, source: HoldingsSource, chain: str, from_height: int = 0
) -> dict[str, Any]:
    """Post the source's inflows to registered addresses on ``chain`` as deposits (exactly
    once; safe to repeat); ``ok`` is false when the ledger refused any."""
    report = custody.scan_deposits(source, from_height, _word(Chain, chain, Result.chain_unknown))
    return {"ok": not report.refused, **report.to_json()}


def export_holdings(
    custody: CustodyService,
    files: ReconFiles,
    source: HoldingsSource,
    chain: str,
    out: str | None = None,
) -> HoldingsExport:
    """What every registered address on ``chain`` holds now, per the source; saved to the
    file ``out`` when given (the file ``reconcile --observations`` and ``por build --holdings``
    read)."""
    observations = custody.observe(source, _word(Chain, chain, Result.chain_unknown))
    if out is not None:
        files.write_observations(out, observations)
    document = {"ok": True, "observations": len(observations), "out": out}
    return HoldingsExport(document, "".join(observation_line(o) + "\n" for o in observations))


def _results(records: list[str], results: list[Result]) -> dict[str, Any]:
    return {
        "ok": all(result.succeeded for result in results),
        "results": [
            {"record": record, "result": result.value}
            for record, result in zip(records, results, strict=True)
        ],
    }


def chain_word(text: str) -> Chain:
    """``text`` as a chain, or ``chain_unknown``."""
    return _word(Chain, text, Result.chain_unknown)


def _network(text: str) -> Network:
    return _word(Network, text, Result.network_unknown)


def _word(kind: type[Word], text: str, code: Result) -> Word:
    """``text`` as one of ``kind``'s words, or the named error ``code``."""
    if text not in tuple(kind):
        raise InputError(code, repr(text))
    return kind(text)
