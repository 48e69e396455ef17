"""The operator console and the client portal in Debian's Chromium, driven by Playwright.

Method: the world of tests/support_pages.py is built in process through the services (fast);
``ringfence serve``'s app runs in a thread on a free loopback port; one browser serves the
module, a fresh context (cookie jar) per person. Every page is shot at 1,024 and 1,440 px into
``test-artifacts/pages/`` (``RINGFENCE_TEST_ARTIFACTS`` moves it; git ignores it), and at
1,024 px no page may scroll sideways. The withdrawal test runs last: it approves. On CI
(CI=true) a missing Chromium fails the test.
"""

from __future__ import annotations

import json
import os
import re
import socket
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import uvicorn
from tests.support_pages import LARGE, SMALL, PagesWorld, build_pages_world

from ringfence import verifier
from ringfence.entrypoints.api.app import create_app

CHROMIUM = Path("/usr/bin/chromium")
WIDTHS = (1024, 1440)
ARTIFACTS = Path(
    os.environ.get("RINGFENCE_TEST_ARTIFACTS")
    or Path(__file__).resolve().parents[2] / "test-artifacts"
) / "pages"

try:
    import playwright.sync_api as playwright_api
except ImportError:  # a dev dependency: missing only where the environment was not built
    if os.environ.get("CI") == "true":
        raise
    playwright_api = pytest.importorskip("playwright.sync_api")

# Every visible form control has a label (a <label for>, a wrapping label or aria-label).
UNLABELLED = """
[...document.querySelectorAll("input:not([type=hidden]), select, textarea")]
  .filter((control) => control.labels.length === 0 && !control.getAttribute("aria-label"))
  .map((control) => control.id || control.name)
"""


def _chromium() -> Path:
    if not CHROMIUM.exists():
        if os.environ.get("CI") == "true":
            pytest.fail("chromium is not installed (make tools installs Debian's package)")
        pytest.skip("chromium is not installed (make tools installs Debian's package)")
    return CHROMIUM


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> PagesWorld:
    return build_pages_world(tmp_path_factory.mktemp("pages"))


@pytest.fixture(scope="module")
def server(world: PagesWorld) -> Iterator[str]:
    listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    listener.bind(("127.0.0.1", 0))
    port = listener.getsockname()[1]
    config = uvicorn.Config(create_app(world.bundle), log_level="warning", lifespan="off")
    running = uvicorn.Server(config)
    thread = threading.Thread(target=running.run, kwargs={"sockets": [listener]}, daemon=True)
    thread.start()
    deadline = time.monotonic() + 20
    while not running.started:
        assert time.monotonic() < deadline, "the server did not start"
        time.sleep(0.02)
    yield f"http://127.0.0.1:{port}"
    running.should_exit = True
    thread.join(timeout=10)
    listener.close()


@pytest.fixture(scope="module")
def browser() -> Iterator[object]:
    executable = _chromium()
    with playwright_api.sync_playwright() as driver:
        launched = driver.chromium.launch(executable_path=str(executable), args=["--no-sandbox"])
        yield launched
        launched.close()


def signed_in(browser: object, server: str, key: str) -> object:
    """A new person (cookie jar) signed in with ``key``, on the page they land on."""
    context = browser.new_context(viewport={"width": WIDTHS[0], "height": 900},
                                  accept_downloads=True)  # fmt: skip
    page = context.new_page()
    page.goto(f"{server}/login")
    page.get_by_label("API key").fill(key)
    page.get_by_role("button", name="Sign in").click()
    page.wait_for_load_state()
    return page


def shoot(page: object, name: str) -> None:
    """The page at each width, shot whole; at the narrowest, no sideways scrolling; every
    form control labelled."""
    assert page.evaluate(UNLABELLED) == [], name
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    for width in WIDTHS:
        page.set_viewport_size({"width": width, "height": 900})
        page.screenshot(path=str(ARTIFACTS / f"{name}-{width}.png"), full_page=True)
        if width == WIDTHS[0]:
            scroll, client = page.evaluate(
                "[document.documentElement.scrollWidth, document.documentElement.clientWidth]"
            )
            assert scroll <= client, f"{name} overflows at {width} px: {scroll} > {client}"
    page.set_viewport_size({"width": WIDTHS[0], "height": 900})


def test_an_operator_sees_the_short_pool_opens_its_break_and_explains_it(
    browser: object, server: str, world: PagesWorld
) -> None:
    page = signed_in(browser, server, world.keys["operator"])
    assert page.url == f"{server}/console"
    banner = page.get_by_role("alert")
    assert "1 custody pool undersegregated" in banner.inner_text()
    assert "short 2.5900 BTC" in banner.inner_text()
    row = page.locator("tr.alert", has_text="UNDERSEGREGATED").first
    assert row.locator("td").first.inner_text() == "main"
    # Rounded for reading, exact on hover.
    requirement = row.locator(".amount").first
    assert requirement.inner_text() == "21,212.0000"
    assert requirement.get_attribute("title") == "21,212.00000000 BTC"
    chart = page.locator("figure", has_text="BTC: coverage").first
    assert "main · 99.9877% · UNDERSEGREGATED" in chart.inner_text()
    shoot(page, "console-overview")

    page.get_by_role("link", name="its breaks").click()
    assert page.url.endswith("/console/breaks?pool=main")
    shoot(page, "console-breaks")
    page.get_by_role("link", name=f"Break {world.break_id}").click()
    page.get_by_label("Cause").select_option("loss")
    page.get_by_label("Action decided").fill("claim the insurer; top up main-hot")
    shoot(page, "console-break")
    page.get_by_role("button", name="Record the explanation").click()
    page.wait_for_load_state()
    assert page.get_by_role("status").inner_text() == "Recorded."
    assert page.locator("h1 .pill").inner_text() == "explained"
    assert "claim the insurer" in page.locator("dl.facts").inner_text()

    for path, name in (("/console/rounds", "console-rounds"), ("/console/audit", "console-audit"),
                       ("/console/venue", "console-venue")):  # fmt: skip
        assert page.goto(server + path).status == 200
        shoot(page, name)
    assert "NOT COVERED" in page.goto(server + "/console/rounds").text()
    page.context.close()


