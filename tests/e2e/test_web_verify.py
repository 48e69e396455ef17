"""The browser verifier (entrypoints/pages/web/verify.html) in headless Chromium against the stdlib
verifier: on every case both give the same report (verdict, the round's snapshot, signature
and per-asset coverage, each proof's result and reason) or refuse the input for the same
reason, and the page prints the same text. The page runs from a file:// URL with nothing but
WebCrypto; a harness copy of it gets the cases in a JSON script element, runs them and then
fills the page's own form, and writes what it saw into the DOM, which ``chromium --dump-dom``
prints: one browser start for the whole file. On CI (CI=true) a missing Chromium fails."""

from __future__ import annotations

import base64
import copy
import hashlib
import html
import json
import os
import re
import shutil
import subprocess
from collections.abc import Callable
from pathlib import Path
from typing import Any

import nacl.signing
import pytest
from typer.testing import CliRunner

from ringfence import verifier
from ringfence.core.money import Asset
from ringfence.core.por import round as por_round
from ringfence.core.por.hashes import round_nonce
from ringfence.core.por.round import ReservesAttestation, build_round
from ringfence.core.por.solvency import PoolPosition
from ringfence.entrypoints.cli.app import app

PAGE = Path(por_round.__file__).parents[2] / "entrypoints" / "pages" / "web" / "verify.html"
BTC = Asset("BTC", 8, 1)
ETH = Asset("ETH", 18, 2)
MASTER = b"m" * 32
FIRM = nacl.signing.SigningKey(b"s" * 32)
FIRM_KEY = FIRM.verify_key.encode().hex()
OTHER = nacl.signing.SigningKey(b"o" * 32)  # signs the rounds a test changes
LIABILITIES = [(BTC, {"alice": 70_000, "bob": 70_000, "carol": 3, "é": 12}),
               (ETH, {"alice": 2 * 10**18 + 1, "dave": 5})]


def built(liabilities=LIABILITIES, *, version: int = 3, attestation=None, snapshot: int = 1):
    return build_round(snapshot=snapshot, previous_round_hash=bytes(32),
                       liabilities=liabilities, master_secret=MASTER, signing_seed=b"s" * 32,
                       seed=b"r" * 32, version=version, reserves=attestation,
                       snapshot_hash=b"h" * 32, snapshot_ns=1_767_225_600 * 10**9 + 5)


ROUND = built()
# 140,015 sats owed, 37.5% held net and 50% gross; ETH fully covered.
SHORT = built(attestation=ReservesAttestation(
    hashlib.sha256(b"reserves").digest(), {1: 52_506, 2: 2 * 10**9 + 6},
    {1: 70_008, 2: 2 * 10**9 + 6}))
WITHOUT_BOB = built([(BTC, {"alice": 70_000, "carol": 3})])
# The asset covers, but one of its pools does not: the firm's own statement says so.
POOLS = built(attestation=ReservesAttestation(
    hashlib.sha256(b"reserves").digest(), {1: 200_000, 2: 2 * 10**9 + 6},
    {1: 200_000, 2: 2 * 10**9 + 6}, {1: [PoolPosition("short", 100_000, 50_000),
                                         PoolPosition("excess", 40_015, 150_000)]}))
OLD = built(version=2)


def chromium() -> str:
    found = shutil.which("chromium") or shutil.which("chromium-browser")
    if found is None:
        if os.environ.get("CI") == "true":
            pytest.fail("chromium is not installed (make tools installs Debian's package)")
        pytest.skip("chromium is not installed (make tools installs Debian's package)")
    return found


def nonce_of(round_: Any, client: str) -> str:
    return round_nonce(MASTER, bytes.fromhex(round_.record["round_id"]), client).hex()


def bundle_of(round_: Any, client: str) -> dict[str, Any]:
    return {"client": client, "nonce": nonce_of(round_, client), "round_hash": round_.hash,
            "proofs": list(round_.proofs(client))}


def resigned(record: dict[str, Any], change: Callable[[dict[str, Any]], object]) -> dict[str, Any]:
    record = copy.deepcopy(record)
    change(record)
    record["public_key"] = OTHER.verify_key.encode().hex()
    record["signature"] = OTHER.sign(verifier.round_hash(record)).signature.hex()
    return record


