"""The browser verifier (entrypoints/pages/web/verify.html) in headless Chromium against the stdlib
verifier: both must accept the same valid proofs and refuse the same forged ones, for the
same reason. The page runs from a file:// URL with nothing but WebCrypto; a harness copy of
it gets the cases in a JSON script element and writes the page's verdicts into the DOM,
which ``chromium --dump-dom`` prints. On CI (CI=true) a missing Chromium fails the test."""

from __future__ import annotations

import base64
import copy
import html
import json
import os
import re
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest

from ringfence import verifier
from ringfence.core.money import Asset
from ringfence.core.por import round as por_round
from ringfence.core.por.hashes import client_key
from ringfence.core.por.round import build_round
from ringfence.service.por import verify_bundle

PAGE = Path(por_round.__file__).parents[2] / "entrypoints" / "pages" / "web" / "verify.html"
BTC = Asset("BTC", 8, 1)
ETH = Asset("ETH", 18, 2)
MASTER = b"m" * 32
LIABILITIES = [(BTC, {"alice": 70_000, "bob": 70_000, "carol": 3, "é": 12}),
               (ETH, {"alice": 2 * 10**18 + 1, "dave": 5})]
ROUND = build_round(snapshot=1, previous_round_hash=bytes(32), liabilities=LIABILITIES,
                             master_secret=MASTER, signing_seed=b"s" * 32, seed=b"r" * 32)
LATER = build_round(snapshot=2, previous_round_hash=bytes.fromhex(ROUND.hash),
                             liabilities=LIABILITIES, master_secret=MASTER,
                             signing_seed=b"s" * 32, seed=b"t" * 32)
KEYS = {name: client_key(MASTER, name).hex() for name in ("alice", "bob", "carol", "é")}


def chromium() -> str:
    found = shutil.which("chromium") or shutil.which("chromium-browser")
    if found is None:
        if os.environ.get("CI") == "true":
            pytest.fail("chromium is not installed (make tools installs Debian's package)")
        pytest.skip("chromium is not installed (make tools installs Debian's package)")
    return found


def proof_of(client: str, asset: str = "BTC") -> dict[str, Any]:
    return next(p for p in ROUND.proofs(client) if p["asset"] == asset)


def with_siblings(proof: dict[str, Any], change) -> dict[str, Any]:
    raw = bytearray(base64.b64decode(proof["siblings"]))
    change(raw)
    return {**proof, "siblings": base64.b64encode(bytes(raw)).decode("ascii")}


def relabelled(record: dict[str, Any], proof: dict[str, Any]) -> dict[str, Any]:
    return {**proof, "round_hash": verifier.round_hash(record).hex()}


def _maxwell() -> tuple[dict[str, Any], dict[str, Any]]:
    round_id = bytes.fromhex(ROUND.record["round_id"])
    leaves = [(5, verifier.leaf_hash(round_id, 1, index, 5, verifier.leaf_salt(
        bytes.fromhex(KEYS[name]), round_id, 1, 0))) for index, name in enumerate(["alice", "bob"])]
    total = 5
    digest = verifier.hashlib.sha256(verifier.tag_node + bytes([1]) + total.to_bytes(8, "big")
                                     + leaves[0][1] + leaves[1][1]).digest()
    record = copy.deepcopy(ROUND.record)
    record["assets"][0].update(height=1, root={"sum": "5", "hash": digest.hex()})
    proof = {**relabelled(record, proof_of("alice")), "pieces": [{"index": 0, "value": "5"}],
             "siblings": base64.b64encode(bytes(8) + leaves[1][1]).decode("ascii")}
    return proof, record


def _root_sum(value: str) -> tuple[dict[str, Any], dict[str, Any]]:
    record = copy.deepcopy(ROUND.record)
    record["assets"][0]["root"]["sum"] = value
    return relabelled(record, proof_of("alice")), record


def inclusion_cases() -> list[dict[str, Any]]:
    """(proof, record, key, balance): valid proofs, then each attack of research §3."""
    alice, record = proof_of("alice"), ROUND.record
    cases = [(alice, record, "alice", "70000"), (proof_of("alice", "ETH"), record, "alice",
             str(2 * 10**9 + 1)), (proof_of("bob"), record, "bob", None),
             (proof_of("carol"), record, "carol", "3"), (proof_of("é"), record, "é", "12"),
             (alice, record, "alice", "69999"), (alice, record, "bob", None),
             (alice, LATER.record, "alice", None), ({**alice, "round_hash": LATER.hash},
             LATER.record, "alice", None), (*_maxwell(), "alice", None)]
    siblings = [lambda r: r.__setitem__(slice(0, 8), (2**64 - 1).to_bytes(8, "big")),
                lambda r: r.__setitem__(slice(0, 8), (2**64 - 5).to_bytes(8, "big")),
                lambda r: r.__setitem__(slice(0, 0), b"\x01"),
                lambda r: r.__setitem__(88, r[88] ^ 1),
                lambda r: r.__setitem__(slice(0, 80), r[40:80] + r[0:40]),
                lambda r: r.__delitem__(slice(-40, None)),
                lambda r: r.extend(r[:40])]
    cases += [(with_siblings(alice, change), record, "alice", None) for change in siblings]
    cases += [(*_root_sum(value), "alice", None) for value in ("-5", str(2**64), "", "1e3")]
    pieces = copy.deepcopy(alice)
    pieces["pieces"].reverse()
    repeated = copy.deepcopy(alice)
    repeated["pieces"].append(repeated["pieces"][0])
    changed = copy.deepcopy(alice)
    changed["pieces"][0]["value"] = str(int(changed["pieces"][0]["value"]) + 1)
    cases += [(proof, record, "alice", None) for proof in (
        pieces, repeated, changed, {**alice, "siblings": "zz" * 32}, {**alice, "siblings": 5},
        {**alice, "pieces": []}, {**alice, "v": "ringfence-por-proof/1"},
        {**alice, "asset_number": 99}, {**alice, "asset": "ETH"}, [alice],
        {**alice, "pieces": [{"index": True, "value": "1"}]})]
    broken = copy.deepcopy(record)
    broken["assets"] = ["BTC"]
    cases.append((relabelled(broken, alice), broken, "alice", None))
    return [{"kind": "inclusion", "proof": p, "record": r, "key": KEYS[k], "balance": b}
            for p, r, k, b in cases]


