"""``ringfence bench recon``: a full reconciliation and segregation statement at scale.

Method. A synthetic firm: 1,000,000 client accounts (half BTC in sats, half ETH in wei with
balances up to 10^22, beyond 2^64) held by 500,000 clients in 1,000 omnibus custody pools and
one title-transfer pool; 10,000 wallets (ten per pool: five for BTC, five for ETH), each with
100 addresses: 1,000,000 wallet addresses, each observed once (one ``Observation`` each);
encumbrances on 1% of the wallets. Inputs are built first (the rows a ledger gathers, the
observations a holdings source returns) and not timed; ``reconcile_1m`` times
``core.recon.run.reconcile`` over them: net equities, requirements, holdings per wallet,
funds, the statement, the internal and the external reconciliation and the break snapshots;
``summarise`` times the run's journal record. ``gather_1m`` times turning a ledger engine's
1,000,000 client and custody accounts into rows (what ``ReconService`` does before
``reconcile``). Exact Python integers throughout: no amount passes through a float or an
int64. Medians over 3 runs (1 in quick mode, at 1/20 of the size), cycle collector paused.
"""

from __future__ import annotations

import gc
import os
import random
import statistics
import time
from collections.abc import Callable
from typing import Any

from ringfence.bench.machine import Progress, machine, peak_memory_mib
from ringfence.core.custody.holdings import Observation
from ringfence.core.custody.registry import Chain, Encumbrance, EncumbranceKind
from ringfence.core.ledger.engine import Ledger
from ringfence.core.ledger.model import AccountClass, AccountDefinition, Pool, PoolKind, Terms
from ringfence.core.money import Asset
from ringfence.core.recon.breaks import BreakBook, ReconBreak
from ringfence.core.recon.run import (
    Reconciliation,
    ReconInput,
    ReconSettings,
    reconcile,
    summarise,
)
from ringfence.core.recon.segregation_statement import ClientRow, CustodyRow, WalletFacts

ASSETS = (Asset("BTC", 8, 1, "bitcoin"), Asset("ETH", 18, 2, "ethereum"))
pools_count = 1_000
wallets_per_pool = 10
addresses_per_wallet = 100


