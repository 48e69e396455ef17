"""``ringfence liquidation ...`` end to end: build a venue, crash its prices, run a round, run it
again (nothing more to do), read the funds; bad input is refused with its code."""

from __future__ import annotations

import json
from pathlib import Path

from typer.testing import CliRunner

from ringfence.entrypoints.cli.app import app

runner = CliRunner()
crash = ["--price", "btc-usdc-perp=41000", "--price", "eth-usdc-perp=2100",
         "--price", "btc-usd-perp=41000"]


def invoke(tmp_path: Path, *args: str) -> tuple[int, dict]:  # type: ignore[type-arg]
    db = f"sqlite:///{tmp_path / 'venue.db'}"
    group, *rest = args
    result = runner.invoke(app, ["--db", db, group, *rest, "--json"])
    return result.exit_code, json.loads(result.stdout) if result.stdout.strip() else {}


def test_a_crash_is_liquidated_once_and_the_funds_keep_their_history(tmp_path: Path) -> None:
    code, venue = invoke(tmp_path, "risk", "venue", "--buckets", "30", "--seed", "5")
    assert code == 0, venue
    code, before = invoke(tmp_path, "liquidation", "funds")
    assert code == 0
    code, first = invoke(tmp_path, "liquidation", "run", *crash, "--slippage-ppm", "1000",
                         "--fee-ppm", "1000")
    assert code == 0, first
    assert first["ok"] is True and first["applied"] is True
    assert first["candidates"] >= first["liquidated"] > 0
    assert first["deleveraged"] > 0
    assert {chain["result"] for chain in first["chains"]} == {"ok"}
    assert {chain["market"] for chain in first["chains"]} <= {
        "btc-usdc-perp", "eth-usdc-perp", "btc-usd-perp"}
    assert first["unresolved"] == {}
    code, second = invoke(tmp_path, "liquidation", "run", *crash)
    assert code == 0
    assert second["liquidated"] == 0 and second["transfers"] == 0
    code, after = invoke(tmp_path, "liquidation", "funds")
    assert code == 0
    assert after["funds"]["eth-usdc-perp"] != before["funds"]["eth-usdc-perp"]
    assert [row["market"] for row in after["history"] if row["round"] == first["round"]]
    assert all(not value.startswith("-") for value in after["funds"].values())


def test_bad_prices_and_takers_are_refused_with_their_codes(tmp_path: Path) -> None:
    code, _ = invoke(tmp_path, "risk", "venue", "--buckets", "6", "--seed", "2")
    assert code == 0
    code, document = invoke(tmp_path, "liquidation", "run", "--price", "btc-usdc-perp=4.05")
    assert code == 2
    assert document["error"] == "price_finer_than_tick"
    code, document = invoke(tmp_path, "liquidation", "run", "--price", "nothing=1")
    assert code == 2
    assert document["error"] == "instrument_not_found"
    code, document = invoke(tmp_path, "liquidation", "run", "--taker", "btc-usdc-perp")
    assert code == 2
    assert document["error"] == "line_malformed"


def test_the_benchmark_detects_plans_and_posts_every_liquidation() -> None:
    result = runner.invoke(app, ["bench", "liquidation", "--quick", "--json"])
    assert result.exit_code == 0, result.output
    document = json.loads(result.stdout)
    assert document["bench"] == "liquidation"
    cases = {row["case"]: row for row in document["results"]}
    assert cases["scan_detect_3001"]["candidates"] == 2_000
    plan = cases["plan_2000"]
    assert plan["liquidated"] == 2_000
    assert 0 < plan["partial"] < 2_000
    assert plan["deleveraged"] > 0
    assert cases["plan_2000_exact"]["liquidated"] == 2_000
    (post,) = [row for case, row in cases.items() if case.startswith("post_")]
    assert post["ops_per_s"] > 0 and len(post["runs_ms"]) == 1
