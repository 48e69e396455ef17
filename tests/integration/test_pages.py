"""The console and the portal over HTTP, in process: who may open which page, on their own
and on another client's resource; signing in and out; forged and stale forms; what a page
and an export show. The browser tests (tests/e2e/test_pages_browser.py) drive the same pages
in Chromium.

The expectations are written out here by duty, independently of core/access/roles.py, so a
change there that opens a page fails this test; every page route must appear below.
"""

from __future__ import annotations

import csv
import io
import re
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from fastapi.routing import APIRoute
from fastapi.testclient import TestClient
from starlette.routing import Route
from tests.support_api import fast_hasher
from tests.support_pages import LARGE, SMALL, PagesWorld, build_pages_world

from ringfence.entrypoints.api.app import create_app
from ringfence.service.keys import create_key, revoke_key

PRINCIPALS = ("operator", "approver", "compliance", "auditor", "admin", "carol")
OTHER = {"own": "carol", "other": "bob"}


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[PagesWorld]:
    yield build_pages_world(tmp_path_factory.mktemp("pages"))


@pytest.fixture(scope="module")
def app(world: PagesWorld) -> object:
    return create_app(world.bundle)


def sign_in_form(http: TestClient) -> str:
    page = http.get("/login")
    assert page.status_code == 200
    found = re.search(r'name="form_token" value="([^"]+)"', page.text)
    assert found is not None
    return found.group(1)


def signed_in(app: object, key: str) -> TestClient:
    http = TestClient(app, follow_redirects=False)
    token = sign_in_form(http)
    answer = http.post("/login", data={"api_key": key, "form_token": token, "next": ""})
    assert answer.status_code == 303, answer.text
    return http


@pytest.fixture(scope="module")
def people(app: object, world: PagesWorld) -> dict[str, TestClient]:
    return {who: signed_in(app, world.keys[who]) for who in PRINCIPALS}


def form_token(http: TestClient, path: str) -> str:
    found = re.search(r'name="form_token" value="([^"]+)"', http.get(path).text)
    assert found is not None
    return found.group(1)


# ---------------------------------------------------------------------- the matrix


def staff(who: str, target: str) -> int:
    return 403 if who == "carol" else 200


def scoped(who: str, target: str) -> int:
    """A client sees its own pages; another client's do not exist for it; staff see any."""
    if who == "carol":
        return 200 if target == "own" else 404
    return 200


def proofs(who: str, target: str) -> int:
    """The proofs carry the client's nonce for the round: the client's own, and the auditor's."""
    if who == "carol":
        return 200 if target == "own" else 404
    return 200 if who == "auditor" else 403


def client_page(suffix: str) -> Callable[[str], str]:
    return lambda target: f"/portal/clients/{OTHER[target]}{suffix}"


def fixed(path: str) -> Callable[[str], str]:
    return lambda target: path


PAGES: list[tuple[str, Callable[[str], str], Callable[[str, str], int]]] = [
    ("/console", fixed("/console"), staff),
    ("/console/segregation.json", fixed("/console/segregation.json"), staff),
    ("/console/segregation.csv", fixed("/console/segregation.csv"), staff),
    ("/console/breaks", fixed("/console/breaks?all=1"), staff),
    ("/console/breaks.json", fixed("/console/breaks.json"), staff),
    ("/console/breaks.csv", fixed("/console/breaks.csv"), staff),
    ("/console/breaks/{break_id}", fixed("/console/breaks/{break_id}"), staff),
    ("/console/rounds", fixed("/console/rounds"), lambda who, target: 200),
    ("/console/rounds.json", fixed("/console/rounds.json"), lambda who, target: 200),
    ("/console/audit", fixed("/console/audit"), staff),
    ("/console/venue", fixed("/console/venue"), staff),
    ("/console/withdrawals", fixed("/console/withdrawals"), staff),
    ("/console/withdrawals.json", fixed("/console/withdrawals.json"), staff),
    ("/console/withdrawals.csv", fixed("/console/withdrawals.csv"), staff),
    ("/portal/clients/{client}", client_page(""), scoped),
    ("/portal/clients/{client}/balances.json", client_page("/balances.json"), scoped),
    ("/portal/clients/{client}/balances.csv", client_page("/balances.csv"), scoped),
    ("/portal/clients/{client}/statement", client_page("/statement"), scoped),
    ("/portal/clients/{client}/statement.json", client_page("/statement.json"), scoped),
    ("/portal/clients/{client}/statement.csv", client_page("/statement.csv"), scoped),
    ("/portal/clients/{client}/withdrawals", client_page("/withdrawals"), scoped),
    ("/portal/clients/{client}/withdrawals.json", client_page("/withdrawals.json"), scoped),
    ("/portal/clients/{client}/proof", client_page("/proof"), proofs),
    ("/portal/clients/{client}/proof.json", client_page("/proof.json"), proofs),
    ("/portal/clients/{client}/round.json", client_page("/round.json"), proofs),
]


