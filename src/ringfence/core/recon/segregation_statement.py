"""The daily segregation statement (R1) and the internal reconciliation (R5), per pool and asset.

Pure: the shell gathers balances, the registry's wallets, observations and settings, and this
module computes. Amounts are exact integers in the asset's minor units; nothing nets across
assets, nothing nets across clients.

For a custody pool P and asset a (docs/reconciliation.md has the table of fields)::

    net_equity(c)      = sum balances of client c's accounts in P and a (available, collateral:*)
    net_balance        = sum_c net_equity(c)                       line 4 (deficits included)
    deficits           = sum_c max(-net_equity(c), 0)              line 5
    requirement        = sum_c max(net_equity(c), 0) = net_balance + deficits      line 6
    funds              = sum_w max(observed(w, a) - encumbered(w, a), 0)            line 13
                         over wallets w designated to P at the as-of time
    excess             = funds - requirement                     line 14
    excess_over_target = excess - target                         line 16

On a venue (a margin pool), a client's net equity also counts the unsettled P&L of their
buckets at the venue's last market data (line 2, ``with_unsettled``): a bucket whose loss
exceeds its collateral makes its client a deficit, which never offsets another client, so
``requirement = sum_c max(net_equity(c), 0)`` holds there too. ``undermargined`` is the sum
over buckets of their maintenance requirement less their equity, where positive (1.22(c)).
The ledger's liabilities (``liabilities``, R5) stay the balances alone.

``residual_interest`` is the excess (the firm's own value inside the pool, as the CFTC counts
it); ``residual_interest_book`` is the ledger's view (custody accounts less client
liabilities). Alerts: ``undersegregated`` when excess < 0 (immediate notice), ``below_target``
when 0 <= excess < target. Title-transfer pools get a line too, marked not segregated; their
funds are never counted as segregated and their lines are kept apart in every total.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from enum import StrEnum, unique

from ringfence.core.custody.holdings import Observation
from ringfence.core.custody.registry import Encumbrance
from ringfence.core.ledger.model import Pool, Terms

# (pool, asset, client, balance): one client account's posted balance on its normal side.
ClientRow = tuple[str, str, str, int]
# (wallet, pool, asset, balance): one custody account's posted balance (the book).
CustodyRow = tuple[str, str, str, int]
PoolAsset = tuple[str, str]
WalletAsset = tuple[str, str]


@unique
class Alert(StrEnum):
    none = "none"
    below_target = "below_target"  # notice: residual interest under management's target
    undersegregated = "undersegregated"  # immediate notice: clients are not fully covered


@unique
class FundsBasis(StrEnum):
    """Where the funds in segregation come from: what the chains say, or (without any
    observation) the ledger's custody accounts, which the statement then says plainly."""

    observed = "observed"
    book = "book"


@dataclass(frozen=True, slots=True)
class WalletFacts:
    """A wallet as the reconciliation sees it: its pool ("" the house) and tier at the as-of
    time, and whether the registry knows it (a custody account's owner may not be a registered
    wallet, and then no address of it is watched)."""

    name: str
    pool: str
    tier: str
    registered: bool = True


@dataclass(slots=True)
class ObservedHolding:
    """What one wallet's addresses held of one asset, and where that figure came from."""

    amount: int = 0
    addresses: int = 0
    height_min: int = 0
    height_max: int = 0
    time_ns_max: int = 0
    sources: set[str] = field(default_factory=set)


@dataclass(frozen=True, slots=True)
class Requirement:
    net_balance: int
    deficits: int
    requirement: int
    clients: int
    clients_in_deficit: int


