"""The other domains' routes through the API: what they answer is what the command line's
service functions answer, documents come in as file texts, bad input is refused by name and
changes nothing, and a client's proofs verify with the client's own verifier."""

from __future__ import annotations

import csv
import hashlib
import io
import json
import zipfile
from collections.abc import Iterator
from typing import Any

import pytest
from tests.support import BTC, btc_address, journal_signer
from tests.support_api import ApiWorld, api_world, build_domains

from ringfence.adapters.clock import ManualClock
from ringfence.adapters.storage.memory import MemoryStore
from ringfence.core.ledger import wire
from ringfence.service import in_kind
from ringfence.service.ledger import LedgerService
from ringfence.verifier import verify_inclusion


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ApiWorld]:
    service = LedgerService(MemoryStore(), ManualClock(), journal_signer())
    built = api_world(service, tmp_path_factory.mktemp("domains"))
    deposits = [built.custodian.deposit(1, "alice", 10**9), built.custodian.deposit(2, "bob", 7)]
    document = {"transfers": [wire.transfer_to_json(t, BTC) for t in deposits]}
    assert built.post("operator", "/v1/transfers", document).json()["ok"]
    build_domains(built)
    yield built
    built.http.close()


def _problem(response: Any, status: int, code: str) -> None:
    assert response.status_code == status, response.text
    assert response.json()["code"] == code, response.text


def test_a_run_is_journaled_and_seen_as_events(world: ApiWorld) -> None:
    seq = world.bundle.ledger.seq
    run = world.post("operator", "/v1/reconciliations", {"as_of": "2030-01-01"}).json()
    assert run["ok"]
    assert run["funds_basis"] == "book"
    assert world.bundle.ledger.seq == seq + 1
    kinds = [e["type"] for e in world.get("auditor", "/v1/events", after=str(seq)).json()["items"]]
    assert kinds[0] == "reconciliation.completed"


def test_a_break_is_read_explained_and_refused_by_name(world: ApiWorld) -> None:
    (row,) = [b for b in world.get("compliance", "/v1/breaks").json()["breaks"] if b["id"] == 1]
    assert row["wallet"] == "main-hot"
    assert world.get("auditor", "/v1/breaks/1").json()["break"]["id"] == 1
    explained = world.post("compliance", "/v1/breaks/1/explain", {"cause": "loss", "action": "x"})
    assert explained.json()["break"]["cause"] == "loss"
    seq = world.bundle.ledger.seq
    for body, status, code in [
        ({"cause": "gremlins", "action": "x"}, 422, "break_cause_unknown"),
        ({"cause": "loss"}, 422, "field_required"),
        ({"cause": "loss", "action": "x", "by": "me"}, 422, "field_unknown"),
        ({"cause": "loss", "action": 5}, 422, "field_required"),
    ]:
        _problem(world.post("compliance", "/v1/breaks/1/explain", body), status, code)
    _problem(world.post("compliance", "/v1/breaks/9/explain", {"cause": "loss", "action": "x"}),
             404, "break_not_found")  # fmt: skip
    _problem(world.get("compliance", "/v1/breaks/99"), 404, "break_not_found")
    _problem(world.get("compliance", "/v1/breaks/x"), 422, "id_must_be_integer")
    assert world.bundle.ledger.seq == seq


def test_documents_come_as_file_texts_and_are_refused_by_name(world: ApiWorld) -> None:
    line = {"chain": "bitcoin", "address": btc_address("h"), "asset": "BTC", "amount": "5",
            "height": 1, "time_ns": 0, "source": "t"}  # fmt: skip
    text = json.dumps(line) + "\n"
    statement = world.post("compliance", "/v1/statements/segregation", {"observations": text})
    assert statement.json()["funds_basis"] == "observed"
    seq = world.bundle.ledger.seq
    for body, status, code in [
        ({"observations": [line]}, 422, "field_required"),
        ({"observations": "{not json\n"}, 422, "line_malformed"),
        ({"holdings": text}, 422, "field_unknown"),
    ]:
        _problem(world.post("operator", "/v1/reconciliations", body), status, code)
    assert world.bundle.ledger.seq == seq


def test_regulatory_reports_take_their_documents_by_name(world: ApiWorld) -> None:
    report = world.post("auditor", "/v1/regulatory/possession", {"as_of": "2030-01-01"}).json()
    assert report["ok"]
    assert report["basis"] == "book"
    _problem(world.post("auditor", "/v1/regulatory/gossip", {}), 404, "report_not_found")
    _problem(world.post("auditor", "/v1/regulatory/insurance", {}), 422, "field_required")
    _problem(world.post("auditor", "/v1/regulatory/possession", {"policies": "{}"}),
             422, "field_unknown")  # fmt: skip
    _problem(world.post("auditor", "/v1/regulatory/sub-custodians", {"register": "[1]"}),
             422, "regulatory_file_invalid")  # fmt: skip