@pytest.mark.parametrize(
    ("route", "who", "target"),
    [
        pytest.param(page, who, target, id=f"{page[0]} {who} {target}")
        for page in PAGES
        for who in PRINCIPALS
        # A console page names no client: its "other" is its "own".
        for target in (("own", "other") if page[0].startswith("/portal") else ("own",))
    ],
)
def test_page(people, world: PagesWorld, route, who: str, target: str) -> None:
    _, path_of, expected = route
    path = path_of(target).replace("{break_id}", str(world.break_id))
    answer = people[who].get(path)
    want = expected(who, target)
    assert answer.status_code == want, answer.text[:500]
    assert answer.headers["content-security-policy"].startswith("default-src 'none'")
    if want == 404:
        assert "bob" not in answer.text  # not even the name asked for
    if want != 200:
        assert "text/html" in answer.headers["content-type"]


def test_every_page_route_is_in_the_matrix(app: object) -> None:
    served = {
        route.path
        for route in app.routes
        if isinstance(route, Route) and not isinstance(route, APIRoute)
        and route.path.startswith(("/console", "/portal/clients"))
        and "GET" in (route.methods or ())
    }  # fmt: skip
    assert served == {page[0] for page in PAGES}


# ---------------------------------------------------------------------- signing in


def test_signing_in_sets_a_strict_session_cookie_that_holds_no_key(app, world) -> None:
    http = TestClient(app, follow_redirects=False)
    first = http.get("/login")
    assert "httponly" in first.headers["set-cookie"].lower()
    assert "samesite=strict" in first.headers["set-cookie"].lower()
    token = re.search(r'name="form_token" value="([^"]+)"', first.text).group(1)
    key = world.keys["operator"]
    answer = http.post("/login", data={"api_key": key, "form_token": token, "next": ""})
    assert (answer.status_code, answer.headers["location"]) == (303, "/console")
    cookie = next(c for c in answer.headers.get_list("set-cookie") if c.startswith("rf_session="))
    assert "httponly" in cookie.lower()
    assert "samesite=strict" in cookie.lower()
    assert key not in cookie
    assert key.split("_")[1] not in cookie  # nor the key's public id
    assert http.get("/").headers["location"] == "/console"


@pytest.mark.parametrize(
    ("fields", "status"),
    [
        ({"api_key": "rf_0000000000000000_nope"}, 401),
        ({"api_key": ""}, 401),
        ({"api_key": "KEY", "form_token": "forged"}, 403),
        ({"api_key": "KEY", "form_token": None}, 403),
    ],
)
def test_no_session_without_a_good_key_and_the_forms_own_token(app, world, fields, status) -> None:
    http = TestClient(app, follow_redirects=False)
    token = sign_in_form(http)
    data = {"form_token": token, **fields}
    data["api_key"] = data["api_key"].replace("KEY", world.keys["operator"])
    answer = http.post("/login", data={k: v for k, v in data.items() if v is not None})
    assert answer.status_code == status
    assert not any(c.startswith("rf_session=") for c in answer.headers.get_list("set-cookie"))
    assert http.get("/console").status_code == 303


def test_after_signing_in_a_browser_goes_only_to_a_page_of_this_server(app, world) -> None:
    targets = (("/console/breaks", "/console/breaks"), ("//evil.example", "/console"),
               ("https://evil.example/", "/console"), ("/\\evil", "/console"))  # fmt: skip
    for target, landing in targets:
        http = TestClient(app, follow_redirects=False)
        token = sign_in_form(http)
        answer = http.post("/login", data={"api_key": world.keys["operator"],
                                           "form_token": token, "next": target})  # fmt: skip
        assert answer.headers["location"] == landing


