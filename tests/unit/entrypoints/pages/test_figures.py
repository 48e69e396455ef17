"""entrypoints/pages/figures.py: a small shortfall on a large pool is visible (its point lies
well below the 100% line and under the zero line of residual interest, marked and labelled in
words), axes always fit their data, and ages fall in their bands."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from ringfence.entrypoints.pages import figures
from ringfence.entrypoints.pages.figures import Point

SAT = 10**8
RUNS = [f"09-{day:02d}" for day in range(22, 29)]


def runs_of(requirement: int, funds: list[int]) -> list[dict[str, object]]:
    return [
        {
            "coverage": [
                {"pool": "main", "asset": "BTC", "segregated": True,
                 "alert": "none" if held >= requirement else "undersegregated",
                 "requirement_units": str(requirement), "funds_units": str(held)},
                {"pool": "earn", "asset": "BTC", "segregated": False, "alert": "none",
                 "requirement_units": "5", "funds_units": "5"},
            ]
        }
        for held in funds
    ]  # fmt: skip


def test_a_shortfall_of_2_59_btc_on_21212_btc_is_plain_to_see() -> None:
    owed = 21_212 * SAT
    runs = runs_of(owed, [owed] * 6 + [owed - 259_000_000])
    coverage, residual = figures.run_series(runs)
    assert set(coverage["BTC"]) == {"main"}  # a title-transfer pool is not charted as covered
    chart = figures.coverage_chart("BTC", coverage["BTC"], RUNS)
    (line,) = chart["lines"]
    last = line["marks"][-1]
    assert chart["reference_y"] is not None
    assert last["y"] - chart["reference_y"] >= 100  # of a plot 178 px tall
    assert last["alert"]
    assert "99.9877%" in last["title"]
    assert line["status"] == "undersegregated"
    assert line["last"] == "99.9877%"

    money = figures.residual_chart("BTC", 8, residual["BTC"], RUNS)
    (line,) = money["lines"]
    assert line["marks"][-1]["y"] - money["reference_y"] >= 100
    assert line["marks"][0]["y"] == money["reference_y"]
    assert line["last"] == "short 2.5900 BTC"


def test_a_covered_pool_sits_on_the_line() -> None:
    owed = 7 * SAT
    coverage, _ = figures.run_series(runs_of(owed, [owed] * 3))
    chart = figures.coverage_chart("BTC", coverage["BTC"], RUNS[:3])
    assert {mark["y"] for mark in chart["lines"][0]["marks"]} == {chart["reference_y"]}
    assert not chart["lines"][0]["alert"]


@given(st.lists(st.integers(min_value=-(2**70), max_value=2**70), min_size=1, max_size=12))
def test_every_point_and_tick_lies_inside_the_plot(values: list[int]) -> None:
    series = {"p": [Point(i, v, "none") for i, v in enumerate(values)]}
    labels = [str(i) for i in range(len(values))]
    for chart in (figures.residual_chart("BTC", 8, series, labels),
                  figures.coverage_chart("BTC", series, labels)):  # fmt: skip
        top, bottom = figures.chart_top, figures.chart_height - figures.chart_bottom
        for mark in chart["lines"][0]["marks"]:
            assert top <= mark["y"] <= bottom
            assert chart["left"] <= mark["x"] <= chart["right"]
        assert 1 <= len(chart["ticks"]) <= figures.ticks_max + 3
        assert all(top <= tick["y"] <= bottom for tick in chart["ticks"])
        # The ticks span the data: none of it lies above the top tick or below the bottom one.
        marks = [mark["y"] for mark in chart["lines"][0]["marks"]]
        assert min(t["y"] for t in chart["ticks"]) <= min(marks)
        assert max(t["y"] for t in chart["ticks"]) >= max(marks)


def test_breaks_fall_in_their_age_band() -> None:
    day = 86_400
    ages = figures.age_chart([{"age_s": str(a)} for a in (0, day - 1, day, 5 * day, 40 * day)])
    assert [bar["count"] for bar in ages["bars"]] == [2, 1, 1, 0, 1]
    assert ages["total"] == 5
    assert [bar["old"] for bar in ages["bars"]] == [False, False, True, True, True]


def test_coverage_bars_put_a_short_asset_short_of_the_100_percent_mark() -> None:
    bars = figures.coverage_bars([
        {"name": "BTC", "ppm": 999_877, "status": "short", "short": True},
        {"name": "ETH", "ppm": 1_000_000, "status": "covered", "short": False},
    ])  # fmt: skip
    short, covered = bars["bars"]
    assert bars["label_width"] + covered["width"] == bars["full_x"]
    assert bars["full_x"] - (bars["label_width"] + short["width"]) >= 40
