"""Regulatory reports, one function per request: plain strings in (times, file names), the
document to show out (JSON-able, amounts already formatted by core/money.py).

``ringfence regulatory ...`` calls exactly one of these each and renders what comes back; the
API will call the same ones. Each gathers through the reconciliation service what the segregation
statement gathers (client balances, the registry's wallets and encumbrances, and holdings:
observed when an observations file is named, else the book), reads the operator's files through
the ``RegulatoryFiles`` port, and lets core/regulatory/ compute. A report is recomputed from the
journal and the files, and names each file by its SHA-256; only a residual-interest deadline
check asked to be recorded (``record=True``) is journaled, with the facts its statuses are
computed from (core/regulatory/records.py), so that a breach is an event, and so is a register
asked to be recorded, as evidence (service/regulatory_records.py).

docs/regulatory.md maps each report to the rule it serves.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Any

from ringfence.core.errors import InputError, Result
from ringfence.core.ledger.model import Terms
from ringfence.core.money import Asset, format_signed_units
from ringfence.core.recon.run import ReconInput, ReconSettings, reconcile
from ringfence.core.recon.segregation_statement import (
    custody_books,
    encumbered_amounts,
    net_equities,
    observed_holdings,
    requirements,
)
from ringfence.core.recon.times import parse_time
from ringfence.core.regulatory import possession as r4
from ringfence.core.regulatory.collateral import collateral_report
from ringfence.core.regulatory.files import (
    FileIdentity,
    MarginRequirements,
    Quote,
    SubCustodianRegister,
    parse_margin_requirements,
)
from ringfence.core.regulatory.holdings import WalletHolding, wallet_holdings
from ringfence.core.regulatory.insurance import (
    CoverLine,
    alert_hot_uncovered,
    cover_lines,
    hot_uncovered,
    insurance_cover,
)
from ringfence.core.regulatory.possession_breaks import CarriedPossessionBreak, carried_breaks
from ringfence.core.regulatory.records import DeadlineCheck
from ringfence.core.regulatory.residual import deadline_facts, undermargined_amounts
from ringfence.core.regulatory.subcustody import Finding, register_as_of, register_in_force
from ringfence.service.custody import CustodyService
from ringfence.service.ledger import LedgerService
from ringfence.service.ports import RegulatoryFiles
from ringfence.service.recon import ReconService
from ringfence.service.recon_documents import amounts, iso
from ringfence.service.regulatory_records import (
    journal_check,
    journal_possession_check,
    journal_register,
    journaled_register,
    possession_book,
)


@dataclass(frozen=True, slots=True)
class Gathered:
    """What every report starts from."""

    recon: ReconService
    as_of_ns: int
    basis: str  # "observed" or "book"
    facts: ReconInput
    holdings: list[WalletHolding]
    register: SubCustodianRegister | None
    register_source: str | None  # "journal seq N", "file", or None (no register)
    register_findings: tuple[Finding, ...]


def _reader(files: RegulatoryFiles | None, name: str) -> RegulatoryFiles:
    if files is None:  # a caller with no files (the demo) names none
        raise InputError(Result.field_required, f"{name}: there are no files to read it from")
    return files


def gather(
    ledger: LedgerService,
    files: RegulatoryFiles | None,
    *,
    as_of: str | None,
    observations: str | None,
    register: str | None = None,
    settings: str | None = None,
    journaled: bool = False,
) -> Gathered:
    """The as-of time, observations, register and settings, read in this order (the first
    defect reported is the same whatever else is wrong), and the holdings they give. With
    ``journaled``, the register in force is the latest one journaled at or before the as-of
    time when there is one, the file only when there is none (``register_in_force``)."""
    recon = ReconService(CustodyService(ledger))
    engine = ledger.ledger
    as_of_ns = recon.as_of(parse_time(as_of, "--as-of", end_of_day=True))
    seen = None
    if observations is not None:
        seen = _reader(files, observations).observations(observations, engine.assets)
    wallets = recon.custody.registry.wallets
    chosen = None
    if register is not None:
        chosen = _reader(files, register).sub_custodian_register(register, wallets)
    targets = ReconSettings()
    if settings is not None:
        targets = _reader(files, settings).settings(settings, engine.assets, engine.pools)
    facts = recon.gather(as_of_ns, seen, targets, history=False)
    recorded = journaled_register(ledger, as_of_ns) if journaled else None
    in_force = register_in_force(chosen, recorded)
    chosen = in_force.register
    if seen is None:
        held = custody_books(facts.custody_rows)[0]
    else:
        found = observed_holdings(seen, facts.wallet_of_address)[0]
        held = {key: holding.amount for key, holding in found.items()}
    encumbered = encumbered_amounts(facts.encumbrances, facts.released_at, as_of_ns)
    locations = chosen.location_of() if chosen is not None else {}
    holdings = wallet_holdings(facts.wallets, held, encumbered, locations, as_of_ns)
    basis = "book" if seen is None else "observed"
    return Gathered(
        recon, as_of_ns, basis, facts, holdings, chosen, in_force.source, in_force.findings
    )


def _head(gathered: Gathered, **files: FileIdentity | None) -> dict[str, Any]:
    head: dict[str, Any] = {
        "ok": True,
        "as_of": iso(gathered.as_of_ns),
        "as_of_ns": str(gathered.as_of_ns),
        "basis": gathered.basis,
    }
    for name, identity in files.items():
        head[name] = (
            None if identity is None else {"version": identity.version, "sha256": identity.sha256}
        )
        if name == "register":
            head["register_source"] = gathered.register_source
    return head


def _register_alerts(gathered: Gathered) -> list[str]:
    """The register's own findings, by kind (a file that is not the version in force)."""
    return sorted({finding.kind for finding in gathered.register_findings})


