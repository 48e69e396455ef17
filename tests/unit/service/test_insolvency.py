"""service/insolvency.py: the book comes from the ledger's posted state and history only, and
the firm of tests/support_insolvency.py fails as worked out there by hand."""

from __future__ import annotations

from typing import Any

import pytest
from tests.support import EARN, ETH
from tests.support_insolvency import COIN, PENDING_ID, SCENARIO, build_failing_firm

from ringfence.adapters.clock import ManualClock
from ringfence.core.errors import InputError, Result
from ringfence.core.money import format_amount
from ringfence.service import insolvency
from ringfence.service.insolvency import gather_book, simulate_ledger, simulate_scenario_file
from ringfence.service.ledger import LedgerService


def row(document: dict[str, Any], name: str) -> dict[str, Any]:
    (found,) = [r for r in document["clients"] if r["client"] == name]
    return found


def position(document: dict[str, Any], name: str, pool: str) -> dict[str, Any]:
    (found,) = [p for p in row(document, name)["positions"] if p["pool"] == pool]
    return found


def test_the_book_holds_posted_balances_and_the_linked_moves(
    memory_service: LedgerService, clock: ManualClock
) -> None:
    build_failing_firm(memory_service, clock.advance)
    book = gather_book(memory_service, [PENDING_ID, 10])
    assert book.claims[("main", "BTC")]["carol"] == COIN
    assert book.claims[("earn", "BTC")]["erin"] == 9 * COIN // 10  # the pending 0.5 not posted
    assert book.wallets[("earn-hot", "BTC")] == ("earn", 29 * COIN // 10)
    assert [(m.client, m.units, m.from_pool, m.to_pool) for m in book.moves] == [
        ("carol", COIN, "earn", "main"),
        ("erin", COIN // 10, "earn", "main"),
    ]
    assert book.posted_ids == frozenset({10})  # 900 is only a pending reservation


def test_the_failing_firm_recovers_as_worked_out_by_hand(
    memory_service: LedgerService, clock: ManualClock
) -> None:
    build_failing_firm(memory_service, clock.advance)
    document = simulate_ledger(memory_service, SCENARIO)
    segregated = document["segregated"]
    main = next(p for p in segregated["pools"] if p["pool"] == "main" and p["asset"] == "BTC")
    assert (main["holdings"], main["claims"], main["recovery_in_kind"]) == (
        "90.00000000", "100.00000000", "0.9000"
    )
    assert position(document, "alice", "main")["returned_in_kind"] == "53.91000000"
    assert position(document, "alice", "main")["unsecured_claim"] == "5.99000000"
    assert position(document, "carol", "main")["held_back"] == "1.00000000"
    assert position(document, "carol", "main")["returned_in_kind"] == "0.00000000"
    assert position(document, "erin", "main")["returned_in_kind"] == "0.09000000"
    assert position(document, "dave", "vault-dave")["returned_in_kind"] == "2.00000000"
    assert row(document, "dave")["segregated"]["recovery_rate"] == "1.0000"
    estate = segregated["estate"]
    assert estate["assets"]["BTC"] == "8.80000000"
    assert estate["unsecured_claims_value"] == "276000.00"  # 13.8 BTC
    assert estate["dividend_rate"] == "0.6376"  # 8.8 / 13.8
    # alice's 5.99 BTC claim earns 5.99 * 8.8 / 13.8 = 3.81971014... BTC, rounded down.
    assert row(document, "alice")["segregated"]["dividend_in_kind"] == {"BTC": "3.81971014"}
    assert [(p["client"], p["held_back"]) for p in document["preferences"]] == [
        ("carol", True), ("erin", False)
    ]
    (shown,) = document["displayed_transfers"]
    assert (shown["id"], shown["posted"], shown["counted"]) == (
        "900", False, "ignored: never posted"
    )
    # Commingled, everyone shares 5 + 2.9 + 90 + 2 = 99.9 BTC against 104.9 BTC of claims.
    assert document["commingled"]["estate"]["dividend_rate"] == "0.9523"
    assert row(document, "dave")["commingled"]["recovery_rate"] == "0.9523"
    assert document["segregated"]["rate_distribution"][10] == 1  # dave


def test_recon_findings_put_a_flagged_pool_in_the_estate(
    memory_service: LedgerService, clock: ManualClock, monkeypatch: pytest.MonkeyPatch
) -> None:
    build_failing_firm(memory_service, clock.advance)
    monkeypatch.setattr(
        insolvency, "recon_findings", lambda ledger, ids: {"vault-dave": "cross_client_funding"}
    )
    document = simulate_ledger(memory_service, SCENARIO)
    vault = next(p for p in document["segregated"]["pools"] if p["pool"] == "vault-dave")
    assert (vault["standing"], vault["reason"]) == ("estate_tracing_failed", "cross_client_funding")
    assert position(document, "dave", "vault-dave")["returned_in_kind"] == "0.00000000"


def test_a_petition_before_the_last_transfer_is_refused(
    memory_service: LedgerService, clock: ManualClock
) -> None:
    build_failing_firm(memory_service, clock.advance)
    with pytest.raises(InputError) as raised:
        simulate_ledger(memory_service, {**SCENARIO, "petition_date": "2020-01-01"})
    assert raised.value.code is Result.petition_before_last_transfer


def test_cross_client_funding_found_by_reconciliation_puts_the_pool_in_the_estate(
    memory_service: LedgerService, clock: ManualClock
) -> None:
    # bob's 39 BTC deposit (transfer 3) never arrived on chain, yet he withdrew 10 BTC: other
    # clients' coins paid for it (Prime Trust). Reconciliation finds it; main fails tracing.
    custodian = build_failing_firm(memory_service, clock.advance)
    assert memory_service.submit([custodian.withdrawal(20, "bob", 10 * COIN)])[0].succeeded
    document = simulate_ledger(memory_service, {**SCENARIO, "deposits_not_arrived": ["3"]})
    main = next(p for p in document["segregated"]["pools"] if p["pool"] == "main")
    assert main["standing"] == "estate_tracing_failed"
    assert main["reason"].startswith("cross_client_funding: bob's withdrawal")
    assert position(document, "alice", "main")["returned_in_kind"] == "0.00000000"
    assert position(document, "alice", "main")["unsecured_claim"] == "59.90000000"
    # Without the finding, main is an ordinary custody pool.
    plain = simulate_ledger(memory_service, SCENARIO)
    assert next(p for p in plain["segregated"]["pools"] if p["pool"] == "main")["standing"] == (
        "customer_property"
    )


def test_an_in_kind_payout_says_what_the_estate_must_buy(
    memory_service: LedgerService, clock: ManualClock
) -> None:
    # erin also has 10 ETH in earn, and a hack takes all of earn's ETH: the estate holds 8.8 BTC
    # and no ETH against 13.8 BTC ($276,000) and 10 ETH ($10,000) of unsecured claims, so it
    # pays 176/286 of each claim in its own asset and must buy the ETH with BTC.
    custodian = build_failing_firm(memory_service, clock.advance)
    ten_eth = 10 * 10**18
    deposit = custodian.deposit(30, "erin", ten_eth, pool=EARN, asset="ETH")
    assert memory_service.submit([deposit])[0].succeeded
    hack = {"wallet": "earn-hot", "asset": "ETH", "amount": "10"}
    scenario = {**SCENARIO, "hacks": [*SCENARIO["hacks"], hack]}
    estate = simulate_ledger(memory_service, scenario)["segregated"]["estate"]
    assert estate["assets"] == {"BTC": "8.80000000", "ETH": "0.000000000000000000"}
    assert estate["dividend_rate"] == "0.6153"
    paid_eth = ten_eth * 176_000 // 286_000
    assert estate["paid_in_kind"]["ETH"] == format_amount(paid_eth, ETH)
    assert estate["in_kind_bought"] == {"ETH": format_amount(paid_eth, ETH)}


class FakeScenarioFiles:
    """The ``ScenarioFiles`` port in memory: scenario documents by name."""

    def __init__(self, scenarios: dict[str, object]) -> None:
        self.scenarios = scenarios

    def read_scenario(self, path: str) -> object:
        if path not in self.scenarios:
            raise InputError(Result.scenario_invalid, f"{path}: no such scenario")
        return self.scenarios[path]


def test_a_scenario_file_is_simulated_as_its_document(
    memory_service: LedgerService, clock: ManualClock
) -> None:
    build_failing_firm(memory_service, clock.advance)
    files = FakeScenarioFiles({"failure.json": SCENARIO})
    document = simulate_scenario_file(memory_service, files, "failure.json")
    assert document == simulate_ledger(memory_service, SCENARIO)
    with pytest.raises(InputError) as refused:
        simulate_scenario_file(memory_service, files, "other.json")
    assert refused.value.code is Result.scenario_invalid
