"""Reconciliation results as JSON-able documents and CSV rows.

Amounts are decimal strings in the asset's major unit (``format_signed_amount``) with the exact
minor units beside them as ``<name>_units`` strings, as in every ringfence document; times are
nanoseconds as strings plus an ISO-8601 UTC text.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from datetime import UTC, datetime
from typing import Any

from ringfence.core.money import (
    Asset,
    check_units,
    coverage_ppm_floor,
    format_ppm_as_percent,
    format_signed_amount,
    format_signed_units,
)
from ringfence.core.recon.breaks import ExternalLine, ReconBreak
from ringfence.core.recon.codec import Coverage, ReconHistory, RunSummary
from ringfence.core.recon.commingling import Finding
from ringfence.core.recon.history import AssetStatement, ClientStatement, RegisterRow
from ringfence.core.recon.run import Reconciliation
from ringfence.core.recon.segregation_statement import InternalLine, StatementLine

Assets = Mapping[str, Asset]


def iso(ns: int) -> str:
    seconds, rest = divmod(ns, 10**9)
    moment = datetime.fromtimestamp(seconds, UTC).replace(microsecond=rest // 1000)
    return moment.isoformat().replace("+00:00", "Z")


def amounts(asset: Asset, **units: int) -> dict[str, str]:
    document: dict[str, str] = {}
    for name, value in units.items():
        document[name] = format_signed_amount(value, asset)
        document[f"{name}_units"] = str(value)
    return document


def segregation_line(line: StatementLine, assets: Assets) -> dict[str, Any]:
    asset = assets[line.asset]
    return {
        "pool": line.pool,
        "pool_kind": line.pool_kind,
        "terms": line.terms,
        "purpose": line.purpose,
        "asset": line.asset,
        "segregated": line.segregated,
        "clients": line.clients,
        "clients_in_deficit": line.clients_in_deficit,
        **amounts(
            asset,
            net_balance=line.net_balance,
            unsettled_pnl=line.unsettled_pnl,
            deficits=line.deficits,
            undermargined=line.undermargined,
            requirement=line.requirement,
            observed=line.observed,
            encumbered=line.encumbered,
            funds=line.funds,
            excess=line.excess,
            residual_interest=line.residual_interest,
            residual_interest_book=line.residual_interest_book,
            target=line.target,
            excess_over_target=line.excess_over_target,
            book_holdings=line.book_holdings,
            liabilities=line.liabilities,
        ),
        "alert": line.alert.value,
        "wallets": line.wallets,
        "funds_by_tier": {tier: format_signed_amount(v, asset) for tier, v in line.tiers.items()},
        "sources": list(line.sources),
        "height_min": line.height_min,
        "height_max": line.height_max,
        "observed_at": iso(line.observed_at_ns) if line.observed_at_ns else None,
    }


def internal_line(line: InternalLine, assets: Assets) -> dict[str, Any]:
    asset = assets[line.asset]
    return {
        "pool": line.pool,
        "asset": line.asset,
        "segregated": line.segregated,
        **amounts(
            asset,
            liabilities=line.liabilities,
            custody=line.custody,
            difference=line.difference,
            breaks_outstanding=line.breaks_outstanding,
            unexplained=line.difference - line.explained,
        ),
        "causes": {code: format_signed_amount(v, asset) for code, v in line.causes.items()},
    }


def external_line(line: ExternalLine, assets: Assets) -> dict[str, Any]:
    asset = assets[line.asset]
    return {
        "wallet": line.wallet,
        "pool": line.pool,
        "tier": line.tier,
        "asset": line.asset,
        "registered": line.registered,
        **amounts(asset, book=line.book, observed=line.observed, difference=line.difference),
        "addresses_observed": line.addresses,
        "sources": list(line.sources),
        "height_max": line.height_max,
    }


def break_entry(broken: ReconBreak, assets: Assets, as_of_ns: int) -> dict[str, Any]:
    asset = assets[broken.asset]
    return {
        "id": broken.id,
        "wallet": broken.wallet,
        "asset": broken.asset,
        "state": broken.state.value,
        **amounts(
            asset,
            book=broken.book,
            observed=broken.observed,
            difference=broken.difference,
            shortfall_max=broken.shortfall_max,
        ),
        "first_seen": iso(broken.first_seen_ns),
        "last_seen": iso(broken.last_seen_ns),
        "age_s": broken.age_s(as_of_ns),
        "cause": broken.cause.value,
        "action": broken.action,
        "corrected": broken.corrected,
        "correction": broken.correction,
        "made_good": broken.made_good,
        "make_good_transfer": str(broken.make_good_transfer) if broken.make_good_transfer else "",
        "resolved_at": iso(broken.resolved_at_ns) if broken.resolved_at_ns else None,
    }


def finding_entry(finding: Finding, assets: Assets) -> dict[str, Any]:
    asset = assets[finding.asset]
    return {
        "kind": finding.kind.value,
        "severity": finding.severity.value,
        "pool": finding.pool,
        "asset": finding.asset,
        "wallet": finding.wallet,
        "client": finding.client,
        **amounts(asset, amount=finding.amount),
        "evidence": dict(finding.evidence),
    }


def segregation_document(recon: Reconciliation, assets: Assets) -> dict[str, Any]:
    """The segregation statement (R1): custody pools, then title-transfer pools apart."""
    lines = [segregation_line(line, assets) for line in recon.segregation_lines]
    return {
        "as_of": iso(recon.as_of_ns),
        "as_of_ns": str(recon.as_of_ns),
        "funds_basis": recon.basis.value,
        "observations": recon.observations,
        "segregated": [line for line in lines if line["segregated"]],
        "title_transfer": [line for line in lines if not line["segregated"]],
        "alerts": [
            {"pool": line.pool, "asset": line.asset, "alert": line.alert.value}
            for line in recon.alerts
        ],
    }


def reconciliation_document(
    recon: Reconciliation, history: ReconHistory, assets: Assets
) -> dict[str, Any]:
    document = segregation_document(recon, assets)
    book = history.book
    document.update(
        {
            "internal": [internal_line(line, assets) for line in recon.internal],
            "external": [external_line(line, assets) for line in recon.external],
            "external_differences": sum(1 for line in recon.external if line.difference),
            "breaks_changed": [s.id for s in recon.snapshots],
            "breaks_open": [break_entry(b, assets, recon.as_of_ns) for b in book.open_breaks()],
            "findings": [finding_entry(f, assets) for f in recon.findings],
            "stray_observations": len(recon.strays),
        }
    )
    return document


def breaks_document(
    history: ReconHistory, assets: Assets, as_of_ns: int, include_cured: bool
) -> list[dict[str, Any]]:
    chosen: Iterable[ReconBreak] = (
        history.book.breaks.values() if include_cured else history.book.open_breaks()
    )
    return [break_entry(b, assets, as_of_ns) for b in sorted(chosen, key=lambda b: b.id)]


def run_entry(summary: RunSummary, coverage: list[Coverage], assets: Assets) -> dict[str, Any]:
    return {
        "run": summary.run,
        "as_of": iso(summary.as_of_ns),
        "as_of_ns": str(summary.as_of_ns),
        "funds_basis": summary.basis.value,
        "observations": summary.observations,
        "breaks_open": summary.breaks_open,
        "breaks_opened": summary.breaks_opened,
        "breaks_cured": summary.breaks_cured,
        "undersegregated": summary.undersegregated,
        "below_target": summary.below_target,
        "findings": summary.findings,
        "coverage_complete": summary.lines_complete,
        "coverage": [
            {
                "pool": c.pool,
                "asset": c.asset,
                "segregated": c.segregated,
                "alert": c.alert.value,
                **amounts(
                    assets[c.asset],
                    requirement=c.requirement,
                    funds=c.funds,
                    excess=c.excess,
                    target=c.target,
                ),
            }
            for c in coverage
        ],
    }


def client_statement_document(statement: ClientStatement, assets: Assets) -> dict[str, Any]:
    return {
        "client": statement.client,
        "from": iso(statement.from_ns),
        "to": iso(statement.to_ns),
        "assets": [_asset_statement(entry, assets[entry.asset]) for entry in statement.assets],
    }


def _asset_statement(entry: AssetStatement, asset: Asset) -> dict[str, Any]:
    price = entry.price
    return {
        "asset": entry.asset,
        **amounts(
            asset,
            opening=entry.opening,
            credits=entry.credits,
            debits=entry.debits,
            closing=entry.closing,
        ),
        "reconciles": entry.reconciles,
        "movements": [
            {
                "transfer_id": str(m.transfer_id),
                "time": iso(m.timestamp_ns),
                "pool": m.pool,
                "account": str(m.account),
                "account_kind": m.account_kind,
                "code": m.code,
                "reference": str(m.reference) if m.reference else "",
                "counterparty": m.counterparty,
                "chain": m.chain or None,
                "txid": m.txid or None,
                "metadata": dict(m.metadata),
                **amounts(asset, amount=m.amount),
            }
            for m in entry.movements
        ],
        "held": [
            {
                "pool": h.pool,
                "pool_kind": h.pool_kind,
                "terms": h.terms,
                **amounts(asset, closing=h.closing),
                "pool_custody_by_tier": {
                    tier: format_signed_amount(v, asset) for tier, v in h.tiers.items()
                },
            }
            for h in entry.held
        ],
        "value": None
        if price is None or entry.value is None
        else {
            "amount": _scaled(entry.value, price.scale),
            "quote": price.quote,
            "price": _scaled(price.units, price.scale),
            "source": price.source,
            "price_time": iso(price.time_ns) if price.time_ns else None,
        },
    }


def _scaled(units: int, scale: int) -> str:
    return format_signed_units(units, scale)


client_statement_csv_columns = (
    "client", "asset", "row", "time", "transfer_id", "pool", "account_kind", "code", "reference",
    "counterparty", "chain", "txid", "amount", "balance", "metadata",
)  # fmt: skip


def metadata_cell(metadata: dict[str, str]) -> str:
    """A movement's metadata in one cell: ``key="value"`` pairs, each value a JSON string, so
    that a memo holding spaces, quotes or ``ref=7`` cannot read as another pair (keys are
    ``[a-z0-9_.-]``, core/ledger/metadata.py)."""
    return " ".join(
        f"{key}={json.dumps(value, ensure_ascii=False)}" for key, value in metadata.items()
    )


def client_statement_rows(statement: ClientStatement, assets: Assets) -> list[list[str]]:
    """The statement as CSV rows: per asset an opening row, one row per movement with the
    running balance, and a closing row."""
    rows = []
    for entry in statement.assets:
        asset = assets[entry.asset]
        balance = entry.opening
        start = ["opening", iso(statement.from_ns), "", "", "", "", "", "", "", ""]
        rows.append(
            [statement.client, entry.asset, *start, "", format_signed_amount(balance, asset), ""]
        )
        for m in entry.movements:
            balance += m.amount
            rows.append(
                [
                    statement.client, entry.asset, "movement", iso(m.timestamp_ns),
                    str(m.transfer_id), m.pool, m.account_kind, m.code,
                    str(m.reference) if m.reference else "", m.counterparty, m.chain, m.txid,
                    format_signed_amount(m.amount, asset), format_signed_amount(balance, asset),
                    metadata_cell(m.metadata),
                ]
            )  # fmt: skip
        assert balance == entry.closing
        end = ["closing", iso(statement.to_ns), "", "", "", "", "", "", "", ""]
        closing = format_signed_amount(balance, asset)
        rows.append([statement.client, entry.asset, *end, "", closing, ""])
    return rows


register_csv_columns = (
    "client", "pool", "asset", "account", "transfer_id", "time", "code", "amount", "balance",
)  # fmt: skip


def register_rows(rows: Iterable[RegisterRow], assets: Assets) -> Iterable[list[str]]:
    for row in rows:
        asset = assets[row.asset]
        yield [
            row.client, row.pool, row.asset, str(row.account), str(row.transfer_id),
            iso(row.timestamp_ns), row.code, format_signed_amount(row.amount, asset),
            format_signed_amount(row.balance, asset),
        ]  # fmt: skip


def history_document(
    recon: Reconciliation, history: ReconHistory, assets: Assets
) -> dict[str, Any]:
    """The latest run in full, every journaled run's summary and coverage (for charts over
    time), and every break ever opened (``ringfence reconcile --html``, the demo's section)."""
    return {
        "assets": [{"code": a.code, "scale": a.scale} for a in assets.values()],
        "latest": reconciliation_document(recon, history, assets),
        "runs": [run_entry(summary, coverage, assets) for summary, coverage in history.runs],
        "breaks": breaks_document(history, assets, recon.as_of_ns, include_cured=True),
    }


# ---------------------------------------------------------------------- reading documents back
# A page shows what a document holds; where it must add lines up or compare two of them, it
# reads the exact ``_units`` back and goes through these, so that money is still formatted and
# rounded only by core/money.py.


def units_of(text: object) -> int:
    """A document's ``<name>_units`` string (or int) back as minor units (never negative)."""
    return check_units(text)


def amount_text(units: int, scale: int) -> str:
    """Minor units at ``scale`` decimals as a document shows an amount (a sum of its lines)."""
    return format_signed_units(units, scale)


def coverage_ppm(requirement: int, funds: int) -> int:
    """Funds over requirement in millionths, rounded down; a whole when nothing is owed."""
    return coverage_ppm_floor(funds, requirement)


def percent_text(ppm: int) -> str:
    """Millionths as an exact percentage: 999_950 -> "99.9950%"."""
    return format_ppm_as_percent(ppm)
