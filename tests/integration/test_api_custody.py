"""Custody and proof-of-reserves building through the API: wallets listed, read and created,
a client's deposit addresses (its own only), and rounds built by number, once.

Method: the wallet is BIP84's test account (the "abandon … about" mnemonic's zpub), whose
first two receive addresses are published with the BIP; they are assigned to alice and bob.
A round's liabilities are checked by difference: a deposit of 0.5 BTC between two rounds
adds exactly 0.50000000 BTC to the second's.
"""

from __future__ import annotations

import io
import json
import zipfile
from collections.abc import Iterator
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from tests.support import BTC, btc_address, journal_signer
from tests.support_api import ApiWorld, api_world, build_domains

from ringfence.adapters.clock import ManualClock
from ringfence.adapters.storage.memory import MemoryStore
from ringfence.core.ledger import wire
from ringfence.remote import ProblemError, RemoteService
from ringfence.service import custody_requests, por
from ringfence.service.custody import CustodyService
from ringfence.service.ledger import LedgerService

ZPUB = (
    "zpub6rFR7y4Q2AijBEqTUquhVz398htDFrtymD9xYYfG1m4wAcvPhXNfE3EfH1r1ADqtfSdVCToUG868RvUUkgDKf31m"
    "GDtKsAYz2oz2AGutZYs"
)
# BIP84: m/84'/0'/0'/0/0 and m/84'/0'/0'/0/1.
RECEIVE = [
    "bc1qcr8te4kr609gcawutmrza0j4xv80jy8z306fyu",
    "bc1qnjg0jd8228aq7egyzacy8cys3knf9xvrerkf9g",
]


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ApiWorld]:
    service = LedgerService(MemoryStore(), ManualClock(), journal_signer())
    built = api_world(service, tmp_path_factory.mktemp("custody"))
    deposits = [built.custodian.deposit(1, "alice", 10**9), built.custodian.deposit(2, "bob", 7)]
    document = {"transfers": [wire.transfer_to_json(t, BTC) for t in deposits]}
    assert built.post("operator", "/v1/transfers", document).json()["ok"]
    build_domains(built)
    yield built
    built.http.close()


def _problem(response: Any, status: int, code: str) -> None:
    assert response.status_code == status, response.text
    assert response.json()["code"] == code, response.text


def _omni(world: ApiWorld) -> None:
    """The BIP84 wallet, created through the API, its addresses 0 and 1 alice's and bob's."""
    if "omni-btc" in CustodyService(world.bundle.ledger).registry.wallets:
        return
    wallet = {"name": "omni-btc", "chain": "bitcoin", "scheme": "bip84", "keys": [ZPUB],
              "pool": "main", "tier": "warm"}  # fmt: skip
    seq = world.bundle.ledger.seq
    created = world.post("admin", "/v1/wallets", wallet).json()
    assert created == {"ok": True, "results": [{"record": "omni-btc", "result": "ok"}]}
    assert world.bundle.ledger.seq > seq  # journaled
    custody = CustodyService(world.bundle.ledger)
    for index, client in enumerate(("alice", "bob")):
        assigned = custody_requests.assign_addresses(
            custody, "omni-btc", start=index, client=client
        )
        assert assigned["ok"]


def test_wallets_are_listed_filtered_and_read_with_their_addresses(world: ApiWorld) -> None:
    _omni(world)
    listed = world.get("auditor", "/v1/wallets").json()
    assert [w["name"] for w in listed["items"]] == ["main-hot", "omni-btc"]
    omni = listed["items"][1]
    assert (omni["pool"], omni["tier"], omni["scheme"], omni["addresses"]) == (
        "main", "warm", "bip84", 2)  # fmt: skip
    assert world.get("auditor", "/v1/wallets", pool="main").json() == listed
    assert world.get("auditor", "/v1/wallets", chain="ethereum").json()["items"] == []
    assert world.get("auditor", "/v1/wallets", house=True).json()["items"] == []
    first = world.get("auditor", "/v1/wallets", limit=1).json()
    assert [w["name"] for w in first["items"]] == ["main-hot"]
    rest = world.get("auditor", "/v1/wallets", cursor=first["next_cursor"]).json()
    assert [w["name"] for w in rest["items"]] == ["omni-btc"]
    shown = world.get("operator", "/v1/wallets/omni-btc").json()
    assert shown["name"] == "omni-btc"
    page = shown["address_page"]
    assert [(a["address"], a["client"]) for a in page["items"]] == list(
        zip(RECEIVE, ("alice", "bob"), strict=True))  # fmt: skip
    paged = world.get("operator", "/v1/wallets/omni-btc", limit=1).json()["address_page"]
    after = world.get("operator", "/v1/wallets/omni-btc", cursor=paged["next_cursor"]).json()
    assert [a["index"] for a in paged["items"] + after["address_page"]["items"]] == [0, 1]