def _quote_value(units: int, quote: Quote, name: str) -> dict[str, str]:
    return {name: format_signed_units(units, quote.scale), f"{name}_units": str(units)}


# ---------------------------------------------------------------------- R4


def possession_and_control(
    ledger: LedgerService,
    files: RegulatoryFiles | None,
    *,
    as_of: str | None = None,
    observations: str | None = None,
    register: str | None = None,
    record: bool = False,
) -> dict[str, Any]:
    """Possession and control (R4) per custody pool and asset and per asset, and the breaks
    its shortfalls open, each with its cure (a house top-up), its first-seen time and age as
    the recorded checks carry them; with ``record``, this check is journaled, so that its
    breaks are carried to the next one and those gone are closed. Without ``files`` (and so
    without observations or a register), on the book, every wallet the firm's own."""
    gathered = gather(
        ledger, files, as_of=as_of, observations=observations, register=register, journaled=True
    )
    facts = gathered.facts
    entitled = requirements(net_equities(facts.client_rows))
    lines = r4.possession_and_control(facts.pools, entitled, r4.locations(gathered.holdings))
    assets = ledger.ledger.assets
    breaks = r4.possession_breaks(lines)
    at = gathered.as_of_ns
    snapshots = carried_breaks(possession_book(ledger), breaks, at)
    journal_seq = journal_possession_check(ledger, at, snapshots) if record else None
    carried = {snapshot.key: snapshot for snapshot in snapshots}
    identity = gathered.register.identity if gathered.register else None
    return {
        **_head(gathered, register=identity),
        "pools": [_possession_line(line, assets[line.asset]) for line in lines],
        "assets": [_possession_line(line, assets[line.asset]) for line in r4.per_asset(lines)],
        "breaks": [
            {**_carried(carried[b.pool, b.asset], at), **_possession_break(b, assets[b.asset])}
            for b in breaks
        ],
        "closed_breaks": [
            {**_carried(s, at), "pool": s.pool, "asset": s.asset, "state": "closed"}
            for s in snapshots
            if s.closed
        ],
        "alerts": (["possession_shortfall"] if breaks else []) + _register_alerts(gathered),
        "journal_seq": None if journal_seq is None else str(journal_seq),
    }


