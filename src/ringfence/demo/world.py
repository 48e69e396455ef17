"""The demo's world: what it plans to build (assets, pools, wallets, accounts, clients) and
what it expects every client to hold, so that each step of the day can be checked.

Deterministic by seed: ``plan_world`` makes its choices with the world's one
``random.Random(seed)`` in a fixed order, and the principals' keys are derived from the seed
(``seed_of``): a synthetic firm's keys, which no real one may use.
"""

from __future__ import annotations

import hashlib
import random
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from ringfence.core.ledger.model import (
    AccountClass,
    AccountDefinition,
    Pool,
    PoolKind,
    Terms,
    Transfer,
    custody_tiers,
)
from ringfence.core.money import Asset
from ringfence.service.ledger import LedgerService

Progress = Callable[[str, int, int], None]
Document = dict[str, Any]

# The real USDC contract on Ethereum mainnet, as an example of a token's identity.
usdc_contract = "0xa0b86991c6218b36c1d19d4a2e9eb0ce3606eb48"

individual_percent = 5  # clients with a pool and wallets of their own
earn_percent = 8  # clients who also hold a claim in the title-transfer earn pool
omnibus_clients_per_pool = 2_000
omnibus_pools_min = 2  # a client moving between pools needs two


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


def plan_world(world: World, count: int) -> list[str]:
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


def seed_of(world: World, name: str) -> bytes:
    """A demo principal's Ed25519 seed (``""``: the admin's), derived from the demo's seed and
    the name: a synthetic custodian's keys, which no real one may use."""
    text = f"ringfence demo key\0{world.seed}\0{name}".encode()
    return hashlib.sha256(text).digest()


def signed(
    ledger: LedgerService, world: World, transfer: Transfer, by: str | None = None
) -> Transfer:
    """``transfer`` signed as its authoriser would, with the key of ``by`` (default: the
    authoriser named in it)."""
    return ledger.authorise(transfer, seed_of(world, by or transfer.authorised_by))