@settings(
    max_examples=12, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(limit=st.integers(1, 4), path=st.sampled_from(["wallets", "wallets/omni-btc"]))
def test_pages_walked_to_the_end_show_each_item_once(
    world: ApiWorld, limit: int, path: str
) -> None:
    _omni(world)
    seen: list[Any] = []
    cursor = None
    for _ in range(100):
        page = world.get("auditor", f"/v1/{path}", limit=limit, cursor=cursor).json()
        page = page.get("address_page", page)
        assert 0 < len(page["items"]) <= limit
        seen += [item.get("name", item.get("address")) for item in page["items"]]
        cursor = page["next_cursor"]
        if cursor is None:
            break
    full = world.get("auditor", f"/v1/{path}", limit=1000).json()
    every = full.get("address_page", full)["items"]
    assert seen == [item.get("name", item.get("address")) for item in every]


def test_a_clients_deposit_addresses_are_its_own(world: ApiWorld) -> None:
    _omni(world)
    mine = world.get("alice", "/v1/clients/alice/deposit-addresses").json()
    assert [(a["address"], a["wallet"], a["pool"]) for a in mine["items"]] == [
        (RECEIVE[0], "omni-btc", "main")]  # fmt: skip
    assert mine["next_cursor"] is None
    bobs = world.get("compliance", "/v1/clients/bob/deposit-addresses").json()["items"]
    assert [a["address"] for a in bobs] == [RECEIVE[1]]
    _problem(world.get("alice", "/v1/clients/bob/deposit-addresses"), 404, "client_not_found")
    _problem(world.get("bob", "/v1/clients/alice/deposit-addresses"), 404, "client_not_found")
    _problem(world.get("operator", "/v1/clients/zed/deposit-addresses"), 404, "client_not_found")
    _problem(world.get("alice", "/v1/wallets"), 403, "role_forbidden")


# BIP84: m/84'/0'/0'/1/0, the first change address.
CHANGE = "bc1q8c6fshw2dlwun7ekn9qwf37cu2rn755upcp6el"


def test_addresses_are_assigned_and_a_clients_own_address_recorded(world: ApiWorld) -> None:
    _omni(world)
    body = {"count": 1, "start": 0, "change": True, "client": "alice"}
    assigned = world.post("admin", "/v1/wallets/omni-btc/addresses", body).json()
    assert assigned == {"ok": True, "results": [{"record": CHANGE, "result": "ok"}]}
    mine = world.get("alice", "/v1/clients/alice/deposit-addresses").json()["items"]
    assert [(a["address"], a["index"], a["change"]) for a in mine] == [
        (RECEIVE[0], 0, False), (CHANGE, 0, True)]  # fmt: skip
    own = btc_address("alice-own")
    recorded = world.post("admin", "/v1/clients/alice/addresses", {"address": own}).json()
    assert recorded == {"ok": True, "results": [{"record": own, "result": "ok"}]}
    assert own in CustodyService(world.bundle.ledger).registry.client_addresses
    seq = world.bundle.ledger.seq
    for path, request, status, code in [
        ("wallets/omni-btc/addresses", {"count": 1001}, 422, "derivation_count_invalid"),
        ("wallets/omni-btc/addresses", {"count": True}, 422, "field_unknown"),
        ("wallets/omni-btc/addresses", {"start": -1}, 422, "derivation_index_invalid"),
        ("wallets/omni-btc/addresses", {"colour": 1}, 422, "field_unknown"),
        ("wallets/main-hot/addresses", {}, 422, "wallet_keys_invalid"),
        ("wallets/nowhere/addresses", {}, 404, "wallet_not_found"),
        ("clients/zed/addresses", {"address": own}, 404, "client_not_found"),
        ("clients/bob/addresses", {}, 422, "field_required"),
        ("clients/bob/addresses", {"address": 5}, 422, "field_unknown"),
    ]:
        _problem(world.post("admin", f"/v1/{path}", request), status, code)
    _problem(world.post("operator", "/v1/wallets/omni-btc/addresses", {}), 403, "role_forbidden")
    _problem(world.post("alice", "/v1/clients/alice/addresses", {"address": own}),
             403, "role_forbidden")  # fmt: skip
    assert world.bundle.ledger.seq == seq


def test_a_wallet_is_designated_to_another_tier_and_pool_with_its_history(
    world: ApiWorld,
) -> None:
    wallet = {"name": "spare", "chain": "bitcoin", "scheme": "address",
              "keys": [btc_address("spare")], "pool": "main"}  # fmt: skip
    assert world.post("admin", "/v1/wallets", wallet).json()["ok"]
    moved = world.post("admin", "/v1/wallets/spare/designation", {"tier": "cold"}).json()
    assert moved == {"ok": True, "results": [{"record": "spare", "result": "ok"}]}
    housed = world.post("admin", "/v1/wallets/spare/designation", {"pool": ""}).json()
    assert housed["ok"], housed
    shown = world.get("auditor", "/v1/wallets/spare").json()
    # The pool moved to the house and the tier stayed cold: what was not given is unchanged.
    assert (shown["pool"], shown["tier"]) == ("", "cold")
    assert [(h["pool"], h["tier"]) for h in shown["history"]] == [
        ("main", "hot"), ("main", "cold"), ("", "cold")]  # fmt: skip
    assert [w["name"] for w in world.get("auditor", "/v1/wallets", house=True).json()["items"]] == [
        "spare"]  # fmt: skip
    seq = world.bundle.ledger.seq
    for body, status, code in [
        ({}, 422, "field_required"),
        ({"tier": 1}, 422, "field_unknown"),
        ({"tier": "lukewarm"}, 422, "wallet_tier_invalid"),
        ({"owner": "x"}, 422, "field_unknown"),
    ]:
        _problem(world.post("admin", "/v1/wallets/spare/designation", body), status, code)
    refused = world.post("admin", "/v1/wallets/spare/designation", {"pool": "atlantis"}).json()
    assert refused["results"] == [{"record": "spare", "result": "pool_not_found"}]
    # A change judged by the registry is a result of the change, as for a create.
    unknown = world.post("admin", "/v1/wallets/nowhere/designation", {"tier": "cold"}).json()
    assert unknown["results"] == [{"record": "nowhere", "result": "wallet_not_found"}]
    _problem(world.post("operator", "/v1/wallets/spare/designation", {"tier": "hot"}),
             403, "role_forbidden")  # fmt: skip
    assert world.bundle.ledger.seq == seq


def test_bad_wallet_requests_are_refused_by_name_and_change_nothing(world: ApiWorld) -> None:
    _omni(world)
    seq = world.bundle.ledger.seq
    good = {"name": "w2", "chain": "bitcoin", "scheme": "address", "keys": [btc_address("w2")]}
    for body, status, code in [
        ({**good, "chain": "dogecoin"}, 422, "chain_unknown"),
        ({**good, "colour": "red"}, 422, "field_unknown"),
        ({key: value for key, value in good.items() if key != "keys"}, 422, "field_required"),
        ({**good, "keys": "bc1q"}, 422, "wallet_keys_invalid"),
        ({**good, "keys": [1]}, 422, "wallet_keys_invalid"),
        ({**good, "pool": 7}, 422, "field_unknown"),
        ({**good, "name": "no spaces"}, 422, "name_invalid"),
        ([good], 400, "request_body_malformed"),
    ]:
        _problem(world.post("admin", "/v1/wallets", body), status, code)
    refused = world.post("admin", "/v1/wallets", {**good, "pool": "atlantis"}).json()
    assert refused["results"] == [{"record": "w2", "result": "pool_not_found"}]
    assert refused["ok"] is False
    _problem(world.post("operator", "/v1/wallets", good), 403, "role_forbidden")
    assert world.bundle.ledger.seq == seq
    _problem(world.get("auditor", "/v1/wallets", chain="dogecoin"), 422, "chain_unknown")
    _problem(world.get("auditor", "/v1/wallets/nowhere"), 404, "wallet_not_found")
    _problem(world.get("auditor", "/v1/wallets", limit=0), 400, "page_size_too_large")
    _problem(world.get("auditor", "/v1/wallets", cursor="x"), 400, "cursor_invalid")


def _btc_liabilities(summary: dict[str, Any]) -> int:
    [line] = [a for a in summary["assets"] if a["asset"] == "BTC"]
    return int(line["liabilities_units"])


def test_a_round_asked_while_another_build_runs_is_busy_and_builds_nothing(
    world: ApiWorld,
) -> None:
    """``por build`` on the command line holds the store's lock: the server's build of the
    same rounds answers 409 ``por_build_busy`` at once, and builds once it is free."""
    kept = world.bundle.round_store().numbers()
    following = max(kept) + 1
    with world.bundle.ledger.store.exclusive(por.por_build_lock) as taken:
        assert taken
        answer = world.post("operator", "/v1/por/rounds", {"round": str(following)})
        _problem(answer, 409, "por_build_busy")
        assert world.bundle.round_store().numbers() == kept
    built = world.post("operator", "/v1/por/rounds", {"round": str(following)}).json()
    assert (built["built"], built["round"]) == (True, following)


def test_a_round_is_built_by_number_once(world: ApiWorld) -> None:
    kept = world.bundle.round_store().numbers()
    following = max(kept) + 1
    built = world.post("operator", "/v1/por/rounds", {"round": str(following)}).json()
    assert (built["built"], built["round"], built["signature_valid"]) == (True, following, True)
    again = world.post("admin", "/v1/por/rounds", {"round": str(following)}).json()
    assert again["built"] is False
    assert {**again, "built": True} == built
    # The same number asked with another body is refused by name, and builds nothing.
    for other in ({"private": True}, {"snapshot": str(built["snapshot"] - 1)}):
        answer = world.post("operator", "/v1/por/rounds", {"round": str(following), **other})
        _problem(answer, 409, "round_exists_with_different_body")
    assert world.bundle.round_store().numbers() == [*kept, following]
    listed = world.get("bob", "/v1/por/rounds").json()["items"][0]
    assert listed["round_hash"] == built["round_hash"]
    deposit = world.custodian.deposit(90_001, "alice", 50_000_000)
    document = {"transfers": [wire.transfer_to_json(deposit, BTC)]}
    assert world.post("operator", "/v1/transfers", document).json()["ok"]
    later = world.post("operator", "/v1/por/rounds", {"round": str(following + 1)}).json()
    assert later["previous_round_hash"] == built["round_hash"]
    assert _btc_liabilities(later) - _btc_liabilities(built) == 50_000_000


def test_a_round_attests_the_holdings_it_is_given(world: ApiWorld) -> None:
    following = max(world.bundle.round_store().numbers()) + 1
    line = {"chain": "bitcoin", "address": btc_address("h"), "asset": "BTC", "amount": "5",
            "height": 1, "time_ns": 0, "source": "t"}  # fmt: skip
    body = {"round": str(following), "holdings": json.dumps(line) + "\n"}
    _problem(world.post("operator", "/v1/por/rounds", body), 422, "control_round_mismatch")
    por.announce_round(world.bundle.ledger, world.bundle.round_store(), blocks=[], snapshot=None)
    built = world.post("operator", "/v1/por/rounds", body).json()
    [btc] = [a for a in built["assets"] if a["asset"] == "BTC"]
    # main-hot's 5 BTC are observed, but no proof of its control came (no control file):
    # nothing counts, so the round attests 0 BTC and the whole liability is short.
    assert (btc["attested"], btc["reserves_units"], btc["covered"]) == (True, "0", False)
    assert btc["shortfall"] == btc["liabilities"]
    assert built["reserves_status"] != "not_attested"


def test_bad_round_requests_are_refused_by_name_and_keep_nothing(world: ApiWorld) -> None:
    kept = world.bundle.round_store().numbers()
    following = str(max(kept) + 1)
    for body, status, code in [
        ({}, 422, "field_required"),
        ({"round": str(max(kept) + 2)}, 404, "round_not_found"),
        ({"round": "x"}, 404, "round_not_found"),
        ({"round": following, "snapshot": "head"}, 422, "field_unknown"),
        ({"round": following, "snapshot": "999999999"}, 422, "field_unknown"),
        ({"round": following, "private": "yes"}, 422, "field_unknown"),
        ({"round": following, "control": "{}"}, 422, "field_required"),
        ({"round": following, "holdings": "{}\n"}, 422, "control_round_mismatch"),
        ({"round": following, "reserves": "5"}, 422, "field_unknown"),
        ({"round": int(following)}, 422, "field_required"),
    ]:
        _problem(world.post("operator", "/v1/por/rounds", body), status, code)
    _problem(world.post("auditor", "/v1/por/rounds", {"round": following}), 403, "role_forbidden")
    _problem(world.post("alice", "/v1/por/rounds", {"round": following}), 403, "role_forbidden")
    assert world.bundle.round_store().numbers() == kept


def test_the_python_client_reads_wallets_addresses_and_the_pack(world: ApiWorld) -> None:
    _omni(world)
    auditor = RemoteService(token=world.keys["auditor"], http=world.http)
    alice = RemoteService(token=world.keys["alice"], http=world.http)
    assert [w["name"] for w in auditor.each(auditor.wallets, pool="main")] == [
        "main-hot", "omni-btc"]  # fmt: skip
    assert auditor.wallet("omni-btc", limit=1)["address_page"]["items"][0]["address"] == RECEIVE[0]
    assert RECEIVE[0] in [a["address"] for a in alice.deposit_addresses("alice")["items"]]
    with pytest.raises(ProblemError) as refused:
        alice.deposit_addresses("bob")
    assert (refused.value.status, refused.value.code) == (404, "client_not_found")
    pack = zipfile.ZipFile(io.BytesIO(auditor.resolution_pack()))
    assert "index.json" in pack.namelist()