@dataclass(frozen=True, slots=True)
class StatementLine:
    """One line of the segregation statement: one pool, one asset."""

    pool: str
    pool_kind: str
    terms: str
    purpose: str
    asset: str
    segregated: bool
    clients: int
    clients_in_deficit: int
    net_balance: int
    deficits: int
    requirement: int
    observed: int
    encumbered: int
    funds: int
    target: int
    book_holdings: int
    liabilities: int
    wallets: int
    tiers: dict[str, int]  # funds by wallet tier
    sources: tuple[str, ...]
    height_min: int
    height_max: int
    observed_at_ns: int
    unsettled_pnl: int = 0  # line 2: the venue's unsettled P&L, in the net balance above
    undermargined: int = 0  # sum over buckets of max(maintenance - equity, 0)

    @property
    def excess(self) -> int:
        return self.funds - self.requirement

    @property
    def residual_interest(self) -> int:
        return self.excess

    @property
    def residual_interest_book(self) -> int:
        return self.book_holdings - self.liabilities

    @property
    def excess_over_target(self) -> int:
        return self.excess - self.target

    @property
    def alert(self) -> Alert:
        if not self.segregated:
            return Alert.none
        if self.excess < 0:
            return Alert.undersegregated
        if self.excess < self.target:
            return Alert.below_target
        return Alert.none


@dataclass(frozen=True, slots=True)
class InternalLine:
    """Internal reconciliation (R5): the ledger's client liabilities against its custody
    accounts for one pool and asset; ``causes`` explain the difference by transfer code."""

    pool: str
    asset: str
    segregated: bool
    liabilities: int
    custody: int
    breaks_outstanding: int
    causes: dict[str, int]

    @property
    def difference(self) -> int:
        return self.custody - self.liabilities

    @property
    def explained(self) -> int:
        return sum(self.causes.values())


# ---------------------------------------------------------------------- requirement


def net_equities(rows: Iterable[ClientRow]) -> dict[tuple[str, str, str], int]:
    """Each client's net equity per pool and asset: the sum over all their accounts there."""
    equity: dict[tuple[str, str, str], int] = {}
    get = equity.get
    for pool, asset, client, balance in rows:
        key = (pool, asset, client)
        equity[key] = get(key, 0) + balance
    return equity


def requirements(equities: Mapping[tuple[str, str, str], int]) -> dict[PoolAsset, Requirement]:
    """Per pool and asset: sum max(net equity, 0) over clients; a deficit never offsets another
    client's credit (it is counted apart, as the firm's to cover)."""
    sums: dict[PoolAsset, list[int]] = {}
    for (pool, asset, _client), equity in equities.items():
        entry = sums.get((pool, asset))
        if entry is None:
            entry = sums[(pool, asset)] = [0, 0, 0, 0]  # credits, deficits, clients, in deficit
        if equity >= 0:
            entry[0] += equity
        else:
            entry[1] -= equity
            entry[3] += 1
        entry[2] += 1
    return {
        key: Requirement(credits - deficits, deficits, credits, clients, in_deficit)
        for key, (credits, deficits, clients, in_deficit) in sums.items()
    }


def with_unsettled(
    required: Mapping[PoolAsset, Requirement],
    equities: Mapping[tuple[str, str, str], int],
    unsettled: Mapping[tuple[str, str, str], int],
) -> dict[PoolAsset, Requirement]:
    """The requirements with each client's unsettled P&L on a venue added to their net equity:
    ``equities`` are the net equities (balances) of at least every client in ``unsettled``,
    whose contribution ``required`` already counts; each is taken out and counted again with
    its P&L, so the result is ``requirements`` of the equities with the P&L added."""
    adjusted = dict(required)
    for key, pnl in unsettled.items():
        pool, asset, _ = key
        before = equities.get(key, 0)
        after = before + pnl
        need = adjusted.get((pool, asset)) or Requirement(0, 0, 0, 0, 0)
        credits = need.requirement - max(before, 0) + max(after, 0)
        deficits = need.deficits - max(-before, 0) + max(-after, 0)
        in_deficit = need.clients_in_deficit - (before < 0) + (after < 0)
        clients = need.clients + (key not in equities)
        adjusted[(pool, asset)] = Requirement(credits - deficits, deficits, credits, clients,
                                              in_deficit)
    return adjusted


