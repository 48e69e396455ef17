"""``ringfence regulatory ...`` end to end: the Typer application in process (one table through
the installed console script) against a SQLite file that a test built with the library, with
register, policy, haircut, price and margin files.

The firm: pool ``main`` owes alice 600 and bob 400 sats, held 600 in ``main-hot`` (the firm's
keys) and 400 in ``main-cold``, which sub-custodian ``anchor`` (approved, current SOC 2) holds;
pool ``margin`` owes alice 100, held in ``margin-hot``, which ``newco`` (pending approval)
holds. The house holds 1,000 in ``house-hot``. BTC is at 50,000 USD, so a sat is 0.05 cents
(values of a few sats are in whole cents, rounded as each report says).
"""

from __future__ import annotations

import json
import shutil
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from tests.support import MAIN, MARGIN, btc_address, build_custodian, key_file_signer
from tests.support_cli import Run, run, run_installed

from ringfence import bootstrap
from ringfence.adapters.clock import SystemClock
from ringfence.adapters.storage.sqlite import SqliteStore
from ringfence.core import errors
from ringfence.core.custody.registry import Chain, Scheme, Wallet
from ringfence.core.errors import Result
from ringfence.core.ledger.model import Transfer, TransferCode
from ringfence.service.custody import CustodyService
from ringfence.service.ledger import LedgerService

WALLETS = [
    Wallet(name, Chain.bitcoin, Scheme.address, (btc_address(name.replace("-", "")),), pool, tier)
    for name, pool, tier in (
        ("main-hot", MAIN, "hot"),
        ("main-cold", MAIN, "cold"),
        ("margin-hot", MARGIN, "hot"),
        ("house-hot", "", "hot"),
    )
]


def ok(result: Run, status: int = 0) -> Any:
    assert result.status == status, result.stderr or result.stdout
    return result.document


def day(offset_days: int) -> str:
    return (datetime.now(UTC) + timedelta(days=offset_days)).date().isoformat()


def write(path: Path, document: dict[str, Any]) -> str:
    path.write_text(json.dumps({"version": 1, **document}), encoding="utf-8")
    return str(path)


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    folder = tmp_path_factory.mktemp("regulatory")
    db = folder / "ringfence.db"
    ledger = LedgerService(SqliteStore(str(db)), SystemClock(), key_file_signer(db))
    custodian = build_custodian(ledger)
    assert set(CustodyService(ledger).change(WALLETS)) == {Result.ok}
    cold = Transfer(
        3, custodian.wallet(MAIN, which=1), custodian.client("bob"), 400, TransferCode.deposit
    )
    events = [
        custodian.house_funding(1, 1_000),
        custodian.deposit(2, "alice", 600),
        cold,
        custodian.deposit(4, "alice", 100, pool=MARGIN),
    ]
    assert ledger.submit(events) == [Result.ok] * 4
    ledger.close()
    soc = {"kind": "soc2_type2", "period_end": day(-60), "received_on": day(-30)}
    files = {
        "register": write(
            folder / "register.json",
            {
                "sub_custodians": [
                    {
                        "name": "anchor",
                        "status": "approved",
                        "approved_on": day(-200),
                        "due_diligence": [soc],
                        "wallets": ["main-cold"],
                    },
                    {"name": "newco", "status": "pending", "wallets": ["margin-hot"]},
                ]
            },
        ),
        "prices": str(folder / "prices.json"),
        "haircuts": write(
            folder / "haircuts.json",
            {
                "quote": "USD",
                "quote_scale": 2,
                "haircuts": [{"asset": "BTC", "haircut_bps": 2_000}],
            },
        ),
        "policies": write(
            folder / "policies.json",
            {
                "quote": "USD",
                "quote_scale": 2,
                "policies": [
                    {
                        "id": "crime",
                        "insurer": "syndicate",
                        "limit": "0.20",
                        "deductible": "0.05",
                        "tiers": ["hot"],
                        "start": day(-10),
                        "end": day(300),
                    }
                ],
            },
        ),
        "requirements": write(
            folder / "requirements.json",
            {
                "deadline": day(-1) + "T23:00:00Z",
                "requirements": [
                    {"pool": MARGIN, "asset": "BTC", "client": "alice", "required": "0.0000015"}
                ],
            },
        ),
    }
    price = {"asset": "BTC", "quote": "USD", "price": "50000", "source": "close", "time_ns": 0}
    Path(files["prices"]).write_text(json.dumps({"prices": [price]}), encoding="utf-8")
    return {"db": db, "folder": folder, "custodian": custodian, **files}