def relabelled(proof: dict[str, Any], record: dict[str, Any]) -> dict[str, Any]:
    return {**proof, "round_hash": verifier.round_hash(record).hex()}


def case(bundle: Any, record: Any, client_id: str | None = "alice", **options: Any) -> dict:
    return {"bundle": bundle, "record": record, "client_id": client_id,
            "nonce": options.get("nonce"), "pinned": options.get("pinned"),
            "balances": options.get("balances", {}), "decimals": options.get("decimals", {})}


def _with_siblings(proof: dict[str, Any], change) -> dict[str, Any]:
    raw = bytearray(base64.b64decode(proof["siblings"]))
    change(raw)
    return {**proof, "siblings": base64.b64encode(bytes(raw)).decode("ascii")}


def _maxwell() -> tuple[dict[str, Any], dict[str, Any]]:
    """A parent committing only to the sum: each client shown the other's hash."""
    round_id = bytes.fromhex(ROUND.record["round_id"])
    leaves = [(5, verifier.leaf_hash(round_id, 1, index, 5, verifier.leaf_salt(
        bytes.fromhex(nonce_of(ROUND, name)), round_id, 1, 0, verifier.identity_hash(name))))
        for index, name in enumerate(["alice", "bob"])]
    digest = hashlib.sha256(verifier.tag_node + bytes([1]) + (5).to_bytes(8, "big")
                            + leaves[0][1] + leaves[1][1]).digest()
    record = resigned(ROUND.record, lambda r: r["assets"][0].update(
        height=1, root={"sum": "5", "hash": digest.hex()}))
    proof = {**relabelled(next(ROUND.proofs("alice")), record),
             "pieces": [{"index": 0, "value": "5"}],
             "siblings": base64.b64encode(bytes(8) + leaves[1][1]).decode("ascii")}
    return proof, record


def inclusion_attacks() -> list[dict[str, Any]]:
    """Each attack of research §3 on alice's BTC proof, checked as one proof with her nonce."""
    alice, record = next(ROUND.proofs("alice")), ROUND.record
    nonce = nonce_of(ROUND, "alice")
    siblings = [lambda r: r.__setitem__(slice(0, 8), (2**64 - 1).to_bytes(8, "big")),
                lambda r: r.__setitem__(slice(0, 8), (2**64 - 5).to_bytes(8, "big")),
                lambda r: r.__setitem__(slice(0, 0), b"\x01"),
                lambda r: r.__setitem__(88, r[88] ^ 1),
                lambda r: r.__setitem__(slice(0, 80), r[40:80] + r[0:40]),
                lambda r: r.__delitem__(slice(-40, None)),
                lambda r: r.extend(r[:40])]
    proofs = [_with_siblings(alice, change) for change in siblings]
    reversed_pieces, repeated, changed = (copy.deepcopy(alice) for _ in range(3))
    reversed_pieces["pieces"].reverse()
    repeated["pieces"].append(repeated["pieces"][0])
    changed["pieces"][0]["value"] = str(int(changed["pieces"][0]["value"]) + 1)
    proofs += [reversed_pieces, repeated, changed, {**alice, "siblings": "zz" * 32},
               {**alice, "siblings": 5}, {**alice, "pieces": []},
               {**alice, "v": "ringfence-por-proof/1"}, {**alice, "asset_number": 99},
               {**alice, "asset": "ETH"}, [alice],
               {**alice, "pieces": [{"index": True, "value": "1"}]},
               next(OLD.proofs("alice")), {**alice, "round_hash": "ab" * 32}]
    cases = [case({"proofs": [proof]}, record, nonce=nonce) for proof in proofs]
    maxwell, forged = _maxwell()
    cases.append(case({"proofs": [maxwell]}, forged, nonce=nonce))
    for value in ("-5", str(2**64), "", "1e3"):
        changed_root = resigned(record, lambda r, v=value: r["assets"][0]["root"].update(sum=v))
        cases.append(case({"proofs": [relabelled(alice, changed_root)]}, changed_root,
                          nonce=nonce))
    later = build_round(snapshot=2, previous_round_hash=bytes.fromhex(ROUND.hash),
                        liabilities=LIABILITIES, master_secret=MASTER, signing_seed=b"s" * 32,
                        seed=b"t" * 32)
    cases += [case({"proofs": [alice]}, later.record, nonce=nonce),
              case({"proofs": [{**alice, "round_hash": later.hash}]}, later.record, nonce=nonce)]
    return cases


