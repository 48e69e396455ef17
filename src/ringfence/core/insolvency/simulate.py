"""If the firm failed at the petition date, what would each client get back?

One pure pipeline (regulation.md §7 R11), stage by stage:

1. *Events.* The scenario's hacks take value out of named wallets (gone); house losses out of
   the firm's own wallets; breaches move value from a pool's wallets to the firm's.
2. *Classification* by pool terms: a custody pool is customer property; a margin-collateral
   custody pool holds collateral, secured and returned net of what the client owes the firm
   (loans are set off); a title-transfer pool (earn, lending) belongs to the estate and its
   clients are unsecured creditors.
3. *Tracing.* A pool with unresolved commingling or cross-client funding, or an untraced breach,
   cannot show which coins are whose: the whole pool falls into the estate.
4. *Preferences.* Value a client moved from an estate product into custody within the window
   before the petition is held back when the client's moves in the window are worth more
   than the de-minimis amount (Celsius, 2023); moves worth less are not. The held-back
   amount stays in the pool as the estate's and the client claims it as an unsecured creditor.
5. *Recovery in kind* per protected pool and asset: min(1, holdings / claims), shared pro rata
   (``split_pro_rata`` in core/money.py: floor shares, the few units left over to the largest
   remainders, ties to the earlier participant: every unit of a short pool goes back to its
   participants). The
   shortfall becomes an unsecured claim; a surplus is the firm's residual interest (estate).
6. *The estate's waterfall.* Its assets at petition-date prices pay administration costs
   first, then unsecured claims (valued at petition-date prices) pro rata, in kind or in
   cash; anything beyond the claims goes to the firm's shareholders. Shares of the estate
   are rounded down; the residue stays in the estate and is reported.

Money is exact throughout: units and value atoms (scenario.py) are Python integers, products
are taken before any division, and every division rounds down (against the recipient, so that
no more is ever paid than is held).

The stages before and after the pools (``prepare``, ``finish``) are functions of their own so
that ``ranges.py`` can run the pools' per-client work in client ranges between them. The module
stays one pipeline, a little over 500 lines, rather than be split at an arbitrary stage.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Collection, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from enum import StrEnum, unique
from functools import cached_property
from typing import NamedTuple

from ringfence.core import limits
from ringfence.core.errors import InputError, Result
from ringfence.core.insolvency.history import Move
from ringfence.core.insolvency.scenario import Displayed, Payout, Scenario
from ringfence.core.ledger.model import Pool, Purpose, Terms
from ringfence.core.money import split_pro_rata

HOUSE = ""  # the pool name of the firm's own wallets
rate_bands = 11  # recovery-rate bands: [0, 10%), [10%, 20%), ..., [90%, 100%), 100%


@unique
class Standing(StrEnum):
    """How the estate sees a client's position in one pool."""

    customer_property = "customer_property"  # custody pool: returned in kind
    secured_collateral = "secured_collateral"  # custody margin pool: returned net of loans
    estate_title_transfer = "estate_title_transfer"  # earn, lending: unsecured
    estate_tracing_failed = "estate_tracing_failed"  # commingled: unsecured


protected_standings = frozenset({Standing.customer_property, Standing.secured_collateral})


@dataclass(frozen=True, slots=True)
class Book:
    """The firm as its ledger stands at the petition date (only posted records).

    ``claims``: per (pool, asset), each client's posted balance (available and collateral
    accounts together). ``wallets``: per (wallet, asset), the wallet's pool (``""``: the
    house) and its posted holding. ``moves``: linked withdrawal-deposit pairs between pools.
    ``posted_ids``: those of the scenario's displayed transfers that the ledger posted.
    """

    pools: Mapping[str, Pool]
    claims: Mapping[tuple[str, str], Mapping[str, int]]
    wallets: Mapping[tuple[str, str], tuple[str, int]]
    moves: Sequence[Move] = ()
    posted_ids: Collection[int] = frozenset()


class ClientLine(NamedTuple):
    """One client's position in one pool and asset, and what became of it (minor units)."""

    client: str
    pool: str
    asset: str
    standing: Standing
    claim: int
    held_back: int  # moved in by a preference: claimed from the estate instead
    set_off: int  # collateral kept against the client's loan
    in_kind: int  # returned from the pool's own holdings
    unsecured: int  # claimed from the estate (shortfall, held back or the whole claim)


