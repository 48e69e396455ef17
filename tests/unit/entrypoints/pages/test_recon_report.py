"""entrypoints/pages/recon_report.py: coverage in integer millionths, breaks bucketed by age,
individual pools summed unless they alert, and a page that escapes what it shows."""

from __future__ import annotations

from typing import Any

from ringfence.entrypoints.pages.recon_report import recon_view, render_recon_page
from ringfence.service.recon_documents import coverage_ppm


def line(pool: str, kind: str, requirement: int, funds: int, alert: str = "none") -> dict[str, Any]:
    text = {"requirement": requirement, "funds": funds, "encumbered": 0,
            "excess": funds - requirement, "target": 0}  # fmt: skip
    return {
        "pool": pool, "pool_kind": kind, "asset": "BTC", "terms": "custody", "segregated": True,
        "alert": alert, "sources": ["chain"],
        **{name: f"{value / 1}" for name, value in text.items()},
        **{f"{name}_units": str(value) for name, value in text.items()},
    }  # fmt: skip


def document() -> dict[str, Any]:
    lines = [
        line("omni", "omnibus", 100, 90, "undersegregated"),
        line("seg-a", "individual", 10, 11),
        line("seg-b", "individual", 20, 22),
        line("seg-<c>", "individual", 5, 4, "undersegregated"),
    ]
    runs = [
        {"coverage": [{"pool": x["pool"], "asset": "BTC", "segregated": True, "alert": x["alert"],
                       "requirement_units": x["requirement_units"],
                       "funds_units": str(int(x["funds_units"]) + day)} for x in lines]}
        for day in range(3)
    ]  # fmt: skip
    breaks = [
        {"id": i, "wallet": "w", "asset": "BTC", "state": state, "book": "1", "observed": "0",
         "difference": "-1", "age_s": str(age), "cause": "loss", "action": "", "correction": "",
         "make_good_transfer": "", "first_seen": "t", "resolved_at": None}
        for i, (state, age) in enumerate([("open", 10), ("open", 4 * 86_400), ("cured", 9)])
    ]  # fmt: skip
    latest = {"as_of": "today", "funds_basis": "observed", "segregated": lines,
              "title_transfer": [], "findings": []}  # fmt: skip
    return {"assets": [{"code": "BTC", "scale": 8}], "latest": latest, "runs": runs,
            "breaks": breaks}  # fmt: skip


def test_coverage_is_exact_millionths() -> None:
    assert coverage_ppm(3, 1) == 333_333
    assert coverage_ppm(0, 5) == 1_000_000
    assert coverage_ppm(10**30, 10**30 + 1) == 1_000_000


def test_the_view_sums_quiet_individual_pools_and_buckets_open_breaks() -> None:
    view = recon_view(document())
    assert view is not None
    pools = [row["pool"] for row in view["lines"]]
    assert pools == ["omni", "seg-<c>", "2 individual pools"]
    summed = view["lines"][-1]
    assert (summed["requirement"], summed["funds"]) == ("0.00000030", "0.00000033")
    counts = [bar["count"] for bar in view["ages"]["bars"]]
    assert counts == [1, 0, 1, 0, 0]  # the cured break is not open
    (chart,) = view["charts"]
    assert [series["pool"] for series in chart["lines"]][:2] == ["omni", "seg-<c>"]
    assert recon_view(None) is None


def test_the_page_escapes_names() -> None:
    page = render_recon_page(document())
    assert "seg-&lt;c&gt;" in page
    assert "seg-<c>" not in page
