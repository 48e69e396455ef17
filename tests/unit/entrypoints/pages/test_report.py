"""write_report turns a report document into a self-contained HTML page and the JSON itself.

Method: a small hand-made document (one asset, a covered omnibus pool, a short pool whose name
is markup, an earn pool, a break, refusals) is written to a fresh folder; the files must exist,
the page must name every pool, show each coverage status and escape what is not ours, and the
JSON must read back as the very document.
"""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

import pytest

from ringfence.entrypoints.pages.rendering import age_text, grouped
from ringfence.entrypoints.pages.report import (
    individual_rows_max,
    render_report,
    report_view,
    write_report,
)

malicious = '<script>alert("owned")</script>'


def amounts(**units: int) -> dict[str, str]:
    """BTC amounts as the document carries them: major-unit text and minor-unit integers."""
    entry = {}
    for name, value in units.items():
        sign = "-" if value < 0 else ""
        whole, fraction = divmod(abs(value), 10**8)
        entry[name] = f"{sign}{whole}.{fraction:08d}"
        entry[f"{name}_units"] = str(value)
    return entry


def pool(
    name: str,
    holdings: int,
    liabilities: int,
    *,
    kind: str = "omnibus",
    terms: str = "custody",
    breaks_outstanding: int = 0,
) -> dict[str, Any]:
    shortfall = max(0, liabilities - holdings)
    return {
        "pool": name,
        "kind": kind,
        "terms": terms,
        "purpose": "spot_custody",
        "asset": "BTC",
        "client_accounts": 3,
        "segregated": terms == "custody",
        "covered": shortfall == 0,
        "wallets": [{"wallet": f"{name}-btc-hot", "tier": "hot", **amounts(holdings=holdings)}],
        **amounts(
            liabilities=liabilities,
            holdings=holdings,
            residual_interest=holdings - liabilities,
            shortfall_pending=0,
            breaks_outstanding=breaks_outstanding,
            shortfall=shortfall,
        ),
    }


@pytest.fixture
def document() -> dict[str, Any]:
    pools = [
        pool("omni-1", 5_000_000_000, 4_900_000_000),
        pool(malicious, 1_000, 1_100, breaks_outstanding=150),
        pool("earn", 100_000, 300_000, terms="title_transfer"),
    ]
    return {
        "generated_at_ns": 1_700_000_000 * 10**9,
        "seed": 7,
        "clients": 3,
        "journal": {"seq": 12, "head_hash": "ab" * 32},
        "assets": [
            {"code": "BTC", "scale": 8, "number": 1, "chain": "bitcoin", "contract": ""},
        ],
        "pools": pools,
        "totals_by_asset": [
            {
                "asset": "BTC",
                "pools": 3,
                "client_accounts": 9,
                "segregated_pools": 2,
                "segregated_pools_covered": 1,
                "title_transfer_pools": 1,
                **amounts(
                    liabilities=5_200_001_100,
                    holdings=5_000_101_000,
                    residual_interest=-199_900_100,
                    segregated_liabilities=4_900_001_100,
                    segregated_holdings=5_000_001_000,
                    title_transfer_liabilities=300_000,
                    title_transfer_holdings=100_000,
                    shortfall=100,
                    breaks_outstanding=150,
                    house_wallets=7,
                    house_revenue=5,
                    house_capital=0,
                    house_loans=200_000,
                    house_network_fees=0,
                ),
            }
        ],
        "breaks": [
            {
                "id": "99",
                "pool": malicious,
                "asset": "BTC",
                "state": "open",
                "opened_at_ns": 1_699_999_000 * 10**9,
                "age_s": 1_000,
                **amounts(amount=300, cured=150, outstanding=150),
            }
        ],
        "refusals": [
            {
                "what": "A client's withdrawal booked to a house wallet",
                "code": "client_to_house_forbidden",
            },
            {"what": f"Name {malicious}", "code": "exceeds_available_balance"},
        ],
        "activity": {"deposit": 12_345, "fee": 3},
        "two_phase": {"pending": 4, "posted": 2, "voided": 1, "expired": 1, "open": 0},
        "notes": ["A note & an ampersand."],
    }


def test_write_report_writes_both_files_into_a_new_folder(
    tmp_path: Path, document: dict[str, Any]
) -> None:
    out = tmp_path / "nested" / "out"
    html_path, json_path = write_report(document, out)
    assert html_path == out / "report.html"
    assert json_path == out / "report.json"
    assert html_path.is_file()
    assert json_path.is_file()
    assert sorted(path.name for path in out.iterdir()) == ["report.html", "report.json"]


def test_json_reads_back_as_the_document(tmp_path: Path, document: dict[str, Any]) -> None:
    _, json_path = write_report(document, tmp_path)
    text = json_path.read_text(encoding="utf-8")
    assert json.loads(text) == document
    assert text == json.dumps(document, indent=2, sort_keys=True) + "\n"