def test_possession_and_control(world: dict[str, Any]) -> None:
    document = ok(
        run(world["db"], "regulatory", "possession", "--register", world["register"], "--json")
    )
    assert document["basis"] == "book"
    assert len(document["register"]["sha256"]) == 64
    assert document["register_source"] == "file"
    main, margin = document["pools"]
    assert (main["pool"], main["entitlement_units"], main["controlled_units"]) == (
        MAIN,
        "1000",
        "600",
    )
    assert (main["approved_sub_custodians_units"], main["shortfall_units"]) == ("400", "0")
    assert (margin["unapproved_sub_custodians_units"], margin["shortfall_units"]) == ("100", "100")
    (broken,) = document["breaks"]
    assert broken["cure"] == {
        "code": "house_top_up",
        "pool": MARGIN,
        "asset": "BTC",
        "amount": "0.00000100",
        "amount_units": "100",
    }
    assert document["alerts"] == ["possession_shortfall"]
    (total,) = document["assets"]
    assert (total["pool"], total["entitlement_units"], total["shortfall_units"]) == (
        "*",
        "1100",
        "100",
    )
    table = run_installed(world["db"], "regulatory", "possession", "--register", world["register"])
    assert table.status == 0, table.stderr
    assert "house_top_up" in table.stdout


def test_sub_custodian_register_and_its_findings(world: dict[str, Any]) -> None:
    document = ok(
        run(world["db"], "regulatory", "sub-custodians", "--register", world["register"], "--json")
    )
    anchor, newco = document["sub_custodians"]
    assert (anchor["approved_at_as_of"], anchor["wallets"]) == (True, ["main-cold"])
    assert anchor["holdings"][0]["amount_units"] == "400"
    assert newco["status"] == "pending"
    (finding,) = document["findings"]
    assert (finding["kind"], finding["sub_custodian"], finding["amount_units"]) == (
        "assets_at_unapproved_sub_custodian",
        "newco",
        "100",
    )


def test_weekly_collateral_report(world: dict[str, Any]) -> None:
    document = ok(
        run(
            world["db"],
            "regulatory",
            "collateral",
            "--haircuts",
            world["haircuts"],
            "--prices",
            world["prices"],
            "--register",
            world["register"],
            "--json",
        )
    )
    summary = [
        (
            x["pool"],
            x["location"],
            x["quantity_units"],
            x["value_units"],
            x["value_after_haircut_units"],
        )
        for x in document["lines"]
    ]
    # 600 sats = 30 cents; 400 = 20 (16 after 20%); 100 = 5 (4); house wallets left out.
    assert summary == [
        (MAIN, "sub-custodian:anchor", "400", "20", "16"),
        (MAIN, "wallets:hot", "600", "30", "24"),
        (MARGIN, "sub-custodian:newco", "100", "5", "4"),
    ]
    assert {x["segregated"] for x in document["lines"]} == {True}
    assert document["lines"][0]["price_source"] == "close"
    (total,) = document["assets"]
    assert total["segregated_value_after_haircut"] == "0.44"


def test_insurance_cover_and_the_hot_alert(world: dict[str, Any]) -> None:
    document = ok(
        run(
            world["db"],
            "regulatory",
            "insurance",
            "--policies",
            world["policies"],
            "--prices",
            world["prices"],
            "--json",
        )
    )
    # Hot: 600 + 100 + 1,000 (house) sats = 85 cents; the crime policy bears 5, covers 20.
    hot, cold = document["lines"]
    assert (hot["tier"], hot["value_units"], hot["covered_units"], hot["uncovered_units"]) == (
        "hot",
        "85",
        "20",
        "65",
    )
    assert (cold["tier"], cold["uncovered_units"]) == ("cold", "20")
    (policy,) = document["policies"]
    assert (policy["deductible_borne"], policy["covered"], policy["limit_remaining"]) == (
        "0.05",
        "0.20",
        "0.00",
    )
    assert (document["hot_uncovered"], document["alerts"]) == (
        "0.65",
        ["hot_holdings_exceed_cover"],
    )


