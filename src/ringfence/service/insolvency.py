"""The insolvency service: gather the firm from the ledger, run a failure scenario, report it.

Gather, decide, report. The book (claims per client, pool and asset; holdings per wallet; the
moves between products in the posted history) comes from the ledger service and its store; the
pools that reconciliation flags for unresolved commingling or cross-client funding come from
the reconciliation service (``recon_findings``, for the deposits the scenario says never
arrived) and are added to the scenario's own list; core/insolvency decides everything; this
module turns the outcome into one JSON document (``simulate_document``) shared by the CLI, the
demo and the report.

Values in the document are in the scenario's quote currency, rounded down to its minor unit
(exact integers of value atoms stay in the core); amounts are decimal strings in each asset's
major unit; recovery rates are decimal strings with four places, rounded down.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable, Collection, Mapping, Sequence
from dataclasses import replace
from datetime import UTC, datetime
from typing import Any

from ringfence.core import limits
from ringfence.core.errors import InputError, Result
from ringfence.core.insolvency import (
    Book,
    ClientLine,
    ClientOutcome,
    Comparison,
    FirmNames,
    Outcome,
    PreferenceFinding,
    Scenario,
    compare,
    moves_between_pools,
    parse_scenario,
)
from ringfence.core.insolvency.history import is_posting
from ringfence.core.insolvency.simulate import protected_standings, rate_bands
from ringfence.core.ledger.model import AccountClass, AccountDefinition
from ringfence.core.limits import insolvency_clients_shown_max  # noqa: F401 - for the CLI
from ringfence.core.money import (
    Asset,
    format_amount,
    format_decimal_exact,
    format_quotient_floor,
    format_ratio_floor,
)
from ringfence.service.batch import ledger_cut, simulate_in_ranges
from ringfence.service.ledger import LedgerService
from ringfence.service.ports import Executor, ScenarioFiles

Document = dict[str, Any]
Progress = Callable[[str, int, int], None]
rate_band_labels = [f"{10 * band}-{10 * band + 10}%" for band in range(rate_bands - 1)] + ["100%"]
rate_places = 4


def firm_names(ledger: LedgerService) -> FirmNames:
    """What a scenario may name: the ledger's assets, pools, clients and wallets (every owner
    of a custody account)."""
    engine = ledger.ledger
    wallets = {
        account.definition.owner: account.definition.pool
        for account in engine.accounts.values()
        if account.definition.account_class is AccountClass.custody
    }
    return FirmNames(dict(engine.assets), list(engine.pools), wallets, list(engine.clients))


def gather_book(
    ledger: LedgerService, displayed_ids: Collection[int] = (), *, claims_too: bool = True
) -> Book:
    """The firm as its ledger stands: posted balances and the posted history only (without
    the clients' claims unless ``claims_too``: a batch run reads them from a cut)."""
    engine = ledger.ledger
    claims: dict[tuple[str, str], dict[str, int]] = defaultdict(dict)
    wallets: dict[tuple[str, str], tuple[str, int]] = {}
    definitions: dict[int, AccountDefinition] = {}
    for account in engine.accounts.values():
        definition = account.definition
        definitions[account.id] = definition
        key = (definition.pool, definition.asset)
        if definition.account_class is AccountClass.client:
            if not claims_too:
                continue
            by_client = claims[key]
            by_client[definition.owner] = by_client.get(definition.owner, 0) + account.balance
        elif definition.account_class is AccountClass.custody:
            wallet_key = (definition.owner, definition.asset)
            # A wallet is re-designated only when empty, so at most one of its accounts per
            # asset holds anything: keep that one.
            if wallet_key not in wallets or account.balance:
                wallets[wallet_key] = (definition.pool, account.balance)
    asset_codes = {number: asset.code for number, asset in engine.assets_by_number.items()}
    moves = moves_between_pools(ledger.store.projected_transfers(), definitions, asset_codes)
    found = ledger.store.transfers(list(displayed_ids)) if displayed_ids else {}
    posted = frozenset(i for i, record in found.items() if is_posting(record))
    return Book(dict(engine.pools), dict(claims), wallets, tuple(moves), posted)


def recon_findings(ledger: LedgerService, deposits_not_arrived: Sequence[int]) -> dict[str, str]:
    """Pools where reconciliation finds one client's withdrawal paid with other clients' assets
    because the client's own deposits (``deposits_not_arrived``) never arrived on chain, as
    pool -> reason. Other findings (a client's deposit in a house wallet, the firm's excess in
    a pool) leave a pool traceable: the first is a quantified break, the second the firm's."""
    if not deposits_not_arrived:
        return {}
    from ringfence.core.recon.commingling import FindingKind
    from ringfence.core.recon.run import ReconSettings, reconcile
    from ringfence.service.custody import CustodyService
    from ringfence.service.recon import ReconService

    recon = ReconService(CustodyService(ledger))
    facts = recon.gather(
        recon.as_of(None), None, ReconSettings(), deposits_not_arrived=deposits_not_arrived
    )
    flagged: dict[str, str] = {}
    for finding in reconcile(facts, recon.history.book).findings:
        if finding.kind is FindingKind.client_funded_another:
            flagged.setdefault(
                finding.pool,
                f"cross_client_funding: {finding.client}'s withdrawal paid with others' assets",
            )
    return flagged


def load_scenario(ledger: LedgerService, document: object) -> Scenario:
    """The scenario in ``document`` checked against the ledger, with reconciliation's
    findings added. The petition date defaults to just after the last posted transfer and
    may not precede it: the ledger's balances are those of now, not of an earlier date."""
    last_ns = ledger.ledger.timestamp_last
    scenario = parse_scenario(document, firm_names(ledger), last_ns + 1)
    if scenario.petition_ns <= last_ns:
        raise InputError(
            Result.petition_before_last_transfer,
            f"petition {scenario.petition_ns} ns is not after the last transfer at {last_ns} ns",
        )
    flagged = recon_findings(ledger, scenario.deposits_not_arrived)
    if flagged:
        scenario = replace(scenario, commingled={**flagged, **(scenario.commingled or {})})
    return scenario


def simulate_ledger(
    ledger: LedgerService, document: object, progress: Progress | None = None,
    executor: Executor | None = None,
    clients_per_range: int = limits.batch_range_clients_default,
) -> Document:
    """Run the scenario in ``document`` on the ledger, segregated and commingled. With an
    ``executor``, a batch run: the claims read at a cut of the ledger in ranges of
    ``clients_per_range`` clients, each pool's per-client work in the ranges' tasks, merged
    exactly (``service/batch.py``): the same document."""
    report = progress or (lambda stage, done, total: None)
    report("insolvency", 0, 3)
    scenario = load_scenario(ledger, document)
    displayed = [shown.id for shown in scenario.displayed]
    if executor is None:
        book = gather_book(ledger, displayed)
        report("insolvency", 1, 3)
        comparison = compare(book, scenario)
    else:
        book = gather_book(ledger, displayed, claims_too=False)
        report("insolvency", 1, 3)
        with ledger_cut(ledger, ledger.seq) as cut:
            comparison = simulate_in_ranges(executor, cut, book, scenario, clients_per_range)
    report("insolvency", 2, 3)
    result = simulate_document(comparison, scenario, ledger.ledger.assets)
    report("insolvency", 3, 3)
    return result


def simulate_scenario_file(
    ledger: LedgerService, files: ScenarioFiles, path: str, progress: Progress | None = None,
    executor: Executor | None = None,
) -> Document:
    """``ringfence insolvency simulate``: the scenario in the file at ``path`` run on the
    ledger (``simulate_ledger``; on ``executor`` in client ranges when given). The command
    shows the first ``insolvency_clients_shown_max`` clients of the document."""
    return simulate_ledger(ledger, files.read_scenario(path), progress, executor)


# ---------------------------------------------------------------------- the document


class _Formats:
    """Formatting of amounts, values and rates for one scenario. Zeros, the commonest amount
    in a document of a million clients, are formatted once per asset."""

    def __init__(self, scenario: Scenario, assets: Mapping[str, Asset]) -> None:
        self.valuation = scenario.valuation
        self.assets = assets
        self.quote = Asset(self.valuation.quote, self.valuation.quote_scale, 1)
        self.zeros = {code: format_amount(0, asset) for code, asset in assets.items()}
        self.quote_zero = format_amount(0, self.quote)
        self.atoms_per_cash_unit = self.valuation.quote_atoms(1)

    def amount(self, asset: str, units: int) -> str:
        return format_amount(units, self.assets[asset]) if units else self.zeros[asset]

    def value(self, atoms: int) -> str:
        """Value atoms in the quote currency, rounded down to its minor unit."""
        if atoms < self.atoms_per_cash_unit:
            return self.quote_zero
        return format_quotient_floor(atoms, self.atoms_per_cash_unit, self.quote)

    def cash(self, units: int) -> str:
        return format_amount(units, self.quote) if units else self.quote_zero

    def amounts(self, by_asset: Mapping[str, int]) -> dict[str, str]:
        if not by_asset:
            return {}
        return {asset: self.amount(asset, units) for asset, units in sorted(by_asset.items())}


def rate_text(recovered: int, claimed: int) -> str:
    """recovered / claimed with four decimals, rounded down ("0.9000"); "1.0000" when nothing
    was claimed."""
    if claimed == 0:
        return format_ratio_floor(1, 1, rate_places)
    return format_ratio_floor(min(recovered, claimed), claimed, rate_places)


def simulate_document(
    comparison: Comparison, scenario: Scenario, assets: Mapping[str, Asset]
) -> Document:
    formats = _Formats(scenario, assets)
    segregated, commingled = comparison.segregated, comparison.commingled
    return {
        "ok": True,
        "petition_ns": str(scenario.petition_ns),
        "petition_date": _iso(scenario.petition_ns),
        "description": scenario.description,
        "quote": scenario.valuation.quote,
        "payout": scenario.payout.value,
        "prices": {code: _price_text(scenario, asset) for code, asset in sorted(assets.items())},
        "preference_window_days": scenario.window_ns // (86_400 * 10**9),
        "de_minimis": formats.value(scenario.de_minimis),
        "rate_bands": rate_band_labels,
        "segregated": _outcome_document(segregated, formats),
        "commingled": _outcome_document(commingled, formats),
        "preferences": [_preference_document(f, formats) for f in segregated.preferences],
        "displayed_transfers": [
            {
                "id": str(shown.id),
                "client": shown.client,
                "asset": shown.asset,
                "amount": formats.amount(shown.asset, shown.units),
                "description": shown.description,
                "posted": posted,
                "counted": "as posted in the ledger" if posted else "ignored: never posted",
            }
            for shown, posted in segregated.displayed
        ],
        "clients": _client_rows(comparison, formats),
    }


def _price_text(scenario: Scenario, asset: Asset) -> str:
    """The petition-date price per major unit, exact (at most 18 decimals), trailing zeros
    trimmed to the quote's scale."""
    valuation = scenario.valuation
    per_major = valuation.atoms_per_unit[asset.code] * 10**asset.scale
    return format_decimal_exact(per_major, valuation.value_scale, valuation.quote_scale)


def _iso(ns: int) -> str:
    moment = datetime.fromtimestamp(ns // 10**9, UTC)
    return moment.strftime("%Y-%m-%dT%H:%M:%SZ")


def _outcome_document(outcome: Outcome, formats: _Formats) -> Document:
    estate = outcome.estate
    recovered = sum(client.recovered_value for client in outcome.clients)
    claimed = sum(client.claim_value for client in outcome.clients)
    return {
        "structure": "commingled" if outcome.commingled else "segregated",
        "clients": len(outcome.clients),
        "claims_value": formats.value(claimed),
        "recovered_value": formats.value(recovered),
        "recovery_rate": rate_text(recovered, claimed),
        "rate_distribution": outcome.rate_distribution(),
        "lost": formats.amounts(outcome.lost),
        "pools": [
            {
                "pool": pool.pool or "house",
                "asset": pool.asset,
                "standing": pool.standing.value,
                "reason": pool.reason,
                "holdings": formats.amount(pool.asset, pool.holdings),
                "claims": formats.amount(pool.asset, pool.claims),
                "returned_in_kind": formats.amount(pool.asset, pool.returned),
                "to_estate": formats.amount(pool.asset, pool.to_estate),
                "shortfall": formats.amount(pool.asset, pool.shortfall),
                # min(1, holdings / claims): the rate every participant gets in kind
                "recovery_in_kind": rate_text(min(pool.holdings, pool.claims), pool.claims)
                if pool.standing in protected_standings else "0.0000",
            }
            for pool in outcome.pools
        ],
        "estate": {
            "assets": formats.amounts(estate.assets),
            "assets_value": formats.value(estate.assets_value),
            "admin_costs": formats.value(estate.admin_costs),
            "admin_costs_paid": formats.value(estate.admin_paid),
            "unsecured_claims_value": formats.value(estate.unsecured_value),
            "dividend_rate": rate_text(estate.pot, estate.unsecured_value),
            "paid_value": formats.value(estate.paid_value),
            "paid_cash": formats.cash(estate.paid_cash),
            "paid_in_kind": formats.amounts(estate.paid_units),
            # What an in-kind payout needs of an asset beyond the estate's own holdings of it,
            # bought with its other assets at petition-date prices.
            "in_kind_bought": formats.amounts({
                asset: units - estate.assets.get(asset, 0)
                for asset, units in estate.paid_units.items()
                if units > estate.assets.get(asset, 0)
            }),
            "rounding_residue_value": formats.value(estate.residue),
            "surplus_to_shareholders": formats.value(estate.surplus),
        },
    }


def _preference_document(finding: PreferenceFinding, formats: _Formats) -> Document:
    move = finding.move
    return {
        "client": move.client,
        "asset": move.asset,
        "amount": formats.amount(move.asset, move.units),
        "from_pool": move.from_pool,
        "to_pool": move.to_pool,
        "timestamp": str(move.timestamp),
        "withdrawal_id": str(move.withdrawal_id),
        "deposit_id": str(move.deposit_id),
        "client_moves_value": formats.value(finding.value),
        "held_back": finding.held_back,
    }


def _client_rows(comparison: Comparison, formats: _Formats) -> list[Document]:
    lines: dict[str, list[ClientLine]] = defaultdict(list)
    for line in comparison.segregated.lines:
        lines[line.client].append(line)
    commingled = {c.client: c for c in comparison.commingled.clients}
    return [
        {
            "client": client.client,
            "claims_value": formats.value(client.claim_value),
            "segregated": _recovery(client, formats),
            "commingled": _recovery(commingled[client.client], formats),
            "positions": [_line_document(line, formats) for line in lines[client.client]],
        }
        for client in sorted(comparison.segregated.clients)
    ]


def _recovery(client: ClientOutcome, formats: _Formats) -> Document:
    return {
        "in_kind_value": formats.value(client.in_kind_value),
        "unsecured_claim_value": formats.value(client.unsecured_value),
        "dividend_value": formats.value(client.dividend_value),
        "dividend_cash": formats.cash(client.dividend_cash),
        "dividend_in_kind": formats.amounts(client.dividend_units),
        "recovered_value": formats.value(client.recovered_value),
        "recovery_rate": rate_text(client.recovered_value, client.claim_value),
    }


def _line_document(line: ClientLine, formats: _Formats) -> Document:
    amount = formats.amount
    return {
        "pool": line.pool,
        "asset": line.asset,
        "standing": line.standing.value,
        "claim": amount(line.asset, line.claim),
        "held_back": amount(line.asset, line.held_back),
        "set_off": amount(line.asset, line.set_off),
        "returned_in_kind": amount(line.asset, line.in_kind),
        "unsecured_claim": amount(line.asset, line.unsecured),
    }
