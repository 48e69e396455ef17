"""``ringfence insolvency simulate`` and ``ringfence resolution-pack`` end to end, on a SQLite
ledger holding the failing firm of tests/support_insolvency.py."""

from __future__ import annotations

import csv
import hashlib
import io
import json
import zipfile
from pathlib import Path
from typing import Any

import pytest
from bip_utils import Bip84, Bip84Coins
from tests.support import key_file_signer
from tests.support_insolvency import SCENARIO, build_failing_firm
from typer.testing import CliRunner

from ringfence.adapters.clock import ManualClock
from ringfence.adapters.files.resolution_pack import ZipResolutionPackFiles
from ringfence.adapters.storage.sqlite import SqliteStore
from ringfence.core.custody.registry import Chain, Scheme, Wallet
from ringfence.entrypoints.cli.app import app
from ringfence.service.custody import CustodyService
from ringfence.service.ledger import LedgerService
from ringfence.service.resolution_pack_reading import rebuild_positions, verify_pack

runner = CliRunner()


@pytest.fixture
def database(tmp_path: Path) -> Path:
    path = tmp_path / "firm.db"
    clock = ManualClock()
    service = LedgerService(SqliteStore(str(path)), clock, key_file_signer(path))
    build_failing_firm(service, clock.advance)
    custody = CustodyService(service)
    seed = bytes([5]) * 64
    account = Bip84.FromSeed(seed, Bip84Coins.BITCOIN).Purpose().Coin().Account(0)
    zpub = str(account.PublicKey().ToExtended())
    cold = Wallet("main-vault", Chain.bitcoin, Scheme.bip84, (zpub,), "main", "cold")
    assert [r.value for r in custody.change([cold])] == ["ok"]
    service.close()
    return path


def invoke(database: Path, *args: str) -> tuple[int, dict[str, Any]]:
    result = runner.invoke(app, ["--db", f"sqlite:///{database}", *args, "--json"])
    return result.exit_code, json.loads(result.stdout) if result.stdout.strip() else {}


def scenario_file(tmp_path: Path, document: object) -> str:
    path = tmp_path / "scenario.json"
    path.write_text(json.dumps(document))
    return str(path)


def test_simulate_prints_both_structures_side_by_side(database: Path, tmp_path: Path) -> None:
    code, document = invoke(
        database, "insolvency", "simulate", "--scenario", scenario_file(tmp_path, SCENARIO)
    )
    assert code == 0, document
    assert document["segregated"]["estate"]["dividend_rate"] == "0.6376"
    assert document["commingled"]["estate"]["dividend_rate"] == "0.9523"
    dave = next(row for row in document["clients"] if row["client"] == "dave")
    assert (dave["segregated"]["recovery_rate"], dave["commingled"]["recovery_rate"]) == (
        "1.0000",
        "0.9523",
    )
    assert sum(document["segregated"]["rate_distribution"]) == 5


def test_simulate_in_client_ranges_prints_the_same_document(
    database: Path, tmp_path: Path
) -> None:
    path = scenario_file(tmp_path, SCENARIO)
    code, whole = invoke(database, "insolvency", "simulate", "--scenario", path)
    assert code == 0, whole
    code, ranged = invoke(database, "insolvency", "simulate", "--scenario", path,
                          "--executor", "in-process")
    assert code == 0, ranged
    assert ranged == whole
    code, refused = invoke(database, "insolvency", "simulate", "--scenario", path,
                           "--executor", "spark://master:7077")
    assert code == 2
    assert refused["error"] == "executor_invalid"


def test_simulate_pays_cash_at_the_petition_date_price(database: Path, tmp_path: Path) -> None:
    cash = {**SCENARIO, "payout": "cash", "prices": {"BTC": "16871.00", "ETH": "1000.00"}}
    code, document = invoke(
        database, "insolvency", "simulate", "--scenario", scenario_file(tmp_path, cash)
    )
    assert code == 0, document
    dave = next(row for row in document["clients"] if row["client"] == "dave")
    assert dave["claims_value"] == "33742.00"  # 2 BTC at $16,871.00
    erin = next(row for row in document["clients"] if row["client"] == "erin")
    # erin: 0.91 BTC unsecured at $16,871 = $15,352.61 claimed, times 8.8 / 13.8, rounded down.
    assert erin["segregated"]["dividend_cash"] == "9790.07"


def test_a_bad_scenario_is_an_input_error_naming_the_reason(database: Path, tmp_path: Path) -> None:
    bad = {**SCENARIO, "hacks": [{"wallet": "main-hot", "asset": "BTC", "amount": 10.0}]}
    code, document = invoke(
        database, "insolvency", "simulate", "--scenario", scenario_file(tmp_path, bad)
    )
    assert code == 2
    assert document["error"] == "amount_must_not_be_float"
    (tmp_path / "broken.json").write_text("{")
    code, document = invoke(
        database, "insolvency", "simulate", "--scenario", str(tmp_path / "broken.json")
    )
    assert (code, document["error"]) == (2, "scenario_invalid")


