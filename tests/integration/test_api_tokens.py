"""OIDC/JWT bearer tokens over the REST API, driven through the typed client (ringfence.remote)
against the app in this process: real signatures (RSA and Ed25519 keys made by the test's
issuer, tests/support_tokens.py), a key set in a file, the service's manual clock.

Tokens act exactly as API keys: a client's token requests a withdrawal, two approvers' tokens
approve it, and the journal records their names. Every way to forge or misuse a token is
refused by name (401 for who the caller is, 403 for what it may not claim) and changes
nothing: expired, another issuer or audience, ``alg: none``, HS256 keyed with the public key,
an unknown key id, a tampered payload, a role or client the name does not hold."""

from __future__ import annotations

import hashlib
import hmac
import json
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import jwt
import pytest
from fastapi.testclient import TestClient
from tests.support import journal_signer
from tests.support_api import fast_hasher
from tests.support_policy import OTHER_ADDRESS
from tests.support_tokens import AUDIENCE, ISSUER, Issuer, parts_of, unsigned
from tests.support_withdrawals import World, withdrawal_world

from ringfence import bootstrap
from ringfence.adapters.clock import ManualClock
from ringfence.adapters.storage.memory import MemoryStore
from ringfence.core.access.roles import Actor
from ringfence.core.access.tokens import TokenSettings
from ringfence.core.principals.records import PrincipalRole
from ringfence.entrypoints.api.app import create_app
from ringfence.remote import ProblemError, RemoteService
from ringfence.service import withdrawals
from ringfence.service.keys import create_key
from ringfence.service.ledger import LedgerService

# Tokens may carry every role but admin: defining the firm stays with API keys.
TOKEN_ROLES = frozenset(PrincipalRole) - {PrincipalRole.admin}


@dataclass
class Served:
    http: TestClient
    world: World
    issuer: Issuer
    jwks: Path
    operator_key: str

    def as_(self, token: str) -> RemoteService:
        return RemoteService(token=token, http=self.http)


@pytest.fixture
def served(tmp_path: Path) -> Iterator[Served]:
    clock = ManualClock()
    ledger = LedgerService(MemoryStore(), clock, journal_signer())
    world = withdrawal_world(ledger, clock)
    issuer = Issuer.made()
    issuer.now_s = clock.now_ns() // 10**9
    jwks = issuer.write_jwks(tmp_path / "jwks.json")
    bundle = bootstrap.open_service(
        "memory://",
        ledger=ledger,
        hasher=fast_hasher(),
        tokens=TokenSettings(ISSUER, AUDIENCE, ("RS256", "EdDSA"), roles=TOKEN_ROLES),
        key_set=str(jwks),
    )
    key = create_key(bundle.keys, clock, fast_hasher(), ledger, role="operator", name="ops")[1]
    with TestClient(create_app(bundle)) as http:
        yield Served(http, world, issuer, jwks, key)


def test_token_principals_act_and_are_recorded_as_the_ones_who_acted(served: Served) -> None:
    issuer = served.issuer
    alice = served.as_(issuer.token("alice", "client", "alice"))
    request = {"id": "100", "pool": "main", "asset": "ETH", "amount": "12",
               "destination": OTHER_ADDRESS}  # fmt: skip
    assert alice.request_withdrawal(request)["status"] == "awaiting_approval"
    with pytest.raises(ProblemError) as own:
        alice.approve_withdrawal(100)
    assert own.value.code == "approver_is_initiator"
    served.as_(issuer.token("ann", "approver")).approve_withdrawal(100)
    held = served.as_(issuer.token("ben", "approver", kid="ed-1")).approve_withdrawal(100)
    assert held["status"] == "held"
    seen = served.as_(served.operator_key).withdrawal(100)
    assert seen["initiator"] == "alice"
    assert [row["approver"] for row in seen["approvals"]] == ["ann", "ben"]
    # The journal, replayed from its start by another ledger service, says the same.
    replayed = LedgerService(served.world.ledger.store, served.world.clock, journal_signer())
    assert replayed.seq == served.world.ledger.seq
    journaled = withdrawals.show(replayed, Actor("ops", PrincipalRole.operator), 100)
    assert journaled["initiator"] == "alice"
    assert [row["approver"] for row in journaled["approvals"]] == ["ann", "ben"]


def test_a_client_token_sees_only_its_own_client(served: Served) -> None:
    phone = served.as_(served.issuer.token("alice-phone", "client", "alice"))
    custodian = served.world.custodian
    own = custodian.client("alice", asset="ETH")
    assert phone.balance(own)["owner"] == "alice"
    with pytest.raises(ProblemError) as other:
        phone.balance(custodian.client("bob", asset="ETH"))
    assert (other.value.status, other.value.code) == (404, "account_not_found")
    assert {row["owner"] for row in phone.each(phone.accounts)} == {"alice"}


def hmac_token(header: dict[str, object], payload: dict[str, object], secret: bytes) -> str:
    """A token 'signed' with HMAC-SHA256 keyed by ``secret`` (the public key, as an attacker
    who reads the key set would key it)."""
    body = unsigned(header, payload).rsplit(".", 1)[0]
    signature = hmac.new(secret, body.encode("ascii"), hashlib.sha256).digest()
    return unsigned(header, payload, signature)