def test_writing_twice_replaces_the_files(tmp_path: Path, document: dict[str, Any]) -> None:
    write_report(document, tmp_path)
    changed = copy.deepcopy(document)
    changed["seed"] = 8
    _, json_path = write_report(changed, tmp_path)
    assert json.loads(json_path.read_text(encoding="utf-8"))["seed"] == 8


def test_page_names_every_pool_and_escapes_markup(document: dict[str, Any]) -> None:
    html = render_report(document)
    assert "omni-1" in html
    assert "earn" in html
    assert malicious not in html
    assert "<script" not in html
    assert "&lt;script&gt;alert(&#34;owned&#34;)&lt;/script&gt;" in html
    assert "A note &amp; an ampersand." in html


def test_page_shows_each_coverage_status(document: dict[str, Any]) -> None:
    html = render_report(document)
    assert "covered" in html
    assert "short by 0.00000100" in html
    assert "break outstanding 0.00000150" in html
    assert "not segregated (title transfer)" in html
    assert "1 of 2" in html


def test_page_shows_journal_breaks_refusals_and_activity(document: dict[str, Any]) -> None:
    html = render_report(document)
    assert "ab" * 32 in html
    assert "2023-11-14 22:13:20 UTC" in html
    assert "16 min 40 s" in html
    assert "client_to_house_forbidden" in html
    assert "exceeds_available_balance" in html
    assert "12,345" in html
    assert "50.00000000" in html


def test_page_is_self_contained(document: dict[str, Any]) -> None:
    html = render_report(document)
    assert "<style>" in html
    assert "<svg" in html
    for external in ("src=", "<link", "http://", "https://", "@import"):
        assert external not in html


def test_many_individual_pools_are_summed_but_short_ones_still_listed(
    document: dict[str, Any],
) -> None:
    count = individual_rows_max + 2
    individual = [
        pool(f"seg-c{number:06d}", 1_000, 900, kind="individual") for number in range(count)
    ]
    individual[0] = pool("seg-short", 100, 900, kind="individual")
    document["pools"].extend(individual)
    [asset] = report_view(document)["assets"]
    names = [row["name"] for row in asset["rows"]]
    assert f"individual pools ({count})" in names
    assert "seg-short" in names
    assert "seg-c000001" not in names
    summed = next(row for row in asset["rows"] if row["name"].startswith("individual"))
    assert summed["holdings"] == grouped(f"0.{100 + 1_000 * (count - 1):08d}")
    assert summed["tone"] == "short"


def test_few_individual_pools_are_listed_one_by_one(document: dict[str, Any]) -> None:
    document["pools"].append(pool("seg-c000001", 1_000, 900, kind="individual"))
    [asset] = report_view(document)["assets"]
    assert "seg-c000001" in [row["name"] for row in asset["rows"]]


def test_empty_pools_are_left_off_the_page_but_kept_in_the_json(
    tmp_path: Path, document: dict[str, Any]
) -> None:
    empty = pool("omni-9", 0, 0)
    empty["client_accounts"] = 0
    document["pools"].append(empty)
    [asset] = report_view(document)["assets"]
    assert "omni-9" not in [row["name"] for row in asset["rows"]]
    _, json_path = write_report(document, tmp_path)
    assert "omni-9" in json_path.read_text(encoding="utf-8")


def test_the_chart_shows_each_pools_coverage_so_a_small_shortfall_shows(
    document: dict[str, Any],
) -> None:
    [asset] = report_view(document)["assets"]
    chart = asset["chart"]
    bars = {bar["name"]: bar for bar in chart["bars"]}
    # A pool short by a millionth of what it owes still stops visibly short of 100%.
    short = next(row for row in asset["rows"] if row["tone"] == "short")
    assert bars[short["name"]]["short"]
    assert chart["full_x"] - (chart["label_width"] + bars[short["name"]]["width"]) >= 10
    assert all(type(bar["width"]) is int and bar["width"] >= 1 for bar in chart["bars"])
    assert "SHORT" in render_report(document)


@pytest.mark.parametrize(
    ("amount", "text"),
    [
        ("0.5", "0.5"),
        ("999.00", "999.00"),
        ("1000.00", "1,000.00"),
        ("1234567.12345678", "1,234,567.12345678"),
        ("-1234.5", "-1,234.5"),
        ("123456", "123,456"),
    ],
)
def test_grouped_puts_commas_in_the_whole_part_only(amount: str, text: str) -> None:
    assert grouped(amount) == text


@pytest.mark.parametrize(
    ("seconds", "text"),
    [(0, "0 s"), (59, "59 s"), (65, "1 min 05 s"), (3_600, "1 h 00 min"), (90_061, "1 d 01 h")],
)
def test_age_text_uses_the_two_largest_units(seconds: int, text: str) -> None:
    assert age_text(seconds) == text