def test_a_page_without_a_session_sends_the_browser_to_sign_in(app) -> None:
    http = TestClient(app, follow_redirects=False)
    answer = http.get("/console/breaks")
    assert answer.status_code == 303
    assert answer.headers["location"].startswith("/login?next=/console/breaks")
    http.cookies.set("rf_session", "made-up")
    assert http.get("/portal/clients/carol").status_code == 303


def test_signing_out_and_revoking_the_key_end_the_session(app, world) -> None:
    http = signed_in(app, world.keys["compliance"])
    assert http.get("/console").status_code == 200
    answer = http.post("/logout", data={"form_token": form_token(http, "/console")})
    assert answer.headers["location"] == "/login?why=signed_out"
    http.cookies.clear()
    assert http.get("/console").status_code == 303

    ledger = world.bundle.ledger
    _, key = create_key(world.bundle.keys, world.clock, fast_hasher(), ledger, role="auditor")
    holder = signed_in(app, key)
    assert holder.get("/console").status_code == 200
    revoke_key(world.bundle.keys, world.clock, key.split("_")[1])
    answer = holder.get("/console")
    assert answer.status_code == 303
    assert "why=api_key_revoked" in answer.headers["location"]


# ---------------------------------------------------------------------- forms


def test_a_break_is_explained_only_with_the_sessions_token_and_by_its_duty(people, world) -> None:
    path = f"/console/breaks/{world.break_id}"
    form = {"cause": "loss", "action": "claim the insurer"}
    operator = people["operator"]
    for token in (None, "forged", form_token(people["compliance"], path)):
        data = form if token is None else {**form, "form_token": token}
        assert operator.post(f"{path}/explain", data=data).status_code == 403
    assert "claim the insurer" not in operator.get(path).text
    auditor = people["auditor"]
    token = form_token(auditor, path)
    answer = auditor.post(f"{path}/explain", data={**form, "form_token": token})
    assert answer.status_code == 403
    assert "role_forbidden" in answer.text
    token = form_token(operator, path)
    answer = operator.post(f"{path}/explain", data={**form, "form_token": token})
    assert (answer.status_code, answer.headers["location"]) == (303, f"{path}?result=ok")
    assert "claim the insurer" in operator.get(path).text
    bad = {"cause": "gremlins", "action": "look", "form_token": form_token(operator, path)}
    answer = operator.post(f"{path}/explain", data=bad)
    assert answer.status_code == 422
    assert "break_cause_unknown" in answer.text


def test_the_queue_shows_the_trace_and_the_server_refuses_the_initiator(app, world) -> None:
    """The initiator's approve button is there, and the server refuses it, saying why; a form
    without the session's token changes nothing; the export is exact. Nothing is approved
    here (the browser test approves)."""
    ops = signed_in(app, world.keys["ops"])
    queue = ops.get("/console/withdrawals").text
    assert "rule large matched (the firm): 2 of treasury" in queue
    assert f'action="/console/withdrawals/{LARGE}/approve"' in queue
    path = f"/console/withdrawals/{LARGE}/approve"
    for token in ("", "forged", form_token(signed_in(app, world.keys["ann"]), "/console")):
        assert ops.post(path, data={"form_token": token}).status_code == 403
    answer = ops.post(path, data={"form_token": form_token(ops, "/console/withdrawals")})
    assert (answer.status_code, answer.headers["location"]) == (
        303, f"/console/withdrawals?id={LARGE}&verdict=approve&result=approver_is_initiator",
    )  # fmt: skip
    told = ops.get(answer.headers["location"]).text
    assert "you asked for this withdrawal; four-eyes means someone else approves it" in told
    assert "<code>approver_is_initiator</code>" in told
    forged_outcome = ops.get("/console/withdrawals?id=701&verdict=approve&result=<b>x</b>")
    assert "<b>x</b>" not in forged_outcome.text and "refused" not in forged_outcome.text
    exported = list(csv.DictReader(io.StringIO(ops.get("/console/withdrawals.csv").text)))
    rows = {row["id"]: row for row in exported}
    assert (rows[str(LARGE)]["amount"], rows[str(LARGE)]["approvals"]) == ("2.00000000", "")
    assert (rows[str(SMALL)]["initiator"], rows[str(SMALL)]["status"]) == (
        "alice", "awaiting_approval",
    )  # fmt: skip


def test_a_client_reads_its_withdrawals_in_plain_words(app, people, world) -> None:
    carol = people["carol"]
    assert "You have asked for no withdrawal yet." in carol.get(
        "/portal/clients/carol/withdrawals"
    ).text
    alice = signed_in(app, world.keys["alice"])
    mine = alice.get("/portal/clients/alice/withdrawals").text
    assert mine.count("Waiting for the firm&#39;s approval") == 2
    assert "rule" not in mine  # a client reads no policy trace


