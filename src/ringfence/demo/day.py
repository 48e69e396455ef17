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

Pending timeouts expire when time passes. The service's clock is a port; if the clock can be
moved by hand (it has ``advance``, as ``ManualClock`` does), the demo moves it past the timeout
and shows the expiry. Otherwise the pending withdrawal stays open and the document says so.
"""

from __future__ import annotations

import functools
import hashlib
import random
from collections import Counter
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Any

from ringfence.core import limits
from ringfence.core.errors import InputError, Result
from ringfence.core.ledger.model import (
    AccountClass,
    AccountDefinition,
    Break,
    Pool,
    PoolKind,
    Terms,
    Transfer,
    TransferCode,
    TransferFlags,
    custody_tiers,
)
from ringfence.core.ledger.state import PendingStatus, Position
from ringfence.core.money import Asset, format_signed_amount, mul_div_floor
from ringfence.core.principals.authorisation import public_key_of
from ringfence.core.principals.records import Principal, PrincipalChange, PrincipalRole
from ringfence.demo.custody import run_custody_demo
from ringfence.demo.insolvency import failure_section
from ringfence.demo.recon import run_recon_week
from ringfence.demo.risk import run_venue_demo
from ringfence.service.ledger import LedgerService
from ringfence.service.ports import DemoChains

Progress = Callable[[str, int, int], None]
Document = dict[str, Any]

# Client names carry six digits (c000001); below the minimum some scenes would lack a cast.
# The CLI bounds --clients with these; a call outside them is a programming error.
clients_min = 10
clients_max = 999_999

# The real USDC contract on Ethereum mainnet, as an example of a token's identity.
usdc_contract = "0xa0b86991c6218b36c1d19d4a2e9eb0ce3606eb48"

venue_buckets_min = 300  # margin buckets on the demo's derivatives venue, at the least
individual_percent = 5  # clients with a pool and wallets of their own
earn_percent = 8  # clients who also hold a claim in the title-transfer earn pool
omnibus_clients_per_pool = 2_000
omnibus_pools_min = 2  # a client moving between pools needs two
internal_transfer_percent = 10  # of a pool's accounts pay another client of the pool
withdrawal_percent = 15  # of all client accounts withdraw part of their balance
fee_bps = 25  # the day's custody fee, in basis points of the balance, rounded down
sweep_percent = 75  # of the residual interest swept out; the rest stays as a buffer
cold_percent = 70  # of a hot wallet's free holdings moved to cold storage at end of day
warm_percent = 20
loan_percent = 50  # of the earn pool's BTC lent to the house
pending_withdrawals_per_accounts = 200  # one two-phase withdrawal per this many accounts
pending_withdrawals_min = 4  # posted in part, posted in full, voided, left to expire
pending_timeout_s = 3_600  # a withdrawal held for an hour of compliance review
admin_name = "demo-admin"  # the demo ledger's first admin: its trust anchor

_deposit = TransferCode.deposit
_withdrawal = TransferCode.withdrawal
_ok = Result.ok


@dataclass(frozen=True, slots=True)
class AssetPlan:
    """An asset and the sizes the demo draws for it, in minor units."""

    asset: Asset
    deposit_exponent_min: int  # the smallest deposit is 10^min units
    deposit_exponent_max: int  # the largest is below 10^max units
    house_funding_units: int
    holder_percent: int  # of clients who hold the asset


asset_plans = (
    # 0.0001 BTC to 1,000 BTC.
    AssetPlan(Asset("BTC", 8, 1, "bitcoin"), 4, 11, 500 * 10**8, 60),
    # 0.001 ETH to 10,000 ETH: balances above 2^64 wei (18.4 ETH) are common.
    AssetPlan(Asset("ETH", 18, 2, "ethereum"), 15, 22, 20_000 * 10**18, 50),
    # 1 USDC to 10 million USDC.
    AssetPlan(Asset("USDC", 6, 3, "ethereum", usdc_contract), 6, 13, 50_000_000 * 10**6, 55),
)


@dataclass(slots=True)
class Holding:
    """One client's account in one pool for one asset, with the balance the demo expects it
    to have available (posted credits less posted and pending debits)."""

    account: int
    client: str
    pool: str
    asset: str
    balance: int = 0


@dataclass(slots=True)
class Pending:
    """A two-phase withdrawal the demo opened, and the holding it reserves from."""

    event: Transfer
    holding: Holding


@dataclass(slots=True)
class World:
    """What the demo built and what it expects, so that each step can be checked."""

    rng: random.Random
    plans: dict[str, AssetPlan]
    seed: int = 0  # the demo's seed, from which its principals' keys are derived
    pools: dict[str, Pool] = field(default_factory=dict)
    wallets: dict[tuple[str, str], dict[str, int]] = field(default_factory=dict)
    house: dict[tuple[str, str], int] = field(default_factory=dict)  # (asset, role) -> account
    holdings: list[Holding] = field(default_factory=list)
    positions: dict[tuple[str, str], list[Holding]] = field(default_factory=dict)
    accounts: list[AccountDefinition] = field(default_factory=list)
    account_id_last: int = 0
    transfer_id_last: int = 0
    target: tuple[str, str] = ("omni-1", "BTC")  # where the misdirected deposit lands
    timed: Pending | None = None  # the pending withdrawal left to expire
    first_deposit: Transfer | None = None
    cure: Transfer | None = None  # the break cure, decided with the break, submitted later
    refusals: list[dict[str, str]] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    def transfer_id(self) -> int:
        self.transfer_id_last += 1
        return self.transfer_id_last

    def account(
        self, asset: str, account_class: AccountClass, owner: str, kind: str, pool: str = ""
    ) -> AccountDefinition:
        self.account_id_last += 1
        definition = AccountDefinition(
            self.account_id_last, asset, account_class, owner, kind, pool
        )
        self.accounts.append(definition)
        return definition

    def hold(self, client: str, pool: str, asset: str) -> Holding:
        definition = self.account(asset, AccountClass.client, client, "available", pool)
        holding = Holding(definition.id, client, pool, asset)
        self.holdings.append(holding)
        self.positions.setdefault((pool, asset), []).append(holding)
        return holding


# ---------------------------------------------------------------------- the day


def run_demo(
    ledger: LedgerService,
    clients: int = 10_000,
    seed: int = 7,
    progress: Progress | None = None,
    chains: DemoChains | None = None,
) -> Document:
    """Build a custodian with ``clients`` clients in an empty ledger, run its day, check every
    result, and return the report document (``build_report``). With ``chains``, the day's
    wallets are registered from extended public keys and deposits arrive on chain too."""
    assert clients_min <= clients <= clients_max
    if ledger.seq != 0:
        raise InputError(
            Result.definition_exists_with_different_body,
            f"the demo builds its custodian in an empty ledger; this one has {ledger.seq} "
            "journal entries",
        )
    report = progress or _no_progress
    world = World(random.Random(seed), {plan.asset.code: plan for plan in asset_plans}, seed)
    names = _plan_world(world, clients)
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
    document["insolvency"] = failure
    report("report", 1, 1)
    return document


def _no_progress(stage: str, done: int, total: int) -> None:
    del stage, done, total


def _run_morning(ledger: LedgerService, world: World, report: Progress) -> None:
    """Funding, deposits, internal transfers, fees, withdrawals."""
    _submit(ledger, _house_funding(world), "house funding", report)
    _submit(ledger, _deposits(world), "deposits", report)
    payments = [_signed(ledger, world, event) for event in _internal_transfers(world)]
    _submit(ledger, payments, "internal transfers", report)
    _submit(ledger, _fees(world), "fees", report)
    _submit(ledger, _withdrawals(world), "withdrawals", report)
    pendings = _pending_withdrawals(world)
    _submit(ledger, [pending.event for pending in pendings], "pending withdrawals", report)
    _submit(ledger, _resolve_pendings(world, pendings), "pending withdrawals", report)


def _run_afternoon(ledger: LedgerService, world: World, report: Progress) -> None:
    """A move between pools, a whale, sweeps, a loan from earn, a misdirected deposit (which
    leaves its pool short from here on), time passing, then the refusals."""
    _submit(ledger, _move_between_pools(ledger, world), "move between pools", report)
    _submit(ledger, _whale_deposit(world), "deposits", report)
    _submit(ledger, _sweeps(ledger, world), "sweeps", report)
    _submit(ledger, _loan_out(ledger, world), "loan from earn", report)
    misdirected, world.cure = _misdirect(world)
    _submit(ledger, [misdirected], "misdirected deposit", report)
    expired = _let_time_pass(ledger, world)
    _refuse(ledger, world, _refusals(ledger, world, expired), report)


def _run_evening(ledger: LedgerService, world: World, report: Progress) -> None:
    """Rebalancing, then the house makes half the misdirected deposit good."""
    _submit(ledger, _rebalance(ledger, world), "rebalancing", report)
    assert world.cure is not None
    _submit(ledger, [world.cure], "break cure", report)


# ---------------------------------------------------------------------- submitting


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


@dataclass(frozen=True, slots=True)
class Refusal:
    """Events the ledger must refuse, the codes they must get, and the code the report shows."""

    what: str
    events: tuple[Transfer, ...]
    expected: tuple[Result, ...]


def _refuse(
    ledger: LedgerService, world: World, refusals: Sequence[Refusal], report: Progress
) -> None:
    """Submit each refusal as a batch of its own; each event must get exactly its code.

    One batch per refusal keeps each check independent of the others: a failed linked chain,
    for one, must not decide what happens to the events after it.
    """
    for done, refusal in enumerate(refusals):
        report("refusals", done, len(refusals))
        results = ledger.submit(refusal.events)
        for event, result, code in zip(refusal.events, results, refusal.expected, strict=True):
            if result is not code:
                raise AssertionError(
                    f"refusals: transfer {event.id} ({event.code.name}) came back "
                    f"{result.value}, expected {code.value}"
                )
        if not refusal.expected[0].succeeded:
            world.refusals.append({"what": refusal.what, "code": refusal.expected[0].value})
    report("refusals", len(refusals), len(refusals))


# ---------------------------------------------------------------------- planning


def _plan_world(world: World, count: int) -> list[str]:
    """Pools, wallets and accounts for the house and ``count`` clients; returns client names."""
    for code in world.plans:
        _plan_house(world, code)
    omnibus_clients = count * (100 - individual_percent) // 100
    omnibus_count = max(omnibus_pools_min, -(-omnibus_clients // omnibus_clients_per_pool))
    omnibus = [f"omni-{number}" for number in range(1, omnibus_count + 1)]
    for name in [*omnibus, "earn"]:
        terms = Terms.title_transfer if name == "earn" else Terms.custody
        world.pools[name] = Pool(name, PoolKind.omnibus, terms)
        for code in world.plans:
            _plan_wallets(world, name, code, custody_tiers)
    names = []
    for number in range(1, count + 1):
        name = f"c{number:06d}"
        names.append(name)
        _plan_client(world, name, number, count, omnibus)
    return names


def _plan_house(world: World, code: str) -> None:
    wallet = world.account(code, AccountClass.custody, f"house-{code.lower()}-hot", "hot")
    world.house[(code, "wallet")] = wallet.id
    for kind in ("revenue", "capital", "network_fees", "loans"):
        world.house[(code, kind)] = world.account(code, AccountClass.house, "house", kind).id


def _plan_wallets(world: World, pool: str, code: str, tiers: Sequence[str]) -> None:
    wallets = world.wallets.setdefault((pool, code), {})
    for tier in tiers:
        owner = f"{pool}-{code.lower()}-{tier}"
        wallets[tier] = world.account(code, AccountClass.custody, owner, tier, pool).id


def _plan_client(world: World, name: str, number: int, count: int, omnibus: list[str]) -> None:
    """Which assets a client holds, in which pool; some also hold a claim in earn."""
    rng = world.rng
    codes = [code for code, plan in world.plans.items() if rng.randrange(100) < plan.holder_percent]
    # The first two clients share omni-1's BTC and ETH ledgers, so every scene has its cast
    # whatever the seed: the whale, an internal transfer, the misdirected deposit.
    forced = number <= 2
    if forced:
        codes = ["BTC", "ETH", *(code for code in codes if code not in ("BTC", "ETH"))]
    if not codes:
        codes = [rng.choice(list(world.plans))]
    if not forced and rng.randrange(100) < individual_percent:
        pool = f"seg-{name}"
        world.pools[pool] = Pool(pool, PoolKind.individual, Terms.custody, client=name)
        for code in codes:
            _plan_wallets(world, pool, code, ("hot", "cold"))
    else:
        pool = omnibus[0] if forced else rng.choice(omnibus)
    for code in codes:
        world.hold(name, pool, code)
    if number == count or rng.randrange(100) < earn_percent:
        world.hold(name, "earn", "BTC")
        if rng.randrange(2):
            world.hold(name, "earn", "ETH")


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
    admin_seed = _seed_of(world, "")
    admin = Principal(admin_name, PrincipalRole.admin, public_key_of(admin_seed))
    results = ledger.change_principals([PrincipalChange(admin, None)])
    chunk = limits.definitions_per_request_max
    for start in range(0, len(names), chunk):
        changes = [
            ledger.endorse(
                Principal(name, PrincipalRole.client, public_key_of(_seed_of(world, name)), name),
                admin_name,
                admin_seed,
            )
            for name in names[start : start + chunk]
        ]
        results += ledger.change_principals(changes)
    return results


def _seed_of(world: World, name: str) -> bytes:
    """A demo principal's Ed25519 seed (``""``: the admin's), derived from the demo's seed and
    the name: a synthetic custodian's keys, which no real one may use."""
    text = f"ringfence demo key\0{world.seed}\0{name}".encode()
    return hashlib.sha256(text).digest()


