"""The reconciliation report: the latest segregation statement, coverage per asset and pool
over time, open breaks by age, every break and every finding, as a self-contained HTML page
(inline CSS and SVG, no scripts) or as a section of the demo's report.

The view reads the document ``service/recon_documents.history_document`` builds. Coverage is
funds over requirement in millionths, and the sums of quiet individual pools are amounts: both
are read back from the exact ``_units`` strings through service/recon_documents.py, which leaves
the rounding and the formatting to core/money.py. The charts are the console's
(pages/figures.py): coverage and residual interest per pool over the runs; amounts are shown
rounded for reading with the exact amount as hover text.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from ringfence.entrypoints.pages import figures
from ringfence.entrypoints.pages.rendering import age_text, page_environment
from ringfence.service.recon_documents import amount_text


def render_recon_page(document: Mapping[str, Any]) -> str:
    return page_environment().get_template("reconciliation.html").render(recon=recon_view(document))


def recon_view(document: Mapping[str, Any] | None) -> dict[str, Any] | None:
    """What the page or section shows; None when there is no reconciliation to show."""
    if not document:
        return None
    latest = document["latest"]
    runs = document["runs"]
    breaks = document["breaks"]
    return {
        "as_of": latest["as_of"],
        "basis": latest["funds_basis"],
        "runs": len(runs),
        "lines": _lines(latest, {a["code"]: a["scale"] for a in document["assets"]}),
        **_charts(runs, _kinds(latest), {a["code"]: a["scale"] for a in document["assets"]}),
        "ages": figures.age_chart([b for b in breaks if b["state"] != "cured"]),
        "breaks": [_break_view(b) for b in breaks],
        "findings": [_finding_view(f) for f in latest["findings"]],
        "days": list(document.get("days", [])),
    }


def _lines(latest: Mapping[str, Any], scales: Mapping[str, int]) -> list[dict[str, Any]]:
    """Omnibus and title-transfer pools one by one; individual pools one by one only when
    they carry an alert, else summed into one row per asset (each stays in the JSON)."""
    names = ("requirement", "funds", "encumbered", "excess", "target")
    shown: list[dict[str, Any]] = []
    summed: dict[str, dict[str, int]] = {}
    for line in [*latest["segregated"], *latest["title_transfer"]]:
        if line["pool_kind"] != "individual" or line["alert"] != "none":
            shown.append(_line_view(line))
            continue
        total = summed.setdefault(line["asset"], dict.fromkeys(("pools", *names), 0))
        total["pools"] += 1
        for name in names:
            total[name] += int(line[f"{name}_units"])
    for asset, total in summed.items():
        row = {name: _text(total[name], scales[asset]) for name in names}
        pools = f"{total['pools']} individual pools"
        row |= {"pool": pools, "asset": asset, "terms": "custody", "alert": "covered"}
        shown.append(row | {"tone": "ok", "sources": ""})
    return shown


def _text(units: int, scale: int) -> str:
    return amount_text(units, scale)


def _kinds(latest: Mapping[str, Any]) -> dict[str, str]:
    return {line["pool"]: line["pool_kind"] for line in latest["segregated"]}


def _line_view(line: Mapping[str, Any]) -> dict[str, Any]:
    tone = {"undersegregated": "short", "below_target": "title"}.get(line["alert"], "ok")
    if not line["segregated"]:
        tone = "title"
    return {
        "pool": line["pool"],
        "asset": line["asset"],
        "terms": line["terms"],
        "requirement": line["requirement"],
        "funds": line["funds"],
        "encumbered": line["encumbered"],
        "excess": line["excess"],
        "target": line["target"],
        "alert": ("covered" if line["alert"] == "none" else line["alert"])
        if line["segregated"]
        else "not segregated",
        "tone": tone,
        "sources": ", ".join(line["sources"]),
    }


def _break_view(entry: Mapping[str, Any]) -> dict[str, Any]:
    return {
        "id": entry["id"],
        "wallet": entry["wallet"],
        "asset": entry["asset"],
        "state": entry["state"],
        "book": entry["book"],
        "observed": entry["observed"],
        "difference": entry["difference"],
        "age": age_text(int(entry["age_s"])),
        "cause": entry["cause"],
        "action": entry["action"],
        "correction": entry["correction"],
        "make_good": entry["make_good_transfer"],
        "first_seen": entry["first_seen"],
        "resolved_at": entry["resolved_at"] or "",
    }


def _finding_view(entry: Mapping[str, Any]) -> dict[str, Any]:
    return {
        "kind": entry["kind"],
        "severity": entry["severity"],
        "where": " · ".join(x for x in (entry["pool"], entry["wallet"], entry["client"]) if x),
        "asset": entry["asset"],
        "amount": entry["amount"],
        "evidence": ", ".join(f"{k} {v}" for k, v in entry["evidence"].items() if v),
    }


def _charts(
    runs: Sequence[Mapping[str, Any]], kinds: Mapping[str, str], scales: Mapping[str, int]
) -> dict[str, list[dict[str, Any]]]:
    """Per asset, coverage and residual interest of its pools over the runs: those that
    alerted first, then omnibus pools, then the largest (at most ``figures.series_max``)."""
    coverage, residual = figures.run_series(runs)
    labels = [str(index + 1) for index in range(len(runs))]
    charts: dict[str, list[dict[str, Any]]] = {"charts": [], "residuals": []}
    for asset in sorted(coverage):
        sizes = {
            pool: -1 if kinds.get(pool) == "individual" else int(line["requirement_units"])
            for run in runs[-1:]
            for line in run["coverage"]
            if line["asset"] == asset and (pool := line["pool"]) in coverage[asset]
        }
        chosen = figures.chosen_pools(coverage[asset], sizes)
        charts["charts"].append(
            figures.coverage_chart(asset, {p: coverage[asset][p] for p in chosen}, labels)
        )
        charts["residuals"].append(
            figures.residual_chart(
                asset, scales[asset], {p: residual[asset][p] for p in chosen}, labels
            )
        )
    return charts
