"""demo/insolvency.py: the demo ends with a failure whose section tells the story —
a preference held back, a displayed transfer ignored, a pool that fails tracing because
reconciliation finds cross-client funding, and the two structures side by side."""

from __future__ import annotations

from typing import Any

import pytest
from tests.support import journal_signer

from ringfence.adapters.clock import ManualClock
from ringfence.adapters.storage.memory import MemoryStore
from ringfence.demo.day import run_demo
from ringfence.entrypoints.pages.report import render_report
from ringfence.service.ledger import LedgerService


@pytest.fixture(scope="module")
def section() -> dict[str, Any]:
    document = run_demo(
        LedgerService(MemoryStore(), ManualClock(), journal_signer()), clients=200, seed=5
    )
    failure: dict[str, Any] = document["insolvency"]
    failure["html"] = render_report(document)
    return failure


def test_both_structures_share_the_same_assets_differently(section: dict[str, Any]) -> None:
    segregated, commingled = section["structures"]
    assert (segregated["structure"], commingled["structure"]) == ("segregated", "commingled")
    assert segregated["claims"] == commingled["claims"]
    assert segregated["made_whole"] > commingled["made_whole"]
    assert sum(section["distribution"]["segregated"]) == segregated["clients"]
    assert sum(section["distribution"]["commingled"]) == commingled["clients"]


def test_the_scenes_of_the_failure_are_all_there(section: dict[str, Any]) -> None:
    held = [move["held_back"] for move in section["preferences"]]
    assert held == [True, False]  # the large move is held back, the small one is not
    (shown,) = section["displayed_transfers"]
    assert shown["counted"] == "ignored: never posted"
    failed = {p["pool"] for p in section["pools"] if p["standing"] == "estate_tracing_failed"}
    assert failed == {"omni-2"}
    assert any(p["reason"].startswith("cross_client_funding") for p in section["pools"])
    assert section["events"]["hacks"] and section["events"]["house_losses"]


def test_the_chart_is_drawn_in_whole_pixels(section: dict[str, Any]) -> None:
    chart = section["chart"]
    for band in chart["bands"]:
        for bar in band["bars"]:
            assert type(bar["height"]) is int
            assert 0 <= bar["height"] <= chart["baseline"]
    assert 'id="insolvency"' in section["html"]
    assert "Clients per recovery rate" in section["html"]