def python_inclusion(case: dict[str, Any]) -> dict[str, Any]:
    balance = None if case["balance"] is None else int(case["balance"])
    try:
        total = verifier.verify_inclusion(case["proof"], case["record"],
                                          bytes.fromhex(case["key"]), balance)
    except verifier.ProofRejectedError as rejection:
        return {"ok": False, "reason": rejection.reason}
    return {"ok": True, "total": str(total)}


def bundle_cases() -> list[dict[str, Any]]:
    """Whole `por proof` bundles, signature included, as `ringfence por verify` checks them."""
    bundle = {"client": "alice", "client_key": KEYS["alice"], "proofs": list(ROUND.proofs("alice"))}
    resnapshot = {**ROUND.record, "snapshot": 9}
    cases = [(bundle, ROUND.record, {}), (bundle, ROUND.record, {"BTC": "70001"}),
             (bundle, resnapshot, {}), (bundle, {**ROUND.record, "signature": "00" * 64}, {}),
             ({**bundle, "proofs": [proof_of("bob")]}, ROUND.record, {})]
    return [{"kind": "bundle", "bundle": b, "record": r, "balances": s} for b, r, s in cases]


def python_bundle(case: dict[str, Any]) -> dict[str, Any]:
    balances = {code: int(units) for code, units in case["balances"].items()}
    ok, results = verify_bundle(case["bundle"], case["record"], "", balances)
    return {"ok": ok, "results": [{k: v for k, v in r.items() if k != "detail"} for r in results]}


HARNESS = """
<pre id="rf-test-results">pending</pre>
<script type="application/json" id="rf-cases">CASES</script>
<script>
(async () => {
  const out = document.getElementById("rf-test-results");
  try {
    const cases = JSON.parse(document.getElementById("rf-cases").textContent);
    const verdicts = [];
    for (const c of cases) {
      if (c.kind === "inclusion") {
        const key = Uint8Array.from(c.key.match(/../g), (h) => parseInt(h, 16));
        try {
          const total = await RingfenceVerifier.verifyInclusion(c.proof, c.record, key,
                                                                c.balance);
          verdicts.push({ ok: true, total: total.toString() });
        } catch (error) {
          verdicts.push({ ok: false, reason: error.reason || ("exception: " + error) });
        }
      } else {
        const outcome = await RingfenceVerifier.verifyAll(c.bundle, c.record, "", c.balances);
        verdicts.push({ ok: outcome.ok, signature: outcome.signature, results:
          outcome.results.map(({ detail, ...rest }) => rest) });
      }
    }
    out.textContent = JSON.stringify(verdicts);
  } catch (error) {
    out.textContent = JSON.stringify({ harness_error: String(error) });
  }
})();
</script>
"""


def run_page(tmp_path: Path, cases: list[dict[str, Any]]) -> Any:
    browser = chromium()
    page = PAGE.read_text(encoding="utf-8")
    harness = HARNESS.replace("CASES", json.dumps(cases).replace("</", "<\\/"))
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


def test_the_page_and_the_stdlib_verifier_agree_on_every_case(tmp_path: Path) -> None:
    inclusions, bundles = inclusion_cases(), bundle_cases()
    verdicts = run_page(tmp_path, inclusions + bundles)
    assert isinstance(verdicts, list), verdicts
    expected = [python_inclusion(case) for case in inclusions]
    assert verdicts[: len(inclusions)] == expected
    accepted = [verdict["ok"] for verdict in expected]
    assert accepted[:5] == [True] * 5  # the valid proofs, and only those
    assert not any(accepted[5:])
    reasons = {verdict["reason"] for verdict in expected[5:]}
    assert {"balance_mismatch", "root_mismatch", "other_round", "sum_overflows", "malformed",
            "sum_out_of_range", "repeated_piece", "unknown_format", "no_such_asset"} <= reasons
    page_bundles = verdicts[len(inclusions) :]
    assert [{k: v for k, v in b.items() if k != "signature"} for b in page_bundles] == [
        python_bundle(case) for case in bundles]
    # Chromium has Ed25519 in WebCrypto: the page checked every signature itself.
    assert [b["signature"] for b in page_bundles] == [
        "valid", "valid", "invalid", "invalid", "valid"]