class PoolOutcome(NamedTuple):
    """One pool and asset: its totals, and per client (columns, one entry per client with a
    claim, in client-name order) the claim and what became of it, in minor units."""

    pool: str
    asset: str
    standing: Standing
    reason: str  # why the pool is in the estate, when it is
    holdings: int  # after the scenario's events
    claims: int
    returned: int  # to clients in kind
    to_estate: int  # residual interest, held-back and set-off shares, or the whole pool
    shortfall: int  # claims not covered by holdings: unsecured
    clients: Sequence[str] = ()
    claim_units: Sequence[int] = ()
    held_back_units: Sequence[int] = ()
    set_off_units: Sequence[int] = ()
    in_kind_units: Sequence[int] = ()
    unsecured_units: Sequence[int] = ()

    def lines(self) -> Iterator[ClientLine]:
        pool, asset, standing = self.pool, self.asset, self.standing
        for client, claim, held, set_off, in_kind, unsecured in zip(
            self.clients, self.claim_units, self.held_back_units, self.set_off_units,
            self.in_kind_units, self.unsecured_units, strict=True,
        ):
            yield ClientLine(client, pool, asset, standing, claim, held, set_off, in_kind,
                             unsecured)


class PreferenceFinding(NamedTuple):
    move: Move
    value: int  # the client's moves in the window, all of them, at petition-date prices
    held_back: bool


class ClientOutcome(NamedTuple):
    """One client across pools and assets; values in value atoms at petition-date prices."""

    client: str
    claim_value: int
    in_kind_value: int
    unsecured_value: int
    dividend_value: int
    dividend_cash: int  # quote minor units (cash payout), else 0
    dividend_units: Mapping[str, int]  # per asset (in-kind payout), else empty

    @property
    def recovered_value(self) -> int:
        return self.in_kind_value + self.dividend_value


@dataclass(frozen=True, slots=True)
class Estate:
    assets: Mapping[str, int]  # units per asset, after the scenario's events
    assets_value: int
    admin_costs: int
    admin_paid: int
    unsecured_value: int
    pot: int  # value paid to unsecured creditors before rounding: min(assets - costs, claims)
    paid_value: int  # value actually paid (rounded down per creditor)
    paid_cash: int  # quote minor units (cash payout)
    paid_units: Mapping[str, int]  # per asset (in-kind payout)
    surplus: int  # to the shareholders, after every claim is paid in full

    @property
    def residue(self) -> int:
        """Value left in the estate by rounding each creditor's share down."""
        return self.pot - self.paid_value


@dataclass(frozen=True)
class Outcome:
    """What the failure gives each client. Per-client records are kept as columns (the pools'
    and ``tally``'s) and built into ``lines`` and ``clients`` only when asked for, once."""

    commingled: bool  # every pool merged into the estate
    payout: Payout
    pools: list[PoolOutcome]
    estate: Estate
    tally: _Tally
    dividends: Mapping[str, tuple[int, int, Mapping[str, int]]]
    preferences: list[PreferenceFinding] = field(default_factory=list)
    displayed: list[tuple[Displayed, bool]] = field(default_factory=list)  # (shown, posted)
    lost: Mapping[str, int] = field(default_factory=dict)  # hacked, per asset

    @cached_property
    def lines(self) -> list[ClientLine]:
        return [line for pool in self.pools for line in pool.lines()]

    @cached_property
    def clients(self) -> list[ClientOutcome]:
        """Every client with a claim, in order of first appearance (pools by name and asset,
        then clients by name)."""
        nothing: tuple[int, int, Mapping[str, int]] = (0, 0, {})
        tally, dividends = self.tally, self.dividends
        in_kind_value, owed_value = tally.in_kind_value, tally.owed_value
        return [
            ClientOutcome(
                client,
                claim_value,
                in_kind_value.get(client, 0),
                owed_value.get(client, 0),
                *dividends.get(client, nothing),
            )
            for client, claim_value in tally.claim_value.items()
        ]

    def rate_distribution(self) -> list[int]:
        """Clients per recovery-rate band (value recovered over value claimed)."""
        counts = [0] * rate_bands
        in_kind_value, dividends = self.tally.in_kind_value, self.dividends
        for client, claimed in self.tally.claim_value.items():
            if claimed:
                dividend = dividends.get(client)
                recovered = in_kind_value.get(client, 0) + (dividend[0] if dividend else 0)
                counts[rate_band(recovered, claimed)] += 1
        return counts


@dataclass(frozen=True, slots=True)
class Comparison:
    """The same firm failing as it is (segregated) and with every pool in the estate."""

    segregated: Outcome
    commingled: Outcome