def forged(issuer: Issuer) -> list[tuple[str, str, int, str]]:
    """(what, token, status, code) for every attack on a token."""
    good = issuer.token("alice", "client", "alice")
    header, payload, signature = parts_of(good)
    public_pem = issuer.public_pem()
    public_jwk = json.dumps(issuer.jwks()["keys"][0]).encode()
    other = Issuer.made()
    tampered = unsigned(header, {**payload, "ringfence_client": "bob"}).rsplit(".", 1)[0]
    escalated = unsigned(header, {**payload, "ringfence_role": "operator"}).rsplit(".", 1)[0]
    return [
        ("expired", issuer.token("ann", "approver", now_s=issuer.now_s - 400), 401,
         "token_expired"),
        ("not yet", issuer.token("ann", "approver", now_s=issuer.now_s + 400), 401,
         "token_not_yet_valid"),
        ("issuer", issuer.token("ann", "approver", iss="https://evil.test"), 401,
         "token_issuer_invalid"),
        ("audience", issuer.token("ann", "approver", aud="another-service"), 401,
         "token_audience_invalid"),
        ("alg none", unsigned({**header, "alg": "none"}, payload), 401,
         "token_algorithm_forbidden"),
        ("HS256, PEM", hmac_token({**header, "alg": "HS256"}, payload, public_pem), 401,
         "token_algorithm_forbidden"),
        ("HS256, JWK", hmac_token({**header, "alg": "HS256"}, payload, public_jwk), 401,
         "token_algorithm_forbidden"),
        ("HMAC as RS256", hmac_token(header, payload, public_pem), 401,
         "token_signature_invalid"),
        ("unknown kid", jwt.encode(payload, other.rsa_keys["rsa-1"], "RS256",
                                   headers={"kid": "rsa-9"}), 401, "token_key_unknown"),
        ("no kid", jwt.encode(payload, issuer.rsa_keys["rsa-1"], "RS256"), 401,
         "token_key_unknown"),
        ("another key, same kid", other.token("alice", "client", "alice"), 401,
         "token_signature_invalid"),
        ("EdDSA key, RS256 header", jwt.encode(payload, other.rsa_keys["rsa-1"], "RS256",
                                               headers={"kid": "ed-1"}), 401,
         "token_algorithm_forbidden"),
        ("tampered client", f"{tampered}.{signature}", 401, "token_signature_invalid"),
        ("tampered role", f"{escalated}.{signature}", 401, "token_signature_invalid"),
        ("garbage", "abc.def", 401, "token_invalid"),
        ("too long", "e" * 20_000, 401, "token_invalid"),
        ("a journaled approver's name as operator", issuer.token("ann", "operator"), 403,
         "token_principal_conflict"),
        ("an API key holder's name as approver", issuer.token("ops", "approver"), 403,
         "token_principal_conflict"),
        ("alice's name for bob", issuer.token("alice", "client", "bob"), 403,
         "token_principal_conflict"),
        ("a staff name for a client", issuer.token("ann", "client", "alice"), 403,
         "token_principal_conflict"),
        ("a client that does not exist", issuer.token("zed", "client", "nobody"), 403,
         "token_client_unknown"),
        ("admin, which tokens never carry", issuer.token("root2", "admin"), 403,
         "token_role_forbidden"),
        ("an unknown role", issuer.token("ann", "superuser"), 401, "token_claims_invalid"),
    ]  # fmt: skip


def test_every_forged_or_misused_token_is_refused_by_name_and_changes_nothing(
    served: Served,
) -> None:
    ledger = served.world.ledger
    seq = ledger.seq
    request = {"id": "200", "pool": "main", "asset": "ETH", "amount": "1",
               "destination": OTHER_ADDRESS}  # fmt: skip
    for what, token, status, code in forged(served.issuer):
        with pytest.raises(ProblemError) as raised:
            served.as_(token).request_withdrawal(request)
        assert (raised.value.status, raised.value.code) == (status, code), what
        with pytest.raises(ProblemError) as read:
            served.as_(token).balances()
        assert read.value.code == code, what
    assert ledger.seq == seq
    assert served.as_(served.operator_key).withdrawals()["items"] == []


def test_a_new_signing_key_is_read_once_the_refresh_interval_has_passed(served: Served) -> None:
    issuer = served.issuer
    issuer.rsa_keys["rsa-2"] = Issuer.made().rsa_keys["rsa-1"]
    issuer.write_jwks(served.jwks)
    rotated = served.as_(issuer.token("ann", "approver", kid="rsa-2"))
    with pytest.raises(ProblemError) as early:
        rotated.balances()
    assert early.value.code == "token_key_unknown"  # read at most once a minute
    served.world.clock.advance(seconds=61)
    issuer.now_s += 61
    later = served.as_(issuer.token("ann", "approver", kid="rsa-2"))
    assert later.balances()["items"]


def test_api_keys_still_work_beside_tokens(served: Served) -> None:
    operator = served.as_(served.operator_key)
    assert operator.accounts(limit=1)["items"]
    key = served.operator_key
    other_key = key[:-1] + ("B" if key.endswith("A") else "A")  # one character changed
    with pytest.raises(ProblemError) as wrong:
        served.as_(other_key).accounts()
    assert wrong.value.code == "api_key_invalid"