def _carried(snapshot: CarriedPossessionBreak, as_of_ns: int) -> dict[str, Any]:
    return {
        "id": snapshot.id,
        "first_seen": iso(snapshot.first_seen_ns),
        "last_seen": iso(snapshot.last_seen_ns),
        "closed_at": iso(snapshot.closed_at_ns) if snapshot.closed else None,
        "age_s": snapshot.age_s(as_of_ns),
    }


def _possession_line(line: r4.PossessionLine, asset: Asset) -> dict[str, Any]:
    return {
        "pool": line.pool,
        "asset": line.asset,
        "controlled_by_tier": {
            tier: amounts(asset, amount=amount) for tier, amount in line.controlled.items()
        },
        **amounts(
            asset,
            entitlement=line.entitlement,
            controlled=line.controlled_total,
            approved_sub_custodians=line.approved,
            unapproved_sub_custodians=line.unapproved,
            encumbered=line.encumbered,
            deficit=line.deficit,
            in_possession_or_control=line.in_possession_or_control,
            shortfall=line.shortfall,
            held=line.held,
            excess=line.excess,
        ),
    }


def _possession_break(broken: r4.PossessionBreak, asset: Asset) -> dict[str, Any]:
    return {
        "pool": broken.pool,
        "asset": broken.asset,
        "state": "open",
        **amounts(
            asset,
            shortfall=broken.amount,
            unapproved=broken.unapproved,
            encumbered=broken.encumbered,
            deficit=broken.deficit,
        ),
        "cure": {
            "code": broken.cure,
            "pool": broken.pool,
            "asset": broken.asset,
            **amounts(asset, amount=broken.amount),
        },
    }


# ---------------------------------------------------------------------- residual interest


def residual_interest_deadline(
    ledger: LedgerService,
    files: RegulatoryFiles,
    *,
    requirements_file: str,
    as_of: str | None = None,
    observations: str | None = None,
    settings: str | None = None,
    record: bool = False,
) -> dict[str, Any]:
    """Residual interest against Σ undermargined per custody pool and asset, and whether the
    deadline in ``requirements_file`` is met, still due, or breached (an alert); with
    ``record``, the check is journaled and a breach becomes a ``regulatory.breach`` event."""
    gathered = gather(ledger, files, as_of=as_of, observations=observations, settings=settings)
    engine = ledger.ledger
    segregated = {name: pool.terms is Terms.custody for name, pool in engine.pools.items()}
    margin = files.margin_requirements(requirements_file, engine.assets, segregated, engine.clients)
    return _residual_document(ledger, gathered, margin, record)


def residual_interest_of(
    ledger: LedgerService, requirements: bytes, *, as_of: str | None = None, record: bool = False
) -> dict[str, Any]:
    """``residual_interest_deadline`` on the book, for a requirements document its caller
    wrote (the demo's) rather than a file it names."""
    gathered = gather(ledger, None, as_of=as_of, observations=None)
    engine = ledger.ledger
    segregated = {name: pool.terms is Terms.custody for name, pool in engine.pools.items()}
    margin = parse_margin_requirements(requirements, engine.assets, segregated, engine.clients)
    return _residual_document(ledger, gathered, margin, record)


def _residual_document(
    ledger: LedgerService, gathered: Gathered, margin: MarginRequirements, record: bool
) -> dict[str, Any]:
    engine = ledger.ledger
    statement = reconcile(gathered.facts, gathered.recon.history.book).segregation_lines
    short = undermargined_amounts(margin.required, net_equities(gathered.facts.client_rows))
    digest = bytes.fromhex(margin.identity.sha256)
    facts = tuple(deadline_facts(statement, short))
    check = DeadlineCheck(gathered.as_of_ns, margin.deadline_ns, digest, facts)
    journal_seq = journal_check(ledger, check) if record else None
    lines = check.lines()
    alerts = sorted({line.alert for line in lines} - {"none"})
    rows = []
    for line in lines:
        asset = engine.assets[line.asset]
        rows.append(
            {
                "pool": line.pool,
                "asset": line.asset,
                **amounts(
                    asset,
                    residual_interest=line.residual_interest,
                    targeted_residual_interest=line.targeted_residual_interest,
                    undermargined=line.undermargined,
                    cover_shortfall=line.cover_shortfall,
                ),
                "accounts_undermargined": line.accounts_undermargined,
                "deadline": iso(line.deadline_ns),
                "deadline_status": line.status.value,
                "alert": line.alert,
            }
        )
    return {
        **_head(gathered, requirements=margin.identity),
        "deadline": iso(margin.deadline_ns),
        "lines": rows,
        "alerts": alerts,
        "journal_seq": None if journal_seq is None else str(journal_seq),
    }


