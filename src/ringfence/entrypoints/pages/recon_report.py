"""The reconciliation report: the latest segregation statement, coverage per asset and pool
over time, open breaks by age, every break and every finding, as a self-contained HTML page
(inline CSS and SVG, no scripts) or as a section of the demo's report.

The view reads the document ``service/recon_documents.history_document`` builds. Coverage is
funds over requirement in millionths, and the sums of quiet individual pools are amounts: both
are read back from the exact ``_units`` strings through service/recon_documents.py, which leaves
the rounding and the formatting to core/money.py. Pixel positions are integers.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from ringfence.entrypoints.pages.rendering import age_text, grouped, page_environment
from ringfence.service.recon_documents import amount_text, coverage_ppm, percent_text

# The picture's own sizes: how much of a page a chart or a table takes, not bounds on work or
# input (those are in core/limits.py, which a page does not import).
chart_width = 640
chart_height = 220
chart_left = 90
chart_top = 14
chart_bottom = 28
series_max = 8  # pools drawn per asset: those with an alert first, then the largest
age_buckets = (  # (label, upper bound in seconds, exclusive)
    ("< 1 day", 86_400),
    ("1-3 days", 3 * 86_400),
    ("3-7 days", 7 * 86_400),
    ("7-30 days", 30 * 86_400),
    ("> 30 days", 2**63),
)
bar_width_max = 420
_colours = ("#2a8c82", "#51606f", "#d39a3a", "#7a4fb0", "#a32020", "#1f6fb2", "#6b8e23", "#b5651d")


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
        "charts": _coverage_charts(runs, _kinds(latest)),
        "ages": _age_chart([b for b in breaks if b["state"] != "cured"]),
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
    return grouped(amount_text(units, scale))


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
        "requirement": grouped(line["requirement"]),
        "funds": grouped(line["funds"]),
        "encumbered": grouped(line["encumbered"]),
        "excess": grouped(line["excess"]),
        "target": grouped(line["target"]),
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
        "book": grouped(entry["book"]),
        "observed": grouped(entry["observed"]),
        "difference": grouped(entry["difference"]),
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
        "amount": grouped(entry["amount"]),
        "evidence": ", ".join(f"{k} {v}" for k, v in entry["evidence"].items() if v),
    }


def _coverage_charts(
    runs: Sequence[Mapping[str, Any]], kinds: Mapping[str, str]
) -> list[dict[str, Any]]:
    series: dict[str, dict[str, list[tuple[int, int]]]] = {}
    alerted: set[tuple[str, str]] = set()
    size: dict[tuple[str, str], int] = {}
    for index, run in enumerate(runs):
        for line in run["coverage"]:
            if not line["segregated"]:
                continue
            key = (line["asset"], line["pool"])
            requirement = int(line["requirement_units"])
            ppm = coverage_ppm(requirement, int(line["funds_units"]))
            series.setdefault(key[0], {}).setdefault(key[1], []).append((index, ppm))
            size[key] = max(size.get(key, 0), requirement)
            if line["alert"] != "none":
                alerted.add(key)
    charts = []
    for asset, pools in sorted(series.items()):
        chosen = sorted(
            pools,
            key=lambda p: (
                (asset, p) not in alerted,
                kinds.get(p) == "individual",
                -size[(asset, p)],
                p,
            ),
        )
        charts.append(_chart(asset, {p: pools[p] for p in chosen[:series_max]}, len(runs)))
    return charts


def _chart(asset: str, pools: Mapping[str, list[tuple[int, int]]], runs: int) -> dict[str, Any]:
    """Lines on a range fitted to the data (at least 0.01% tall), 100% marked when in it."""
    values = [ppm for points in pools.values() for _, ppm in points]
    span = max(max(values) - min(values), 100)
    step = 10 ** len(str(span // 4))
    low = (min(values) - span // 10) // step * step
    high = -(-(max(values) + span // 10) // step) * step
    plot_w = chart_width - chart_left - 12
    plot_h = chart_height - chart_top - chart_bottom

    def x(index: int) -> int:
        return chart_left + (index * plot_w // max(runs - 1, 1))

    def y(ppm: int) -> int:
        return chart_top + (high - ppm) * plot_h // (high - low)

    lines = [
        {
            "pool": pool,
            "colour": _colours[n % len(_colours)],
            "points": " ".join(f"{x(i)},{y(v)}" for i, v in points),
            "last": percent_text(points[-1][1]),
            "legend_y": chart_height + 14 + n * 16,
        }
        for n, (pool, points) in enumerate(pools.items())
    ]
    ticks = [{"y": y(v), "label": percent_text(v)} for v in range(low, high + 1, step)][:12]
    return {
        "asset": asset,
        "width": chart_width,
        "height": chart_height + 16 * len(lines) + 8,
        "left": chart_left,
        "right": chart_width - 12,
        "full_y": y(1_000_000) if low <= 1_000_000 <= high else None,
        "ticks": ticks,
        "runs": [{"x": x(i), "label": str(i + 1)} for i in range(runs)],
        "axis_y": chart_height - chart_bottom + 16,
        "lines": lines,
    }


def _age_chart(open_breaks: Sequence[Mapping[str, Any]]) -> dict[str, Any]:
    counts = [0] * len(age_buckets)
    for entry in open_breaks:
        age = int(entry["age_s"])
        counts[next(i for i, (_, upper) in enumerate(age_buckets) if age < upper)] += 1
    largest = max(counts) or 1
    return {
        "height": 20 + 26 * len(age_buckets),
        "bars": [
            {
                "label": label,
                "count": count,
                "y": 10 + 26 * index,
                "width": count * bar_width_max // largest if count else 0,
            }
            for index, ((label, _), count) in enumerate(zip(age_buckets, counts, strict=True))
        ],
    }