def test_the_in_kind_schedule_takes_its_scenario_as_the_body(world: ApiWorld) -> None:
    seq = world.bundle.ledger.seq
    prices = {"BTC": "60000.00", "ETH": "3000.00", "USDC": "1.00"}
    scenario = {"prices": prices, "hacks": [{"wallet": "main-hot", "asset": "BTC", "amount": "5"}]}
    schedule = world.post("compliance", "/v1/regulatory/in-kind", {"scenario": scenario}).json()
    assert schedule == in_kind.in_kind_of(world.bundle.ledger, scenario)
    [alice] = [row for row in schedule["returns"] if row["client"] == "alice"]
    # main holds 10.00000007 against as much claimed; the hack takes 5, leaving 5.00000007:
    # alice's 10 get 10 * 5.00000007 / 10.00000007 = 5.0000000349.., rounded down, in kind.
    assert (alice["claim"], alice["returned_in_kind"]) == ("10.00000000", "5.00000003")
    assert alice["unsecured_claim"] == "4.99999997"
    for body, status, code in [
        ({}, 422, "field_required"),
        ({"scenario": scenario, "extra": 1}, 422, "field_unknown"),
        ({"scenario": "prices"}, 422, "scenario_invalid"),
        ({"scenario": {"prices": {"BTC": "1.00"}}}, 422, "scenario_price_missing"),
    ]:
        _problem(world.post("auditor", "/v1/regulatory/in-kind", body), status, code)
    assert world.bundle.ledger.seq == seq  # nothing is journaled


def test_a_client_statement_is_its_own_and_its_period_is_checked(world: ApiWorld) -> None:
    period = {"from": "2020-01-01", "to": "2024-01-01"}
    statement = world.get("alice", "/v1/statements/clients/alice", **period).json()
    assert statement["client"] == "alice"
    assert [a["closing"] for a in statement["assets"] if a["asset"] == "BTC"] == ["10.00000000"]
    movements = [m for a in statement["assets"] for m in a["movements"]]
    # Booked by hand, not detected on chain: no transaction is made up for them.
    assert movements and {(m["chain"], m["txid"]) for m in movements} == {(None, None)}
    _problem(world.get("alice", "/v1/statements/clients/bob", **period), 404, "client_not_found")
    backwards = {"from": "2024-01-01", "to": "2020-01-01"}
    _problem(world.get("alice", "/v1/statements/clients/alice", **backwards),
             422, "statement_period_invalid")  # fmt: skip
    _problem(world.get("operator", "/v1/statements/clients/zed", **period),
             404, "client_not_found")  # fmt: skip


def test_a_clients_proofs_verify_against_the_public_round(world: ApiWorld) -> None:
    (listed,) = world.get("bob", "/v1/por/rounds").json()["items"]
    record = world.get("bob", f"/v1/por/rounds/{listed['round']}").json()["record"]
    assert record["round_id"] == listed["round_id"]
    mine = world.get("alice", "/v1/por/rounds/latest/proofs/alice").json()
    assert mine["client"] == "alice"
    (proof,) = mine["proofs"]
    assert verify_inclusion(proof, record, bytes.fromhex(mine["nonce"]), None, "alice") > 0
    _problem(world.get("alice", "/v1/por/rounds/2/proofs/alice"), 404, "round_not_found")
    _problem(world.get("alice", "/v1/por/rounds/x/proofs/alice"), 404, "round_not_found")
    _problem(world.get("bob", "/v1/por/rounds/9/proofs/alice"), 404, "client_not_found")


def test_the_venue_read_outs(world: ApiWorld) -> None:
    scan = world.get("compliance", "/v1/risk/scan").json()
    assert scan["buckets"] == len(scan["results"]) > 0
    assert "funds" in world.get("compliance", "/v1/liquidation/funds").json()


def test_fills_are_applied_through_the_api_and_refused_by_name(world: ApiWorld) -> None:
    def fill(fill_id: int, **fields: Any) -> dict[str, Any]:
        return {"id": fill_id, "bucket": "b000001", "symbol": "btc-usdc-perp", "lots": 2,
                "price": "63700.0", "fee": 10, **fields}

    body = {"fills": [fill(70_001), fill(70_001, lots=3), fill(70_002, fee=1.5),
                      fill(70_003, price="63700.05"), fill(70_004, bucket="nobody"), [1],
                      fill(70_006, symbol=["btc-usdc-perp"])]}
    answer = world.post("operator", "/v1/risk/fills", body)
    assert answer.status_code == 200, answer.text
    assert [(r["index"], r["result"]) for r in answer.json()["results"]] == [
        (0, "ok"), (1, "fill_exists_with_different_body"), (2, "amount_must_not_be_float"),
        (3, "price_finer_than_tick"), (4, "bucket_not_found"), (5, "line_malformed"),
        (6, "instrument_not_found"),
    ]
    assert answer.json()["ok"] is False
    again = world.post("operator", "/v1/risk/fills", {"fills": [fill(70_001)]}).json()
    assert again == {"ok": True, "results": [{"index": 0, "result": "exists"}]}
    _problem(world.post("operator", "/v1/risk/fills", {"fills": []}), 422, "field_required")
    _problem(world.post("operator", "/v1/risk/fills", {"fill": [fill(1)]}), 422, "field_unknown")
    _problem(world.post("compliance", "/v1/risk/fills", {"fills": [fill(70_005)]}), 403,
             "role_forbidden")