def rate_band(recovered: int, claimed: int) -> int:
    """The band of recovered/claimed: 0 for [0, 10%), ..., 9 for [90%, 100%), 10 for 100%."""
    assert claimed > 0
    assert recovered >= 0
    if recovered >= claimed:
        return rate_bands - 1
    return recovered * (rate_bands - 1) // claimed


# ---------------------------------------------------------------------- the pipeline


def compare(book: Book, scenario: Scenario) -> Comparison:
    return Comparison(simulate(book, scenario), simulate(book, scenario, commingled=True))


def simulate(book: Book, scenario: Scenario, commingled: bool = False) -> Outcome:
    """The outcome of ``scenario`` for ``book``; ``commingled`` treats every pool as if it
    had never been segregated (every pool fails the tracing test, nothing is a preference)."""
    setting = prepare(book, scenario, commingled)
    pools = [
        pool_outcome(pool_input(book, setting, key, book.claims.get(key, {})), setting)
        for key in pool_keys(book.claims, setting)
    ]
    return finish(book, scenario, setting, pools)


@dataclass(frozen=True, slots=True)
class Setting:
    """What every pool's outcome depends on besides its own clients' claims (the stages
    before the pools: events, tracing, preferences, loans). Small: one batch run's task of
    ``ranges.py`` carries it to every client range."""

    commingled: bool
    holdings: Mapping[tuple[str, str], int]
    lost: Mapping[str, int]
    failed: Mapping[str, str]
    findings: list[PreferenceFinding]
    held: Mapping[tuple[str, str, str], int]  # (pool, asset, client) -> held back
    loans: Mapping[tuple[str, str, str], int]
    adjusted: frozenset[tuple[str, str]] = frozenset()  # pools with some held or loan


def prepare(book: Book, scenario: Scenario, commingled: bool) -> Setting:
    holdings, lost = _holdings_after_events(book, scenario)
    failed = _tracing_failures(book, scenario, commingled)
    findings = [] if commingled else _preference_screen(book, scenario, failed)
    held: dict[tuple[str, str, str], int] = defaultdict(int)
    for finding in findings:
        if finding.held_back:
            move = finding.move
            held[(move.to_pool, move.asset, move.client)] += move.units
    loans: dict[tuple[str, str, str], int] = defaultdict(int)
    for loan in scenario.loans:
        loans[(loan.pool, loan.asset, loan.client)] += loan.units
    adjusted = frozenset((pool, asset) for pool, asset, _ in (*held, *loans))
    return Setting(commingled, holdings, lost, failed, findings, dict(held), dict(loans),
                   adjusted)


def pool_keys(claimed: Collection[tuple[str, str]], setting: Setting) -> list[tuple[str, str]]:
    """Every (pool, asset) with a client account or a holding, in order."""
    return sorted(set(claimed) | {k for k in setting.holdings if k[0] != HOUSE})


def pool_input(
    book: Book, setting: Setting, key: tuple[str, str], claims: Mapping[str, int]
) -> _PoolInput:
    pool, asset = key
    standing = _standing(book.pools[pool], pool in setting.failed)
    return _PoolInput(pool, asset, standing, setting.failed.get(pool, ""),
                      setting.holdings.get(key, 0), claims)


def adjusted(given: _PoolInput, setting: Setting) -> bool:
    """Whether a client of the pool has a share held back or set off."""
    return (given.pool, given.asset) in setting.adjusted


def pool_outcome(given: _PoolInput, setting: Setting) -> PoolOutcome:
    if adjusted(given, setting):
        return _pool_outcome(given, setting.held, setting.loans)
    return _pool_outcome(given, {}, {})


def finish(
    book: Book, scenario: Scenario, setting: Setting, pools: Sequence[PoolOutcome]
) -> Outcome:
    """The stages after the pools: per-client tallies, the estate's waterfall."""
    tally = _Tally(units_owed=scenario.payout is Payout.in_kind)
    for outcome in pools:
        tally.add(outcome, scenario.valuation.atoms_per_unit[outcome.asset])
    assert len(tally.claim_value) <= limits.insolvency_clients_max
    for (pool, asset), units in setting.holdings.items():
        if pool == HOUSE:
            tally.estate_units[asset] += units
    estate, dividends = _waterfall(scenario, tally)
    displayed = [(shown, shown.id in book.posted_ids) for shown in scenario.displayed]
    return Outcome(setting.commingled, scenario.payout, list(pools), estate, tally, dividends,
                   setting.findings, displayed, dict(setting.lost))


