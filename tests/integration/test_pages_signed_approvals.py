"""The console's approval queue under a policy that requires signed approvals: the page shows
each approver the instruction to sign and takes the pasted signature; the server refuses an
approval without it, or with one that is not the approver's over that instruction."""

from __future__ import annotations

import re
from collections.abc import Iterator

import pytest
from fastapi.testclient import TestClient
from tests.support import key_seed
from tests.support_pages import MAIN, OUTSIDE, PagesWorld, build_pages_world
from tests.support_policy import policy_text
from tests.support_withdrawals import actor, publish_policy

from ringfence.core.principals.authorisation import sign
from ringfence.entrypoints.api.app import create_app
from ringfence.service import withdrawals

SIGNED = 703


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[PagesWorld]:
    built = build_pages_world(tmp_path_factory.mktemp("signed-pages"))
    ledger = built.bundle.ledger
    publish_policy(ledger, built.clock, policy_text(approvals_signed=True))
    body = {"id": str(SIGNED), "client": "alice", "amount": "2", "pool": MAIN, "asset": "BTC",
            "destination": OUTSIDE}  # fmt: skip
    assert withdrawals.request(ledger, actor("ops"), body)["status"] == "awaiting_approval"
    yield built


def signed_in(world: PagesWorld, name: str) -> TestClient:
    http = TestClient(create_app(world.bundle), follow_redirects=False)
    token = re.search(r'name="form_token" value="([^"]+)"', http.get("/login").text)
    assert token is not None
    answer = http.post(
        "/login", data={"api_key": world.keys[name], "form_token": token.group(1), "next": ""}
    )
    assert answer.status_code == 303, answer.text
    return http


def shown_instruction(page: str) -> str:
    found = re.search(
        rf'id="withdrawal-{SIGNED}".*?<span class="hash">([0-9a-f]{{320}})</span>', page, re.S
    )
    assert found is not None
    return found.group(1)


def test_the_queue_shows_the_instruction_and_takes_the_pasted_signature(
    world: PagesWorld,
) -> None:
    ann = signed_in(world, "ann")
    page = ann.get("/console/withdrawals").text
    assert "The policy requires signed approvals" in page
    assert f'id="signature-{SIGNED}" name="signature" required' in page
    instruction = shown_instruction(page)
    token = re.search(r'name="form_token" value="([^"]+)"', page)
    assert token is not None
    path = f"/console/withdrawals/{SIGNED}/approve"
    wrong = sign(key_seed("ben"), bytes.fromhex(instruction)).hex()  # ben's key, ann's name
    for signature, result in (("", "approval_signature_required"),
                              (wrong, "approval_signature_invalid"),
                              ("zz", "approval_signature_invalid")):  # fmt: skip
        answer = ann.post(path, data={"form_token": token.group(1), "signature": signature})
        assert answer.headers["location"].endswith(f"result={result}")
    told = ann.get(f"/console/withdrawals?id={SIGNED}&verdict=approve&result={result}").text
    assert "the signature is not yours over this withdrawal" in told
    mine = sign(key_seed("ann"), bytes.fromhex(instruction)).hex()
    answer = ann.post(path, data={"form_token": token.group(1), "signature": mine})
    assert answer.headers["location"].endswith("result=ok")
    shown = withdrawals.show(world.bundle.ledger, actor("ann"), SIGNED)
    assert shown["approvals"] == [
        {"approver": "ann", "at_ns": shown["approvals"][0]["at_ns"], "signed": True}
    ]


def test_policies_without_signed_approvals_show_no_instruction(world: PagesWorld) -> None:
    page = signed_in(world, "ben").get("/console/withdrawals").text
    assert page.count("The policy requires signed approvals") == 1  # only the signed one
