"""The demo: one synthetic custodian's day, run through the ledger service and checked as it goes.

``run_demo`` builds a realistic custodian in an empty ledger: three assets (BTC, ETH in wei,
USDC), the house's own wallets and accounts, individual and omnibus custody pools, one
title-transfer ``earn`` pool, and thousands of clients. It then runs one day of work: deposits
from small to whale, internal transfers, custody fees, withdrawals (some two-phase: posted in
full or in part, voided, left to expire), a client moving between pools as a linked pair,
sweeps of residual interest, a loan out of the earn pool, hot-to-cold rebalancing. Every client
has a principal with its own key (derived from the seed: a synthetic firm's keys), endorsed by
the demo's admin, and signs each internal transfer it pays. Finally it
stages what a segregation report exists to show: a misdirected deposit that opens a break, half
cured, and a handful of events the ledger must refuse, each with its named code.

Every event goes through ``LedgerService`` and every result is checked: what is meant to commit
must come back ``ok`` and what is meant to be refused must come back with the expected code,
else the demo raises ``AssertionError``. At the end the demo compares every client balance it
expected with the ledger's and checks each pool's coverage. So the demo is a proof at scale that
the guarantees hold, not only a data generator.

Deterministic by seed: one ``random.Random(seed)`` makes every choice in a fixed order, and
amounts are built from integers only (a decade drawn, then ``randrange`` inside it). Only the
timestamps, and so the journal's hashes, depend on the clock.

The day is built in parts: demo/world.py plans the firm and holds what the demo expects;
demo/client_flows.py and demo/house_flows.py make the day's transfers; demo/refusals.py stages
what must be refused; demo/segregation_report.py turns the ledger into the report document.

Pending timeouts expire when time passes. The service's clock is a port; if the clock can be
moved by hand (it has ``advance``, as ``ManualClock`` does), the demo moves it past the timeout
and shows the expiry. Otherwise the pending withdrawal stays open and the document says so.
"""

from __future__ import annotations

import functools
import random
from collections import Counter
from collections.abc import Callable, Sequence

from ringfence.core import limits
from ringfence.core.errors import InputError, Result
from ringfence.core.ledger.model import Transfer
from ringfence.core.limits import demo_clients_max as clients_max
from ringfence.core.limits import demo_clients_min as clients_min
from ringfence.core.principals.authorisation import public_key_of
from ringfence.core.principals.records import Principal, PrincipalChange, PrincipalRole
from ringfence.demo.client_flows import (
    deposits,
    fees,
    internal_transfers,
    move_between_pools,
    pending_withdrawals,
    resolve_pendings,
    whale_deposit,
    withdrawals,
)
from ringfence.demo.custody import run_custody_demo
from ringfence.demo.house_flows import (
    house_funding,
    let_time_pass,
    loan_out,
    misdirect,
    rebalance,
    sweeps,
)
from ringfence.demo.insolvency import failure_section
from ringfence.demo.recon import run_recon_week
from ringfence.demo.refusals import refuse, staged_refusals
from ringfence.demo.regulatory import Documents, regulatory_section, summary_lines
from ringfence.demo.risk import run_venue_demo
from ringfence.demo.segregation_report import build_report
from ringfence.demo.world import Document, Progress, World, asset_plans, plan_world, seed_of, signed
from ringfence.service.ledger import LedgerService
from ringfence.service.ports import DemoChains

# The CLI bounds --clients with these (core/limits.py); a call outside them is a programming
# error.
__all__ = ["clients_max", "clients_min", "run_demo"]

venue_buckets_min = 300  # margin buckets on the demo's derivatives venue, at the least
admin_name = "demo-admin"  # the demo ledger's first admin: its trust anchor

_ok = Result.ok