class _Tally:
    """Per-client sums gathered in one pass over the pools' columns (values in value atoms)."""

    def __init__(self, units_owed: bool) -> None:
        self.units_owed = units_owed  # keep unsecured claims per asset (in-kind payout only)
        self.claim_value: dict[str, int] = defaultdict(int)
        self.in_kind_value: dict[str, int] = defaultdict(int)
        self.owed_value: dict[str, int] = defaultdict(int)
        self.owed_units: dict[tuple[str, str], int] = defaultdict(int)  # (client, asset)
        self.estate_units: dict[str, int] = defaultdict(int)

    def add(self, outcome: PoolOutcome, price: int) -> None:
        asset = outcome.asset
        self.estate_units[asset] += outcome.to_estate
        claim_value, in_kind_value = self.claim_value, self.in_kind_value
        owed_value, owed_units = self.owed_value, self.owed_units
        units_owed = self.units_owed
        for client, claim, in_kind, unsecured in zip(
            outcome.clients, outcome.claim_units, outcome.in_kind_units, outcome.unsecured_units,
            strict=True,
        ):
            claim_value[client] += claim * price
            if in_kind:
                in_kind_value[client] += in_kind * price
            if unsecured:
                owed_value[client] += unsecured * price
                if units_owed:
                    owed_units[(client, asset)] += unsecured


def _standing(pool: Pool, tracing_failed: bool) -> Standing:
    if pool.terms is Terms.title_transfer:
        return Standing.estate_title_transfer
    if tracing_failed:
        return Standing.estate_tracing_failed
    if pool.purpose is Purpose.margin_collateral:
        return Standing.secured_collateral
    return Standing.customer_property


def _holdings_after_events(
    book: Book, scenario: Scenario
) -> tuple[dict[tuple[str, str], int], dict[str, int]]:
    """Per (pool, asset) what the wallets hold after hacks, house losses and breaches."""
    wallets = {key: units for key, (_, units) in book.wallets.items()}
    lost: dict[str, int] = defaultdict(int)
    for hack in scenario.hacks:
        held = wallets.get((hack.wallet, hack.asset), 0)
        if hack.units > held:
            raise InputError(
                Result.scenario_loss_exceeds_holdings,
                f"hack of {hack.units} from {hack.wallet} {hack.asset}, which holds {held}",
            )
        wallets[(hack.wallet, hack.asset)] = held - hack.units
        lost[hack.asset] += hack.units
    holdings: dict[tuple[str, str], int] = defaultdict(int)
    for (wallet, asset), units in wallets.items():
        holdings[(book.wallets[(wallet, asset)][0], asset)] += units
    for loss in scenario.house_losses:
        _take(holdings, (HOUSE, loss.asset), loss.units, "house loss")
        lost[loss.asset] += loss.units
    for breach in scenario.breaches:
        _take(holdings, (breach.pool, breach.asset), breach.units, "breach")
        holdings[(HOUSE, breach.asset)] += breach.units
    return dict(holdings), dict(lost)


def _take(
    holdings: dict[tuple[str, str], int], key: tuple[str, str], units: int, what: str
) -> None:
    held = holdings.get(key, 0)
    if units > held:
        where = key[0] or "the house"
        raise InputError(
            Result.scenario_loss_exceeds_holdings,
            f"{what} of {units} from {where} {key[1]}, which holds {held}",
        )
    holdings[key] = held - units


def _tracing_failures(book: Book, scenario: Scenario, commingled: bool) -> dict[str, str]:
    if commingled:
        return {name: "commingled structure" for name in book.pools}
    failed = dict(scenario.commingled or {})
    for breach in scenario.breaches:
        if not breach.traced:
            failed.setdefault(breach.pool, "untraced breach of segregation")
    return failed


def _preference_screen(
    book: Book, scenario: Scenario, failed: Mapping[str, str]
) -> list[PreferenceFinding]:
    """Moves from title-transfer pools into protected custody pools inside the window."""
    start = scenario.petition_ns - scenario.window_ns
    moves = [
        move
        for move in book.moves
        if start <= move.timestamp < scenario.petition_ns
        and book.pools[move.from_pool].terms is Terms.title_transfer
        and book.pools[move.to_pool].terms is Terms.custody
        and move.to_pool not in failed
    ]
    value_by_client: dict[str, int] = defaultdict(int)
    for move in moves:
        value_by_client[move.client] += scenario.valuation.value(move.asset, move.units)
    findings: list[PreferenceFinding] = []
    for move in moves:
        value = value_by_client[move.client]
        findings.append(PreferenceFinding(move, value, value > scenario.de_minimis))
    return findings


