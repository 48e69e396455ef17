"""The service's test world: the small custodian of ``tests/support.py`` behind the REST API,
with an API key for every role and for two clients, alice and bob.

Keys are hashed with cheap argon2id parameters here (the cost is the same code path; only the
work factor differs), so a test that makes many keys stays fast.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

from argon2 import PasswordHasher
from fastapi.testclient import TestClient
from tests.support import MAIN, Custodian, btc_address, build_custodian

from ringfence import bootstrap
from ringfence.adapters.executors import InProcessExecutor
from ringfence.core.custody.registry import Chain, Scheme, Wallet
from ringfence.core.errors import Result
from ringfence.demo.risk import write_venue
from ringfence.entrypoints.api.app import create_app
from ringfence.service import por
from ringfence.service.custody import CustodyService
from ringfence.service.keys import create_key
from ringfence.service.ledger import LedgerService

STAFF_ROLES = ("operator", "approver", "compliance", "auditor", "admin")
CLIENT_KEYS = ("alice", "bob")


def fast_hasher() -> PasswordHasher:
    return PasswordHasher(time_cost=1, memory_cost=8, parallelism=1)


@dataclass
class ApiWorld:
    http: TestClient
    custodian: Custodian
    bundle: bootstrap.ServiceBundle
    keys: dict[str, str]  # a role's name, or a client's name -> its key's text

    def headers(self, who: str, **more: str) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.keys[who]}", **more}

    def get(self, who: str, path: str, **params: object) -> object:
        return self.http.get(path, headers=self.headers(who), params=params)

    def post(self, who: str, path: str, document: object, **headers: str) -> object:
        return self.http.post(path, headers=self.headers(who, **headers), json=document)


def api_world(
    service: LedgerService, folder: Path | None = None, *, url: str = "memory://"
) -> ApiWorld:
    """The custodian defined in ``service``, a key per role and per client, and a client;
    proof-of-reserves rounds in ``folder`` when given. ``url``: the ledger's, when the keys
    should be kept beside it for a server started later."""
    custodian = build_custodian(service)
    bundle = bootstrap.open_service(url, ledger=service, hasher=fast_hasher())
    if folder is not None:
        bundle.rounds = bootstrap.round_store("memory://", str(folder / "por"))
    keys: dict[str, str] = {}
    for role in STAFF_ROLES:
        keys[role] = create_key(bundle.keys, service.clock, fast_hasher(), service, role=role)[1]
    for client in CLIENT_KEYS:
        keys[client] = create_key(
            bundle.keys, service.clock, fast_hasher(), service, role="client", client=client
        )[1]
    return ApiWorld(TestClient(create_app(bundle)), custodian, bundle, keys)


def build_domains(world: ApiWorld) -> None:
    """A reconciliation break (main-hot holds less than its book), a proof-of-reserves round
    and a small venue, for the routes of those domains."""
    ledger = world.bundle.ledger
    wallet = Wallet("main-hot", Chain.bitcoin, Scheme.address, (btc_address("h"),), MAIN, "hot")
    assert CustodyService(ledger).change([wallet]) == [Result.ok]
    observed = json.dumps({"chain": "bitcoin", "address": btc_address("h"), "asset": "BTC",
                           "amount": "5", "height": 1, "time_ns": 0, "source": "t"})  # fmt: skip
    run = world.post("compliance", "/v1/reconciliations", {"observations": observed + "\n"})
    assert run.json()["breaks_open"], run.text
    rounds = world.bundle.round_store()
    por.build_and_keep_round(
        ledger, rounds, snapshot=None, holdings=None, control=None, executor=InProcessExecutor()
    )
    write_venue(ledger, 3, 7, None)
