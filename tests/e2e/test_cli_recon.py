"""``ringfence reconcile``, ``statement`` and ``breaks`` end to end: the Typer application in
process (a first ``reconcile`` and a CSV statement through the installed console script)
against a SQLite file that a test built with the library (custodian, registry wallets, a day of
transfers), with saved observations and settings files.

The story: alice deposits 100 and pays a fee of 1 into pool ``main``; the chain shows 99 in
``main-hot`` (a network fee of 1 the book lacks). The first run opens a break and a below-target
alert; the house books the fee and tops the pool up; the break is explained, corrected (still
open: not made good), made good and, with the chain back at 100, cured.
"""

from __future__ import annotations

import csv
import io
import json
from pathlib import Path
from typing import Any

import pytest
from tests.support import MAIN, btc_address, build_custodian, key_file_signer
from tests.support_cli import Run, run, run_installed

from ringfence.adapters.clock import SystemClock
from ringfence.adapters.storage.sqlite import SqliteStore
from ringfence.core import errors
from ringfence.core.custody.registry import Chain, Scheme, Wallet
from ringfence.core.errors import Result
from ringfence.core.ledger.model import Transfer, TransferCode
from ringfence.service.custody import CustodyService
from ringfence.service.ledger import LedgerService

WALLETS = [
    Wallet("main-hot", Chain.bitcoin, Scheme.address, (btc_address("mainhot"),), MAIN, "hot"),
    Wallet("house-hot", Chain.bitcoin, Scheme.address, (btc_address("househot"),), "", "hot"),
]


def observations(path: Path, main: int, house: int) -> Path:
    lines = [
        {"chain": "bitcoin", "address": address, "asset": "BTC", "amount": str(amount),
         "height": 870_000, "time_ns": 0, "source": "snapshot-1"}
        for address, amount in ((btc_address("mainhot"), main), (btc_address("househot"), house))
    ]  # fmt: skip
    path.write_text("".join(json.dumps(line) + "\n" for line in lines), encoding="utf-8")
    return path


def ok(result: Run, status: int = 0) -> Any:
    assert result.status == status, result.stderr or result.stdout
    return result.document


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    folder = tmp_path_factory.mktemp("recon")
    db = folder / "ringfence.db"
    ledger = LedgerService(SqliteStore(str(db)), SystemClock(), key_file_signer(db))
    custodian = build_custodian(ledger)
    assert CustodyService(ledger).change(WALLETS) == [Result.ok, Result.ok]
    events = [
        custodian.house_funding(1, 1_000),
        custodian.deposit(2, "alice", 100),
        custodian.fee(3, "alice", 1),
    ]
    assert ledger.submit(events) == [Result.ok] * 3
    ledger.close()
    settings = folder / "settings.json"
    target = {"pool": MAIN, "asset": "BTC", "target": "0.00000005"}
    settings.write_text(json.dumps({"targets": [target]}), encoding="utf-8")
    return {"db": db, "folder": folder, "settings": settings, "custodian": custodian}


def test_the_break_lifecycle_through_the_cli(world: dict[str, Any]) -> None:
    db, folder = world["db"], world["folder"]
    short = observations(folder / "day1.jsonl", 99, 1_000)
    html = folder / "recon.html"
    settings = str(world["settings"])
    first = ok(
        run_installed(db, "reconcile", "--observations", str(short), "--settings", settings,
                      "--json", "--html", str(html))
    )  # fmt: skip
    (main,) = [x for x in first["segregated"] if (x["pool"], x["asset"]) == (MAIN, "BTC")]
    assert (main["requirement_units"], main["funds_units"], main["excess_units"]) == (
        "99",
        "99",
        "0",
    )
    assert main["alert"] == "below_target"
    (broken,) = first["breaks_open"]
    assert (broken["wallet"], broken["difference_units"], broken["state"]) == (
        "main-hot",
        "-1",
        "open",
    )
    assert "<svg" in html.read_text(encoding="utf-8")

    listed = ok(run(db, "breaks", "list", "--json"))
    assert [b["id"] for b in listed["breaks"]] == [broken["id"]]
    ledger_breaks = ok(run(db, "breaks", "--json"))
    assert ledger_breaks == {"ok": True, "breaks": []}

    explained = ok(run(db, "breaks", "explain", str(broken["id"]), "--cause",
                       "network_fee_not_booked", "--action", "book the fee", "--json"))  # fmt: skip
    assert explained["break"]["state"] == "explained"

    fix_up(world)
    back = observations(folder / "day2.jsonl", 100, 999)  # the top-up went out on chain too
    ok(run(db, "reconcile", "--observations", str(back), "--json"))
    corrected = run(
        db, "breaks", "cure", str(broken["id"]), "--correction", "transfer 11", "--json"
    )
    assert ok(corrected, errors.exit_status_rejected)["result"] == "break_not_made_good"
    cured = ok(run(db, "breaks", "cure", str(broken["id"]), "--make-good", "12", "--json"))
    assert (cured["result"], cured["break"]["state"]) == ("ok", "cured")
    last = ok(run(db, "reconcile", "--observations", str(back), "--json"))
    assert last["breaks_open"] == []
    everything = ok(run(db, "breaks", "list", "--all", "--json"))
    assert [b["state"] for b in everything["breaks"]] == ["cured"]
    audit = ok(run(db, "audit", "verify", "--json"))
    assert audit["ok"] is True