# ---------------------------------------------------------------------- collateral


def weekly_collateral_report(
    ledger: LedgerService,
    files: RegulatoryFiles,
    *,
    haircuts: str,
    prices: str,
    as_of: str | None = None,
    observations: str | None = None,
    register: str | None = None,
) -> dict[str, Any]:
    """Per asset, pool and location: quantity, price (source and time), haircut, value and
    value after haircut, segregated or not; with per-asset totals."""
    gathered = gather(
        ledger, files, as_of=as_of, observations=observations, register=register, journaled=True
    )
    engine = ledger.ledger
    schedule = files.haircut_schedule(haircuts, engine.assets)
    found = files.prices(prices).prices(list(engine.assets), gathered.as_of_ns)
    quote = schedule.quote
    lines = collateral_report(
        gathered.holdings,
        pools=engine.pools,
        assets=engine.assets,
        prices=found,
        haircuts_bps=schedule.haircuts_bps,
        quote=quote,
    )
    rows: list[dict[str, Any]] = []
    totals: dict[str, list[int]] = {}
    for line in lines:
        asset = engine.assets[line.asset]
        rows.append(
            {
                "asset": line.asset,
                "pool": line.pool,
                "purpose": line.purpose,
                "segregated": line.segregated,
                "location": line.location,
                **amounts(asset, quantity=line.quantity, encumbered=line.encumbered),
                "price": format_signed_units(line.price.units, line.price.scale),
                "price_quote": line.price.quote,
                "price_source": line.price.source,
                "price_time": iso(line.price.time_ns),
                "haircut_bps": line.haircut_bps,
                **_quote_value(line.value, quote, "value"),
                **_quote_value(line.value_after_haircut, quote, "value_after_haircut"),
            }
        )
        total = totals.setdefault(line.asset, [0, 0, 0, 0])
        index = 0 if line.segregated else 2
        total[index] += line.quantity
        total[index + 1] += line.value_after_haircut
    return {
        **_head(
            gathered,
            haircuts=schedule.identity,
            register=gathered.register.identity if gathered.register else None,
        ),
        "quote": quote.code,
        "lines": rows,
        "assets": [
            _collateral_total(code, sums, engine.assets[code], quote)
            for code, sums in sorted(totals.items())
        ],
        "alerts": _register_alerts(gathered),
    }


def _collateral_total(code: str, sums: list[int], asset: Asset, quote: Quote) -> dict[str, Any]:
    segregated, segregated_value, other, other_value = sums
    return {
        "asset": code,
        **amounts(asset, segregated_quantity=segregated, not_segregated_quantity=other),
        **_quote_value(segregated_value, quote, "segregated_value_after_haircut"),
        **_quote_value(other_value, quote, "not_segregated_value_after_haircut"),
    }


# ---------------------------------------------------------------------- sub-custodians


