"""Every route, for every role, on its own and on another client's resource: the status due.

The expectations are written out here, by duty, independently of the permission table in
core/access/roles.py, so that a change there which opens a door fails this test. ``own`` is a
resource of alice (the client principal under test) and ``other`` one of bob; for staff the
two are alike. Every route the app serves must appear below (``test_every_route_is_covered``).
"""

from __future__ import annotations

import itertools
import json
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from fastapi.routing import APIRoute
from tests.support import BTC, btc_address, journal_signer
from tests.support_api import ApiWorld, api_world, build_domains

from ringfence.adapters.clock import ManualClock
from ringfence.adapters.storage.memory import MemoryStore
from ringfence.core.access.roles import Actor
from ringfence.core.ledger import wire
from ringfence.core.principals.records import PrincipalRole
from ringfence.service import custody_requests, policy, webhooks, withdrawals
from ringfence.service.custody import CustodyService
from ringfence.service.ledger import LedgerService

PRINCIPALS = ("operator", "approver", "compliance", "auditor", "admin", "alice")
TARGETS = ("own", "other")
OWNER = {"own": "alice", "other": "bob"}
OWN_DEPOSIT, OTHER_DEPOSIT = 1, 2
_ids = itertools.count(1_000)


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ApiWorld]:
    service = LedgerService(MemoryStore(), ManualClock(), journal_signer())
    built = api_world(service, tmp_path_factory.mktemp("matrix"))
    custodian = built.custodian
    deposits = [
        custodian.deposit(OWN_DEPOSIT, "alice", 10**9),
        custodian.deposit(OTHER_DEPOSIT, "bob", 10**9),
    ]
    document = {"transfers": [wire.transfer_to_json(t, BTC) for t in deposits]}
    assert built.post("operator", "/v1/transfers", document).json()["ok"]
    build_domains(built)
    _deposit_addresses(built)
    _publish_policy(built)
    for withdrawal_id, client in ((OWN_WITHDRAWAL, "alice"), (OTHER_WITHDRAWAL, "bob")):
        _withdrawal(built, client, withdrawal_id)
    yield built
    built.http.close()


# Withdrawals and policies: every staff key's principal is in the policy's groups, so that a
# refusal below is the role's, never four-eyes'. Fresh withdrawals and drafts are made by
# principals that hold no key here (``ops-desk``, ``drafter``).
OWN_WITHDRAWAL, OTHER_WITHDRAWAL = 1, 2
BTC_ADDRESS = "bc1qw508d6qejxtdg4y5r3zarvary0c5xw7kv8f3t4"
DESK = Actor("ops-desk", PrincipalRole.operator)
DRAFTER = Actor("drafter", PrincipalRole.compliance)
SIMULATION = {"from": "2023-11-14", "version": 1}


def _scenario(world: ApiWorld) -> dict[str, Any]:
    """A failure scenario pricing every asset, those the admin's cells define included."""
    return {"prices": {code: "1.00" for code in world.bundle.ledger.ledger.assets}}


# BIP84's test account key: its receive addresses 0 and 1 become alice's and bob's deposit
# addresses.
ZPUB = (
    "zpub6rFR7y4Q2AijBEqTUquhVz398htDFrtymD9xYYfG1m4wAcvPhXNfE3EfH1r1ADqtfSdVCToUG868RvUUkgDKf31m"
    "GDtKsAYz2oz2AGutZYs"
)


def _deposit_addresses(world: ApiWorld) -> None:
    custody = CustodyService(world.bundle.ledger)
    created = custody_requests.create_wallet(
        custody, "omni-btc", chain="bitcoin", scheme="bip84", keys=[ZPUB], pool="main"
    )
    assert created["ok"]
    for index, client in enumerate(("alice", "bob")):
        assigned = custody_requests.assign_addresses(
            custody, "omni-btc", start=index, client=client
        )
        assert assigned["ok"]


def _wallet_body() -> dict[str, Any]:
    n = next(_ids)
    return {"name": f"w-{n}", "chain": "bitcoin", "scheme": "address",
            "keys": [btc_address(f"w-{n}")], "pool": "main"}  # fmt: skip


def _assign_body(target: str) -> dict[str, Any]:
    """The next unused receive index of the wallet, for alice or bob."""
    return {"start": next(_ids), "client": OWNER[target]}


