"""The typed client (ringfence.remote) against ``ringfence serve`` for real: a server process
on a free loopback port speaking HTTPS only, with a certificate made by the test, API keys
made with ``ringfence keys`` and OIDC tokens signed by the test's issuer (its key set in a
file). The client pages through accounts and transfers, submits with an Idempotency-Key and
gets the replay, reads as a client through a token, and meets the service's refusals as
``ProblemError``. Plain HTTP on the same port gets no answer, nor does HTTPS without trusting
the test's CA; with ``--tls-client-ca`` a client without a certificate gets none either."""

from __future__ import annotations

import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from tests import support_cli as cli
from tests.support import build_custodian
from tests.support_serve import RINGFENCE, free_port, start_seconds_max
from tests.support_tls import Certificates, make_certificates
from tests.support_tokens import AUDIENCE, ISSUER, Issuer

from ringfence import bootstrap
from ringfence.remote import (
    ProblemError,
    RemoteError,
    RemoteService,
    ServiceUnreachableError,
    tls_context,
)
from ringfence.remote import operations as op


def make_key(db: str, *arguments: str) -> str:
    done = cli.run(db, "keys", "create", *arguments, "--json", env={"RINGFENCE_API_KEYS": ""})
    assert done.status == 0, done.stderr
    return str(done.document["key"])


@pytest.fixture
def ledger_db(tmp_path: Path) -> str:
    url = f"sqlite:///{tmp_path / 'ringfence.db'}"
    service = bootstrap.open_ledger(url)
    try:
        build_custodian(service)
    finally:
        service.close()
    return url


@pytest.fixture
def certificates(tmp_path: Path) -> Certificates:
    return make_certificates(tmp_path / "tls")


def serving(
    db: str, log: Path, arguments: list[str], trust: RemoteService
) -> subprocess.Popen[bytes]:
    """A ``ringfence serve`` process, returned once ``trust`` (a client that trusts it) gets an
    answer from /v1/health."""
    command = [RINGFENCE, "--db", db, "serve", "--deliver-every", "0", *arguments]
    with log.open("wb") as output:
        process = subprocess.Popen(command, stdout=output, stderr=subprocess.STDOUT)
    deadline = time.monotonic() + start_seconds_max
    while True:
        assert process.poll() is None, log.read_text()
        try:
            if trust.health() == {"ok": True}:
                return process
        except RemoteError:
            pass
        assert time.monotonic() < deadline, "the server did not start"
        time.sleep(0.1)


def stop(process: subprocess.Popen[bytes]) -> None:
    process.terminate()
    try:
        process.wait(timeout=start_seconds_max)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()
        raise


@pytest.fixture
def https_server(
    ledger_db: str, certificates: Certificates, tmp_path: Path
) -> Iterator[tuple[str, Issuer]]:
    issuer = Issuer.made()
    issuer.now_s = int(time.time())
    jwks = issuer.write_jwks(tmp_path / "jwks.json")
    port = free_port()
    base = f"https://127.0.0.1:{port}"
    arguments = [
        "--port", str(port),
        "--tls-cert", str(certificates.server_certificate),
        "--tls-key", str(certificates.server_key),
        "--oidc-issuer", ISSUER, "--oidc-audience", AUDIENCE, "--oidc-keys", str(jwks),
        "--oidc-roles", "client,auditor",
    ]  # fmt: skip
    with RemoteService(base, tls=tls_context(str(certificates.ca))) as trust:
        process = serving(ledger_db, tmp_path / "serve.log", arguments, trust)
    try:
        yield base, issuer
    finally:
        stop(process)


