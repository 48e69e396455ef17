"""Bearer tokens revoked before their exp (``--token-revocations FILE``; core/access/revocations.py,
service/tokens.py): the app in this process with a real key set and a revocation file, and the
``ringfence serve`` command refusing a malformed file at start.

A token is accepted; its jti is written to the file and the next request is refused
(``token_revoked``, 401) on every route; a subject revoked at a time loses the tokens issued
until then and keeps one issued after; a file that becomes malformed refuses every token (503)
until it is fixed, while API keys go on working."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from fastapi.routing import APIRoute
from fastapi.testclient import TestClient
from tests import support_cli as cli
from tests.support import build_custodian, journal_signer
from tests.support_api import fast_hasher
from tests.support_tokens import AUDIENCE, ISSUER, Issuer
from tests.support_withdrawals import World, withdrawal_world

from ringfence import bootstrap
from ringfence.adapters.clock import ManualClock
from ringfence.adapters.storage.memory import MemoryStore
from ringfence.core.access.tokens import TokenSettings
from ringfence.core.principals.records import PrincipalRole
from ringfence.entrypoints.api.app import create_app
from ringfence.remote import ProblemError, RemoteService
from ringfence.service.keys import create_key
from ringfence.service.ledger import LedgerService

TOKEN_ROLES = frozenset(PrincipalRole) - {PrincipalRole.admin}


@dataclass
class Served:
    http: TestClient
    world: World
    issuer: Issuer
    revocations: Path
    operator_key: str

    def as_(self, token: str) -> RemoteService:
        return RemoteService(token=token, http=self.http)

    def revoke(self, document: object) -> None:
        self.revocations.write_text(json.dumps(document))


@pytest.fixture
def served(tmp_path: Path) -> Iterator[Served]:
    clock = ManualClock()
    ledger = LedgerService(MemoryStore(), clock, journal_signer())
    world = withdrawal_world(ledger, clock)
    issuer = Issuer.made()
    issuer.now_s = clock.now_ns() // 10**9
    jwks = issuer.write_jwks(tmp_path / "jwks.json")
    revocations = tmp_path / "revoked.json"
    revocations.write_text('{"tokens": []}')
    bundle = bootstrap.open_service(
        "memory://",
        ledger=ledger,
        hasher=fast_hasher(),
        tokens=TokenSettings(ISSUER, AUDIENCE, ("RS256", "EdDSA"), roles=TOKEN_ROLES),
        key_set=str(jwks),
        token_revocations=str(revocations),
    )
    key = create_key(bundle.keys, clock, fast_hasher(), ledger, role="operator", name="ops")[1]
    with TestClient(create_app(bundle)) as http:
        yield Served(http, world, issuer, revocations, key)


def refusal(call: object) -> tuple[int, str]:
    assert callable(call)
    with pytest.raises(ProblemError) as raised:
        call()
    return raised.value.status, raised.value.code


def test_a_token_whose_jti_is_revoked_is_refused_from_the_next_request(served: Served) -> None:
    issuer = served.issuer
    token = issuer.token("ann", "approver", jti="t-1")
    other = issuer.token("ann", "approver", jti="t-2")
    auditor = served.as_(token)
    assert auditor.balances()["items"]
    served.revoke({"tokens": ["t-1"]})
    assert refusal(auditor.balances) == (401, "token_revoked")
    assert served.as_(other).balances()["items"]  # another token of the same principal
    served.revoke({"tokens": []})  # taken off the list: accepted again
    assert auditor.balances()["items"]


def test_a_revoked_token_is_refused_on_every_route(served: Served) -> None:
    token = served.issuer.token("ann", "approver", jti="t-1")
    assert served.as_(token).balances()["items"]
    served.revoke({"tokens": ["t-1"]})
    # Every route of the API, its path parameters and required query parameters filled in.
    routes = [
        (method, re.sub(r"\{[^}]+\}", "1", route.path),
         {field.alias: "1" for field in route.dependant.query_params
          if field.field_info.is_required()})
        for route in served.http.app.routes  # type: ignore[attr-defined]
        if isinstance(route, APIRoute) and route.path.startswith("/v1/")
        and route.path != "/v1/health"
        for method in sorted(route.methods)
    ]  # fmt: skip
    assert len(routes) > 40
    headers = {"Authorization": f"Bearer {token}"}
    for method, path, query in routes:
        answer = served.http.request(method, path, params=query, headers=headers, json={})
        assert (answer.status_code, answer.json()["code"]) == (401, "token_revoked"), (
            method, path, answer.text)
        assert answer.headers["www-authenticate"] == "Bearer"


def test_a_subject_revoked_at_a_time_keeps_only_the_tokens_issued_after_it(
    served: Served,
) -> None:
    issuer = served.issuer
    before = issuer.token("ann", "approver", now_s=issuer.now_s - 60)
    undated = issuer.token("ann", "approver", iat=None)
    ben = issuer.token("ben", "approver", now_s=issuer.now_s - 60)
    served.revoke({"subjects": [{"name": "ann", "revoked_at": issuer.now_s - 30}]})
    assert refusal(served.as_(before).balances) == (401, "token_revoked")
    assert refusal(served.as_(undated).balances) == (401, "token_revoked")
    assert served.as_(ben).balances()["items"]
    after = issuer.token("ann", "approver")  # signed in again after the revocation
    assert served.as_(after).balances()["items"]
    served.revocations.write_text("sub ann\n")  # the text form, and no time: every token
    assert refusal(served.as_(after).balances) == (401, "token_revoked")


def test_a_list_that_becomes_malformed_refuses_every_token_until_fixed(served: Served) -> None:
    token = served.issuer.token("ann", "approver")
    served.revocations.write_text('{"tokens": [1]}')
    assert refusal(served.as_(token).balances) == (503, "token_revocations_invalid")
    assert served.as_(served.operator_key).balances()["items"]  # API keys are not affected
    served.revocations.unlink()
    assert refusal(served.as_(token).balances)[0] == 503
    served.revoke({"tokens": ["t-9"]})
    assert served.as_(token).balances()["items"]


@pytest.mark.parametrize(
    "edit", ["jti t-1\nsub eve \u00b2\n", "jti t-1\nsub eve " + "9" * 5000 + "\n"]
)
def test_an_edit_that_cannot_be_parsed_never_lets_the_old_list_serve(
    served: Served, edit: str
) -> None:
    """The edit revokes t-1 but holds a revoked_at int() refuses: every request is refused
    until the list is fixed, never answered under the list before the edit."""
    token = served.issuer.token("ann", "approver", jti="t-1")
    assert served.as_(token).balances()["items"]
    served.revocations.write_text(edit)
    for _ in range(3):
        assert refusal(served.as_(token).balances) == (503, "token_revocations_invalid")
    served.revocations.write_text("jti t-1\n")
    assert refusal(served.as_(token).balances) == (401, "token_revoked")


def test_a_list_that_cannot_be_read_refuses_every_token_until_it_can(served: Served) -> None:
    """The list's path becomes a directory: its stamp reads, its bytes do not."""
    token = served.issuer.token("ann", "approver", jti="t-1")
    assert served.as_(token).balances()["items"]
    served.revocations.unlink()
    served.revocations.mkdir()
    for _ in range(3):
        assert refusal(served.as_(token).balances) == (503, "token_revocations_invalid")
    assert served.as_(served.operator_key).balances()["items"]
    served.revocations.rmdir()
    served.revoke({"tokens": ["t-2"]})
    assert served.as_(token).balances()["items"]