def _next_round(world: ApiWorld) -> dict[str, Any]:
    return {"round": str(max(world.bundle.round_store().numbers(), default=0) + 1)}


def _staff(world: ApiWorld, role: str) -> Actor:
    found = next(k for k in world.bundle.keys.records() if k.role.name == role)
    return Actor(found.name, found.role)


def _policy_document(world: ApiWorld) -> dict[str, Any]:
    approver = _staff(world, "approver").name
    admins = [approver, _staff(world, "compliance").name, _staff(world, "admin").name]
    return {
        "format": 1,
        "governance": {"group": "policy-admins", "approvals": 1, "time_lock_s": 0},
        "groups": {"treasury": [approver], "policy-admins": admins},
        "fee_max": {"BTC": "0.001", "ETH": "0.01"},
        "rules": [{"id": "all", "action": {"require": 1, "groups": ["treasury"]}}],
    }


def _draft(world: ApiWorld) -> int:
    text = json.dumps(_policy_document(world)).encode()
    return int(policy.draft(world.bundle.ledger, DRAFTER, text)["version"])


def _approved_draft(world: ApiWorld) -> int:
    version = _draft(world)
    policy.approve(world.bundle.ledger, _staff(world, "approver"), version)
    return version


def _publish_policy(world: ApiWorld) -> None:
    policy.publish(world.bundle.ledger, _staff(world, "admin"), _approved_draft(world))


def _withdrawal_body(client: str, withdrawal_id: int) -> dict[str, Any]:
    return {"id": str(withdrawal_id), "client": client, "pool": "main", "asset": "BTC",
            "amount": "0.00000001", "destination": BTC_ADDRESS}  # fmt: skip


def _withdrawal(world: ApiWorld, client: str, withdrawal_id: int | None = None) -> int:
    chosen = withdrawal_id or next(_ids)
    withdrawals.request(world.bundle.ledger, DESK, _withdrawal_body(client, chosen))
    return chosen


def _withdrawal_id(world: ApiWorld, target: str) -> int:
    return OWN_WITHDRAWAL if target == "own" else OTHER_WITHDRAWAL


def everyone(who: str, target: str) -> int:
    return 200


def staff(who: str, target: str) -> int:
    return 403 if who == "alice" else 200


def admin(who: str, target: str) -> int:
    return 200 if who == "admin" else 403


def auditing(who: str, target: str) -> int:
    return 200 if who in ("auditor", "admin") else 403


def resolving(who: str, target: str) -> int:
    """What every client would get back in a failure: compliance and the auditor."""
    return 200 if who in ("compliance", "auditor") else 403


def scoped(who: str, target: str) -> int:
    """Staff see every client's; a client its own, and another's does not exist for it."""
    if who == "alice":
        return 200 if target == "own" else 404
    return 200


def operating(who: str, target: str) -> int:
    return 200 if who == "operator" else 403


def _fill() -> dict[str, Any]:
    """A fill of one lot into the small venue's first bucket (a new id each time: ``ok``)."""
    return {"fills": [{"id": next(_ids), "bucket": "b000001", "symbol": "btc-usdc-perp",
                       "lots": 1, "price": "63700.0", "fee": 10}]}


def building(who: str, target: str) -> int:
    """A proof-of-reserves round is built by the operator, or the admin."""
    return 200 if who in ("operator", "admin") else 403


def reconciling(who: str, target: str) -> int:
    return 200 if who in ("operator", "compliance") else 403


def own_only(who: str, target: str) -> int:
    """A client's own secrets: that client alone (another's does not exist for it), and the
    auditor, who samples them."""
    if who == "alice":
        return 200 if target == "own" else 404
    return 200 if who == "auditor" else 403


def approving(who: str, target: str) -> int:
    return 200 if who == "approver" else 403


def deciding(who: str, target: str) -> int:
    """An approver approves or rejects; a client never decides another's (not found to it)
    nor, not having initiated it, its own."""
    if who == "alice" and target == "other":
        return 404
    return approving(who, target)


def processing(who: str, target: str) -> int:
    """The operator drives approved withdrawals along the chain."""
    return 200 if who == "operator" else 403