def _inputs(accounts: int, pools_wanted: int, seed: int) -> ReconInput:
    """The rows, wallets, addresses and observations of the synthetic firm."""
    rng = random.Random(seed)
    pools = {f"p{i}": Pool(f"p{i}", PoolKind.omnibus, Terms.custody) for i in range(pools_wanted)}
    pools["earn"] = Pool("earn", PoolKind.omnibus, Terms.title_transfer)
    names = list(pools)
    client_rows: list[ClientRow] = []
    owed: dict[tuple[str, str], int] = {}
    for index in range(accounts):
        asset = "BTC" if index % 2 == 0 else "ETH"
        pool = names[(index // 2) % len(names)]
        high = 10**11 if asset == "BTC" else 10**22
        balance = rng.randrange(high)
        client_rows.append((pool, asset, f"c{index // 2}", balance))
        owed[(pool, asset)] = owed.get((pool, asset), 0) + balance
    wallets, custody_rows, observations, addresses = _wallets(names, owed, rng)
    encumbrances = [
        Encumbrance(i + 1, wallets[i * 100].name, "BTC", 10**6, EncumbranceKind.pledge, "x", 0)
        for i in range(len(wallets) // 100)
    ]
    return ReconInput(
        10**18, pools, client_rows, custody_rows, wallets, addresses, observations, encumbrances,
        settings=ReconSettings({(name, "BTC"): 10**8 for name in names}),
    )  # fmt: skip


def _wallets(
    names: list[str], owed: dict[tuple[str, str], int], rng: random.Random
) -> tuple[list[WalletFacts], list[CustodyRow], list[Observation], dict[str, str]]:
    """Ten wallets per pool holding what the pool owes (plus a little), split over their
    addresses; one wallet in a thousand is short on chain, so breaks open."""
    wallets: list[WalletFacts] = []
    custody_rows: list[CustodyRow] = []
    observations: list[Observation] = []
    addresses: dict[str, str] = {}
    for pool in names:
        for number in range(wallets_per_pool):
            wallet = WalletFacts(f"{pool}-w{number}", pool, "cold" if number % 5 else "hot")
            wallets.append(wallet)
            for asset in ("BTC",) if number < wallets_per_pool // 2 else ("ETH",):
                book = owed.get((pool, asset), 0) * 2 // wallets_per_pool + 1_000
                custody_rows.append((wallet.name, pool, asset, book))
                held = book - (1 if rng.randrange(1_000) == 0 else 0)
                share, rest = divmod(held, addresses_per_wallet)
                for index in range(addresses_per_wallet):
                    address = f"{wallet.name}-a{index}"
                    addresses[address] = wallet.name
                    amount = share + (rest if index == 0 else 0)
                    observations.append(
                        Observation(Chain.bitcoin, address, asset, amount, 870_000, 0, "bench")
                    )
    return wallets, custody_rows, observations, addresses


def _engine(facts: ReconInput) -> Ledger:
    """A ledger engine holding the firm's client and custody accounts with their balances."""
    ledger = Ledger()
    for defined in ASSETS:
        ledger.define_asset(defined)
    for defined_pool in facts.pools.values():
        ledger.define_pool(defined_pool)
    next_id = 1
    for pool, asset, client, balance in facts.client_rows:
        if client not in ledger.clients:
            ledger.define_client(client)
        definition = AccountDefinition(
            next_id, asset, AccountClass.client, client, "available", pool
        )
        ledger.define_account(definition)
        ledger.accounts[next_id].credits_posted = balance
        next_id += 1
    for wallet, pool, asset, balance in facts.custody_rows:
        definition = AccountDefinition(next_id, asset, AccountClass.custody, wallet, "hot", pool)
        ledger.define_account(definition)
        ledger.accounts[next_id].debits_posted = balance
        next_id += 1
    return ledger


def _gather(ledger: Ledger) -> tuple[list[ClientRow], list[CustodyRow]]:
    """As ``ReconService._rows`` does with the engine's accounts."""
    clients: list[ClientRow] = []
    custody: list[CustodyRow] = []
    client_class, custody_class = AccountClass.client, AccountClass.custody
    for account in ledger.accounts.values():
        d = account.definition
        if d.account_class is client_class:
            clients.append((d.pool, d.asset, d.owner, account.balance))
        elif d.account_class is custody_class:
            custody.append((d.owner, d.pool, d.asset, account.balance))
    return clients, custody


def _timed(work: Callable[[], Any]) -> tuple[Any, float]:
    enabled = gc.isenabled()
    gc.disable()
    started = time.perf_counter()
    result = work()
    seconds = time.perf_counter() - started
    if enabled:
        gc.enable()
    return result, seconds


def _one_run(facts: ReconInput) -> tuple[Reconciliation, float, float]:
    """A fresh book each run: every run opens the same breaks."""
    book: BreakBook[ReconBreak] = BreakBook()
    recon, seconds = _timed(lambda: reconcile(facts, book))
    for snapshot in recon.snapshots:
        book.apply(snapshot)
    _, summary_seconds = _timed(lambda: summarise(recon, book, 1))
    return recon, seconds, summary_seconds


def run_bench(quick: bool = False, progress: Progress | None = None) -> dict[str, Any]:
    accounts = 50_000 if quick else 1_000_000
    pools_wanted = 50 if quick else pools_count
    runs = 1 if quick else 3
    recon_s: list[float] = []
    summary_s: list[float] = []
    facts = _inputs(accounts, pools_wanted, seed=7)
    recon = None
    for run in range(runs):
        if progress is not None:
            progress("reconcile", run, runs)
        recon, seconds, summary_seconds = _one_run(facts)
        recon_s.append(seconds)
        summary_s.append(summary_seconds)
    assert recon is not None
    if progress is not None:
        progress("gather", 0, 1)
    engine = _engine(facts)
    gather_s = [_timed(lambda: _gather(engine))[1] for _ in range(runs)]
    addresses = len(facts.wallet_of_address)
    reconcile_median = statistics.median(recon_s)
    return {
        "bench": "recon",
        "machine": machine(),
        "load_average": list(os.getloadavg()),
        "method": "synthetic firm, inputs built untimed, exact integers, one core, median of "
        "runs; see ringfence/bench/recon.py",
        "results": [
            {"case": f"reconcile_{accounts // 1000}k",
             "ops_per_s": round(accounts / reconcile_median, 1),
             "seconds": round(reconcile_median, 3), "seconds_runs": [round(s, 3) for s in recon_s],
             "client_accounts": accounts, "wallet_addresses": addresses,
             "observations": recon.observations, "statement_lines": len(recon.segregation_lines),
             "external_lines": len(recon.external), "breaks_opened": recon.opened,
             "findings": len(recon.findings), "peak_memory_mib": peak_memory_mib()},
            {"case": "summarise", "ops_per_s": round(1 / statistics.median(summary_s), 1),
             "seconds": round(statistics.median(summary_s), 4)},
            {"case": f"gather_{accounts // 1000}k", "ops_per_s":
             round(len(engine.accounts) / statistics.median(gather_s), 1),
             "seconds": round(statistics.median(gather_s), 3), "accounts": len(engine.accounts)},
        ],
    }  # fmt: skip
