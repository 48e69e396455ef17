"""The demo's custody: its wallets registered from extended public keys, clients' deposit
addresses derived, and deposits that arrive on chain (a Bitcoin UTXO snapshot the demo writes,
and real transactions on a local Ethereum node when one is installed), each posted once.

Every wallet of the day (each owner of a custody account) becomes a registry wallet in its
pool (or the house) and tier: Bitcoin wallets BIP84, Ethereum wallets BIP44, each from an
account key derived from a demo seed; only the public keys are kept. Each wallet gets its pool
address (index 0) and the hot wallet of each omnibus custody pool a deposit address for some of
its clients. Deposits to those addresses come in through the same path as production: a
holdings source, ``CustodyService.scan_deposits``, then a second scan that finds them posted.
"""

from __future__ import annotations

import hashlib
import random
from typing import Any

from bip_utils import Bip44, Bip44Coins, Bip84, Bip84Coins  # type: ignore[import-untyped]

from ringfence.core import limits
from ringfence.core.custody.registry import AddressAssignment, Chain, Scheme, Wallet
from ringfence.core.errors import Result
from ringfence.core.ledger.model import AccountClass, PoolKind, Terms
from ringfence.service.custody import CustodyService, DepositReport, keys_of
from ringfence.service.ledger import LedgerService
from ringfence.service.ports import DemoChains

Progress = Any
deposit_addresses_per_pool = 100
bitcoin_deposits = 40
ether_deposits = 10
snapshot_height = 871_002


def demo_account_key(wallet: str, chain: Chain) -> str:
    """The wallet's account-level extended public key, from a seed named by the wallet (a
    demo: a real firm brings keys generated in its signing devices, public halves only)."""
    seed = hashlib.sha512(f"ringfence demo wallet\0{wallet}".encode()).digest()
    if chain is Chain.bitcoin:
        account = Bip84.FromSeed(seed, Bip84Coins.BITCOIN).Purpose().Coin().Account(0)
    else:
        account = Bip44.FromSeed(seed, Bip44Coins.ETHEREUM).Purpose().Coin().Account(0)
    return str(account.PublicKey().ToExtended())


def register_demo_wallets(custody: CustodyService) -> list[Wallet]:
    """A derived wallet per custody-account owner of the day, in its pool and tier."""
    engine = custody.ledger.ledger
    wallets: dict[str, Wallet] = {}
    for account in engine.accounts.values():
        d = account.definition
        if d.account_class is not AccountClass.custody or d.owner in wallets:
            continue
        chain = Chain(engine.assets[d.asset].chain)
        scheme = Scheme.bip84 if chain is Chain.bitcoin else Scheme.eth
        key = demo_account_key(d.owner, chain)
        wallets[d.owner] = Wallet(d.owner, chain, scheme, (key,), d.pool, d.kind)
    records = list(wallets.values())
    _change_all(custody, records)
    return records


def _change_all(custody: CustodyService, records: list[Any]) -> None:
    size = limits.demo_registry_changes_per_request_max
    for start in range(0, len(records), size):
        chunk = records[start : start + size]
        results = custody.change(chunk, custody_accounts=False)
        assert all(result is Result.ok for result in results), results


def assign_demo_addresses(
    custody: CustodyService, wallets: list[Wallet]
) -> dict[Chain, list[AddressAssignment]]:
    """Each wallet's pool address, and deposit addresses for clients of omnibus custody pools
    at the pool's hot wallet; returns the client deposit addresses per chain."""
    engine = custody.ledger.ledger
    members: dict[tuple[str, Chain], list[str]] = {}
    for account in engine.accounts.values():
        d = account.definition
        if d.account_class is AccountClass.client and d.kind == "available":
            key = (d.pool, Chain(engine.assets[d.asset].chain))
            clients = members.setdefault(key, [])
            if d.owner not in clients:
                clients.append(d.owner)
    assignments: list[AddressAssignment] = []
    deposit: dict[Chain, list[AddressAssignment]] = {Chain.bitcoin: [], Chain.ethereum: []}
    for wallet in wallets:
        keys = keys_of(wallet)
        assignments.append(AddressAssignment(keys.addresses(0, 1)[0], wallet.name, 0))
        pool = engine.pools.get(wallet.pool)
        if pool is None or pool.kind is not PoolKind.omnibus or wallet.tier != "hot":
            continue
        if pool.terms is not Terms.custody:
            continue
        clients = members.get((pool.name, wallet.chain), [])[:deposit_addresses_per_pool]
        derived = keys.addresses(1, len(clients)) if clients else []
        for index, (client, address) in enumerate(zip(clients, derived, strict=True), start=1):
            assigned = AddressAssignment(address, wallet.name, index, client=client)
            assignments.append(assigned)
            deposit[wallet.chain].append(assigned)
    _change_all(custody, assignments)
    return deposit