def _signed(
    ledger: LedgerService, world: World, transfer: Transfer, by: str | None = None
) -> Transfer:
    """``transfer`` signed as its authoriser would, with the key of ``by`` (default: the
    authoriser named in it)."""
    return ledger.authorise(transfer, _seed_of(world, by or transfer.authorised_by))


# ---------------------------------------------------------------------- the morning


def _draw_amount(rng: random.Random, plan: AssetPlan) -> int:
    """Log-uniform-ish, from integers only: a decade (the smaller of two draws, so small
    deposits outnumber whales), then any amount inside it."""
    low, high = plan.deposit_exponent_min, plan.deposit_exponent_max
    exponent = min(rng.randrange(low, high), rng.randrange(low, high))
    return rng.randrange(10**exponent, 10 ** (exponent + 1))


def _house_funding(world: World) -> list[Transfer]:
    """The house puts its own capital into its hot wallets (to fund cures and fees later)."""
    return [
        Transfer(
            world.transfer_id(),
            world.house[(code, "wallet")],
            world.house[(code, "capital")],
            plan.house_funding_units,
            TransferCode.house_funding,
        )
        for code, plan in world.plans.items()
    ]


def _deposits(world: World) -> list[Transfer]:
    """One or two deposits per client account into its pool's hot wallet."""
    rng = world.rng
    events = []
    for holding in world.holdings:
        plan = world.plans[holding.asset]
        hot = world.wallets[(holding.pool, holding.asset)]["hot"]
        for _ in range(1 + rng.randrange(2)):
            amount = _draw_amount(rng, plan)
            holding.balance += amount
            events.append(Transfer(world.transfer_id(), hot, holding.account, amount, _deposit))
    world.first_deposit = events[0]
    return events