@pytest.fixture
def ledger_url(tmp_path: Path) -> str:
    url = f"sqlite:///{tmp_path / 'ringfence.db'}"
    service = bootstrap.open_ledger(url)
    try:
        build_custodian(service)
    finally:
        service.close()
    return url


@pytest.mark.parametrize(
    ("content", "code"),
    [('{"tokens": "t-1"}', "token_revocations_invalid"),
     ("revoke everyone\n", "token_revocations_invalid"),
     ("sub ann \u00b2\n", "token_revocations_invalid"),
     ("sub ann " + "9" * 5000 + "\n", "token_revocations_invalid"),
     (None, "storage_error")],
)
def test_serve_refuses_a_malformed_or_missing_list_at_start(
    ledger_url: str, tmp_path: Path, content: str | None, code: str
) -> None:
    url = ledger_url
    jwks = Issuer.made().write_jwks(tmp_path / "jwks.json")
    revocations = tmp_path / "revoked"
    if content is not None:
        revocations.write_text(content)
    ran = cli.run(url, "serve", "--port", "1", "--oidc-issuer", ISSUER, "--oidc-audience",
                  AUDIENCE, "--oidc-keys", str(jwks), "--token-revocations", str(revocations),
                  env={"RINGFENCE_API_KEYS": ""})  # fmt: skip
    assert ran.status == (2 if code.startswith("token_") else 3), ran.stderr
    assert code in ran.stderr


def test_revocations_need_token_settings(ledger_url: str, tmp_path: Path) -> None:
    revocations = tmp_path / "revoked"
    revocations.write_text("jti t-1\n")
    ran = cli.run(ledger_url, "serve", "--token-revocations",
                  str(revocations), env={"RINGFENCE_API_KEYS": ""})  # fmt: skip
    assert (ran.status, "token_settings_invalid" in ran.stderr) == (2, True), ran.stderr