def fix_up(world: dict[str, Any]) -> None:
    """The house books the network fee (transfer 11) and tops the pool up (transfer 12)."""
    custodian = world["custodian"]
    ledger = LedgerService(
        SqliteStore(str(world["db"])), SystemClock(), key_file_signer(world["db"])
    )
    fee = Transfer(11, custodian.house("network_fees"), custodian.wallet(MAIN), 1,
                   TransferCode.network_fee)  # fmt: skip
    assert ledger.submit([fee, custodian.top_up(12, 1)]) == [Result.ok, Result.ok]
    ledger.close()


def test_statement_segregation_as_json_and_csv(world: dict[str, Any]) -> None:
    document = ok(run(world["db"], "statement", "segregation", "--json"))
    assert document["funds_basis"] == "book"
    assert {line["pool"] for line in document["title_transfer"]} <= {"earn"}
    table = run_installed(world["db"], "statement", "segregation", "--csv")
    assert table.status == 0, table.stderr
    rows = list(csv.DictReader(io.StringIO(table.stdout)))
    assert any(row["pool"] == MAIN and row["asset"] == "BTC" for row in rows)
    both = run(world["db"], "statement", "segregation", "--csv", "--json")
    assert both.status == errors.exit_status_input


def test_client_statement_in_every_format(world: dict[str, Any]) -> None:
    db, folder = world["db"], world["folder"]
    prices = folder / "prices.json"
    prices.write_text(json.dumps({"prices": [{"asset": "BTC", "quote": "USD", "price": "65000.5",
                                               "source": "close"}]}), encoding="utf-8")  # fmt: skip
    period = ("--from", "2020-01-01", "--to", "2029-12-31")
    document = ok(
        run(db, "statement", "client", "alice", *period, "--prices", str(prices), "--json")
    )
    (btc,) = document["assets"]
    assert (btc["opening_units"], btc["closing_units"], btc["reconciles"]) == ("0", "99", True)
    assert [m["code"] for m in btc["movements"]] == ["deposit", "fee"]
    assert btc["value"]["amount"] == "0.0"  # 99 sats at 65,000.5 USD is 0.06 USD, rounded down
    assert btc["held"][0]["pool_kind"] == "omnibus"
    table = run(db, "statement", "client", "alice", *period, "--csv")
    rows = list(csv.DictReader(io.StringIO(table.stdout)))
    assert [row["row"] for row in rows] == ["opening", "movement", "movement", "closing"]
    page = run(db, "statement", "client", "alice", *period, "--html")
    assert page.status == 0 and "Statement of position" in page.stdout
    unknown = run(db, "statement", "client", "nobody", *period, "--json")
    assert ok(unknown, errors.exit_status_input)["error"] == "client_not_found"
    bad = run(db, "statement", "client", "alice", "--from", "yesterday", "--to", "2029-12-31")
    assert bad.status == errors.exit_status_input
    too_long = run(db, "statement", "client", "alice", "--from", "2000-01-01", "--to", "2100-01-01",
                   "--json")  # fmt: skip
    assert ok(too_long, errors.exit_status_input)["error"] == "statement_period_invalid"


def test_register_of_positions(world: dict[str, Any]) -> None:
    document = ok(run(world["db"], "statement", "register", "--json"))
    alice = [row for row in document["register"] if row["client"] == "alice"]
    assert [row["balance"] for row in alice][:2] == ["0.00000100", "0.00000099"]