def round_cases() -> list[dict[str, Any]]:
    """Whole bundles: identities, pinned keys, balances, coverage, the round's own checks."""
    alice, record = bundle_of(ROUND, "alice"), ROUND.record
    cases = [
        case(alice, record), case(alice, record, pinned=FIRM_KEY),
        case(alice, record, balances={"BTC": "0.0007", "ETH": "2.000000000000000001"}),
        case(alice, record, balances={"BTC": "0.00069999"}),
        case(alice, record, balances={"ETH": "2"}), case(alice, record, balances={"DOGE": "1"}),
        case(bundle_of(ROUND, "é"), record, client_id="é", balances={"BTC": "0.00000012"}),
        # Identities: bob typing his id over alice's bundle; the clash, bob left out of the
        # tree and handed alice's proof with her nonce, or with one made for him.
        case(alice, record, client_id="bob"),
        case({**bundle_of(WITHOUT_BOB, "alice"), "client": "bob"}, WITHOUT_BOB.record,
             client_id="bob", balances={"BTC": "0.0007"}),
        case({**bundle_of(WITHOUT_BOB, "alice"), "nonce": nonce_of(WITHOUT_BOB, "bob")},
             WITHOUT_BOB.record, client_id="bob"),
        case({"client_key": "ab" * 32, "proofs": list(OLD.proofs("alice"))}, OLD.record),
        # Keys and signatures.
        case(alice, record, pinned=OTHER.verify_key.encode().hex()),
        case(alice, {**record, "snapshot": 9}), case(alice, {**record, "signature": "00" * 64}),
        case(alice, {**record, "v": "ringfence-por-round/9"}),
        case(alice, resigned(record, lambda r: r.update(journal_head={"seq": 2, "hash": "ab"}))),
        case(alice, resigned(record, lambda r: r.update(snapshot_ns="1e18"))),
        # Reserves: not covered at 37.5%, and a line that contradicts its own totals.
        case(bundle_of(SHORT, "alice"), SHORT.record, pinned=FIRM_KEY,
             balances={"BTC": "0.0007"}),
        case(bundle_of(SHORT, "alice"), resigned(SHORT.record, lambda r: r["assets"][0][
            "reserves"].update(covered=True))),
        # Pools: one short (the round's own claim), and statements that are not lists.
        case(bundle_of(POOLS, "alice"), POOLS.record, pinned=FIRM_KEY),
        case(bundle_of(POOLS, "alice"), resigned(POOLS.record, lambda r: r["assets"][0][
            "pools"].update(pools=[{"pool": "p", "reserves": "-1"}]))),
        case(bundle_of(POOLS, "alice"), resigned(POOLS.record, lambda r: r["assets"][0][
            "pools"].update(pools={}))),
        # What the client gives: refused by name.
        case(alice, record, client_id=None), case(alice, record, client_id=""),
        case(alice, record, client_id="a\tb"), case({"proofs": alice["proofs"]}, record),
        case({**alice, "nonce": "12"}, record),
        case(alice, record, balances={"BTC": "0.000000001"}),
        case(alice, record, balances={"BTC": "0,8"}),
        case(alice, record, balances={"BTC": "0.8"}, decimals={"BTC": 7}),
        case(alice, resigned(record, lambda r: r["assets"][0].pop("scale")),
             balances={"BTC": "0.0007"}),
        case(alice, resigned(record, lambda r: r["assets"][0].pop("scale")),
             balances={"BTC": "0.0007"}, decimals={"BTC": 8}),
        case([alice], record),
    ]
    return cases + inclusion_attacks()


def python_report(given: dict[str, Any]) -> dict[str, Any]:
    try:
        report = verifier.verify_bundle(
            given["bundle"], given["record"], client_id=given["client_id"],
            nonce=None if given["nonce"] is None else bytes.fromhex(given["nonce"]),
            pinned_key=None if given["pinned"] is None else bytes.fromhex(given["pinned"]),
            balances=given["balances"], decimals=given["decimals"])
    except verifier.InputRefusedError as refusal:
        return {"refused": refusal.reason}
    text = verifier.render_text(report) if report["verdict"] != "rejected" else None
    results = [{k: v for k, v in result.items() if k != "detail"} for result in report["results"]]
    return {**report, "results": results, "text": text}


