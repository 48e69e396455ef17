"""The demo's week of reconciliation (demo/recon.py): seven daily runs journaled, one
break opened on day 2 and cured on day 4 only once corrected and made good, a below-target alert
on the story pool, and the report's section with its charts; with or without a hand clock."""

from __future__ import annotations

from itertools import pairwise
from pathlib import Path
from typing import Any

import pytest
from tests.support import journal_signer

from ringfence.adapters.clock import ManualClock
from ringfence.adapters.storage.memory import MemoryStore
from ringfence.demo.day import clients_min, run_demo
from ringfence.entrypoints.pages.report import write_report
from ringfence.service.audit import verify_store
from ringfence.service.ledger import LedgerService


class FixedClock:
    def now_ns(self) -> int:
        return 1_800_000_000 * 10**9


@pytest.fixture(scope="module")
def run() -> tuple[LedgerService, dict[str, Any]]:
    ledger = LedgerService(MemoryStore(), ManualClock(), journal_signer())
    return ledger, run_demo(ledger, clients=clients_min, seed=5)


def test_a_break_opens_and_is_cured_and_an_alert_shows(
    run: tuple[LedgerService, dict[str, Any]],
) -> None:
    _, document = run
    week = document["reconciliation"]
    days = week["days"]
    assert [d["day"] for d in days] == list(range(1, 8))
    assert [d["breaks_opened"] for d in days] == [0, 1, 0, 0, 0, 0, 0]
    assert [d["breaks_cured"] for d in days] == [0, 0, 0, 1, 0, 0, 0]
    assert [d["story_alert"] for d in days][:4] == ["none", "below_target", "below_target", "none"]
    (broken,) = week["breaks"]
    assert (broken["state"], broken["corrected"], broken["made_good"]) == ("cured", True, True)
    assert broken["cause"] == "network_fee_not_booked"
    assert len(week["runs"]) == 7
    assert week["runs"][1]["below_target"] >= 1
    kinds = {f["kind"] for f in week["latest"]["findings"]}
    assert "client_assets_in_house_wallet" in kinds  # the day's misdirected deposit


def test_the_journal_with_the_week_passes_the_audit(
    run: tuple[LedgerService, dict[str, Any]],
) -> None:
    ledger, _ = run
    report = verify_store(ledger.store)
    assert report.ok, report.problems


def test_the_report_has_the_section_with_its_charts(
    run: tuple[LedgerService, dict[str, Any]], tmp_path: Path
) -> None:
    html, _ = write_report(run[1], tmp_path)
    page = html.read_text(encoding="utf-8")
    section = page[page.index('id="reconciliation"') :]
    assert "Coverage and residual interest over time" in section
    assert "Open breaks by age" in section
    assert section.count("<polyline") >= 3


def test_without_a_hand_clock_the_days_are_a_day_apart() -> None:
    document = run_demo(
        LedgerService(MemoryStore(), FixedClock(), journal_signer()), clients=clients_min, seed=5
    )
    runs = document["reconciliation"]["runs"]
    as_of = [int(r["as_of_ns"]) for r in runs]
    assert [b - a for a, b in pairwise(as_of)] == [86_400 * 10**9] * 6
    (broken,) = document["reconciliation"]["breaks"]
    assert broken["state"] == "cured"