def sub_custodian_register(
    ledger: LedgerService,
    files: RegulatoryFiles,
    *,
    register: str,
    as_of: str | None = None,
    observations: str | None = None,
    record: bool = False,
) -> dict[str, Any]:
    """The register as of ``as_of``: approval, due diligence, wallets and holdings of each
    sub-custodian, and the findings (assets at an unapproved one, missing or stale SOC
    reports); with ``record``, the register as read is journaled, as evidence, and is the one
    used. Not recording, the register in force is the latest journaled at or before
    ``as_of`` when there is one (the file is then a finding if it is not that version)."""
    gathered = gather(
        ledger, files, as_of=as_of, observations=observations, register=register,
        journaled=not record,
    )  # fmt: skip
    register_read = gathered.register
    assert register_read is not None
    journal_seq = None
    if record:
        journal_seq = journal_register(ledger, register_read)
        gathered = replace(gathered, register_source=f"journal seq {journal_seq}")
    states, findings = register_as_of(register_read, gathered.holdings, gathered.as_of_ns)
    findings = [*gathered.register_findings, *findings]
    assets = ledger.ledger.assets
    rows = []
    for state in states:
        entry = state.sub_custodian
        rows.append(
            {
                "name": entry.name,
                "status": entry.status.value,
                "approved_at_as_of": state.approved,
                "approved_on": iso(entry.approved_ns) if entry.approved_ns else None,
                "latest_soc_period_end": iso(state.latest_report_end_ns)
                if state.latest_report_end_ns
                else None,
                "due_diligence": [
                    {
                        "kind": r.kind,
                        "period_end": iso(r.period_end_ns),
                        "received_on": iso(r.received_ns),
                    }
                    for r in entry.due_diligence
                ],
                "wallets": list(entry.wallets),
                "holdings": [
                    {"pool": pool, "asset": code, **amounts(assets[code], amount=amount)}
                    for (pool, code), amount in sorted(state.holdings.items())
                ],
            }
        )
    return {
        **_head(gathered, register=register_read.identity),
        "journal_seq": None if journal_seq is None else str(journal_seq),
        "sub_custodians": rows,
        "findings": [
            {
                "kind": f.kind,
                "sub_custodian": f.sub_custodian,
                "pool": f.pool,
                "asset": f.asset,
                **(amounts(assets[f.asset], amount=f.amount) if f.asset else {}),
                "detail": f.detail,
            }
            for f in findings
        ],
    }


# ---------------------------------------------------------------------- insurance


def insurance(
    ledger: LedgerService,
    files: RegulatoryFiles,
    *,
    policies: str,
    prices: str,
    as_of: str | None = None,
    observations: str | None = None,
) -> dict[str, Any]:
    """Covered and uncovered holdings per asset and tier at the prices given, each policy's
    use, and an alert when hot-wallet holdings exceed their cover."""
    gathered = gather(ledger, files, as_of=as_of, observations=observations)
    engine = ledger.ledger
    schedule = files.insurance_schedule(policies, gathered.recon.custody.registry.wallets)
    found = files.prices(prices).prices(list(engine.assets), gathered.as_of_ns)
    covered, uses = insurance_cover(
        gathered.holdings, schedule, engine.assets, found, gathered.as_of_ns
    )
    lines = cover_lines(covered)
    quote = schedule.quote
    hot = hot_uncovered(lines)
    return {
        **_head(gathered, policies=schedule.identity),
        "quote": quote.code,
        "lines": [_cover_line(line, engine.assets[line.asset], quote) for line in lines],
        "policies": [
            {
                "id": use.policy.id,
                "insurer": use.policy.insurer,
                "active": use.active,
                "tiers": list(use.policy.tiers),
                "wallets": list(use.policy.wallets),
                "start": iso(use.policy.start_ns),
                "end": iso(use.policy.end_ns),
                **_quote_value(use.policy.limit, quote, "limit"),
                **_quote_value(use.policy.deductible, quote, "deductible"),
                **_quote_value(use.deductible_borne, quote, "deductible_borne"),
                **_quote_value(use.covered, quote, "covered"),
                **_quote_value(use.limit_remaining, quote, "limit_remaining"),
            }
            for use in uses
        ],
        **_quote_value(hot, quote, "hot_uncovered"),
        "alerts": [alert_hot_uncovered] if hot > 0 else [],
    }


def _cover_line(line: CoverLine, asset: Asset, quote: Quote) -> dict[str, Any]:
    return {
        "asset": line.asset,
        "tier": line.tier,
        **amounts(asset, quantity=line.quantity),
        **_quote_value(line.value, quote, "value"),
        **_quote_value(line.covered, quote, "covered"),
        **_quote_value(line.uncovered, quote, "uncovered"),
    }