def test_a_form_that_is_not_a_form_is_refused(people, world) -> None:
    path = f"/console/breaks/{world.break_id}/explain"
    operator = people["operator"]
    answer = operator.post(path, json={"cause": "loss"})
    assert answer.status_code == 415
    form = {"content-type": "application/x-www-form-urlencoded"}
    answer = operator.post(path, content=b"x=" + b"1" * 20_000, headers=form)
    assert answer.status_code == 413


def test_the_audit_runs_for_the_auditor_only(people) -> None:
    auditor = people["auditor"]
    token = form_token(auditor, "/console/audit")
    answer = auditor.post("/console/audit", data={"form_token": token})
    assert answer.status_code == 200
    assert "Journal verified" in answer.text
    operator = people["operator"]
    assert "run by an auditor or an admin" in operator.get("/console/audit").text
    answer = operator.post("/console/audit",
                           data={"form_token": form_token(operator, "/console/audit")})  # fmt: skip
    assert answer.status_code == 403


# ---------------------------------------------------------------------- what pages show


def test_the_short_pool_is_flagged_in_words_and_its_exports_are_exact(people) -> None:
    page = people["compliance"].get("/console").text
    assert "1 custody pool undersegregated" in page
    assert '<span class="pill short">UNDERSEGREGATED</span>' in page
    assert 'title="21,212.00000000 BTC">21,212.0000<' in page
    exported = people["compliance"].get("/console/segregation.csv").text
    rows = list(csv.DictReader(io.StringIO(exported)))
    main = next(r for r in rows if (r["pool"], r["asset"]) == ("main", "BTC"))
    assert (main["requirement"], main["funds"], main["excess"]) == (
        "21212.00000000", "21209.41000000", "-2.59000000")  # fmt: skip
    assert main["alert"] == "undersegregated"


def test_a_client_reads_its_standing_and_its_statement(people, world) -> None:
    carol = people["carol"]
    page = carol.get("/portal/clients/carol").text
    assert "These assets are yours and kept apart from the firm&#39;s." in page
    assert "You hold a claim on the firm, not the assets." in page
    rows = list(csv.DictReader(io.StringIO(carol.get("/portal/clients/carol/balances.csv").text)))
    assert {(r["pool"], r["asset"], r["balance"]) for r in rows if r["asset"] == "BTC"} == {
        ("main", "BTC", "62.00000000"), ("earn", "BTC", "7.00000000")}  # fmt: skip
    statement = carol.get("/portal/clients/carol/statement.json").json()
    assert statement["client"] == "carol"
    assert carol.get("/portal/clients/carol/statement?from=yesterday").status_code == 422
    assert carol.get("/portal").headers["location"] == "/portal/clients/carol"


def test_the_pages_and_the_rest_api_answer_one_question_with_one_document(app, people, world):
    def rest(who: str, path: str) -> object:
        answer = TestClient(app).get(path, headers={"Authorization": f"Bearer {world.keys[who]}"})
        assert answer.status_code == 200, answer.text
        return answer.json()

    compliance, carol = people["compliance"], people["carol"]
    assert compliance.get("/console/breaks.json?all=1").json() == rest(
        "compliance", "/v1/breaks?include_cured=true")  # fmt: skip
    assert compliance.get("/console/rounds.json").json() == rest("compliance", "/v1/por/rounds")
    period = "from=2026-01-01&to=2026-12-31"
    assert carol.get(f"/portal/clients/carol/statement.json?{period}").json() == rest(
        "carol", f"/v1/statements/clients/carol?{period}")  # fmt: skip
    assert carol.get("/portal/clients/carol/proof.json").json() == rest(
        "carol", "/v1/por/rounds/latest/proofs/carol")  # fmt: skip


def test_the_proof_page_warns_when_reserves_do_not_cover(people, world, tmp_path: Path) -> None:
    page = people["carol"].get("/portal/clients/carol/proof").text
    assert "Warning: reserves did not cover what the firm owes its clients" in page
    assert 'id="proof-data"' in page
    record = people["carol"].get("/portal/clients/carol/round.json").json()
    assert f'data-key="{record["public_key"]}"' in page
    assert "(the pinned key)" in page