def test_the_resolution_pack_verifies_and_rebuilds_every_position(
    database: Path, tmp_path: Path
) -> None:
    out = tmp_path / "pack.zip"
    code, index = invoke(
        database,
        "resolution-pack",
        "--out",
        str(out),
        "--scenario",
        scenario_file(tmp_path, SCENARIO),
    )
    assert code == 0, index
    assert verify_pack(ZipResolutionPackFiles(), str(out)) == []
    with zipfile.ZipFile(out) as archive:
        stored = json.loads(archive.read("index.json"))
        for entry in stored["files"]:
            assert hashlib.sha256(archive.read(entry["file"])).hexdigest() == entry["sha256"]
        names = {entry["file"] for entry in stored["files"]}
        assert {
            "INDEX.txt",
            "wallets.json",
            "pools.json",
            "positions.csv",
            "transfers.csv",
            "breaks.json",
            "audit.json",
            "insolvency.json",
            "regulatory/in_kind_returns.json",
            "regulatory/in_kind_returns.csv",
            "reconciliation/statement.json",
            "reconciliation/runs.json",
        } <= names
        assert json.loads(archive.read("audit.json"))["ok"] is True
        wallets = json.loads(archive.read("wallets.json"))["wallets"]
        assert wallets[0]["signing"].startswith("single-signature P2WPKH")
        assert (wallets[0]["pool"], wallets[0]["tier"]) == ("main", "cold")
        assert stored["journal"]["head_hash"] in archive.read("INDEX.txt").decode()
        positions = list(csv.DictReader(io.TextIOWrapper(archive.open("positions.csv"))))
    rebuilt = rebuild_positions(ZipResolutionPackFiles(), str(out))
    listed = {(r["client"], r["pool"], r["asset"], r["kind"]): r["balance"] for r in positions}
    assert len(rebuilt) == len(listed) > 0
    scales = {"BTC": 8, "ETH": 18}
    for key, units in rebuilt.items():
        whole, fraction = listed[key].split(".")
        assert int(whole) * 10 ** scales[key[2]] + int(fraction) == units, key
    assert rebuilt[("erin", "earn", "BTC", "available")] == 90_000_000  # pending 0.5 not posted


def test_a_tampered_pack_fails_verification(database: Path, tmp_path: Path) -> None:
    out = tmp_path / "pack.zip"
    code, _ = invoke(database, "resolution-pack", "--out", str(out))
    assert code == 0
    edited = tmp_path / "edited.zip"
    with zipfile.ZipFile(out) as source, zipfile.ZipFile(edited, "w") as target:
        for item in source.infolist():
            data = source.read(item.filename)
            if item.filename == "positions.csv":
                data = data.replace(b"59.90000000", b"69.90000000")
            target.writestr(item, data)
    assert verify_pack(ZipResolutionPackFiles(), str(edited)) == ["hash differs: positions.csv"]


def test_the_in_kind_schedule_on_the_command_line(database: Path, tmp_path: Path) -> None:
    code, document = invoke(
        database, "regulatory", "in-kind", "--scenario", scenario_file(tmp_path, SCENARIO)
    )
    assert code == 0, document
    alice = next(r for r in document["returns"] if (r["client"], r["pool"]) == ("alice", "main"))
    assert alice["returned_in_kind"] == "53.91000000"


def test_the_pack_refuses_insurance_policies_without_prices(
    database: Path, tmp_path: Path
) -> None:
    out = tmp_path / "pack.zip"
    policies = tmp_path / "policies.json"
    policies.write_text('{"version": 1, "quote": "USD", "quote_scale": 2, "policies": []}')
    code, document = invoke(
        database, "resolution-pack", "--out", str(out), "--policies", str(policies)
    )
    assert (code, document["error"]) == (2, "field_required")
    assert not out.exists()


def test_the_benchmark_runs_in_quick_mode() -> None:
    result = runner.invoke(app, ["bench", "insolvency", "--quick", "--json"])
    assert result.exit_code == 0, result.stdout
    document = json.loads(result.stdout)
    assert document["bench"] == "insolvency"
    cases = {r["case"]: r for r in document["results"]}
    assert set(cases) == {"simulate_10000", "simulate_ranges_10000", "pack_10000"}
    assert cases["simulate_10000"]["positions"] == 16_000
    assert all(r["ops_per_s"] > 0 for r in cases.values())