def drafting(who: str, target: str) -> int:
    return 200 if who in ("compliance", "admin") else 403


def approving_policy(who: str, target: str) -> int:
    return 200 if who in ("approver", "compliance", "admin") else 403


def moving(who: str, target: str) -> int:
    """The operator initiates movements; a client moves only its own money."""
    if who == "operator":
        return 200
    if who == "alice":
        return 200 if target == "own" else 404
    return 403


Request = Callable[[ApiWorld, str, str], Any]
RECEIVER = "http://127.0.0.1:9/hooks"  # never called: nothing delivers in this test


def _subscription(world: ApiWorld) -> str:
    """A new subscription's id, made through the service as an admin."""
    admin = Actor("root", PrincipalRole.admin)
    document = {"url": RECEIVER, "types": ["*"]}
    ledger = world.bundle.ledger
    made = webhooks.subscribe(ledger, world.bundle.webhooks, ledger.clock, admin, document)
    return str(made["id"])


def _account(world: ApiWorld, target: str) -> int:
    return world.custodian.client(OWNER[target])


def _deposit(world: ApiWorld, target: str) -> int:
    return OWN_DEPOSIT if target == "own" else OTHER_DEPOSIT


def _transfer_body(world: ApiWorld, who: str, target: str) -> dict[str, Any]:
    custodian = world.custodian
    if who == "alice":  # an internal transfer out of alice's (own) or bob's (other) account
        payer, payee = ("alice", "bob") if target == "own" else ("bob", "alice")
        transfer = custodian.internal(next(_ids), payer, payee, 1)
    else:
        transfer = custodian.deposit(next(_ids), OWNER[target], 1)
    return {"transfers": [wire.transfer_to_json(transfer, BTC)]}


def _define(what: str) -> Request:
    def body(n: int) -> dict[str, Any]:
        return {
            "assets": {"assets": [{"code": f"X{n}", "scale": 2, "number": 100 + n}]},
            "clients": {"clients": [f"zed-{n}"]},
            "pools": {"pools": [{"name": f"pool-{n}", "kind": "omnibus", "terms": "custody"}]},
            "accounts": {
                "accounts": [
                    {
                        "id": str(100_000 + n),
                        "asset": "BTC",
                        "class": "client",
                        "owner": "alice",
                        "kind": f"collateral:b{n}",
                        "pool": "margin",
                    }
                ]
            },
        }[what]

    return lambda world, who, target: world.post(who, f"/v1/{what}", body(next(_ids)))