def add_requirements(
    parts: Iterable[Mapping[PoolAsset, Requirement]],
) -> dict[PoolAsset, Requirement]:
    """Requirements of disjoint sets of clients (a batch run's client ranges) as one: every
    field is a sum over clients, so the sum of the parts is the requirement of the whole."""
    total: dict[PoolAsset, Requirement] = {}
    for part in parts:
        for key, need in part.items():
            had = total.get(key)
            total[key] = need if had is None else Requirement(
                had.net_balance + need.net_balance, had.deficits + need.deficits,
                had.requirement + need.requirement, had.clients + need.clients,
                had.clients_in_deficit + need.clients_in_deficit)
    return total


# ---------------------------------------------------------------------- funds


def observed_holdings(
    observations: Iterable[Observation], wallet_of_address: Mapping[str, str]
) -> tuple[dict[WalletAsset, ObservedHolding], list[Observation]]:
    """Observations summed per wallet and asset; those at addresses of no wallet come back
    apart (a source answering for an address the firm does not hold is itself a finding)."""
    held: dict[WalletAsset, ObservedHolding] = {}
    strays: list[Observation] = []
    for observation in observations:
        wallet = wallet_of_address.get(observation.address)
        if wallet is None:
            strays.append(observation)
            continue
        key = (wallet, observation.asset)
        holding = held.get(key)
        if holding is None:
            holding = held[key] = ObservedHolding(height_min=observation.height)
        holding.amount += observation.amount
        holding.addresses += 1
        holding.height_min = min(holding.height_min, observation.height)
        holding.height_max = max(holding.height_max, observation.height)
        holding.time_ns_max = max(holding.time_ns_max, observation.time_ns)
        holding.sources.add(observation.source)
    return held, strays


def encumbered_amounts(
    encumbrances: Iterable[Encumbrance], released_at: Mapping[int, int], at_ns: int
) -> dict[WalletAsset, int]:
    """What each wallet has pledged or locked of each asset at ``at_ns``."""
    amounts: dict[WalletAsset, int] = {}
    for encumbrance in encumbrances:
        if encumbrance.active(at_ns, released_at.get(encumbrance.id, 0)):
            key = (encumbrance.wallet, encumbrance.asset)
            amounts[key] = amounts.get(key, 0) + encumbrance.amount
    return amounts


def custody_books(
    rows: Iterable[CustodyRow],
) -> tuple[dict[WalletAsset, int], dict[PoolAsset, int]]:
    """The book per wallet and asset, and per pool and asset (by each account's own pool)."""
    by_wallet: dict[WalletAsset, int] = {}
    by_pool: dict[PoolAsset, int] = {}
    for wallet, pool, asset, balance in rows:
        by_wallet[(wallet, asset)] = by_wallet.get((wallet, asset), 0) + balance
        by_pool[(pool, asset)] = by_pool.get((pool, asset), 0) + balance
    return by_wallet, by_pool


@dataclass(slots=True)
class PoolFunds:
    observed: int = 0
    encumbered: int = 0
    funds: int = 0
    wallets: int = 0
    tiers: dict[str, int] = field(default_factory=dict)
    sources: set[str] = field(default_factory=set)
    height_min: int = 0
    height_max: int = 0
    observed_at_ns: int = 0


def pool_funds(
    wallets: Iterable[WalletFacts],
    held: Mapping[WalletAsset, int],
    observed: Mapping[WalletAsset, ObservedHolding],
    encumbered: Mapping[WalletAsset, int],
) -> dict[PoolAsset, PoolFunds]:
    """Unencumbered holdings of each pool's wallets (house wallets under pool "").

    ``held`` is what each wallet holds per asset on the statement's basis (observed amounts,
    or the book); ``observed`` adds where the figures came from when they were observed.
    """
    by_wallet: dict[str, list[tuple[str, int]]] = {}
    for (wallet_name, asset), amount in held.items():
        by_wallet.setdefault(wallet_name, []).append((asset, amount))
    funds: dict[PoolAsset, PoolFunds] = {}
    for wallet in wallets:
        for asset, amount in by_wallet.get(wallet.name, ()):
            entry = funds.get((wallet.pool, asset))
            if entry is None:
                entry = funds[(wallet.pool, asset)] = PoolFunds()
            locked = min(encumbered.get((wallet.name, asset), 0), amount)
            entry.observed += amount
            entry.encumbered += locked
            entry.funds += amount - locked
            entry.wallets += 1
            entry.tiers[wallet.tier] = entry.tiers.get(wallet.tier, 0) + amount - locked
            seen = observed.get((wallet.name, asset))
            if seen is not None:
                entry.sources |= seen.sources
                entry.height_min = min(entry.height_min or seen.height_min, seen.height_min)
                entry.height_max = max(entry.height_max, seen.height_max)
                entry.observed_at_ns = max(entry.observed_at_ns, seen.time_ns_max)
    return funds


