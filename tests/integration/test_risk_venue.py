"""The venue demo on a real SQLite store: every guarantee holds, every clearing account is at
zero after the cycle, and the journal (with the new codes) replays under audit."""

from __future__ import annotations

from pathlib import Path

from tests.support import invariant_problems

from ringfence.adapters.clock import ManualClock
from ringfence.adapters.storage.sqlite import SqliteStore
from ringfence.service.audit import verify_store
from ringfence.service.demo_risk import run_venue_demo, venue_instruments
from ringfence.service.ledger_service import LedgerService
from ringfence.service.risk import clearing_id


def test_venue_demo_keeps_the_ledger_guarantees(tmp_path: Path) -> None:
    path = str(tmp_path / "venue.db")
    clock = ManualClock()
    ledger = LedgerService(SqliteStore(path), clock)
    stages: list[str] = []
    summary = run_venue_demo(ledger, 300, 11, lambda stage, done, total: stages.append(stage))
    assert summary["buckets"] == 300
    assert summary["fills"]["refused"] == 0
    assert set(summary["health_by_mode"]) == {"isolated", "cross", "portfolio"}
    assert sum(p["paid_in"] for p in summary["settlement"]) > 0
    for plan in summary["settlement"]:
        assert plan["paid_in"] == plan["paid_out"] + plan["residual_to_insurance"]
    for instrument in venue_instruments(clock.now_ns()):
        assert ledger.balance(clearing_id(instrument.symbol)).balance == 0
    assert invariant_problems(ledger) == []
    assert stages
    ledger.close()
    store = SqliteStore(path)
    try:
        report = verify_store(store)
    finally:
        store.close()
    assert report.ok, report.problems