def test_residual_interest_deadline_breach_then_met(world: dict[str, Any], tmp_path: Path) -> None:
    """On a copy of the database: the top-up here must not move the other tests' figures."""
    db, requirements = tmp_path / "copy.db", world["requirements"]
    shutil.copyfile(world["db"], db)
    key = bootstrap.journal_key_suffix
    shutil.copyfile(f"{world['db']}{key}", f"{db}{key}")
    document = ok(
        run(db, "regulatory", "residual-deadline", "--requirements", requirements, "--json")
    )
    margin = next(x for x in document["lines"] if x["pool"] == MARGIN)
    assert (margin["residual_interest_units"], margin["undermargined_units"]) == ("0", "50")
    assert (margin["deadline_status"], margin["cover_shortfall_units"]) == ("breach", "50")
    assert document["alerts"] == ["residual_interest_deadline_breach"]
    assert document["journal_seq"] is None
    # Recorded, the check is journaled and its breach is an event; the journal still audits.
    recorded = ok(run(db, "regulatory", "residual-deadline", "--requirements", requirements,
                      "--record", "--json"))  # fmt: skip
    assert recorded["journal_seq"] is not None
    listed = ok(run(db, "events", "list", "--types", "regulatory.breach", "--json"))
    [breach] = [e for e in listed["items"] if e["data"]["kind"] == "residual_interest_deadline"]
    assert (breach["seq"], breach["data"]["pool"]) == (recorded["journal_seq"], MARGIN)
    assert breach["data"]["cover_shortfall"] == margin["cover_shortfall"]
    # So is a version of the register, as evidence.
    register = ok(run(db, "regulatory", "sub-custodians", "--register", world["register"],
                      "--record", "--json"))  # fmt: skip
    listed = ok(run(db, "events", "list", "--types", "sub_custodian_register.recorded", "--json"))
    [recorded] = listed["items"]
    assert recorded["seq"] == register["journal_seq"]
    assert recorded["data"]["sha256"] == register["register"]["sha256"]
    # Recorded, it is the register in force: possession reads it with no file named.
    possession = ok(run(db, "regulatory", "possession", "--json"))
    assert possession["register_source"] == f"journal seq {register['journal_seq']}"
    assert possession["register"] == register["register"]
    # A file edited since (one byte more) is not the version in force: a finding, not used.
    edited = tmp_path / "edited-register.json"
    edited.write_text(Path(world["register"]).read_text(encoding="utf-8") + "\n", encoding="utf-8")
    collateral = ok(run(db, "regulatory", "collateral", "--haircuts", world["haircuts"],
                        "--prices", world["prices"], "--register", edited, "--json"))  # fmt: skip
    assert collateral["register"] == register["register"]
    assert collateral["register_source"] == f"journal seq {register['journal_seq']}"
    assert collateral["alerts"] == ["sub_custodian_register_not_journaled"]
    # A recorded possession check carries its breaks, with their first-seen time, to the next.
    first = ok(run(db, "regulatory", "possession", "--record", "--json"))
    second = ok(run(db, "regulatory", "possession", "--record", "--json"))
    assert first["journal_seq"] is not None and second["breaks"]
    assert [(b["id"], b["first_seen"]) for b in second["breaks"]] == [
        (b["id"], b["first_seen"]) for b in first["breaks"]
    ]
    assert ok(run(db, "audit", "verify", "--json"))["ok"]
    main = next(x for x in document["lines"] if x["pool"] == MAIN)
    assert (main["deadline_status"], main["undermargined_units"]) == ("met", "0")
    ledger = LedgerService(SqliteStore(str(db)), SystemClock(), key_file_signer(db))
    assert ledger.submit([world["custodian"].top_up(5, 50, pool=MARGIN)]) == [Result.ok]
    ledger.close()
    after = ok(run(db, "regulatory", "residual-deadline", "--requirements", requirements, "--json"))
    margin = next(x for x in after["lines"] if x["pool"] == MARGIN)
    assert (margin["residual_interest_units"], margin["deadline_status"]) == ("50", "met")
    assert after["alerts"] == []