HARNESS = """
<pre id="rf-test-results">pending</pre>
<script type="application/json" id="rf-cases">CASES</script>
<script type="application/json" id="rf-form">FORM</script>
<script>
(async () => {
  const out = document.getElementById("rf-test-results");
  const V = RingfenceVerifier;
  const bytes = (text) => text === null ? null : V.hexBytes(text, 32);
  try {
    const cases = JSON.parse(document.getElementById("rf-cases").textContent);
    const reports = [];
    for (const c of cases) {
      try {
        const report = await V.verifyBundle(c.bundle, c.record, { clientId: c.client_id,
          nonce: bytes(c.nonce), pinnedKey: bytes(c.pinned), balances: c.balances,
          decimals: c.decimals });
        const text = report.verdict !== "rejected" ? V.renderText(report) : null;
        report.results = report.results.map(({ detail, ...rest }) => rest);
        reports.push({ ...report, text });
      } catch (error) {
        reports.push(error instanceof V.Refused ? { refused: error.reason }
                     : { exception: String(error) });
      }
    }
    // The page's own form, filled and clicked as a client would.
    const form = JSON.parse(document.getElementById("rf-form").textContent);
    const seen = [];
    for (const fields of form) {
      for (const [id, value] of Object.entries(fields)) document.getElementById(id).value = value;
      document.getElementById("verify").click();
      const verdict = document.getElementById("verdict");
      while (verdict.dataset.verdict === "checking") {
        await new Promise((done) => setTimeout(done, 5));
      }
      const text = document.getElementById("report-text");
      seen.push({ verdict: verdict.dataset.verdict, reason: verdict.dataset.reason || null,
                  banner: verdict.querySelector(".banner").textContent,
                  alert: verdict.querySelector('[role="alert"]') !== null,
                  text: text ? text.textContent : null });
    }
    out.textContent = JSON.stringify({ reports, seen });
  } catch (error) {
    out.textContent = JSON.stringify({ harness_error: String(error) });
  }
})();
</script>
"""


def run_page(tmp_path: Path, cases: list[dict[str, Any]], form: list[dict[str, str]],
             page: str | None = None) -> Any:
    browser = chromium()
    page = page if page is not None else PAGE.read_text(encoding="utf-8")
    harness = HARNESS.replace("CASES", json.dumps(cases).replace("</", "<\\/")).replace(
        "FORM", json.dumps(form).replace("</", "<\\/"))
    (tmp_path / "harness.html").write_text(page.replace("</body>", harness + "</body>"),
                                           encoding="utf-8")
    finished = subprocess.run(
        [browser, "--headless", "--no-sandbox", "--disable-gpu",
         "--disable-background-networking", "--disable-component-update", "--disable-sync",
         "--no-first-run", f"--user-data-dir={tmp_path / 'profile'}",
         "--virtual-time-budget=60000", "--dump-dom", (tmp_path / "harness.html").as_uri()],
        capture_output=True, text=True, timeout=180, check=False)
    found = re.search(r'<pre id="rf-test-results">(.*?)</pre>', finished.stdout, re.DOTALL)
    assert found is not None, finished.stderr[-2000:]
    return json.loads(html.unescape(found.group(1)))


def form_of(bundle: Any, record: Any, **fields: str) -> dict[str, str]:
    return {"client-id": "alice", "proof": json.dumps(bundle), "round": json.dumps(record),
            "public-key": "", "nonce": "", "balances": "", "decimals": "", **fields}