@pytest.mark.slow
def test_the_client_over_https_with_keys_and_tokens(
    ledger_db: str, certificates: Certificates, https_server: tuple[str, Issuer]
) -> None:
    base, issuer = https_server
    trust = tls_context(str(certificates.ca))
    operator_key = make_key(ledger_db, "--role", "operator")
    with RemoteService(base, operator_key, tls=trust) as operator:
        accounts = list(operator.each(operator.accounts, limit=2))
        assert len(accounts) == len({row["id"] for row in accounts}) > 2
        wallet = next(row["id"] for row in accounts if row["class"] == "custody"
                      and row.get("pool") == "main" and row["asset"] == "BTC")  # fmt: skip
        alice = next(row["id"] for row in operator.accounts(client="alice", asset="BTC")["items"])
        deposits = [
            {"id": str(number), "debit_account": wallet, "credit_account": alice,
             "amount": "0.25", "code": "deposit"}
            for number in (1, 2, 3)
        ]  # fmt: skip
        first = operator.submit_transfers(deposits, idempotency_key="deposits-1")
        assert first == {"ok": True, "results": [{"id": i, "result": "ok"} for i in "123"]}
        again = operator.send(op.create_transfers, body={"transfers": deposits},
                              idempotency_key="deposits-1")  # fmt: skip
        assert (again.replayed, again.document) == (True, first)
        plain_again = operator.submit_transfers(deposits)
        assert {row["result"] for row in plain_again["results"]} == {"exists"}
        with pytest.raises(ProblemError) as other_body:
            operator.submit_transfers(deposits[:1], idempotency_key="deposits-1")
        assert other_body.value.status in (409, 422)
        payout = {"id": "4", "debit_account": alice, "credit_account": wallet,
                  "amount": "0.25", "code": "withdrawal"}  # fmt: skip
        with pytest.raises(ProblemError) as reserved:  # the withdrawal lifecycle books these
            operator.submit_transfers([payout])
        assert (reserved.value.status, reserved.value.code) == (403, "transfer_code_reserved")
        assert 'route="/v1/transfers"' in operator.metrics()
    phone = issuer.token("alice-phone", "client", "alice")
    with RemoteService(base, phone, tls=trust) as client:
        assert client.balance(alice)["balance"] == "0.75000000"
        ids = [row["id"] for row in client.each(client.transfers, limit=1)]
        assert ids == ["1", "2", "3"]
        assert client.transfer(2)["authorised_by"] is None
        assert [event["data"]["id"] for event in client.each_event(types="transfer.*")] == ids
        with pytest.raises(ProblemError) as foreign:
            client.accounts(client="bob")
        assert (foreign.value.status, foreign.value.code) == (404, "client_not_found")
        with pytest.raises(ProblemError) as staff_only:
            client.positions()
        assert staff_only.value.code == "role_forbidden"
    with RemoteService(base, issuer.token("ops-bot", "operator"), tls=trust) as escalated:
        with pytest.raises(ProblemError) as refused:
            escalated.submit_transfers(deposits)
        assert (refused.value.status, refused.value.code) == (403, "token_role_forbidden")


@pytest.mark.slow
def test_plain_http_and_untrusted_https_get_no_answer(
    certificates: Certificates, https_server: tuple[str, Issuer]
) -> None:
    base, _ = https_server
    plain = RemoteService(base.replace("https://", "http://"))
    with plain, pytest.raises(ServiceUnreachableError):
        plain.health()
    untrusting = RemoteService(base)  # the system's trust, which lacks the test's CA
    with untrusting, pytest.raises(ServiceUnreachableError):
        untrusting.health()
    with RemoteService(base, tls=tls_context(str(certificates.ca))) as trusting:
        assert trusting.health() == {"ok": True}


@pytest.mark.slow
def test_mutual_tls_serves_only_clients_with_a_certificate_of_its_ca(
    ledger_db: str, certificates: Certificates, tmp_path: Path
) -> None:
    port = free_port()
    base = f"https://127.0.0.1:{port}"
    arguments = [
        "--port", str(port),
        "--tls-cert", str(certificates.server_certificate),
        "--tls-key", str(certificates.server_key),
        "--tls-client-ca", str(certificates.ca),
    ]  # fmt: skip
    with_certificate = tls_context(
        str(certificates.ca), str(certificates.client_certificate), str(certificates.client_key)
    )
    with RemoteService(base, tls=with_certificate) as trusted:
        process = serving(ledger_db, tmp_path / "serve.log", arguments, trusted)
    try:
        anonymous = RemoteService(base, tls=tls_context(str(certificates.ca)))
        with anonymous, pytest.raises(ServiceUnreachableError):
            anonymous.health()
        with RemoteService(base, tls=with_certificate) as trusted:
            assert trusted.health() == {"ok": True}
    finally:
        stop(process)


def test_serve_refuses_tls_files_it_cannot_use(ledger_db: str, tmp_path: Path) -> None:
    certificates = make_certificates(tmp_path / "tls")
    cases = [
        ["--tls-cert", str(tmp_path / "missing.pem")],
        ["--tls-cert", str(certificates.server_certificate), "--tls-key",
         str(certificates.client_key)],
        ["--tls-key", str(certificates.server_key)],
        ["--oidc-issuer", ISSUER, "--oidc-audience", AUDIENCE, "--oidc-keys",
         str(tmp_path / "jwks.json"), "--oidc-algorithms", "HS256"],
    ]  # fmt: skip
    for arguments in cases:
        done = cli.run(ledger_db, "serve", "--port", str(free_port()), *arguments)
        assert done.status == 2, (arguments, done.stderr)
        assert "tls_settings_invalid" in done.stderr or "token_settings_invalid" in done.stderr