class _PoolInput(NamedTuple):
    pool: str
    asset: str
    standing: Standing
    reason: str
    holdings: int
    claims: Mapping[str, int]


def _pool_outcome(
    given: _PoolInput,
    held: Mapping[tuple[str, str, str], int],
    loans: Mapping[tuple[str, str, str], int],
) -> PoolOutcome:
    pool, asset, standing, reason, holdings, claims = given
    names = sorted(claims)
    owed = [claims[n] for n in names]
    if 0 in owed:  # no claim, no line
        names = [n for n, units in zip(names, owed, strict=True) if units]
        owed = [units for units in owed if units]
    total = sum(owed)
    zeros = [0] * len(names)
    if standing not in protected_standings:
        return PoolOutcome(pool, asset, standing, reason, holdings, total, 0, holdings, 0,
                           names, owed, zeros, zeros, zeros, owed)
    covered = min(holdings, total)
    if not held and not loans:
        shares = split_pro_rata(covered, owed)
        unsecured = [claim - share for claim, share in zip(owed, shares, strict=True)]
        return PoolOutcome(pool, asset, standing, reason, holdings, total, covered,
                           holdings - covered, total - covered, names, owed, zeros, zeros,
                           shares, unsecured)
    held_back = [min(held.get((pool, asset, n), 0), c) for n, c in zip(names, owed, strict=True)]
    set_off = [
        min(loans.get((pool, asset, n), 0), c - h)
        for n, c, h in zip(names, owed, held_back, strict=True)
    ] if standing is Standing.secured_collateral else zeros
    eligible = [c - h - s for c, h, s in zip(owed, held_back, set_off, strict=True)]
    shares = split_pro_rata(covered, [*eligible, sum(held_back) + sum(set_off)])
    estate_share = shares.pop()
    unsecured = [e - share + h for e, share, h in zip(eligible, shares, held_back, strict=True)]
    return PoolOutcome(
        pool, asset, standing, reason, holdings, total, covered - estate_share,
        estate_share + holdings - covered, total - covered, names, owed, held_back, set_off,
        shares, unsecured,
    )


def _waterfall(
    scenario: Scenario, tally: _Tally
) -> tuple[Estate, dict[str, tuple[int, int, dict[str, int]]]]:
    """Administration costs first, then unsecured claims pro rata; per client the dividend
    as (value, cash, units per asset)."""
    valuation = scenario.valuation
    assets = dict(tally.estate_units)
    assets_value = sum(valuation.value(asset, units) for asset, units in assets.items())
    admin_paid = min(scenario.admin_costs, assets_value)
    distributable = assets_value - admin_paid
    claims_total = sum(tally.owed_value.values())
    pot = min(distributable, claims_total)
    dividends: dict[str, tuple[int, int, dict[str, int]]] = {}
    paid_units: dict[str, int] = defaultdict(int)
    paid_value = paid_cash = 0
    if pot and scenario.payout is Payout.cash:
        atoms_per_cash_unit = valuation.quote_atoms(1)  # cash_units, inlined on the hot path
        # floor(floor(a / b) / c) = floor(a / (b * c)) for positive integers: one division.
        denominator = claims_total * atoms_per_cash_unit
        nothing: dict[str, int] = {}
        for client, owed in tally.owed_value.items():
            cash = owed * pot // denominator
            value = cash * atoms_per_cash_unit
            dividends[client] = (value, cash, nothing)
            paid_value += value
            paid_cash += cash
    elif pot:
        by_client: dict[str, dict[str, int]] = defaultdict(dict)
        for (client, asset), owed_units in tally.owed_units.items():
            units = owed_units * pot // claims_total
            by_client[client][asset] = units
            paid_units[asset] += units
        for client, units_by_asset in by_client.items():
            value = sum(valuation.value(a, u) for a, u in units_by_asset.items())
            dividends[client] = (value, 0, units_by_asset)
            paid_value += value
    assert paid_value <= pot <= distributable
    estate = Estate(
        assets, assets_value, scenario.admin_costs, admin_paid, claims_total, pot, paid_value,
        paid_cash, dict(paid_units), distributable - pot,
    )
    return estate, dividends