@pytest.mark.parametrize(
    ("arguments", "code"),
    [
        (("possession", "--register", "{missing}"), "file_not_found"),
        (("possession", "--as-of", "yesterday"), "timestamp_invalid"),
        (("insurance", "--policies", "{bad_policy}", "--prices", "{prices}"), "wallet_not_found"),
        (
            ("collateral", "--haircuts", "{empty_haircuts}", "--prices", "{prices}"),
            "haircut_missing",
        ),
        (("sub-custodians", "--register", "{version_two}"), "regulatory_file_version_unsupported"),
    ],
)
def test_bad_input_is_named_and_changes_nothing(
    world: dict[str, Any], arguments: tuple[str, ...], code: str
) -> None:
    folder = world["folder"]
    names = {
        "missing": str(folder / "absent.json"),
        "prices": world["prices"],
        "bad_policy": write(
            folder / "bad-policy.json",
            {
                "quote": "USD",
                "quote_scale": 2,
                "policies": [
                    {
                        "id": "p",
                        "insurer": "i",
                        "limit": "1",
                        "deductible": "0",
                        "wallets": ["nowhere"],
                        "start": "2026-01-01",
                        "end": "2027-01-01",
                    }
                ],
            },
        ),
        "empty_haircuts": write(
            folder / "no-haircuts.json", {"quote": "USD", "quote_scale": 2, "haircuts": []}
        ),
        "version_two": str(folder / "v2.json"),
    }
    Path(names["version_two"]).write_text('{"version": 2, "sub_custodians": []}')
    before = Path(world["db"]).read_bytes()
    filled = [argument.format(**names) for argument in arguments]
    failed = run(world["db"], "regulatory", *filled, "--json")
    assert failed.status == errors.exit_status_input, failed.stdout
    assert failed.document == {"ok": False, "error": code, "detail": failed.document["detail"]}
    assert Path(world["db"]).read_bytes() == before


def test_possession_from_observed_holdings(world: dict[str, Any]) -> None:
    """The chain shows 550 in main-hot, not the book's 600: main is 50 short, a deficit."""
    path = world["folder"] / "observed.jsonl"
    held = {"main-hot": 550, "main-cold": 400, "margin-hot": 100, "house-hot": 1_000}
    rows = [
        {
            "chain": "bitcoin",
            "address": btc_address(name.replace("-", "")),
            "asset": "BTC",
            "amount": str(amount),
            "height": 870_000,
            "time_ns": 0,
            "source": "snapshot-1",
        }
        for name, amount in held.items()
    ]
    path.write_text("".join(json.dumps(row) + "\n" for row in rows), encoding="utf-8")
    document = ok(
        run(
            world["db"],
            "regulatory",
            "possession",
            "--observations",
            str(path),
            "--register",
            world["register"],
            "--json",
        )
    )
    assert document["basis"] == "observed"
    main = document["pools"][0]
    assert (main["controlled_units"], main["deficit_units"], main["shortfall_units"]) == (
        "550",
        "50",
        "50",
    )
    assert [b["cure"]["amount_units"] for b in document["breaks"]] == ["50", "100"]


@pytest.mark.parametrize(
    ("arguments", "shown"),
    [
        (("sub-custodians", "--register", "{register}"), "assets_at_unapproved_sub_custodian"),
        (("collateral", "--haircuts", "{haircuts}", "--prices", "{prices}"), "wallets:hot"),
        (
            ("insurance", "--policies", "{policies}", "--prices", "{prices}"),
            "hot_holdings_exceed_cover",
        ),
        (("residual-deadline", "--requirements", "{requirements}"), "breach"),
    ],
)
def test_tables_without_json(world: dict[str, Any], arguments: tuple[str, ...], shown: str) -> None:
    filled = [argument.format(**world) for argument in arguments]
    table = run(world["db"], "regulatory", *filled)
    assert table.status == 0, table.stderr
    assert shown in table.stdout