# (method, route template, expectation, request)
CELLS: list[tuple[str, str, Callable[[str, str], int], Request]] = [
    ("GET", "/v1/assets", everyone, lambda w, who, t: w.get(who, "/v1/assets")),
    ("POST", "/v1/assets", admin, _define("assets")),
    ("GET", "/v1/clients", everyone, lambda w, who, t: w.get(who, "/v1/clients")),
    ("POST", "/v1/clients", admin, _define("clients")),
    ("GET", "/v1/pools", everyone, lambda w, who, t: w.get(who, "/v1/pools")),
    ("POST", "/v1/pools", admin, _define("pools")),
    ("GET", "/v1/accounts", scoped, lambda w, who, t: w.get(who, "/v1/accounts", client=OWNER[t])),
    ("POST", "/v1/accounts", admin, _define("accounts")),
    (
        "GET",
        "/v1/accounts/{account_id}",
        scoped,
        lambda w, who, t: w.get(who, f"/v1/accounts/{_account(w, t)}"),
    ),
    ("GET", "/v1/balances", scoped, lambda w, who, t: w.get(who, "/v1/balances", client=OWNER[t])),
    (
        "GET",
        "/v1/balances/{account_id}",
        scoped,
        lambda w, who, t: w.get(who, f"/v1/balances/{_account(w, t)}"),
    ),
    (
        "POST",
        "/v1/transfers",
        moving,
        lambda w, who, t: w.post(who, "/v1/transfers", _transfer_body(w, who, t)),
    ),
    (
        "GET",
        "/v1/transfers",
        scoped,
        lambda w, who, t: w.get(who, "/v1/transfers", account=_account(w, t)),
    ),
    (
        "GET",
        "/v1/transfers/{transfer_id}",
        scoped,
        lambda w, who, t: w.get(who, f"/v1/transfers/{_deposit(w, t)}"),
    ),
    (
        "POST",
        "/v1/withdrawals",
        moving,
        lambda w, who, t: w.post(who, "/v1/withdrawals", _withdrawal_body(OWNER[t], next(_ids))),
    ),
    (
        "GET",
        "/v1/withdrawals",
        scoped,
        lambda w, who, t: w.get(who, "/v1/withdrawals", client=OWNER[t]),
    ),
    (
        "GET",
        "/v1/withdrawals/{withdrawal_id}",
        scoped,
        lambda w, who, t: w.get(who, f"/v1/withdrawals/{_withdrawal_id(w, t)}"),
    ),
    (
        "POST",
        "/v1/withdrawals/{withdrawal_id}/approve",
        deciding,
        lambda w, who, t: w.post(who, f"/v1/withdrawals/{_withdrawal(w, OWNER[t])}/approve", {}),
    ),
    (
        "POST",
        "/v1/withdrawals/{withdrawal_id}/reject",
        deciding,
        lambda w, who, t: w.post(who, f"/v1/withdrawals/{_withdrawal(w, OWNER[t])}/reject", {}),
    ),
    (
        "GET",
        "/v1/withdrawals/{withdrawal_id}/approval-instruction",
        staff,
        lambda w, who, t: w.get(
            who, f"/v1/withdrawals/{_withdrawal_id(w, t)}/approval-instruction"
        ),
    ),
    (
        "POST",
        "/v1/withdrawals/process",
        processing,
        lambda w, who, t: w.post(who, "/v1/withdrawals/process", {"confirmations": 6}),
    ),
    ("GET", "/v1/policies", staff, lambda w, who, t: w.get(who, "/v1/policies")),
    ("GET", "/v1/policies/{version}", staff, lambda w, who, t: w.get(who, "/v1/policies/1")),
    (
        "POST",
        "/v1/policies",
        drafting,
        lambda w, who, t: w.post(who, "/v1/policies", {"policy": _policy_document(w)}),
    ),
    (
        "POST",
        "/v1/policies/{version}/approve",
        approving_policy,
        lambda w, who, t: w.post(who, f"/v1/policies/{_draft(w)}/approve", {}),
    ),
    (
        "GET",
        "/v1/policies/{version}/approval-instruction",
        staff,
        lambda w, who, t: w.get(who, "/v1/policies/1/approval-instruction", approver="ann"),
    ),
    (
        "POST",
        "/v1/policies/{version}/publish",
        drafting,
        lambda w, who, t: w.post(who, f"/v1/policies/{_approved_draft(w)}/publish", {}),
    ),
    (
        "POST",
        "/v1/policies/simulate",
        staff,
        lambda w, who, t: w.post(who, "/v1/policies/simulate", SIMULATION),
    ),
    ("GET", "/v1/positions", staff, lambda w, who, t: w.get(who, "/v1/positions")),
    ("POST", "/v1/audit/verify", auditing, lambda w, who, t: w.post(who, "/v1/audit/verify", None)),
    ("GET", "/metrics", staff, lambda w, who, t: w.get(who, "/metrics")),
    ("GET", "/v1/health", everyone, lambda w, who, t: w.http.get("/v1/health")),
    ("GET", "/v1/events", everyone, lambda w, who, t: w.get(who, "/v1/events", limit=5)),
    ("GET", "/v1/webhooks", admin, lambda w, who, t: w.get(who, "/v1/webhooks")),
    (
        "POST",
        "/v1/webhooks",
        admin,
        lambda w, who, t: w.post(who, "/v1/webhooks", {"url": RECEIVER, "types": ["*"]}),
    ),
    (
        "GET",
        "/v1/webhooks/{subscription_id}",
        admin,
        lambda w, who, t: w.get(who, f"/v1/webhooks/{_subscription(w)}"),
    ),
    (
        "DELETE",
        "/v1/webhooks/{subscription_id}",
        admin,
        lambda w, who, t: w.http.delete(f"/v1/webhooks/{_subscription(w)}", headers=w.headers(who)),
    ),
    (
        "POST",
        "/v1/webhooks/{subscription_id}/replay",
        admin,
        lambda w, who, t: w.post(who, f"/v1/webhooks/{_subscription(w)}/replay", {"after": "0"}),
    ),
    (
        "POST",
        "/v1/reconciliations",
        reconciling,
        lambda w, who, t: w.post(who, "/v1/reconciliations", {}),
    ),
    (
        "GET",
        "/v1/statements/segregation",
        staff,
        lambda w, who, t: w.get(who, "/v1/statements/segregation"),
    ),
    (
        "POST",
        "/v1/statements/segregation",
        staff,
        lambda w, who, t: w.post(who, "/v1/statements/segregation", {"as_of": "2030-01-01"}),
    ),
    (
        "GET",
        "/v1/statements/clients/{client}",
        scoped,
        lambda w, who, t: w.get(
            who, f"/v1/statements/clients/{OWNER[t]}", **{"from": "2020-01-01", "to": "2024-01-01"}
        ),
    ),
    (
        "GET",
        "/v1/statements/register",
        staff,
        lambda w, who, t: w.get(who, "/v1/statements/register"),
    ),
    ("GET", "/v1/breaks", staff, lambda w, who, t: w.get(who, "/v1/breaks")),
    ("GET", "/v1/breaks/{break_id}", staff, lambda w, who, t: w.get(who, "/v1/breaks/1")),
    (
        "POST",
        "/v1/breaks/{break_id}/explain",
        reconciling,
        lambda w, who, t: w.post(who, "/v1/breaks/1/explain", {"cause": "loss", "action": "claim"}),
    ),
    (
        "POST",
        "/v1/breaks/{break_id}/cure",
        reconciling,
        lambda w, who, t: w.post(who, "/v1/breaks/1/cure", {"correction": "tx 42"}),
    ),
    ("GET", "/v1/ledger-breaks", staff, lambda w, who, t: w.get(who, "/v1/ledger-breaks")),
    ("GET", "/v1/por/rounds", everyone, lambda w, who, t: w.get(who, "/v1/por/rounds")),
    ("GET", "/v1/por/rounds/{number}", everyone, lambda w, who, t: w.get(who, "/v1/por/rounds/1")),
    (
        "GET",
        "/v1/por/rounds/{number}/proofs/{client}",
        own_only,
        lambda w, who, t: w.get(who, f"/v1/por/rounds/latest/proofs/{OWNER[t]}"),
    ),
    ("GET", "/v1/risk/scan", staff, lambda w, who, t: w.get(who, "/v1/risk/scan")),
    ("POST", "/v1/risk/fills", operating, lambda w, who, t: w.post(who, "/v1/risk/fills", _fill())),
    ("GET", "/v1/liquidation/funds", staff, lambda w, who, t: w.get(who, "/v1/liquidation/funds")),
    (
        "POST",
        "/v1/regulatory/{report}",
        staff,
        lambda w, who, t: w.post(who, "/v1/regulatory/possession", {}),
    ),
    (
        "POST",
        "/v1/regulatory/in-kind",
        resolving,
        lambda w, who, t: w.post(who, "/v1/regulatory/in-kind", {"scenario": _scenario(w)}),
    ),
    (
        "POST",
        "/v1/insolvency/simulations",
        resolving,
        lambda w, who, t: w.post(who, "/v1/insolvency/simulations", {"scenario": _scenario(w)}),
    ),
    (
        "POST",
        "/v1/por/rounds",
        building,
        lambda w, who, t: w.post(who, "/v1/por/rounds", _next_round(w)),
    ),
    (
        "POST",
        "/v1/resolution-packs",
        resolving,
        lambda w, who, t: w.post(who, "/v1/resolution-packs", {}),
    ),
    ("GET", "/v1/wallets", staff, lambda w, who, t: w.get(who, "/v1/wallets", pool="main")),
    ("POST", "/v1/wallets", admin, lambda w, who, t: w.post(who, "/v1/wallets", _wallet_body())),
    (
        "POST",
        "/v1/wallets/{name}/addresses",
        admin,
        lambda w, who, t: w.post(who, "/v1/wallets/omni-btc/addresses", _assign_body(t)),
    ),
    (
        "POST",
        "/v1/wallets/{name}/designation",
        admin,
        lambda w, who, t: w.post(who, "/v1/wallets/omni-btc/designation", {"tier": "warm"}),
    ),
    (
        "POST",
        "/v1/clients/{client}/addresses",
        admin,
        lambda w, who, t: w.post(
            who, f"/v1/clients/{OWNER[t]}/addresses", {"address": btc_address(str(next(_ids)))}
        ),
    ),
    ("GET", "/v1/wallets/{name}", staff, lambda w, who, t: w.get(who, "/v1/wallets/omni-btc")),
    (
        "GET",
        "/v1/clients/{client}/deposit-addresses",
        scoped,
        lambda w, who, t: w.get(who, f"/v1/clients/{OWNER[t]}/deposit-addresses"),
    ),
]


