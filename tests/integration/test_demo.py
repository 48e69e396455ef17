"""The demo runs a custodian's day that keeps every guarantee, on the memory and SQLite stores.

Method: run ``run_demo`` with a few hundred clients against a ledger service over each store,
then check the report document against itself and against the ledger: every custody pool is
covered except the one holding the break, which is short by no more than the break outstanding;
totals are the sums of the pools; the refused events carry their codes; the document survives
JSON; and a SQLite ledger reopened from disk shows the very same positions.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from tests.support import journal_signer

from ringfence.adapters.clock import ManualClock
from ringfence.adapters.files.uploaded import UploadedFiles
from ringfence.adapters.storage.memory import MemoryStore
from ringfence.adapters.storage.sqlite import SqliteStore
from ringfence.core import limits
from ringfence.core.errors import InputError, Result
from ringfence.core.money import Asset, parse_amount
from ringfence.demo.day import clients_min, run_demo
from ringfence.demo.segregation_report import build_report
from ringfence.demo.world import asset_plans
from ringfence.service.ledger import LedgerService

clients = 300
ASSETS = {plan.asset.code: plan.asset for plan in asset_plans}
required_refusals = {
    "client_to_house_forbidden",
    "exceeds_available_balance",
    "pool_coverage_would_break",
    "exists_with_different_amount",
}


class FixedClock:
    """A clock with no ``advance``: time never passes by hand, as with the system clock."""

    def now_ns(self) -> int:
        return 1_800_000_000 * 10**9


@pytest.fixture(scope="module")
def memory_run() -> tuple[LedgerService, dict[str, Any]]:
    ledger = LedgerService(MemoryStore(), ManualClock(), journal_signer())
    return ledger, run_demo(ledger, clients=clients, seed=7, documents=UploadedFiles)


@pytest.fixture(scope="module")
def document(memory_run: tuple[LedgerService, dict[str, Any]]) -> dict[str, Any]:
    return memory_run[1]


def units(entry: dict[str, Any], name: str) -> int:
    return int(entry[f"{name}_units"])


def custody_pools(document: dict[str, Any]) -> Iterator[dict[str, Any]]:
    return (pool for pool in document["pools"] if pool["segregated"])


def test_every_custody_pool_is_covered_except_the_one_with_the_break(
    document: dict[str, Any],
) -> None:
    [broken] = document["breaks"]
    short = [pool for pool in custody_pools(document) if not pool["covered"]]
    assert [(pool["pool"], pool["asset"]) for pool in short] == [(broken["pool"], broken["asset"])]
    [pool] = short
    assert 0 < units(pool, "shortfall") <= units(pool, "breaks_outstanding")
    assert units(pool, "breaks_outstanding") == units(broken, "outstanding")
    assert units(pool, "holdings") < units(pool, "liabilities")
    for pool in custody_pools(document):
        if pool["covered"]:
            assert units(pool, "shortfall") == 0
            assert units(pool, "holdings") - units(pool, "shortfall_pending") >= units(
                pool, "liabilities"
            )


def test_the_break_is_open_and_half_cured(document: dict[str, Any]) -> None:
    [broken] = document["breaks"]
    assert broken["state"] == "open"
    assert units(broken, "cured") == units(broken, "amount") // 2
    assert units(broken, "outstanding") == units(broken, "amount") - units(broken, "cured")
    assert units(broken, "outstanding") > 0
    # Opened before the clock moved past the pending timeout, cured after.
    assert broken["age_s"] >= 3_600


def test_totals_are_the_sums_of_the_pools(document: dict[str, Any]) -> None:
    for totals in document["totals_by_asset"]:
        pools = [pool for pool in document["pools"] if pool["asset"] == totals["asset"]]
        holdings = sum(units(pool, "holdings") for pool in pools)
        liabilities = sum(units(pool, "liabilities") for pool in pools)
        assert units(totals, "holdings") == holdings
        assert units(totals, "liabilities") == liabilities
        assert units(totals, "residual_interest") == holdings - liabilities
        assert holdings - liabilities == sum(units(pool, "residual_interest") for pool in pools)
        segregated = [pool for pool in pools if pool["segregated"]]
        assert units(totals, "segregated_liabilities") == sum(
            units(pool, "liabilities") for pool in segregated
        )
        assert totals["segregated_pools"] == len(segregated)
        assert totals["client_accounts"] == sum(pool["client_accounts"] for pool in pools)


def test_residual_interest_is_holdings_less_liabilities(document: dict[str, Any]) -> None:
    for pool in document["pools"]:
        residual = units(pool, "holdings") - units(pool, "liabilities")
        assert units(pool, "residual_interest") == residual
        wallets = sum(int(wallet["holdings_units"]) for wallet in pool["wallets"])
        assert wallets == units(pool, "holdings")


def test_decimal_strings_say_exactly_what_the_units_say(document: dict[str, Any]) -> None:
    assets = {
        entry["code"]: Asset(entry["code"], entry["scale"], entry["number"])
        for entry in document["assets"]
    }
    for pool in document["pools"]:
        asset = assets[pool["asset"]]
        for name in ("liabilities", "holdings", "shortfall", "breaks_outstanding"):
            assert parse_amount(pool[name], asset) == units(pool, name)


def test_refused_events_carry_their_codes(document: dict[str, Any]) -> None:
    codes = {refusal["code"] for refusal in document["refusals"]}
    assert required_refusals <= codes
    # The clock moved by hand, so the late post of the expired pending transfer is shown too.
    assert "pending_transfer_expired" in codes
    assert all(refusal["what"] for refusal in document["refusals"])
    assert all(Result(code) not in (Result.ok, Result.exists) for code in codes)


def test_the_day_has_every_kind_of_activity(document: dict[str, Any]) -> None:
    activity = document["activity"]
    for code in (
        "house_funding",
        "deposit",
        "internal_transfer",
        "fee",
        "withdrawal",
        "sweep",
        "wallet_transfer",
        "loan_out",
        "misdirected_deposit",
        "break_cure",
    ):
        assert activity.get(code, 0) > 0, code
    assert activity["misdirected_deposit"] == 1
    two_phase = document["two_phase"]
    assert two_phase["pending"] >= 4
    assert two_phase["voided"] == 1
    assert two_phase["expired"] == 1
    assert two_phase["open"] == 0
    assert two_phase["posted"] == two_phase["pending"] - 2


def test_the_earn_pool_is_shown_but_not_segregated(document: dict[str, Any]) -> None:
    earn = [pool for pool in document["pools"] if pool["pool"] == "earn"]
    assert earn
    assert all(pool["terms"] == "title_transfer" for pool in earn)
    assert not any(pool["segregated"] for pool in earn)
    [earn_btc] = [pool for pool in earn if pool["asset"] == "BTC"]
    # Half its BTC was lent to the house: allowed under title transfer, and visible.
    assert units(earn_btc, "holdings") < units(earn_btc, "liabilities")


def test_pools_of_every_kind_exist(document: dict[str, Any]) -> None:
    kinds = {(pool["kind"], pool["terms"]) for pool in document["pools"]}
    assert ("individual", "custody") in kinds
    assert ("omnibus", "custody") in kinds
    assert ("omnibus", "title_transfer") in kinds
    assert document["clients"] == clients


def test_some_eth_balance_is_beyond_64_bits(
    memory_run: tuple[LedgerService, dict[str, Any]],
) -> None:
    ledger, _ = memory_run
    largest = max(
        balance.balance
        for balance in ledger.balances(asset="ETH")
        if balance.account.account_class.value == "client"
    )
    assert largest > 2**64


def test_the_document_is_json(document: dict[str, Any]) -> None:
    assert json.loads(json.dumps(document, sort_keys=True)) == document
    assert document["journal"]["seq"] > 0
    assert len(bytes.fromhex(document["journal"]["head_hash"])) == 32


def test_the_same_seed_gives_the_same_document(document: dict[str, Any]) -> None:
    again = run_demo(
        LedgerService(MemoryStore(), ManualClock(), journal_signer()),
        clients=clients,
        seed=7,
        documents=UploadedFiles,
    )
    assert again == document


def test_another_seed_gives_another_day(document: dict[str, Any]) -> None:
    other = run_demo(
        LedgerService(MemoryStore(), ManualClock(), journal_signer()), clients=clients, seed=8
    )
    assert other["pools"] != document["pools"]
    assert {refusal["code"] for refusal in other["refusals"]} >= required_refusals


def test_without_a_hand_clock_the_timed_pending_stays_open() -> None:
    document = run_demo(
        LedgerService(MemoryStore(), FixedClock(), journal_signer()), clients=clients_min, seed=3
    )
    assert document["two_phase"]["open"] == 1
    assert document["two_phase"]["expired"] == 0
    assert "pending_transfer_expired" not in {refusal["code"] for refusal in document["refusals"]}
    assert any("cannot be moved by hand" in note for note in document["notes"])
    assert required_refusals <= {refusal["code"] for refusal in document["refusals"]}


def test_the_smallest_demo_still_stages_every_scene() -> None:
    for seed in range(5):
        document = run_demo(
            LedgerService(MemoryStore(), ManualClock(), journal_signer()),
            clients=clients_min,
            seed=seed,
        )
        assert len(document["breaks"]) == 1
        assert required_refusals <= {refusal["code"] for refusal in document["refusals"]}


def test_progress_is_reported_stage_by_stage() -> None:
    calls: list[tuple[str, int, int]] = []
    run_demo(
        LedgerService(MemoryStore(), ManualClock(), journal_signer()),
        clients=clients_min,
        progress=lambda stage, done, total: calls.append((stage, done, total)),
    )
    stages = [stage for stage, _, _ in calls]
    assert stages[0] == "definitions"
    assert calls[-1] == ("report", 1, 1)
    assert {"deposits", "fees", "withdrawals", "sweeps", "refusals"} <= set(stages)
    assert all(0 <= done <= total for _, done, total in calls)


def test_a_ledger_that_is_not_empty_is_refused() -> None:
    ledger = LedgerService(MemoryStore(), ManualClock(), journal_signer())
    ledger.define_assets([Asset("BTC", 8, 1)])
    with pytest.raises(InputError) as raised:
        run_demo(ledger, clients=clients_min)
    assert raised.value.code is Result.definition_exists_with_different_body
    assert ledger.seq == 2  # the journal key's declaration and the asset: nothing more


def positions_of(ledger: LedgerService) -> list[tuple[str, int, int, int, int, int]]:
    return [
        (
            position.pool.name,
            position.asset,
            position.holdings,
            position.liabilities,
            position.shortfall_pending,
            position.breaks_outstanding,
        )
        for position in ledger.positions()
    ]


def test_sqlite_ledger_reopens_with_the_same_positions(tmp_path: Path) -> None:
    path = str(tmp_path / "ringfence.db")
    ledger = LedgerService(SqliteStore(path), ManualClock(), journal_signer())
    document = run_demo(ledger, clients=clients, seed=7)
    positions = positions_of(ledger)
    breaks = [(b.id, b.pool, b.amount, b.cured) for b in ledger.breaks()]
    head = (ledger.seq, ledger.hash)
    ledger.close()

    reopened = LedgerService(SqliteStore(path), ManualClock(), journal_signer())
    try:
        assert positions_of(reopened) == positions
        assert [(b.id, b.pool, b.amount, b.cured) for b in reopened.breaks()] == breaks
        assert (reopened.seq, reopened.hash) == head
        again = build_report(reopened, seed=7, refusals=document["refusals"])
        assert again["pools"] == document["pools"]
        assert again["breaks"][0]["outstanding_units"] == document["breaks"][0]["outstanding_units"]
        assert again["activity"] == document["activity"]
        assert again["two_phase"] == document["two_phase"]
    finally:
        reopened.close()


def test_sqlite_and_memory_agree(tmp_path: Path, document: dict[str, Any]) -> None:
    ledger = LedgerService(
        SqliteStore(str(tmp_path / "ringfence.db")), ManualClock(), journal_signer()
    )
    try:
        assert run_demo(ledger, clients=clients, seed=7, documents=UploadedFiles) == document
    finally:
        ledger.close()


# The smallest demo whose deposits and fees each fill more than one batch: the day's stages
# then go through the multi-batch pipeline on SQLite as at full size. The full 10,000 clients
# run in `make demo`.
clients_past_a_batch = 4_500


@pytest.mark.slow
def test_a_demo_larger_than_a_batch_runs_on_sqlite(tmp_path: Path) -> None:
    ledger = LedgerService(
        SqliteStore(str(tmp_path / "ringfence.db")), ManualClock(), journal_signer()
    )
    events: dict[str, int] = {}

    def progress(stage: str, done: int, total: int) -> None:
        events[stage] = max(events.get(stage, 0), total)

    try:
        document = run_demo(ledger, clients=clients_past_a_batch, seed=7, progress=progress)
    finally:
        ledger.close()
    assert events["deposits"] > limits.batch_events_max
    assert events["fees"] > limits.batch_events_max
    assert document["clients"] == clients_past_a_batch
    assert required_refusals <= {refusal["code"] for refusal in document["refusals"]}


def test_the_venue_crash_liquidates_pays_from_funds_and_deleverages(
    document: dict[str, Any],
) -> None:
    from ringfence.entrypoints.pages.report import render_report

    crash = document["venue"]["liquidation"]
    steps = crash["steps"]
    assert len(steps) == 2
    assert steps[1]["btc_usd"] * 100 <= steps[0]["btc_usd"] * 70, "a gap of at least 30%"
    rows = [row for step in steps for row in step["markets"].values()]
    assert sum(row["partial"] for row in rows) > 0
    assert sum(row["full"] + row["bankrupt"] for row in rows) > 0
    assert sum(row["paid_out"] for row in rows) > 0, "insurance funds paid"
    assert sum(row["deleveraged_lots"] for row in rows) > 0, "auto-deleveraging happened"
    for values in crash["funds"].values():
        assert all(int(value) >= 0 for value in values)
    assert {c["result"] for c in crash["settlement_after"]} == {"ok"}
    assert document["activity"]["liquidation_settlement"] > 0
    assert document["activity"]["insurance_payout"] > 0
    html = render_report(document)
    assert html.count("insurance fund through the crash") == len(crash["funds"]) == 3


def test_a_policy_simulated_over_the_demos_day_counts_every_movement_by_rule(
    memory_run: tuple[LedgerService, dict[str, Any]],
) -> None:
    from ringfence.service import policy
    from ringfence.service.policy import local_reader

    document = {
        "format": 1,
        "governance": {"group": "admins", "approvals": 2},
        "groups": {"admins": ["a1", "a2"], "treasury": ["t1", "t2"], "executives": ["ceo"]},
        "residual_interest": {"senior_group": "executives", "senior_approvals": 1},
        "rules": [
            {"id": "cold", "when": {"tiers": ["cold"]}, "action": "block"},
            {"id": "internal", "when": {"destination": "internal"},
             "action": {"require": 1, "groups": ["treasury"]}},
            {"id": "small", "when": {"amount_up_to": {"BTC": "0.1", "ETH": "2", "USDC": "5000"}},
             "action": "allow"},
        ],
    }  # fmt: skip
    text = json.dumps(document).encode()
    report = policy.simulate_policy(memory_run[0], local_reader, "2000-01-01", text=text)
    assert report["movements"] >= 10
    assert sum(report["by_rule"].values()) == report["movements"]
    assert report["by_rule"]["internal"] > 0  # the day's sweeps and rebalances
    assert report["by_rule"]["small"] > 0  # small withdrawals
    assert set(report["by_rule"]) <= {"cold", "internal", "small", "(none)"}
    assert set(report["by_kind"]) == {"client_withdrawal", "residual_sweep", "rebalance"}


def test_possession_and_control_finds_the_short_pools_and_names_their_cures(
    document: dict[str, Any],
) -> None:
    possession = document["regulatory"]["possession"]
    for line in possession["assets"] + possession["short_pools"]:
        amounts = line["units"]
        matched = sum(amounts[name] for name in (
            "controlled", "approved_sub_custodians", "unapproved_sub_custodians", "encumbered",
            "deficit"))  # fmt: skip
        assert matched == amounts["entitlement"]
        assert amounts["held"] == amounts["entitlement"] - amounts["deficit"] + amounts["excess"]
    [broken] = document["breaks"]
    # Short: the pool the misdirected deposit left short (a deficit), and the pool whose warm
    # ETH wallet is at the sub-custodian not yet approved (not in the firm's control).
    findings = document["regulatory"]["sub_custodians"]["findings"]
    unapproved = {
        (f["pool"], f["asset"]): parse_amount(f["amount"], ASSETS[f["asset"]])
        for f in findings
        if f["kind"] == "assets_at_unapproved_sub_custodian"
    }
    assert list(unapproved) == [("omni-1", "ETH")]
    short = {(line["pool"], line["asset"]): line["units"] for line in possession["short_pools"]}
    assert set(short) == {(broken["pool"], broken["asset"]), ("omni-1", "ETH")}
    deficit = short[(broken["pool"], broken["asset"])]["deficit"]
    assert 0 < deficit <= units(broken, "outstanding")
    for key, amounts in short.items():
        if key in unapproved:
            assert 0 < amounts["unapproved_sub_custodians"] <= unapproved[key]
        else:
            assert amounts["unapproved_sub_custodians"] == 0
        outside = ("deficit", "unapproved_sub_custodians", "encumbered")
        assert amounts["shortfall"] == sum(amounts[name] for name in outside)
    cures = {(cure["pool"], cure["asset"]): cure for cure in possession["breaks"]}
    assert set(cures) == set(short)
    assert {cure["cure"] for cure in cures.values()} == {"house top up"}
    assert possession["alerts"] == ["possession_shortfall"]
    from ringfence.entrypoints.pages.report import render_report

    html = render_report(document)
    assert 'id="possession"' in html
    assert all(line["deficit"] in html for line in possession["short_pools"])


def test_residual_interest_status_follows_what_it_leaves_uncovered(
    document: dict[str, Any],
) -> None:
    residual = document["regulatory"]["residual"]
    [broken] = document["breaks"]
    undermargined = [line for line in residual["lines"] if line["units"]["undermargined"]]
    assert undermargined, "the demo's requirements leave some clients undermargined"
    for line in residual["lines"]:
        amounts = line["units"]
        # Not covered: what the firm must still put in (a negative residual interest adds).
        expected = max(amounts["undermargined"] - amounts["residual_interest"], 0)
        assert amounts["cover_shortfall"] == expected, line
        assert line["status"] == ("met" if expected == 0 else "due"), line
        if (line["pool"], line["asset"]) == (broken["pool"], broken["asset"]):
            assert amounts["residual_interest"] < 0
            assert line["status"] == "due"
    assert sum(residual["statuses"].values()) == len(residual["lines"])
    # The check is journaled: its entry is in the journal the report ends at.
    assert 0 < int(residual["journal_seq"]) < int(document["journal"]["seq"])


def test_the_weekly_collateral_report_sums_by_location_and_matches_possession(
    document: dict[str, Any],
) -> None:
    regulatory = document["regulatory"]
    collateral = regulatory["collateral"]
    held = {line["asset"]: line["units"]["held"] for line in regulatory["possession"]["assets"]}
    registered = regulatory["sub_custodians"]["sub_custodians"]
    # The demo journals no register: both reports read the operator's file, and say so.
    assert regulatory["sub_custodians"]["register_source"] == "file"
    assert regulatory["possession"]["register_source"] == "file"
    anchor = next(row for row in registered if row["approved_at_as_of"])
    at_anchor: dict[str, int] = {}
    for holding in anchor["holdings"]:
        amount = parse_amount(holding["amount"], ASSETS[holding["asset"]])
        at_anchor[holding["asset"]] = at_anchor.get(holding["asset"], 0) + amount
    for total in collateral["assets"]:
        code = total["asset"]
        rows = [row for row in collateral["locations"] if row["asset"] == code]
        segregated = [row["units"] for row in rows if row["segregated"]]
        amounts = total["units"]
        assert amounts["segregated_quantity"] == sum(row["quantity"] for row in segregated)
        assert amounts["segregated_value_after_haircut"] == sum(
            row["value_after_haircut"] for row in segregated
        )
        # Segregated collateral is what the custody pools hold: possession's "held".
        assert amounts["segregated_quantity"] == held[code]
        for row in rows:
            value, after = row["units"]["value"], row["units"]["value_after_haircut"]
            assert after <= value * (10_000 - total["haircut_bps"]) // 10_000
            assert after > 0 or value == 0
        [anchored] = [row for row in rows if row["location"] == "sub-custodian:anchor-trust"]
        assert anchored["units"]["quantity"] == at_anchor[code]
    assert collateral["segregated_value_after_haircut_units"] == sum(
        total["units"]["segregated_value_after_haircut"] for total in collateral["assets"]
    )


def test_insurance_cover_adds_up_and_the_hot_wallet_alert_fires(document: dict[str, Any]) -> None:
    cover = document["regulatory"]["insurance"]
    for line in cover["lines"]:
        assert line["units"]["covered"] + line["units"]["uncovered"] == line["units"]["value"]
    covered = sum(line["units"]["covered"] for line in cover["lines"])
    assert covered == sum(policy["units"]["covered"] for policy in cover["policies"])
    hot = sum(line["units"]["uncovered"] for line in cover["lines"] if line["tier"] == "hot")
    assert cover["hot_uncovered_units"] == hot > 0
    assert cover["alerts"] == ["hot_holdings_exceed_cover"]
    crime = next(policy for policy in cover["policies"] if policy["id"] == "crime-hot")
    assert crime["units"]["limit_remaining"] == 0  # the hot wallets used up all of its limit
    assert crime["units"]["covered"] == crime["units"]["limit"]


def test_the_in_kind_schedule_returns_or_claims_every_unit(document: dict[str, Any]) -> None:
    in_kind = document["regulatory"]["in_kind"]
    assert in_kind["petition_date"] == document["insolvency"]["petition_date"]
    assert in_kind["positions"] > 0
    returned_somewhere = False
    for row in in_kind["pools"]:
        amounts = row["units"]
        parts = amounts["returned_in_kind"] + amounts["set_off"] + amounts["unsecured_claim"]
        assert parts == amounts["claim"], row
        assert amounts["held_back"] <= amounts["unsecured_claim"]
        # The rows' sum is the pool's own figure for what it hands back in kind.
        assert amounts["returned_in_kind"] == amounts["pool_returned_in_kind"], row
        returned_somewhere |= amounts["returned_in_kind"] > 0
    assert returned_somewhere
    for total in in_kind["assets"]:
        rows = [row["units"] for row in in_kind["pools"] if row["asset"] == total["asset"]]
        for name in ("claim", "returned_in_kind", "set_off", "unsecured_claim"):
            assert total["units"][name] == sum(row[name] for row in rows)
    # The hacked pool returns less than is claimed on it; the rest is claimed from the estate.
    hacked = document["insolvency"]["events"]["hacks"][0]
    [omni_btc] = [r for r in in_kind["pools"] if (r["pool"], r["asset"]) == ("omni-1", "BTC")]
    assert hacked["asset"] == "BTC"
    assert 0 < omni_btc["units"]["unsecured_claim"] < omni_btc["units"]["claim"]


def test_every_regulatory_output_has_its_line_and_its_section(document: dict[str, Any]) -> None:
    from ringfence.entrypoints.pages.report import render_report

    summary = document["regulatory"]["summary"]
    starts = ("Possession and control", "Residual-interest deadline", "Weekly crypto-collateral",
              "Sub-custodian register", "Insurance cover", "In-kind return schedule")  # fmt: skip
    assert [line.split(":")[0].split(" (")[0].rsplit(" 20", 1)[0] for line in summary] == list(
        starts
    )
    assert "hot_holdings_exceed_cover" in summary[4]
    assert "assets_at_unapproved_sub_custodian" in summary[3]
    html = render_report(document)
    for anchor in ("possession", "residual-interest", "collateral", "sub-custodians",
                   "insurance", "in-kind", "regulatory-summary"):  # fmt: skip
        assert f'id="{anchor}"' in html, anchor
    for line in summary:
        assert line.split(";")[0].split("(")[0].strip() in html