def run_demo(
    ledger: LedgerService,
    clients: int = 10_000,
    seed: int = 7,
    progress: Progress | None = None,
    chains: DemoChains | None = None,
    *,
    documents: Documents | None = None,
) -> Document:
    """Build a custodian with ``clients`` clients in an empty ledger, run its day, check every
    result, and return the report document (``build_report``). With ``chains``, the day's
    wallets are registered from extended public keys and deposits arrive on chain too; with
    ``documents`` (a reader of documents in hand), the regulatory outputs that read an
    operator's files are shown too (demo/regulatory_inputs.py writes them)."""
    assert clients_min <= clients <= clients_max
    if ledger.seq != 0:
        raise InputError(
            Result.definition_exists_with_different_body,
            f"the demo builds its custodian in an empty ledger; this one has {ledger.seq} "
            "journal entries",
        )
    report = progress or _no_progress
    world = World(random.Random(seed), {plan.asset.code: plan for plan in asset_plans}, seed)
    names = plan_world(world, clients)
    _define(ledger, world, names, report)
    _run_morning(ledger, world, report)
    _run_afternoon(ledger, world, report)
    _run_evening(ledger, world, report)
    _check_day(ledger, world)
    # The derivatives venue: margin buckets (isolated, cross, portfolio) with their collateral
    # in margin pools of the same ledger, fills, a settlement cycle, funding and a risk scan,
    # then a price crash (a 35% gap) through the liquidation loop: partial and full
    # liquidations, insurance funds and auto-deleveraging, all as ledger transfers.
    venue = run_venue_demo(ledger, max(venue_buckets_min, clients // 3), seed, progress)
    del venue["scan_ms"]  # a timing, not a fact of the day: `ringfence bench risk` measures it
    # Custody (demo/custody.py): derived wallets and addresses, on-chain deposits.
    custody = None if chains is None else run_custody_demo(ledger, chains, seed, progress)
    # A week of daily reconciliation after the day (demo/recon.py).
    reconciliation = run_recon_week(ledger, progress)
    # The regulatory outputs at the day's end (demo/regulatory.py), before the failure; the
    # in-kind return schedule is read off the failure's simulation.
    regulatory = regulatory_section(ledger, progress, documents)
    # The firm fails at the end (demo/insolvency.py): who gets what back.
    failure = failure_section(ledger, progress)
    report("report", 0, 1)
    document = build_report(
        ledger, seed=seed, clients=clients, refusals=world.refusals, notes=world.notes
    )
    document["venue"] = venue
    if custody is not None:
        document["custody"] = custody
    document["reconciliation"] = reconciliation
    regulatory["in_kind"] = failure.pop("in_kind")
    regulatory["summary"] = summary_lines(regulatory)
    document["insolvency"] = failure
    document["regulatory"] = regulatory
    report("report", 1, 1)
    return document


def _no_progress(stage: str, done: int, total: int) -> None:
    del stage, done, total


def _run_morning(ledger: LedgerService, world: World, report: Progress) -> None:
    """Funding, deposits, internal transfers, fees, withdrawals."""
    _submit(ledger, house_funding(world), "house funding", report)
    _submit(ledger, deposits(world), "deposits", report)
    payments = [signed(ledger, world, event) for event in internal_transfers(world)]
    _submit(ledger, payments, "internal transfers", report)
    _submit(ledger, fees(world), "fees", report)
    _submit(ledger, withdrawals(world), "withdrawals", report)
    pendings = pending_withdrawals(world)
    _submit(ledger, [pending.event for pending in pendings], "pending withdrawals", report)
    _submit(ledger, resolve_pendings(world, pendings), "pending withdrawals", report)


def _run_afternoon(ledger: LedgerService, world: World, report: Progress) -> None:
    """A move between pools, a whale, sweeps, a loan from earn, a misdirected deposit (which
    leaves its pool short from here on), time passing, then the refusals."""
    _submit(ledger, move_between_pools(ledger, world), "move between pools", report)
    _submit(ledger, whale_deposit(world), "deposits", report)
    _submit(ledger, sweeps(ledger, world), "sweeps", report)
    _submit(ledger, loan_out(ledger, world), "loan from earn", report)
    misdirected, world.cure = misdirect(world)
    _submit(ledger, [misdirected], "misdirected deposit", report)
    expired = let_time_pass(ledger, world)
    refuse(ledger, world, staged_refusals(ledger, world, expired), report)


def _run_evening(ledger: LedgerService, world: World, report: Progress) -> None:
    """Rebalancing, then the house makes half the misdirected deposit good."""
    _submit(ledger, rebalance(ledger, world), "rebalancing", report)
    assert world.cure is not None
    _submit(ledger, [world.cure], "break cure", report)


def _submit(
    ledger: LedgerService, events: Sequence[Transfer], stage: str, report: Progress
) -> None:
    """Submit in full batches; every event must commit."""
    done = 0
    report(stage, 0, len(events))
    for results in ledger.submit_events(events):
        for result in results:
            if result is not _ok:
                event = events[done]
                raise AssertionError(
                    f"{stage}: transfer {event.id} ({event.code.name}) came back "
                    f"{result.value}, expected ok"
                )
            done += 1
        report(stage, done, len(events))


def _define(ledger: LedgerService, world: World, names: list[str], report: Progress) -> None:
    """Define everything planned; every definition must be new."""
    pools = list(world.pools.values())
    # Individual pools name their client, so clients come first; accounts name their pools.
    steps: list[tuple[str, Callable[[], list[Result]]]] = [
        ("assets", lambda: ledger.define_assets([plan.asset for plan in asset_plans])),
        ("clients", lambda: ledger.define_clients(names)),
        ("pools", lambda: ledger.define_pools(pools)),
    ]
    chunk = limits.definitions_per_request_max
    for start in range(0, len(world.accounts), chunk):
        accounts = world.accounts[start : start + chunk]
        steps.append(("accounts", functools.partial(ledger.define_accounts, accounts)))
    # Principals come after the first entry exists: their endorsements bind its hash.
    steps.append(("principals", functools.partial(_principals, ledger, world, names)))
    for done, (what, define) in enumerate(steps):
        report("definitions", done, len(steps))
        results = define()
        refused = [result for result in results if result is not _ok]
        if refused:
            raise AssertionError(f"definitions: {what} came back {refused[0].value}, expected ok")
    report("definitions", len(steps), len(steps))


def _principals(ledger: LedgerService, world: World, names: list[str]) -> list[Result]:
    """Register the demo's admin (the first principal, unendorsed), then a principal per
    client, named like it, endorsed by the admin."""
    admin_seed = seed_of(world, "")
    admin = Principal(admin_name, PrincipalRole.admin, public_key_of(admin_seed))
    results = ledger.change_principals([PrincipalChange(admin, None)])
    chunk = limits.definitions_per_request_max
    for start in range(0, len(names), chunk):
        changes = [
            ledger.endorse(
                Principal(name, PrincipalRole.client, public_key_of(seed_of(world, name)), name),
                admin_name,
                admin_seed,
            )
            for name in names[start : start + chunk]
        ]
        results += ledger.change_principals(changes)
    return results


def _check_day(ledger: LedgerService, world: World) -> None:
    """The ledger agrees with the demo about every client, and every custody pool is covered
    except the one with the break, which is short by no more than the break outstanding."""
    for holding in world.holdings:
        balance = ledger.balance(holding.account)
        available = balance.balance - balance.debits_pending
        if available != holding.balance:
            raise AssertionError(
                f"account {holding.account} of {holding.client} has {available} available, "
                f"the demo expected {holding.balance}"
            )
    codes = {plan.asset.number: code for code, plan in world.plans.items()}
    for position in ledger.positions():
        if not position.enforced:
            continue
        shortfall = -position.excess_worst
        if (position.pool.name, codes[position.asset]) == world.target:
            if not 0 < shortfall <= position.breaks_outstanding:
                raise AssertionError(f"{position.pool.name}: shortfall {shortfall} unexplained")
        elif shortfall > 0:
            raise AssertionError(f"{position.pool.name} is short by {shortfall} with no break")
    _check_balanced(ledger)
    if not any(h.asset == "ETH" and h.balance > 2**64 for h in world.holdings):
        raise AssertionError("no ETH balance above 2^64 wei")


def _check_balanced(ledger: LedgerService) -> None:
    """Per asset, debits equal credits, posted and pending."""
    sums: Counter[tuple[str, str]] = Counter()
    for balance in ledger.balances():
        asset = balance.account.asset
        sums[(asset, "debits_posted")] += balance.debits_posted
        sums[(asset, "credits_posted")] += balance.credits_posted
        sums[(asset, "debits_pending")] += balance.debits_pending
        sums[(asset, "credits_pending")] += balance.credits_pending
    for asset in {asset for asset, _ in sums}:
        for state in ("posted", "pending"):
            if sums[(asset, f"debits_{state}")] != sums[(asset, f"credits_{state}")]:
                raise AssertionError(f"{asset}: {state} debits and credits differ")