def utxo_snapshot_text(paid: list[tuple[AddressAssignment, int]]) -> bytes:
    """A version-1 UTXO snapshot (docs/custody.md) holding one output per payment."""
    lines = [
        "# ringfence utxo snapshot v1",
        "# chain: bitcoin",
        "# network: mainnet",
        f"# height: {snapshot_height}",
        f"# block_hash: {hashlib.sha256(b'ringfence demo block').hexdigest()}",
        "address,txid,vout,amount,height",
    ]
    for number, (assignment, sats) in enumerate(paid):
        txid = hashlib.sha256(f"ringfence demo tx {number}".encode()).hexdigest()
        lines.append(f"{assignment.address},{txid},0,{sats},{snapshot_height - number % 6}")
    return ("\n".join(lines) + "\n").encode("ascii")


def run_custody_demo(
    ledger: LedgerService, chains: DemoChains, seed: int, progress: Progress | None = None
) -> dict[str, Any]:
    """Register the day's wallets and addresses, then take deposits from the chains."""
    rng = random.Random(seed * 31 + 4)
    custody = CustodyService(ledger)
    if progress is not None:
        progress("custody", 0, 3)
    wallets = register_demo_wallets(custody)
    deposit = assign_demo_addresses(custody, wallets)
    paid = [(a, rng.randrange(10**5, 5 * 10**7)) for a in deposit[Chain.bitcoin][:bitcoin_deposits]]
    source = chains.bitcoin_snapshot(utxo_snapshot_text(paid))
    bitcoin = _scan_twice(custody, source, Chain.bitcoin)
    if progress is not None:
        progress("custody", 1, 3)
    ether = None
    node = chains.ethereum()
    if node is not None:
        try:
            for assignment in deposit[Chain.ethereum][:ether_deposits]:
                node.pay(assignment.address, rng.randrange(10**16, 2 * 10**18))
            ether = _scan_twice(custody, node.source, Chain.ethereum)
        finally:
            node.close()
    if progress is not None:
        progress("custody", 3, 3)
    return _section(custody, wallets, deposit, bitcoin, ether)


def _scan_twice(custody: CustodyService, source: Any, chain: Chain) -> dict[str, Any]:
    first = custody.scan_deposits(source, chain=chain)
    second = custody.scan_deposits(source, chain=chain)
    assert not first.refused, first.refused
    assert second.posted == []
    assert len(second.already_posted) == len(first.posted)
    return {"source": source.name, **_summary(first), "rescanned_already_posted": len(
        second.already_posted)}  # fmt: skip


def _summary(report: DepositReport) -> dict[str, Any]:
    return {
        "height": report.height,
        "posted": len(report.posted),
        "unattributed": len(report.unattributed),
        "amount": str(sum(d.inflow.amount for d in report.posted)),
        "sample": [
            {"client": d.client, "address": d.inflow.address, "reference": d.inflow.reference,
             "amount": str(d.inflow.amount)}
            for d in report.posted[:5]
        ],
    }  # fmt: skip


def _section(
    custody: CustodyService,
    wallets: list[Wallet],
    deposit: dict[Chain, list[AddressAssignment]],
    bitcoin: dict[str, Any],
    ether: dict[str, Any] | None,
) -> dict[str, Any]:
    by_scheme: dict[str, int] = {}
    for wallet in wallets:
        by_scheme[wallet.scheme.value] = by_scheme.get(wallet.scheme.value, 0) + 1
    return {
        "wallets": len(wallets),
        "wallets_by_scheme": by_scheme,
        "house_wallets": sum(1 for w in wallets if not w.pool),
        "addresses": len(custody.registry.addresses),
        "client_deposit_addresses": {c.value: len(a) for c, a in deposit.items()},
        "bitcoin": bitcoin,
        "ethereum": ether or {"source": "none: no local Ethereum node installed"},
    }
