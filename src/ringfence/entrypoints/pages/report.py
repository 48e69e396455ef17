"""The segregation report as files: ``report.json`` (the document) and ``report.html``.

The HTML page is self-contained (inline CSS and SVG, no scripts, no external assets) so that
it can be mailed, archived or opened offline by an auditor. It is rendered by Jinja2 with
autoescaping on: names in the document are data, never markup.

Amounts are read back from the document's exact ``<name>_units`` strings and formatted through
service/recon_documents.py (which leaves both to core/money.py); the page shows them rounded for
reading with the exact amount as hover text, as the console does, and charts each pool's
coverage around 100% (pages/figures.py), so that a small shortfall on a large pool shows.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from ringfence.entrypoints.pages import figures
from ringfence.entrypoints.pages.recon_report import recon_view
from ringfence.entrypoints.pages.rendering import age_text, page_environment, rounded
from ringfence.service.readings import coverage_ppm
from ringfence.service.recon_documents import amount_text, units_of

# The picture's own sizes (how much of the page a table or a chart takes), not bounds on work
# or input: those are in core/limits.py, which a page does not import.
# Individual pools beyond this many per asset are summed into one row (each stays in the JSON);
# any that is short is still listed on its own.
individual_rows_max = 6

# The order in which a pending transfer's fates are told.
two_phase_lifecycle = ("pending", "posted", "voided", "expired", "open")


def write_report(document: Mapping[str, Any], out: Path) -> tuple[Path, Path]:
    """Write ``out/report.html`` and ``out/report.json``, creating ``out`` if needed.

    Each file is written beside its final name and then renamed, so a reader never sees half
    a report. Returns the paths of the HTML page and of the JSON document.
    """
    out.mkdir(parents=True, exist_ok=True)
    json_text = json.dumps(document, indent=2, sort_keys=True) + "\n"
    html_text = render_report(document)
    html_path = out / "report.html"
    json_path = out / "report.json"
    for path, text in ((json_path, json_text), (html_path, html_text)):
        partial = path.with_name(path.name + ".partial")
        partial.write_text(text, encoding="utf-8")
        partial.replace(path)
    return html_path, json_path


def render_report(document: Mapping[str, Any]) -> str:
    template = page_environment().get_template("report.html")
    return template.render(report=report_view(document))


# ---------------------------------------------------------------------- the view


def report_view(document: Mapping[str, Any]) -> dict[str, Any]:
    """What the page shows, as display strings and pixel sizes."""
    assets = {entry["code"]: _asset_of(entry) for entry in document["assets"]}
    totals = {entry["asset"]: entry for entry in document["totals_by_asset"]}
    generated_at_ns = int(document["generated_at_ns"])
    two_phase = document.get("two_phase", {})
    return {
        "as_of": datetime.fromtimestamp(generated_at_ns // 10**9, UTC).strftime(
            "%Y-%m-%d %H:%M:%S UTC"
        ),
        "seed": document.get("seed"),
        "clients": document["clients"],
        "journal_seq": document["journal"]["seq"],
        "head_hash": document["journal"]["head_hash"],
        "assets": [
            _asset_view(asset, document["pools"], totals.get(code))
            for code, asset in assets.items()
        ],
        "breaks": [_break_view(entry) for entry in document["breaks"]],
        "refusals": document["refusals"],
        "activity": [
            (code, f"{count:,}")
            for code, count in sorted(document["activity"].items(), key=_most_first)
        ],
        "two_phase": [
            (name, f"{two_phase[name]:,}") for name in two_phase_lifecycle if name in two_phase
        ],
        "notes": document.get("notes", []),
        "venue": document.get("venue"),
        "custody": document.get("custody"),  # display-ready (demo/custody.py)
        "reconciliation": recon_view(document.get("reconciliation")),
        "insolvency": document.get("insolvency"),  # display-ready (demo/insolvency.py)
        "regulatory": document.get("regulatory"),  # display-ready (demo/regulatory.py)
    }


def _most_first(item: tuple[str, int]) -> tuple[int, str]:
    return -item[1], item[0]


@dataclass(frozen=True, slots=True)
class _Asset:
    """What the page needs of an asset of the document."""

    code: str
    scale: int
    chain: str
    contract: str


def _asset_of(entry: Mapping[str, Any]) -> _Asset:
    return _Asset(entry["code"], entry["scale"], entry["chain"], entry["contract"])


def _asset_view(
    asset: _Asset, pools: Sequence[Mapping[str, Any]], totals: Mapping[str, Any] | None
) -> dict[str, Any]:
    own = [pool for pool in pools if pool["asset"] == asset.code]
    rows = _rows(asset, own)
    view: dict[str, Any] = {
        "code": asset.code,
        "chain": asset.chain,
        "contract": asset.contract,
        "scale": asset.scale,
        "rows": rows,
        "chart": _coverage_bars(rows),
        "totals": None,
    }
    if totals is not None:
        view["totals"] = {
            name: totals[name]
            for name in (
                "segregated_liabilities",
                "segregated_holdings",
                "title_transfer_liabilities",
                "title_transfer_holdings",
                "shortfall",
                "house_wallets",
                "house_revenue",
                "house_loans",
            )
        }
        view["covered"] = f"{totals['segregated_pools_covered']} of {totals['segregated_pools']}"
        view["short"] = totals["segregated_pools_covered"] < totals["segregated_pools"]
    return view


def _rows(asset: _Asset, pools: Sequence[Mapping[str, Any]]) -> list[dict[str, Any]]:
    """One row per pool; many individual pools become one summed row plus any that is short.
    Pools with no clients and nothing held in this asset are left out (the JSON keeps them)."""
    individual = [pool for pool in pools if pool["kind"] == "individual"]
    summed = len(individual) > individual_rows_max
    rows = []
    for pool in pools:
        if summed and pool["kind"] == "individual":
            continue
        rows.append(_pool_row(asset, pool))
    if summed:
        rows.append(_individual_row(asset, individual))
        rows.extend(_pool_row(asset, pool) for pool in individual if not pool["covered"])
    return [row for row in rows if not row["empty"]]


def _pool_row(asset: _Asset, pool: Mapping[str, Any]) -> dict[str, Any]:
    holdings = units_of(pool["holdings_units"])
    liabilities = units_of(pool["liabilities_units"])
    shortfall = units_of(pool["shortfall_units"])
    breaks = units_of(pool["breaks_outstanding_units"])
    tiers = [f"{wallet['tier']} {rounded(wallet['holdings'])}" for wallet in pool["wallets"]]
    if not pool["segregated"]:
        status, tone = "not segregated (title transfer)", "title"
        detail = f"holds {_read(shortfall, asset)} less than it owes" if shortfall else ""
    elif shortfall:
        status, tone = f"short by {_read(shortfall, asset)}", "short"
        detail = f"break outstanding {_read(breaks, asset)}" if breaks else ""
    else:
        status, tone, detail = "covered", "ok", ""
    return {
        "name": pool["pool"],
        "label": f"{pool['kind']} · {pool['terms'].replace('_', ' ')}",
        "empty": not (holdings or liabilities or pool["client_accounts"]),
        "client_accounts": pool["client_accounts"],
        "liabilities": _money(liabilities, asset),
        "holdings": _money(holdings, asset),
        "residual_interest": _money(holdings - liabilities, asset),
        "tiers": tiers,
        "status": status,
        "detail": detail,
        "tone": tone,
        "holdings_units": holdings,
        "liabilities_units": liabilities,
    }


def _individual_row(asset: _Asset, pools: Sequence[Mapping[str, Any]]) -> dict[str, Any]:
    holdings = sum(units_of(pool["holdings_units"]) for pool in pools)
    liabilities = sum(units_of(pool["liabilities_units"]) for pool in pools)
    short = [pool for pool in pools if not pool["covered"]]
    shortfall = sum(units_of(pool["shortfall_units"]) for pool in short)
    return {
        "name": f"individual pools ({len(pools)})",
        "label": "individual · custody, one client each",
        "empty": False,
        "client_accounts": sum(pool["client_accounts"] for pool in pools),
        "liabilities": _money(liabilities, asset),
        "holdings": _money(holdings, asset),
        "residual_interest": _money(holdings - liabilities, asset),
        "tiers": [],
        "status": f"{len(short)} short by {_read(shortfall, asset)}" if short else "all covered",
        "detail": "listed below" if short else "",
        "tone": "short" if short else "ok",
        "holdings_units": holdings,
        "liabilities_units": liabilities,
    }


def _coverage_bars(rows: Sequence[Mapping[str, Any]]) -> dict[str, Any] | None:
    """Each custody row that owes anything: its holdings over its liabilities, as a bar around
    100% (a shortfall of a few units on a large pool still stops short of the mark). A
    title-transfer pool is the firm's, not segregated: its table row says so, and it stays off
    this scale, which it would stretch."""
    shown = [
        {
            "name": row["name"],
            "ppm": coverage_ppm(row["holdings_units"], row["liabilities_units"]),
            "status": row["status"],
            "short": row["tone"] == "short",
        }
        for row in rows
        if row["liabilities_units"] > 0 and row["tone"] != "title"
    ]
    return figures.coverage_bars(shown) if shown else None


def _break_view(entry: Mapping[str, Any]) -> dict[str, Any]:
    return {
        "id": entry["id"],
        "pool": entry["pool"],
        "asset": entry["asset"],
        "state": entry["state"],
        "amount": entry["amount"],
        "cured": entry["cured"],
        "outstanding": entry["outstanding"],
        "age": age_text(int(entry["age_s"])),
    }


# ---------------------------------------------------------------------- text


def _money(units: int, asset: _Asset) -> str:
    """Exact, as the page's ``reading`` filter takes it (it rounds and keeps this as hover)."""
    return amount_text(units, asset.scale)


def _read(units: int, asset: _Asset) -> str:
    """Rounded for reading, in a sentence (the exact amount is in the table beside it)."""
    return rounded(amount_text(units, asset.scale))
