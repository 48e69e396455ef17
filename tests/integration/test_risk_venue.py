"""The venue demo on a real SQLite store: every guarantee holds, every clearing account is at
zero after the cycle, and the journal (with the new codes) replays under audit."""

from __future__ import annotations

from pathlib import Path

from tests.support import invariant_problems, journal_signer

from ringfence.adapters.clock import ManualClock
from ringfence.adapters.storage.sqlite import SqliteStore
from ringfence.demo.liquidation import crash_buckets_count
from ringfence.demo.risk import run_venue_demo
from ringfence.demo.venue import venue_instruments
from ringfence.service.audit import verify_store
from ringfence.service.ledger import LedgerService
from ringfence.service.risk_ledger import clearing_id, insurance_id


def test_venue_demo_keeps_the_ledger_guarantees(tmp_path: Path) -> None:
    path = str(tmp_path / "venue.db")
    clock = ManualClock()
    ledger = LedgerService(SqliteStore(path), clock, journal_signer())
    stages: list[str] = []
    summary = run_venue_demo(ledger, 300, 11, lambda stage, done, total: stages.append(stage))
    assert summary["buckets"] == 300 + crash_buckets_count
    assert summary["fills"]["refused"] == 0
    assert set(summary["health_by_mode"]) == {"isolated", "cross", "portfolio"}
    assert sum(p["paid_in"] for p in summary["settlement"]) > 0
    for plan in summary["settlement"]:
        assert plan["paid_in"] == plan["paid_out"] + plan["residual_to_insurance"]
    for instrument in venue_instruments(clock.now_ns()):
        assert ledger.balance(clearing_id(instrument.symbol)).balance == 0
        assert ledger.balance(insurance_id(instrument.symbol)).balance >= 0
    crash = summary["liquidation"]
    rows = [row for step in crash["steps"] for row in step["markets"].values()]
    assert sum(row["partial"] for row in rows) > 0
    assert sum(row["full"] for row in rows) > 0
    assert sum(row["bankrupt"] for row in rows) > 0
    assert sum(row["paid_out"] for row in rows) > 0
    assert sum(row["deleveraged_lots"] for row in rows) > 0
    assert sum(row["fees_in"] for row in rows) > 0
    assert crash["halted"] == []
    # The thin BTC/USDC fund ran (nearly) dry before auto-deleveraging took the rest.
    btc_fund = [int(v) for v in crash["funds"]["btc-usdc-perp"]]
    assert btc_fund[-1] < btc_fund[0] // 100
    assert invariant_problems(ledger) == []
    assert stages
    ledger.close()
    store = SqliteStore(path)
    try:
        report = verify_store(store)
    finally:
        store.close()
    assert report.ok, report.problems