Cell = tuple[str, str, Callable[[str, str], int], Request]


@pytest.mark.parametrize(
    ("cell", "who", "target"),
    [
        pytest.param(cell, who, target, id=f"{cell[0]} {cell[1]} {who} {target}")
        for cell, who, target in itertools.product(CELLS, PRINCIPALS, TARGETS)
    ],
)
def test_cell(world: ApiWorld, cell: Cell, who: str, target: str) -> None:
    method, route, expected, request_of = cell
    response = request_of(world, who, target)
    want = expected(who, target)
    assert response.status_code == want, response.text
    if want != 200:
        problem = response.json()
        assert response.headers["content-type"] == "application/problem+json"
        assert problem["status"] == want
        assert problem["code"] in (
            "role_forbidden",
            "account_not_found",
            "client_not_found",
            "transfer_not_found",
            "withdrawal_not_found",
        )
    elif method == "POST" and route not in _not_creates:
        assert response.json()["ok"], response.text


# Writes whose answer is not a create's ``ok``: a cure stays open until its make-good comes.
_not_creates = (
    "/v1/audit/verify",
    "/v1/webhooks",
    "/v1/webhooks/{subscription_id}/replay",
    "/v1/breaks/{break_id}/cure",
    "/v1/resolution-packs",  # a zip
)


