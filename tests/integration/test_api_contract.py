"""The REST API against its OpenAPI document (the committed docs/openapi.json, which
tests/unit/entrypoints/api/test_openapi.py keeps equal to the one the app serves), over the
network: schemathesis generates requests for every operation (valid ones, ones that break the
schema, and methods the route does not have) and sends them to a real ``ringfence serve``
process on a loopback port, over an SQLite ledger built for it; every answer must be below 500
and every error an RFC 9457 problem whose ``code`` is a named result. About 1,700 cases in all
(at least ``cases_min``, checked), in about 50 s.

Each case is sent as the first role that the route does not refuse (403), so that the write
routes are reached by a role that may write, not only refused. At the end the server must
still be running and ``audit verify`` must pass on what the cases wrote."""

from __future__ import annotations

import copy
import json
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import requests
import schemathesis
from hypothesis import HealthCheck, settings
from tests import support_cli as cli
from tests.support import BTC, custodian_definitions
from tests.support_api import ApiWorld, api_world, build_domains
from tests.support_serve import start_server, stop_server

from ringfence import bootstrap
from ringfence.core.errors import Result
from ringfence.core.ledger import wire

roles_in_turn = ("admin", "operator", "compliance", "approver", "auditor", "alice")
examples_per_operation = 12
cases_min = 1_000
known_codes = {result.name for result in Result}


@dataclass
class LiveServer:
    base: str
    keys: dict[str, str]
    session: requests.Session
    process: subprocess.Popen[bytes]
    cases: int = 0  # sent so far

    def headers(self, who: str) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.keys[who]}"}


def build_world(folder: Path) -> tuple[str, dict[str, str]]:
    """A fresh SQLite ledger with something in every domain (deposits, a break, a
    proof-of-reserves round, a venue), so that generated ids and names sometimes hit and the
    writes change it; and a key for every role. Built in this process, then closed."""
    url = f"sqlite:///{folder / 'ringfence.db'}"
    service = bootstrap.open_ledger(url)
    world: ApiWorld = api_world(service, folder, url=url)
    try:
        deposits = [
            world.custodian.deposit(1, "alice", 10**9),
            world.custodian.deposit(2, "bob", 7),
        ]
        document = {"transfers": [wire.transfer_to_json(t, BTC) for t in deposits]}
        assert world.post("operator", "/v1/transfers", document).json()["ok"]
        build_domains(world)
        return url, dict(world.keys)
    finally:
        world.http.close()
        world.bundle.close()


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    folder = tmp_path_factory.mktemp("contract")
    url, keys = build_world(folder)
    log = folder / "serve.log"
    process, base = start_server(url, log, {}, "--deliver-every", "0")
    session = requests.Session()
    try:
        live = LiveServer(base, keys, session, process)
        yield live
        assert process.poll() is None, log.read_text()
        assert live.cases >= cases_min, f"only {live.cases} cases were generated"
    finally:
        session.close()
        stop_server(process)
    audit = cli.run(url, "audit", "verify", "--json")
    assert audit.status == 0, audit.stdout + audit.stderr


def contract() -> Any:
    """docs/openapi.json, with a bulk transfer create's accounts narrowed to the small
    custodian's, for generation only: a random u128 is almost never an account, and
    schemathesis should reach the ledger's checks with transfers it takes, not only its
    ``debit_account_not_found``.

    Loaded when the module is collected, not from a fixture: schemathesis's fixture-loaded
    schemas rename pytest's test nodes through a private attribute that pytest 9 no longer
    has."""
    path = Path(__file__).parents[2] / "docs" / "openapi.json"
    document = json.loads(path.read_text(encoding="utf-8"))
    body = document["paths"]["/v1/transfers"]["post"]["requestBody"]
    items = body["content"]["application/json"]["schema"]["properties"]["transfers"]["items"]
    accounts = {"enum": [str(account.id) for account in custodian_definitions().accounts]}
    items = copy.deepcopy(items)
    items["properties"]["debit_account"] = accounts
    items["properties"]["credit_account"] = accounts
    items["required"] = ["id", "debit_account", "credit_account", "amount", "code"]
    items["properties"]["amount"] = {
        "type": "string",
        "pattern": "^[1-9][0-9]{0,30}([.][0-9]{1,8})?$",
    }
    body["content"]["application/json"]["schema"]["properties"]["transfers"]["items"] = items
    return schemathesis.openapi.from_dict(document)


schema = contract()


@pytest.mark.slowest
@schema.parametrize()
@settings(
    max_examples=examples_per_operation,
    deadline=None,
    database=None,
    suppress_health_check=list(HealthCheck),
)
def test_every_operation_answers_below_500_and_every_error_is_a_named_problem(
    case: Any, server: LiveServer
) -> None:
    server.cases += 1
    for role in roles_in_turn:
        response = case.call(
            base_url=server.base, session=server.session, headers=server.headers(role), timeout=60
        )
        if response.status_code != 403:
            break
    assert response.status_code < 500, (case.method, case.path, response.text)
    if response.status_code >= 400:
        assert response.headers["content-type"][0].startswith("application/problem+json"), (
            case.method,
            case.path,
            response.status_code,
            response.text,
        )
        problem = response.json()
        assert problem["code"] in known_codes, problem
        assert problem["status"] == response.status_code, problem
