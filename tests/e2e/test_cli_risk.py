"""``ringfence risk ...`` end to end: build a venue, scan it, check orders, apply fills, import
a book kept as a file by earlier versions."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from ringfence.demo.liquidation import crash_buckets_count
from ringfence.entrypoints.cli.app import app

runner = CliRunner()


def invoke(tmp_path: Path, *args: str) -> tuple[int, dict]:  # type: ignore[type-arg]
    db = f"sqlite:///{tmp_path / 'venue.db'}"
    result = runner.invoke(app, ["--db", db, "risk", *args, "--json"])
    return result.exit_code, json.loads(result.stdout) if result.stdout.strip() else {}


def test_venue_scan_check_and_fills(tmp_path: Path) -> None:
    code, venue = invoke(tmp_path, "venue", "--buckets", "60", "--seed", "3")
    assert code == 0, venue
    assert venue["buckets"] == 60 + crash_buckets_count  # the leveraged book for the crash
    code, scan = invoke(tmp_path, "scan")
    assert code == 0
    assert scan["buckets"] == 60 + crash_buckets_count
    assert len(scan["scenarios"]) == 35
    row = scan["results"][1]
    assert {"equity", "initial", "maintenance", "health", "delta", "gamma", "vega",
            "theta_per_year", "theta_per_day"} <= set(row)
    assert row["theta_per_day"] == pytest.approx(row["theta_per_year"] / 365)
    assert row["mode"] == "cross"
    symbol = "btc-usdc-perp" if row["settlement"] == "USDC" else "btc-usd-perp"
    code, check = invoke(tmp_path, "check", row["bucket"], "--order", f"{symbol}:1@64000.5")
    assert code == 0
    assert check["accepted"] is True
    huge = f"{symbol}:999999999@64000.5"
    code, refused = invoke(tmp_path, "check", row["bucket"], "--order", huge)
    assert code == 1
    assert refused["accepted"] is False
    fills = tmp_path / "fills.jsonl"
    lines = [
        {"id": 9_001, "bucket": scan["results"][1]["bucket"], "symbol": symbol, "lots": 2,
         "price": "64000.5", "fee": 0},
        {"id": 9_001, "bucket": scan["results"][1]["bucket"], "symbol": symbol, "lots": 3,
         "price": "64000.5"},
        {"id": 9_002, "bucket": "nobody", "symbol": symbol, "lots": 1, "price": "64000.55"},
        {"id": 9_003, "bucket": scan["results"][1]["bucket"], "symbol": symbol, "lots": 1,
         "price": "64000.5", "fee": 1.7},  # never truncated to 1
    ]
    fills.write_text("\n".join(json.dumps(line) for line in lines) + "\n")
    code, applied = invoke(tmp_path, "fills", str(fills))
    assert code == 1
    assert [r["result"] for r in applied["results"]] == [
        "ok", "fill_exists_with_different_body", "price_finer_than_tick",
        "amount_must_not_be_float",
    ]
    # The book is in the journal: the audit replays it, every fill with its fee.
    db = f"sqlite:///{tmp_path / 'venue.db'}"
    audit = runner.invoke(app, ["--db", db, "audit", "verify", "--json"])
    assert audit.exit_code == 0, audit.stdout
    assert json.loads(audit.stdout)["ok"] is True
    # A journal holding a book refuses to import another.
    book = tmp_path / "book.json"
    book.write_text(json.dumps({"version": 2, "revenue_accounts": {}, "instruments": [],
                                "buckets": [], "positions": []}))
    code, refused = invoke(tmp_path, "import-book", str(book))
    assert code == 2
    assert refused["error"] == "venue_book_exists"


def test_scan_without_a_book_is_an_input_error(tmp_path: Path) -> None:
    runner.invoke(app, ["--db", f"sqlite:///{tmp_path / 'venue.db'}", "init"])
    code, document = invoke(tmp_path, "scan")
    assert code == 2
    assert document["error"] == "mark_price_missing"
    code, document = invoke(tmp_path, "import-book", str(tmp_path / "none.json"))
    assert code == 2
    assert document["error"] == "file_not_found"


def test_a_book_with_a_maintenance_rate_of_100_percent_is_refused(tmp_path: Path) -> None:
    runner.invoke(app, ["--db", f"sqlite:///{tmp_path / 'venue.db'}", "init"])
    book = tmp_path / "book.json"
    document: dict = {"version": 2, "revenue_accounts": {}, "instruments": [],  # type: ignore[type-arg]
                      "buckets": [], "positions": []}
    config = document.setdefault("config", {})
    # One bracket at 100%: an isolated long's liquidation price divides by Q x (m - 1).
    config["tiers"] = {"linear": [{"notional_floor": 0, "maintenance_ppm": 1_000_000,
                                   "initial_ppm": 1_000_000}],
                       "inverse": [{"notional_floor": 0, "maintenance_ppm": 5_000,
                                    "initial_ppm": 8_000}]}
    book.write_text(json.dumps(document))
    code, refused = invoke(tmp_path, "import-book", str(book))
    assert code == 2
    assert refused["error"] == "risk_config_invalid"