def test_every_route_is_covered(world: ApiWorld) -> None:
    served = {
        (method, route.path)
        for route in world.http.app.routes
        if isinstance(route, APIRoute)
        for method in route.methods
    }
    assert served == {(method, route) for method, route, _, _ in CELLS}


def test_a_client_lists_nothing_of_another_client(world: ApiWorld) -> None:
    """0 cross-client reads: every item a client's lists show is its own."""
    own = {
        str(state.definition.id)
        for state in world.bundle.ledger.ledger.accounts.values()
        if state.definition.owner == "alice" and state.definition.account_class.value == "client"
    }
    assert len(own) >= 6
    accounts = world.get("alice", "/v1/accounts", limit=1000).json()["items"]
    assert {row["id"] for row in accounts} == own
    balances = world.get("alice", "/v1/balances", limit=1000).json()["items"]
    assert {row["account"] for row in balances} == own
    transfers = world.get("alice", "/v1/transfers", limit=1000).json()["items"]
    assert transfers
    assert all({row["debit_account"], row["credit_account"]} & own for row in transfers)
    events = world.get("alice", "/v1/events", limit=1000).json()["items"]
    moved = [row["data"] for row in events if row["type"].startswith("transfer.")]
    assert moved
    assert all({row["debit_account"], row["credit_account"]} & own for row in moved)
    shown = {row["type"] for row in events}
    # Its own withdrawals' holds are its events too; nothing of the journal's other kinds.
    holds = {"transfer.pending", "transfer.pending_posted", "transfer.pending_voided"}
    assert shown <= {"transfer.posted", "account.defined", "client.defined", *holds}
    assert [row["name"] for row in world.get("alice", "/v1/clients").json()["items"]] == ["alice"]
    pools = {row["name"] for row in world.get("alice", "/v1/pools").json()["items"]}
    assert pools == {"main", "margin"}
    addresses = world.get("alice", "/v1/clients/alice/deposit-addresses", limit=1000).json()
    assert addresses["items"]
    assert {row["client"] for row in addresses["items"]} == {"alice"}
    # Staff see bob's too: the filter is the scope's, not an accident of the data.
    assert len(world.get("operator", "/v1/accounts", limit=1000).json()["items"]) > len(own)