def test_the_insolvency_simulation_takes_its_scenario_as_the_body(world: ApiWorld) -> None:
    seq = world.bundle.ledger.seq
    prices = {"BTC": "60000.00", "ETH": "3000.00", "USDC": "1.00"}
    scenario = {"prices": prices, "hacks": [{"wallet": "main-hot", "asset": "BTC", "amount": "5"}]}
    result = world.post("auditor", "/v1/insolvency/simulations", {"scenario": scenario}).json()
    assert result["ok"]
    [main_btc] = [p for p in result["segregated"]["pools"] if p["pool"] == "main"
                  and p["asset"] == "BTC"]  # fmt: skip
    # main holds 10.00000007 against as much claimed and loses 5 of it.
    assert (main_btc["holdings"], main_btc["claims"]) == ("5.00000007", "10.00000007")
    [alice] = [row for row in result["clients"] if row["client"] == "alice"]
    # Segregated, alice gets 10 * 5.00000007 / 10.00000007 = 5.0000000349.. BTC, rounded down,
    # back in kind: 5.00000003 BTC, worth 300,000.0018 USD, shown as 300000.00; the other
    # 4.99999997 BTC (299,999.9982 USD) is an unsecured claim on the estate, which pays it.
    [position] = alice["positions"]
    assert position["returned_in_kind"] == "5.00000003"
    assert position["unsecured_claim"] == "4.99999997"
    segregated = alice["segregated"]
    assert segregated["in_kind_value"] == "300000.00"
    assert segregated["unsecured_claim_value"] == "299999.99"
    assert (alice["claims_value"], segregated["recovered_value"]) == ("600000.00", "600000.00")
    # Commingled, all of alice's 10 BTC is an unsecured claim.
    assert alice["commingled"]["unsecured_claim_value"] == "600000.00"
    for body, status, code in [
        ({}, 422, "field_required"),
        ({"scenario": scenario, "extra": 1}, 422, "field_unknown"),
        ([scenario], 400, "request_body_malformed"),
        ({"scenario": "prices"}, 422, "scenario_invalid"),
        ({"scenario": {"prices": {"BTC": "1.00"}}}, 422, "scenario_price_missing"),
    ]:
        _problem(world.post("compliance", "/v1/insolvency/simulations", body), status, code)
    _problem(world.post("operator", "/v1/insolvency/simulations", {"scenario": scenario}),
             403, "role_forbidden")  # fmt: skip
    assert world.bundle.ledger.seq == seq  # nothing is journaled


def test_the_resolution_pack_is_a_zip_that_its_own_index_checks(world: ApiWorld) -> None:
    seq = world.bundle.ledger.seq
    prices = {"BTC": "60000.00", "ETH": "3000.00", "USDC": "1.00"}
    response = world.post("auditor", "/v1/resolution-packs", {"scenario": {"prices": prices}})
    assert response.status_code == 200, response.text
    assert response.headers["content-type"] == "application/zip"
    pack = zipfile.ZipFile(io.BytesIO(response.content))
    index = json.loads(pack.read("index.json"))
    assert index["journal"]["seq"] == seq
    listed = {entry["file"]: entry["sha256"] for entry in index["files"]}
    assert set(listed) == set(pack.namelist()) - {"index.json"}
    for name, digest in listed.items():
        assert hashlib.sha256(pack.read(name)).hexdigest() == digest, name
    assert "insolvency.json" in listed
    positions = csv.DictReader(io.StringIO(pack.read("positions.csv").decode()))
    # The deposits of the fixture: alice 10 BTC, bob 0.00000007 BTC, both in main.
    held = {(row["client"], row["pool"], row["asset"]): row["balance"] for row in positions}
    assert held[("alice", "main", "BTC")] == "10.00000000"
    assert held[("bob", "main", "BTC")] == "0.00000007"
    for body, status, code in [
        ({"scenario": "prices"}, 422, "scenario_invalid"),
        ({"scenario": {"prices": {"BTC": "1.00"}}}, 422, "scenario_price_missing"),
        ({"prices": "{}"}, 422, "field_required"),
        ({"register": "[1]"}, 422, "regulatory_file_invalid"),
        ({"out": "/tmp/pack.zip"}, 422, "field_unknown"),
        ([1], 400, "request_body_malformed"),
    ]:
        _problem(world.post("compliance", "/v1/resolution-packs", body), status, code)
    _problem(world.post("operator", "/v1/resolution-packs", {}), 403, "role_forbidden")
    _problem(world.post("alice", "/v1/resolution-packs", {}), 403, "role_forbidden")
    assert world.bundle.ledger.seq == seq  # nothing is journaled