# ---------------------------------------------------------------------- the statement


def segregation_statement(
    pools: Mapping[str, Pool],
    required: Mapping[PoolAsset, Requirement],
    funds: Mapping[PoolAsset, PoolFunds],
    books: Mapping[PoolAsset, int],
    liabilities: Mapping[PoolAsset, int],
    *,
    targets: Mapping[PoolAsset, int],
    unsettled: Mapping[PoolAsset, int] | None = None,
    undermargined: Mapping[PoolAsset, int] | None = None,
) -> list[StatementLine]:
    """One line per pool and asset that has clients, holdings or a book; house wallets (pool
    "") are not a pool and get no line. Custody pools first, then title-transfer pools.
    ``unsettled``: the venue's P&L already in ``required``, per pool and asset, to show."""
    unsettled = unsettled or {}
    undermargined = undermargined or {}
    keys = {*required, *funds, *books, *liabilities}
    lines = []
    for pool_name, asset in keys:
        if not pool_name:
            continue
        pool = pools[pool_name]
        need = required.get((pool_name, asset)) or Requirement(0, 0, 0, 0, 0)
        held = funds.get((pool_name, asset)) or PoolFunds()
        lines.append(
            StatementLine(
                pool_name,
                pool.kind.value,
                pool.terms.value,
                pool.purpose.value,
                asset,
                pool.terms is Terms.custody,
                need.clients,
                need.clients_in_deficit,
                need.net_balance,
                need.deficits,
                need.requirement,
                held.observed,
                held.encumbered,
                held.funds,
                targets.get((pool_name, asset), 0),
                books.get((pool_name, asset), 0),
                liabilities.get((pool_name, asset), 0),
                held.wallets,
                dict(sorted(held.tiers.items())),
                tuple(sorted(held.sources)),
                held.height_min,
                held.height_max,
                held.observed_at_ns,
                unsettled.get((pool_name, asset), 0),
                undermargined.get((pool_name, asset), 0),
            )
        )
    lines.sort(key=lambda line: (not line.segregated, line.asset, line.pool))
    return lines


def internal_reconciliation(
    pools: Mapping[str, Pool],
    liabilities: Mapping[PoolAsset, int],
    books: Mapping[PoolAsset, int],
    breaks_outstanding: Mapping[PoolAsset, int],
    causes: Mapping[PoolAsset, Mapping[str, int]] | None,
) -> list[InternalLine]:
    """Client liabilities against custody accounts per pool and asset (R5).

    The difference is the ledger's residual interest: positive when the firm's own value sits
    in the pool (fees not yet swept, a top-up), negative when the pool is short (a misdirected
    deposit's open break). ``causes`` (from the transfer history, ``residual_causes``) say which
    kinds of transfer made it; without a history only the breaks are named.
    """
    lines = []
    for pool_name, asset in sorted({*liabilities, *books}):
        if not pool_name:
            continue
        pool = pools[pool_name]
        key = (pool_name, asset)
        named = dict(causes.get(key, {})) if causes is not None else {}
        lines.append(
            InternalLine(
                pool_name,
                asset,
                pool.terms is Terms.custody,
                liabilities.get(key, 0),
                books.get(key, 0),
                breaks_outstanding.get(key, 0),
                {code: amount for code, amount in sorted(named.items()) if amount},
            )
        )
    return lines
