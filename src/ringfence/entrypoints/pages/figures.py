"""The charts every page draws (the console, the portal, the demo's report), as display
strings and whole pixels for inline SVG rendered on the server: no script, testable as text.

What is charted is the question a person asks, not raw totals: a pool's coverage (funds over
requirement, in millionths, on an axis fitted to the data and never less than 0.01% tall, so a
2.59 BTC shortfall on 21,212 BTC, 99.9878%, sits visibly under the 100% line) and its residual
interest (funds less requirement, on an axis that always holds zero, so a shortfall is a point
below the zero line, marked and labelled). Every line and bar carries its words too (a legend
with the pool's name and its last value, a ``<title>`` on each point): colour is never the
only signal.

Money is read back from the documents' exact ``_units`` strings and written through
service/readings.py (core/money.py's rules); only pixel positions are computed here, in
integer arithmetic.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from ringfence.service.readings import (
    coverage_ppm,
    exact_of_units,
    percent_text,
    reading_of_units,
)

# The picture's own sizes, in pixels: how much of a page a chart takes.
chart_width = 640
chart_height = 220
chart_left = 96
chart_right_margin = 16
chart_top = 14
chart_bottom = 28
legend_row = 16
series_max = 8  # pools drawn per chart: those with an alert first, then the largest
ticks_max = 8
age_buckets = (  # (label, upper bound in seconds, exclusive)
    ("< 1 day", 86_400),
    ("1-3 days", 3 * 86_400),
    ("3-7 days", 7 * 86_400),
    ("7-30 days", 30 * 86_400),
    ("> 30 days", 2**63),
)
age_bar_width_max = 420
ppm_whole = 1_000_000
coverage_span_ppm_min = 100  # 0.01%: the smallest coverage range a chart is drawn over
reading_places = 4  # the smallest residual-interest range is one unit of the 4th decimal
colours = ("#1f6fb2", "#51606f", "#b5651d", "#7a4fb0", "#2a8c82", "#6b8e23", "#c0399b", "#8a5300")


@dataclass(frozen=True, slots=True)
class Point:
    run: int  # the run's index, from 0
    value: int  # millionths (coverage) or minor units (residual interest)
    alert: str  # the run's alert for this pool and asset ("none" when covered)


Series = Mapping[str, Sequence[Point]]  # pool -> its points, in run order


def run_series(
    runs: Sequence[Mapping[str, Any]],
) -> tuple[dict[str, dict[str, list[Point]]], dict[str, dict[str, list[Point]]]]:
    """Per asset, per custody pool: coverage (millionths) and residual interest (minor units)
    at every reconciliation run (``run_entry`` documents)."""
    coverage: dict[str, dict[str, list[Point]]] = {}
    residual: dict[str, dict[str, list[Point]]] = {}
    owing = {
        (line["asset"], line["pool"])
        for run in runs
        for line in run["coverage"]
        if int(line["requirement_units"]) or int(line["funds_units"])
    }
    for index, run in enumerate(runs):
        for line in run["coverage"]:
            if not line["segregated"] or (line["asset"], line["pool"]) not in owing:
                continue  # a pool that never owed nor held the asset says nothing over time
            requirement = int(line["requirement_units"])
            funds = int(line["funds_units"])
            alert = line["alert"]
            ratio = coverage_ppm(funds, requirement)
            pools = coverage.setdefault(line["asset"], {})
            pools.setdefault(line["pool"], []).append(Point(index, ratio, alert))
            excess = residual.setdefault(line["asset"], {})
            excess.setdefault(line["pool"], []).append(Point(index, funds - requirement, alert))
    return coverage, residual


def chosen_pools(series: Series, sizes: Mapping[str, int]) -> list[str]:
    """At most ``series_max`` pools: those ever alerted first, then the largest."""
    ranked = sorted(
        series,
        key=lambda pool: (
            all(point.alert == "none" for point in series[pool]),
            -sizes.get(pool, 0),
            pool,
        ),
    )
    return ranked[:series_max]


def coverage_chart(asset: str, series: Series, runs: Sequence[str]) -> dict[str, Any]:
    """Coverage per pool over the runs, the 100% line drawn when in range."""
    values = [point.value for points in series.values() for point in points]
    low, high, step = _range(values, coverage_span_ppm_min)
    frame = _Frame(low, high, len(runs))
    lines = [
        _line(frame, n, pool, points, last=percent_text(points[-1].value), text=percent_text)
        for n, (pool, points) in enumerate(series.items())
    ]
    return {
        **frame.document(lines, runs),
        "asset": asset,
        "title": f"{asset}: coverage (funds ÷ requirement) per pool",
        "reference_y": frame.y(ppm_whole) if low <= ppm_whole <= high else None,
        "reference_label": "100% covered",
        "ticks": [{"y": frame.y(v), "label": percent_text(v)} for v in _ticks(low, high, step)],
    }


def residual_chart(
    asset: str, scale: int, series: Series, runs: Sequence[str]
) -> dict[str, Any]:
    """Residual interest (funds less requirement) per pool over the runs, zero always in
    range: a shortfall is a point under the zero line, marked and labelled."""
    values = [point.value for points in series.values() for point in points] + [0]
    low, high, step = _range(values, 10 ** max(scale - reading_places, 0))
    frame = _Frame(low, high, len(runs))

    def text(value: int) -> str:
        return reading_of_units(value, scale)

    lines = [
        _line(frame, n, pool, points, last=_residual_words(points[-1].value, scale, asset),
              text=text)
        for n, (pool, points) in enumerate(series.items())
    ]
    return {
        **frame.document(lines, runs),
        "asset": asset,
        "title": f"{asset}: residual interest (funds less requirement) per pool",
        "reference_y": frame.y(0),
        "reference_label": "0 (below: short)",
        "ticks": [{"y": frame.y(v), "label": text(v)} for v in _ticks(low, high, step)],
    }


def _range(values: Sequence[int], span_min: int) -> tuple[int, int, int]:
    """An axis fitted to ``values`` (at least ``span_min`` tall, a tenth of the span as a
    margin each side), its ends on whole tick steps."""
    span = max(max(values) - min(values), span_min)
    margin = max(span // 10, 1)
    bottom, top = min(values) - margin, max(values) + margin
    step = _step(top - bottom)
    low = bottom // step * step
    high = -(-top // step) * step
    assert low < high
    assert (high - low) // step <= ticks_max + 2
    return low, high, step


def _residual_words(units: int, scale: int, asset: str) -> str:
    if units < 0:
        return f"short {reading_of_units(-units, scale)} {asset}"
    return f"{reading_of_units(units, scale)} {asset}"


@dataclass(frozen=True, slots=True)
class _Frame:
    low: int
    high: int
    runs: int

    @property
    def plot_width(self) -> int:
        return chart_width - chart_left - chart_right_margin

    def x(self, index: int) -> int:
        return chart_left + index * self.plot_width // max(self.runs - 1, 1)

    def y(self, value: int) -> int:
        plot_height = chart_height - chart_top - chart_bottom
        return chart_top + (self.high - value) * plot_height // (self.high - self.low)

    def document(self, lines: list[dict[str, Any]], runs: Sequence[str]) -> dict[str, Any]:
        shown = _run_labels(runs)
        return {
            "width": chart_width,
            "height": chart_height + legend_row * len(lines) + 8,
            "left": chart_left,
            "right": chart_width - chart_right_margin,
            "axis_y": chart_height - chart_bottom + 16,
            "runs": [{"x": self.x(i), "label": label} for i, label in shown],
            "lines": lines,
        }


def _line(
    frame: _Frame, n: int, pool: str, points: Sequence[Point], *, last: str, text: Any
) -> dict[str, Any]:
    marks = [
        {
            "x": frame.x(p.run),
            "y": frame.y(p.value),
            "alert": p.alert != "none",
            "title": f"{pool}, run {p.run + 1}: {text(p.value)} ({_alert_words(p.alert)})",
        }
        for p in points
    ]
    return {
        "pool": pool,
        "colour": colours[n % len(colours)],
        "points": " ".join(f"{m['x']},{m['y']}" for m in marks),
        "marks": marks,
        "last": last,
        "alert": points[-1].alert != "none",
        "status": _alert_words(points[-1].alert),
        "legend_y": chart_height + 14 + n * legend_row,
    }


def _alert_words(alert: str) -> str:
    return "covered" if alert == "none" else alert.replace("_", " ")


def _run_labels(runs: Sequence[str]) -> list[tuple[int, str]]:
    """Every run's label when few, else about eight evenly spaced, the last always shown."""
    if len(runs) <= ticks_max:
        return list(enumerate(runs))
    every = -(-len(runs) // ticks_max)
    shown = [(i, label) for i, label in enumerate(runs) if i % every == 0]
    if shown[-1][0] != len(runs) - 1:
        shown.append((len(runs) - 1, runs[-1]))
    return shown


def _step(span: int) -> int:
    """The smallest round tick step (1, 2 or 5 times a power of ten) that puts at most
    ``ticks_max`` steps in a range of ``span``."""
    assert span > 0
    magnitude = 1
    while True:
        for factor in (1, 2, 5):
            if span // (factor * magnitude) <= ticks_max:
                return factor * magnitude
        magnitude *= 10


def _ticks(low: int, high: int, step: int) -> list[int]:
    first = -(-low // step) * step
    return list(range(first, high + 1, step))


# ---------------------------------------------------------------------- breaks by age


def age_chart(open_breaks: Sequence[Mapping[str, Any]]) -> dict[str, Any]:
    """How many open breaks fall in each age band (whole-pixel bar widths)."""
    counts = [0] * len(age_buckets)
    for entry in open_breaks:
        age = int(entry["age_s"])
        counts[next(i for i, (_, upper) in enumerate(age_buckets) if age < upper)] += 1
    largest = max(counts) or 1
    return {
        "width": 620,
        "height": 20 + 26 * len(age_buckets),
        "total": sum(counts),
        "bars": [
            {
                "label": label,
                "count": count,
                "y": 10 + 26 * index,
                "width": count * age_bar_width_max // largest if count else 0,
                "old": index >= 2,
            }
            for index, ((label, _), count) in enumerate(zip(age_buckets, counts, strict=True))
        ],
    }


# ---------------------------------------------------------------------- coverage bars


def coverage_bars(rows: Sequence[Mapping[str, Any]]) -> dict[str, Any]:
    """One bar per row (``name``, ``ppm``, ``status``, ``short``) on a scale fitted around
    100%: a short pool's bar stops visibly before the 100% mark, whatever its size."""
    values = [int(row["ppm"]) for row in rows] + [ppm_whole]
    span = max(max(values) - min(values), coverage_span_ppm_min)
    low = max(min(values) - span // 2, 0)
    high = max(values) + span // 4
    label_width, bar_max, row_height = 180, 380, 26

    def x(ppm: int) -> int:
        return label_width + (min(ppm, high) - low) * bar_max // (high - low)

    return {
        "width": label_width + bar_max + 170,
        "height": 24 + row_height * len(rows),
        "full_x": x(ppm_whole),
        "low": percent_text(low),
        "bars": [
            {
                "name": row["name"],
                "y": 18 + row_height * index,
                "width": max(x(int(row["ppm"])) - label_width, 1),
                "label_x": x(int(row["ppm"])) + 6,
                "ratio": percent_text(int(row["ppm"])),
                "status": row["status"],
                "short": row["short"],
            }
            for index, row in enumerate(rows)
        ],
        "label_width": label_width,
    }


def exact_units(units: int, scale: int) -> str:
    """Minor units written exactly (a chart's hover text)."""
    return exact_of_units(units, scale)