def test_the_page_and_the_stdlib_verifier_agree_on_every_case(tmp_path: Path) -> None:
    cases = round_cases()
    alice, short = bundle_of(ROUND, "alice"), bundle_of(SHORT, "alice")
    form = [
        form_of(alice, ROUND.record, **{"public-key": FIRM_KEY, "balances": "BTC=0.0007, ETH=2"}),
        form_of(short, SHORT.record, **{"public-key": FIRM_KEY, "balances": "BTC=0.0007"}),
        form_of(alice, ROUND.record, **{"client-id": "bob"}),
        form_of(alice, ROUND.record, balances="BTC=0.7 ETH"),
    ]
    outcome = run_page(tmp_path, cases, form)
    assert "harness_error" not in outcome, outcome
    expected = [python_report(given) for given in cases]
    for number, (page, python) in enumerate(zip(outcome["reports"], expected, strict=True)):
        assert page == python, (number, cases[number]["client_id"], page, python)
    verdicts = [report.get("verdict", "refused") for report in expected]
    assert verdicts.count("accepted") == 4
    assert verdicts.count("not_covered") == 2
    reasons = {result.get("reason") for report in expected for result in report.get(
        "results", [])} | {report.get("refused") for report in expected}
    assert {"balance_mismatch", "root_mismatch", "other_round", "sum_overflows", "malformed",
            "sum_out_of_range", "repeated_piece", "unknown_format", "no_such_asset",
            "identity_not_bound", "signing_key_not_pinned", "bad_signature",
            "reserves_inconsistent", "proof_missing", "client_id_required",
            "client_id_malformed", "nonce_required", "nonce_malformed",
            "balance_finer_than_scale", "balance_malformed", "decimals_mismatch",
            "decimals_unknown", "json_malformed"} <= reasons
    # The form: what the offline verifier prints, with the verdict on top; a shortfall is an
    # alert; bob is refused; a bad balance is named before anything is checked.
    pinned = {"pinned_key": bytes.fromhex(FIRM_KEY)}
    first, second, third, fourth = outcome["seen"]
    report = verifier.verify_bundle(alice, ROUND.record, client_id="alice",
                                    balances={"BTC": "0.0007", "ETH": "2"}, **pinned)
    assert report["verdict"] == "rejected"  # ETH=2 is one gwei short of 2 ETH and one wei
    assert (first["verdict"], first["text"]) == ("rejected", verifier.render_text(report))
    report = verifier.verify_bundle(short, SHORT.record, client_id="alice",
                                    balances={"BTC": "0.0007"}, **pinned)
    assert (second["verdict"], second["text"], second["alert"]) == (
        "not_covered", verifier.render_text(report), True)
    assert second["banner"].startswith("NOT COVERED: your proofs check, but")
    assert "snapshot:     journal entry 1, taken at 2026-01-01T00:00:00.000000005Z" in (
        second["text"])
    assert "signature:    valid, by the key you pinned" in second["text"]
    assert "(37.50% of what it owes)" in second["text"]
    assert (third["verdict"], third["alert"]) == ("rejected", False)
    assert "BTC: REJECTED (root_mismatch)" in third["text"]
    assert "NOT CHECKED AGAINST A KEY YOU TRUST" in third["text"]
    assert (fourth["verdict"], fourth["reason"]) == ("refused", "balance_malformed")


def test_a_page_with_the_firms_key_pinned_refuses_any_other_signer(tmp_path: Path) -> None:
    # `ringfence por page` writes the page with the key of the rounds' directory pinned.
    folder = tmp_path / "por"
    folder.mkdir(mode=0o700)
    (folder / "signing.key").write_text((b"s" * 32).hex() + "\n", encoding="utf-8")
    (folder / "signing.key").chmod(0o600)
    written = CliRunner().invoke(app, [
        "--db", f"sqlite:///{tmp_path / 'books.db'}", "por", "page", "--out", str(folder),
        "--page-out", str(tmp_path / "verify.html"), "--json"])
    assert written.exit_code == 0, written.output
    assert json.loads(written.stdout)["public_key"] == FIRM_KEY
    page = (tmp_path / "verify.html").read_text(encoding="utf-8")
    assert f'<meta name="ringfence-signing-key" content="{FIRM_KEY}">' in page
    alice = bundle_of(ROUND, "alice")
    forged = resigned(ROUND.record, lambda r: None)
    form = [form_of(alice, ROUND.record), form_of(alice, forged),
            form_of(alice, ROUND.record, **{"public-key": OTHER.verify_key.encode().hex()})]
    seen = run_page(tmp_path, [], form, page)["seen"]
    assert [item["verdict"] for item in seen] == ["accepted", "rejected", "accepted"]
    assert "signature:    valid, by the key you pinned" in seen[0]["text"]
    assert "REJECTED (signing_key_not_pinned)" in seen[1]["text"]
    # The key the page carries wins over anything typed: the input is not even shown.
    assert "valid, by the key you pinned, " + FIRM_KEY in seen[2]["text"]