def test_a_client_sees_only_their_own_and_verifies_their_proof(
    browser: object, server: str, world: PagesWorld, tmp_path: Path
) -> None:
    page = signed_in(browser, server, world.keys["carol"])
    assert page.url == f"{server}/portal/clients/carol"
    text = page.locator("main").inner_text()
    assert "These assets are yours and kept apart from the firm's." in text
    assert "You hold a claim on the firm, not the assets." in text
    assert "alice" not in text and "bob" not in text
    shoot(page, "portal-balances")
    for other in ("/portal/clients/bob", "/portal/clients/bob/proof.json",
                  "/portal/clients/alice/statement", "/portal/clients/nobody"):  # fmt: skip
        answer = page.goto(server + other)
        assert answer.status == 404, other
        assert "bob" not in answer.text().replace(other, "")
    assert page.goto(server + "/console").status == 403
    page.goto(f"{server}/portal/clients/carol/statement")
    assert "62.0000" in page.locator("main").inner_text()
    shoot(page, "portal-statement")

    page.goto(f"{server}/portal/clients/carol/proof")
    warning = page.get_by_role("alert")
    assert "reserves did not cover" in warning.inner_text()
    assert world.bundle.rounds is not None
    with page.expect_download() as proof_download:
        page.get_by_role("link", name="Download my proof (JSON)").click()
    with page.expect_download() as round_download:
        page.get_by_role("link", name="Download the round record (JSON)").click()
    proof_path, round_path = tmp_path / "proof.json", tmp_path / "round.json"
    proof_download.value.save_as(proof_path)
    round_download.value.save_as(round_path)
    bundle, record = json.loads(proof_path.read_text()), json.loads(round_path.read_text())
    assert bundle["client"] == "carol"
    assert record["public_key"] == page.locator("#pinned-key").get_attribute("data-key")
    nonce = bytes.fromhex(bundle["nonce"])
    assert all(verifier.verify_inclusion(p, record, nonce, None, "carol") > 0
               for p in bundle["proofs"])

    page.set_input_files("#proof-file", str(proof_path))
    page.set_input_files("#round-file", str(round_path))
    page.get_by_role("button", name="Verify in this browser").click()
    page.wait_for_selector('#verdict[data-state="verified"]', timeout=15_000)
    assert "Verified: you are included in this round." in page.locator("#verdict").inner_text()
    assert re.search(r"Round signature: valid", page.locator("#verdict").inner_text())
    shoot(page, "portal-proof")

    forged = {**bundle, "proofs": [{**bundle["proofs"][0], "pieces": [
        {**bundle["proofs"][0]["pieces"][0], "value": "1"}]}]}  # fmt: skip
    (tmp_path / "forged.json").write_text(json.dumps(forged))
    page.set_input_files("#proof-file", str(tmp_path / "forged.json"))
    page.get_by_role("button", name="Verify in this browser").click()
    page.wait_for_selector('#verdict[data-state="rejected"]', timeout=15_000)
    page.context.close()


def test_an_approver_approves_from_the_queue_and_the_initiators_approval_is_refused(
    browser: object, server: str, world: PagesWorld
) -> None:
    queue = f"{server}/console/withdrawals"
    ops = signed_in(browser, server, world.keys["ops"])  # who asked for LARGE
    ops.goto(queue)
    panel = ops.locator("section.panel", has_text=f"Withdrawal {LARGE}")
    assert "rule large matched (the firm): 2 of treasury" in panel.locator("ol.trace").inner_text()
    shoot(ops, "console-withdrawals")
    ops.get_by_role("button", name=f"Approve withdrawal {LARGE}").click()
    ops.wait_for_load_state()
    refusal = ops.get_by_role("alert").inner_text()
    assert "the server refused your approval" in refusal
    assert "four-eyes means someone else approves it (approver_is_initiator)" in refusal
    ops.context.close()

    ann = signed_in(browser, server, world.keys["ann"])
    ann.goto(queue)
    ann.get_by_role("button", name=f"Approve withdrawal {SMALL}").click()
    ann.wait_for_load_state()
    assert ann.get_by_role("status").inner_text() == (
        f"Withdrawal {SMALL}: approved by you; it is now held in the ledger."
    )
    ann.get_by_role("button", name=f"Approve withdrawal {LARGE}").click()
    ann.wait_for_load_state()
    assert "it is now awaiting approval" in ann.get_by_role("status").inner_text()
    panel = ann.locator("section.panel", has_text=f"Withdrawal {LARGE}")
    assert "ann (1 of 2)" in panel.inner_text()
    assert ann.get_by_role("button", name=f"Approve withdrawal {SMALL}").count() == 0
    ann.context.close()

    alice = signed_in(browser, server, world.keys["alice"])
    alice.goto(f"{server}/portal/clients/alice/withdrawals")
    rows = {
        row.locator("td").first.inner_text().split("\n")[0]: row.inner_text()
        for row in alice.locator("tbody tr").all()
    }
    assert "Approved: the amount is set aside in your account" in rows[str(SMALL)]
    assert "Waiting for the firm's approval" in rows[str(LARGE)]
    assert "trace" not in alice.content() and "treasury" not in alice.content()
    shoot(alice, "portal-withdrawals")
    assert alice.goto(f"{server}/portal/clients/bob/withdrawals").status == 404
    alice.context.close()