def _whale_deposit(world: World) -> list[Transfer]:
    """In the afternoon, after every client outflow of the day, the first client deposits
    25 ETH and some wei: a balance no u64 can hold stays on the books at close."""
    whale = world.positions[("omni-1", "ETH")][0]
    amount = 25 * 10**18 + world.rng.randrange(10**18)
    assert amount > 2**64
    whale.balance += amount
    hot = world.wallets[("omni-1", "ETH")]["hot"]
    return [Transfer(world.transfer_id(), hot, whale.account, amount, _deposit)]


def _internal_transfers(world: World) -> list[Transfer]:
    """Clients of one omnibus custody pool pay each other, each payment authorised by its payer."""
    rng = world.rng
    events = []
    for (pool, _), holdings in world.positions.items():
        if world.pools[pool].terms is not Terms.custody or len(holdings) < 2:
            continue
        count = max(1, len(holdings) * internal_transfer_percent // 100)
        for payer_index in rng.sample(range(len(holdings)), count):
            payee_index = rng.randrange(len(holdings) - 1)
            payee_index += payee_index >= payer_index  # anyone but the payer
            payer, payee = holdings[payer_index], holdings[payee_index]
            amount = mul_div_floor(payer.balance, rng.randrange(1, 51), 100)
            if amount == 0:
                continue
            payer.balance -= amount
            payee.balance += amount
            events.append(
                Transfer(
                    world.transfer_id(),
                    payer.account,
                    payee.account,
                    amount,
                    TransferCode.internal_transfer,
                    authorised_by=payer.client,
                )
            )
    return events


def _fees(world: World) -> list[Transfer]:
    """The day's custody fee from every account large enough to owe one unit: it becomes the
    pool's residual interest until swept."""
    events = []
    for holding in world.holdings:
        fee = mul_div_floor(holding.balance, fee_bps, 10_000)
        if fee == 0:
            continue
        holding.balance -= fee
        revenue = world.house[(holding.asset, "revenue")]
        events.append(
            Transfer(world.transfer_id(), holding.account, revenue, fee, TransferCode.fee)
        )
    return events


def _withdrawals(world: World) -> list[Transfer]:
    """Some clients take out between a tenth and all of what they hold, from the hot wallet."""
    rng = world.rng
    events = []
    count = len(world.holdings) * withdrawal_percent // 100
    for index in sorted(rng.sample(range(len(world.holdings)), count)):
        holding = world.holdings[index]
        amount = mul_div_floor(holding.balance, rng.randrange(10, 101), 100)
        if amount == 0:
            continue
        holding.balance -= amount
        hot = world.wallets[(holding.pool, holding.asset)]["hot"]
        events.append(Transfer(world.transfer_id(), holding.account, hot, amount, _withdrawal))
    return events


def _pending_withdrawals(world: World) -> list[Pending]:
    """Withdrawals held for review: half the balance each; the last one has a timeout."""
    rng = world.rng
    candidates = [holding for holding in world.holdings if holding.balance >= 4]
    count = max(pending_withdrawals_min, len(world.holdings) // pending_withdrawals_per_accounts)
    chosen = rng.sample(candidates, min(count, len(candidates)))
    assert len(chosen) >= pending_withdrawals_min
    pendings = []
    for index, holding in enumerate(chosen):
        timeout_s = pending_timeout_s if index == len(chosen) - 1 else 0
        amount = holding.balance // 2
        holding.balance -= amount
        hot = world.wallets[(holding.pool, holding.asset)]["hot"]
        event = Transfer(
            world.transfer_id(),
            holding.account,
            hot,
            amount,
            _withdrawal,
            TransferFlags.pending,
            timeout_s=timeout_s,
        )
        pendings.append(Pending(event, holding))
    world.timed = pendings[-1]
    return pendings


def _resolve_pendings(world: World, pendings: list[Pending]) -> list[Transfer]:
    """The first is posted in part (the rest goes back to the client), the next ones in full,
    the second to last is voided; the last is left alone with its timeout running."""
    events = []
    for index, pending in enumerate(pendings[:-1]):
        held = pending.event.amount
        assert held is not None
        amount: int | None = None
        flags = TransferFlags.post_pending
        if index == 0:
            amount = held // 2
            pending.holding.balance += held - amount
        elif index == len(pendings) - 2:
            flags = TransferFlags.void_pending
            pending.holding.balance += held
        events.append(
            Transfer(
                world.transfer_id(), 0, 0, amount, _withdrawal, flags, pending_id=pending.event.id
            )
        )
    return events


# ---------------------------------------------------------------------- the afternoon


def _move_between_pools(ledger: LedgerService, world: World) -> list[Transfer]:
    """A client leaves one omnibus pool for another: the withdrawal from the first and the
    deposit into the second are a linked pair, so the client is never in neither or both."""
    rng = world.rng
    omnibus = [
        pool.name
        for pool in world.pools.values()
        if pool.kind is PoolKind.omnibus and pool.terms is Terms.custody
    ]
    candidates = [
        holding
        for holding in world.holdings
        if holding.pool in omnibus
        and holding.balance > 0
        and (holding.pool, holding.asset) != world.target
    ]
    mover = rng.choice(candidates)
    destination = omnibus[(omnibus.index(mover.pool) + 1) % len(omnibus)]
    arrival = world.hold(mover.client, destination, mover.asset)
    results = ledger.define_accounts([world.accounts[-1]])
    if results != [_ok]:
        raise AssertionError(f"move between pools: account came back {results[0].value}")
    amount = mover.balance
    mover.balance, arrival.balance = 0, amount
    source_hot = world.wallets[(mover.pool, mover.asset)]["hot"]
    target_hot = world.wallets[(destination, mover.asset)]["hot"]
    return [
        Transfer(
            world.transfer_id(),
            mover.account,
            source_hot,
            amount,
            _withdrawal,
            TransferFlags.linked,
        ),
        Transfer(world.transfer_id(), target_hot, arrival.account, amount, _deposit),
    ]


def _sweeps(ledger: LedgerService, world: World) -> list[Transfer]:
    """The house takes its residual interest (the fees) out of each custody pool, leaving a
    buffer; the misdirected deposit's pool is swept bare, so its break will show as a
    shortfall."""
    codes = {plan.asset.number: code for code, plan in world.plans.items()}
    events = []
    for position in ledger.positions():
        if not position.enforced:
            continue
        key = (position.pool.name, codes[position.asset])
        excess = position.excess_worst
        amount = excess if key == world.target else mul_div_floor(excess, sweep_percent, 100)
        if amount <= 0:
            continue
        events.append(
            Transfer(
                world.transfer_id(),
                world.house[(key[1], "wallet")],
                world.wallets[key]["hot"],
                amount,
                TransferCode.sweep,
            )
        )
    return events


def _loan_out(ledger: LedgerService, world: World) -> list[Transfer]:
    """Half the earn pool's BTC is lent to the house: allowed only because earn clients gave
    up title (the Celsius Earn story, which the report shows as not segregated)."""
    hot = world.wallets[("earn", "BTC")]["hot"]
    amount = mul_div_floor(ledger.balance(hot).balance, loan_percent, 100)
    assert amount > 0
    loans = world.house[("BTC", "loans")]
    return [Transfer(world.transfer_id(), loans, hot, amount, TransferCode.loan_out)]


def _misdirect(world: World) -> tuple[Transfer, Transfer]:
    """A client of the target pool sends funds to a house wallet by mistake: the ledger records
    the client's claim (opening a break, as the pool is now short) and the house makes half of
    it good by moving its own coins into the pool's cold wallet."""
    pool, code = world.target
    victim = world.rng.choice(world.positions[world.target])
    # A sizeable sum (for BTC, 1 to 10 coins): the kind of mistake a report must not bury.
    exponent_max = world.plans[code].deposit_exponent_max
    amount = world.rng.randrange(10 ** (exponent_max - 3), 10 ** (exponent_max - 2))
    victim.balance += amount
    house_wallet = world.house[(code, "wallet")]
    misdirected = Transfer(
        world.transfer_id(), house_wallet, victim.account, amount, TransferCode.misdirected_deposit
    )
    cure = Transfer(
        world.transfer_id(),
        world.wallets[(pool, code)]["cold"],
        house_wallet,
        amount // 2,
        TransferCode.break_cure,
        reference=misdirected.id,
    )
    return misdirected, cure


def _let_time_pass(ledger: LedgerService, world: World) -> bool:
    """Move a hand-driven clock past the pending timeout; say so when the clock cannot move."""
    advance = getattr(ledger.clock, "advance", None)
    if not callable(advance):
        world.notes.append(
            f"One pending withdrawal has a timeout of {pending_timeout_s} s and is still open: "
            "the ledger's clock cannot be moved by hand, so the demo does not wait for it to "
            "expire."
        )
        return False
    advance(seconds=pending_timeout_s + 1)
    # The next batch, whatever it holds, releases the hold before any of its events is decided.
    timed = world.timed
    assert timed is not None
    assert timed.event.amount is not None
    timed.holding.balance += timed.event.amount
    world.notes.append(
        f"The clock was moved forward {pending_timeout_s + 1} s so that the pending withdrawal "
        f"with a {pending_timeout_s} s timeout expired, and its amount went back to the client."
    )
    return True


def _refusals(ledger: LedgerService, world: World, expired: bool) -> list[Refusal]:
    """Events a segregated ledger must refuse, each with the code that names the reason."""
    payer, payee = _two_clients(world)
    refusals = [
        *_boundary_refusals(ledger, world, payer, payee),
        *_authorisation_refusals(ledger, world, payer, payee),
        _oversized_sweep(ledger, world),
        *_idempotency_refusals(world),
        _chain_refusal(ledger, world, payer, payee),
    ]
    if expired:
        assert world.timed is not None
        late = Transfer(
            world.transfer_id(),
            0,
            0,
            None,
            _withdrawal,
            TransferFlags.post_pending,
            pending_id=world.timed.event.id,
        )
        refusals.append(
            Refusal(
                "A pending withdrawal posted after its timeout",
                (late,),
                (Result.pending_transfer_expired,),
            )
        )
    return refusals


def _boundary_refusals(
    ledger: LedgerService, world: World, payer: Holding, payee: Holding
) -> list[Refusal]:
    """Client assets may not reach the house, another client or another pool."""
    new = world.transfer_id
    asset = payer.asset
    hot = world.wallets[(payer.pool, asset)]["hot"]
    other_pool = next(
        pool.name
        for pool in world.pools.values()
        if pool.kind is PoolKind.omnibus and pool.terms is Terms.custody and pool.name != payer.pool
    )
    other_hot = world.wallets[(other_pool, asset)]["hot"]
    house_wallet = world.house[(asset, "wallet")]
    loans = world.house[(asset, "loans")]
    internal = TransferCode.internal_transfer
    return [
        Refusal(
            "A client's withdrawal booked to a house wallet",
            (Transfer(new(), payer.account, house_wallet, 1, _withdrawal),),
            (Result.client_to_house_forbidden,),
        ),
        Refusal(
            "A withdrawal of one unit more than the client has available",
            (Transfer(new(), payer.account, hot, payer.balance + 1, _withdrawal),),
            (Result.exceeds_available_balance,),
        ),
        Refusal(
            "A client's assets moved to another client on that other client's say-so",
            (
                _signed(
                    ledger,
                    world,
                    Transfer(
                        new(), payer.account, payee.account, 1, internal, authorised_by=payee.client
                    ),
                ),
            ),
            (Result.authorisation_not_by_debit_client,),
        ),
        Refusal(
            "A deposit from one pool's wallet credited to a client of another pool",
            (Transfer(new(), other_hot, payer.account, 1, _deposit),),
            (Result.cross_pool_forbidden,),
        ),
        Refusal(
            "Custody clients' assets lent to the house",
            (Transfer(new(), loans, hot, 1, TransferCode.loan_out),),
            (Result.pool_terms_forbid_code,),
        ),
    ]


def _authorisation_refusals(
    ledger: LedgerService, world: World, payer: Holding, payee: Holding
) -> list[Refusal]:
    """An internal transfer needs the payer's signature, not the payer's name: a bare name, a
    signature by another key, or the payer's signature of another instruction is refused."""
    internal = TransferCode.internal_transfer

    def payment(amount: int) -> Transfer:
        return Transfer(
            world.transfer_id(),
            payer.account,
            payee.account,
            amount,
            internal,
            authorised_by=payer.client,
        )

    signed_for_one = _signed(ledger, world, payment(1))
    return [
        Refusal(
            "An internal transfer that names its payer but carries no signature",
            (payment(1),),
            (Result.authorisation_signature_required,),
        ),
        Refusal(
            "An internal transfer in the payer's name signed with the payee's key",
            (_signed(ledger, world, payment(1), by=payee.client),),
            (Result.authorisation_signature_invalid,),
        ),
        Refusal(
            "The payer's signature of one unit copied onto a payment of two",
            (replace(payment(2), authorisation=signed_for_one.authorisation),),
            (Result.authorisation_signature_invalid,),
        ),
    ]


def _idempotency_refusals(world: World) -> list[Refusal]:
    """A retry is acknowledged as ``exists``; the same id with another body is refused."""
    deposit = world.first_deposit
    assert deposit is not None
    assert deposit.amount is not None
    altered = Transfer(
        deposit.id, deposit.debit_account, deposit.credit_account, deposit.amount + 1, _deposit
    )
    return [
        Refusal(
            "A deposit retried under its id with a different amount",
            (altered,),
            (Result.exists_with_different_amount,),
        ),
        # Not a refusal (the report lists only those): the unchanged retry changes nothing.
        Refusal("A deposit retried unchanged", (deposit,), (Result.exists,)),
    ]


def _chain_refusal(ledger: LedgerService, world: World, payer: Holding, payee: Holding) -> Refusal:
    """A linked chain commits or fails whole: a sound first leg fails with an unsound second."""
    hot = world.wallets[(payer.pool, payer.asset)]["hot"]
    first = _signed(
        ledger,
        world,
        Transfer(
            world.transfer_id(),
            payer.account,
            payee.account,
            1,
            TransferCode.internal_transfer,
            TransferFlags.linked,
            authorised_by=payer.client,
        ),
    )
    second = Transfer(world.transfer_id(), payer.account, hot, payer.balance + 1, _withdrawal)
    return Refusal(
        "A linked pair whose second leg overdraws: the first leg is undone with it",
        (first, second),
        (Result.linked_event_failed, Result.exceeds_available_balance),
    )


def _two_clients(world: World) -> tuple[Holding, Holding]:
    """Two clients of one omnibus custody pool, in one asset, each with something to move."""
    for (pool, _), holdings in world.positions.items():
        if world.pools[pool].terms is not Terms.custody:
            continue
        funded = [holding for holding in holdings if holding.balance >= 2]
        if len(funded) >= 2:
            payer, payee = world.rng.sample(funded, 2)
            return payer, payee
    raise AssertionError("no omnibus custody pool has two funded clients")


def _oversized_sweep(ledger: LedgerService, world: World) -> Refusal:
    """A sweep one unit above a pool's residual interest would take clients' assets."""
    codes = {plan.asset.number: code for code, plan in world.plans.items()}
    for position in ledger.positions():
        key = (position.pool.name, codes[position.asset])
        if not position.enforced or key == world.target or position.liabilities == 0:
            continue
        amount = position.excess_worst + 1
        event = Transfer(
            world.transfer_id(),
            world.house[(key[1], "wallet")],
            world.wallets[key]["hot"],
            amount,
            TransferCode.sweep,
        )
        return Refusal(
            "A sweep of one unit more than the pool's residual interest",
            (event,),
            (Result.pool_coverage_would_break,),
        )
    raise AssertionError("no custody pool owes its clients anything")


# ---------------------------------------------------------------------- the evening


def _rebalance(ledger: LedgerService, world: World) -> list[Transfer]:
    """End of day: most of each hot wallet's free holdings go to warm and cold storage."""
    events = []
    for tiers in world.wallets.values():
        hot = tiers["hot"]
        balance = ledger.balance(hot)
        free = balance.balance - balance.credits_pending  # pending withdrawals stay payable
        for tier, percent in (("cold", cold_percent), ("warm", warm_percent)):
            amount = mul_div_floor(free, percent, 100)
            if tier in tiers and amount > 0:
                events.append(
                    Transfer(
                        world.transfer_id(), tiers[tier], hot, amount, TransferCode.wallet_transfer
                    )
                )
    return events


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


# ---------------------------------------------------------------------- the report document


def build_report(
    ledger: LedgerService,
    *,
    seed: int | None = None,
    clients: int | None = None,
    refusals: Sequence[Mapping[str, str]] = (),
    notes: Sequence[str] = (),
) -> Document:
    """The segregation report of a ledger as a JSON-able document.

    Per pool and asset: liabilities to clients, holdings of the pool's wallets, the house's
    residual interest (holdings less liabilities), and whether a custody pool is covered in the
    worst case over its open pending transfers. Title-transfer pools are listed as what they
    are: not segregated. Every amount appears twice: as a decimal string in the major unit and,
    for exactness, as an integer string of minor units (``<name>_units``).
    """
    engine = ledger.ledger
    generated_at_ns = max(ledger.clock.now_ns(), engine.timestamp_last)
    assets = {asset.number: asset for asset in engine.assets.values()}
    census = _census(ledger)
    totals: dict[int, Counter[str]] = {number: Counter() for number in assets}
    pools = [
        _pool_entry(position, assets[position.asset], census, totals[position.asset])
        for position in sorted(ledger.positions(), key=_position_order)
    ]
    activity, two_phase = _activity(ledger)
    return {
        "generated_at_ns": generated_at_ns,
        "seed": seed,
        "clients": len(engine.clients) if clients is None else clients,
        "journal": {"seq": ledger.seq, "head_hash": ledger.hash.hex()},
        "assets": [_asset_entry(assets[number]) for number in sorted(assets)],
        "pools": pools,
        "totals_by_asset": [
            _totals_entry(assets[number], totals[number], census) for number in sorted(assets)
        ],
        "breaks": [
            _break_entry(broken, assets[broken.asset], generated_at_ns)
            for broken in ledger.breaks()
        ],
        "refusals": [dict(refusal) for refusal in refusals],
        "activity": activity,
        "two_phase": two_phase,
        "notes": list(notes),
    }


@dataclass(slots=True)
class _Census:
    """What positions do not carry: accounts per pool, wallet by wallet, and the house's own."""

    client_accounts: Counter[tuple[str, str]] = field(default_factory=Counter)
    wallets: dict[tuple[str, str], list[tuple[str, str, int]]] = field(default_factory=dict)
    house: Counter[tuple[str, str]] = field(default_factory=Counter)


def _census(ledger: LedgerService) -> _Census:
    census = _Census()
    for balance in ledger.balances():
        account = balance.account
        if account.account_class is AccountClass.client:
            census.client_accounts[(account.pool, account.asset)] += 1
        elif account.account_class is AccountClass.custody and account.pool:
            wallets = census.wallets.setdefault((account.pool, account.asset), [])
            wallets.append((account.owner, account.kind, balance.balance))
        elif account.account_class is AccountClass.custody:
            census.house[(account.asset, "wallets")] += balance.balance
        elif account.account_class is AccountClass.house:
            census.house[(account.asset, account.kind.split(":", 1)[0])] += balance.balance
    return census


def _position_order(position: Position) -> tuple[int, bool, bool, str]:
    """Per asset: omnibus custody pools, then individual ones, then title transfer."""
    pool = position.pool
    return (
        position.asset,
        pool.terms is not Terms.custody,
        pool.kind is not PoolKind.omnibus,
        pool.name,
    )


def _amounts(asset: Asset, **units: int) -> dict[str, str]:
    """Each amount as a decimal string in the major unit and as an integer string of units."""
    entry = {}
    for name, value in units.items():
        entry[name] = format_signed_amount(value, asset)
        entry[f"{name}_units"] = str(value)
    return entry


def _pool_entry(
    position: Position, asset: Asset, census: _Census, totals: Counter[str]
) -> dict[str, Any]:
    pool = position.pool
    segregated = pool.terms is Terms.custody
    shortfall = max(0, -position.excess_worst)
    key = (pool.name, asset.code)
    entry: dict[str, Any] = {
        "pool": pool.name,
        "kind": pool.kind.value,
        "terms": pool.terms.value,
        "purpose": pool.purpose.value,
        "asset": asset.code,
        "client_accounts": census.client_accounts[key],
        "segregated": segregated,
        "covered": shortfall == 0,
        "wallets": [
            {"wallet": wallet, "tier": tier, **_amounts(asset, holdings=holdings)}
            for wallet, tier, holdings in census.wallets.get(key, [])
        ],
    }
    figures = {
        "liabilities": position.liabilities,
        "holdings": position.holdings,
        "residual_interest": position.residual_interest,
        "shortfall_pending": position.shortfall_pending,
        "breaks_outstanding": position.breaks_outstanding,
        "shortfall": shortfall,
    }
    entry.update(_amounts(asset, **figures))
    side = "segregated" if segregated else "title_transfer"
    totals.update(
        pools=1,
        client_accounts=census.client_accounts[key],
        liabilities=position.liabilities,
        holdings=position.holdings,
        **{f"{side}_pools": 1, f"{side}_liabilities": position.liabilities},
        **{f"{side}_holdings": position.holdings},
    )
    if segregated:
        totals.update(segregated_pools_covered=int(shortfall == 0), shortfall=shortfall)
        totals.update(breaks_outstanding=position.breaks_outstanding)
    return entry


def _totals_entry(asset: Asset, totals: Counter[str], census: _Census) -> dict[str, Any]:
    counts = ("pools", "client_accounts", "segregated_pools", "segregated_pools_covered")
    entry: dict[str, Any] = {"asset": asset.code, **{name: totals[name] for name in counts}}
    entry["title_transfer_pools"] = totals["title_transfer_pools"]
    figures = {
        name: totals[name]
        for name in (
            "liabilities",
            "holdings",
            "segregated_liabilities",
            "segregated_holdings",
            "title_transfer_liabilities",
            "title_transfer_holdings",
            "shortfall",
            "breaks_outstanding",
        )
    }
    figures["residual_interest"] = totals["holdings"] - totals["liabilities"]
    for family in ("wallets", "revenue", "capital", "loans", "network_fees"):
        figures[f"house_{family}"] = census.house[(asset.code, family)]
    entry.update(_amounts(asset, **figures))
    return entry


def _asset_entry(asset: Asset) -> dict[str, Any]:
    return {
        "code": asset.code,
        "scale": asset.scale,
        "number": asset.number,
        "chain": asset.chain,
        "contract": asset.contract,
    }


def _break_entry(broken: Break, asset: Asset, generated_at_ns: int) -> dict[str, Any]:
    return {
        "id": str(broken.id),
        "pool": broken.pool,
        "asset": asset.code,
        "state": broken.state.value,
        "opened_at_ns": broken.opened_at,
        "age_s": max(0, generated_at_ns - broken.opened_at) // 10**9,
        **_amounts(asset, amount=broken.amount, cured=broken.cured, outstanding=broken.outstanding),
    }


def _activity(ledger: LedgerService) -> tuple[dict[str, int], dict[str, int]]:
    """Committed transfers per code, from the store's projection (a two-phase transfer counts
    once, when it is opened), and the two-phase lifecycle."""
    codes: Counter[str] = Counter()
    resolving = TransferFlags.post_pending | TransferFlags.void_pending
    two_phase: Counter[str] = Counter()
    for record in ledger.store.projected_transfers():
        flags = record.flags
        if flags & TransferFlags.pending:
            two_phase["pending"] += 1
        elif flags & TransferFlags.post_pending:
            two_phase["posted"] += 1
        elif flags & TransferFlags.void_pending:
            two_phase["voided"] += 1
        if not flags & resolving:
            codes[TransferCode(record.code).name] += 1
    statuses = Counter(pending.status for pending in ledger.ledger.pendings.values())
    two_phase["expired"] = statuses[PendingStatus.expired]
    two_phase["open"] = statuses[PendingStatus.pending]
    lifecycle = ("pending", "posted", "voided", "expired", "open")
    return dict(sorted(codes.items())), {name: two_phase[name] for name in lifecycle}
