"""The browser verifier's private mode (verify.html with the bundled ristretto255) in headless
Chromium against `ringfence por verify`'s checker (``por_verify.check_private_proof``): an
honest private proof is accepted; a forged sibling commitment to a negative value, swapped
sibling commitments and a range proof made for other values are refused by both, for the
same reason, even when the firm re-signs the round over the forged root."""

from __future__ import annotations

import base64
import copy
from pathlib import Path
from typing import Any

import pytest
from tests.e2e.test_web_verify import OTHER, case, form_of, run_page

from ringfence import verifier
from ringfence.core.money import Asset
from ringfence.core.por import private
from ringfence.core.por.hashes import round_nonce
from ringfence.core.por.rangeproof import _prove_many, prove_ranges
from ringfence.core.por.ristretto import add, commit, group_order
from ringfence.core.por.round import build_round
from ringfence.service.por_verify import check_private_proof

BTC = Asset("BTC", 8, 1)
MASTER = b"m" * 32
ROUND = build_round(snapshot=1, previous_round_hash=bytes(32),
                    liabilities=[(BTC, {"alice": 70_000, "bob": 70_000, "carol": 3})],
                    master_secret=MASTER, signing_seed=b"s" * 32, seed=b"r" * 32, private=True)
ROUND_ID = bytes.fromhex(ROUND.record["round_id"])
TREE = ROUND.private_trees[1]
NONCE = round_nonce(MASTER, ROUND_ID, "alice")
ALICE = {"client": "alice", "nonce": NONCE.hex(), "round_hash": ROUND.hash,
         "proofs": list(ROUND.proofs("alice"))}
PROOF = ALICE["proofs"][0]
INDEX = PROOF["index"]
LEAF = TREE.levels[0][INDEX]
OPENINGS = [TREE.levels[level][(INDEX >> level) ^ 1] for level in range(private.height)]


def python_report(given: dict[str, Any]) -> dict[str, Any]:
    report = verifier.verify_bundle(
        given["bundle"], given["record"], client_id=given["client_id"],
        nonce=None if given["nonce"] is None else bytes.fromhex(given["nonce"]),
        balances=given["balances"], private_check=check_private_proof)
    text = verifier.render_text(report) if report["verdict"] != "rejected" else None
    results = [{k: v for k, v in result.items() if k != "detail"} for result in report["results"]]
    return {**report, "results": results, "text": text}


def forged(openings: list[tuple[int, int]], commitments: list[bytes], range_proof: bytes,
           total: int | None = None) -> tuple[dict[str, Any], dict[str, Any]]:
    """The bundle and a round re-signed (by another key) over the root these siblings make."""
    node = (LEAF[2], LEAF[3])
    records = [(c, OPENINGS[level][3]) for level, c in enumerate(commitments)]
    for level, sibling in enumerate(records):
        left, right = (sibling, node) if (INDEX >> level) & 1 else (node, sibling)
        node = (add(left[0], right[0]), private.node_hash(level + 1, left, right))
    value = LEAF[0] + sum(v for v, _ in openings) if total is None else total
    blinding = (LEAF[1] + sum(b for _, b in openings)) % group_order
    record = copy.deepcopy(ROUND.record)
    record["assets"][0]["root"] = {"sum": str(value), "hash": node[1].hex(),
                                   "commitment": node[0].hex(),
                                   "blinding": blinding.to_bytes(32, "little").hex()}
    record["assets"][0]["reserves"] = None
    record["public_key"] = OTHER.verify_key.encode().hex()
    record["signature"] = OTHER.sign(verifier.round_hash(record)).signature.hex()
    proof = {**PROOF, "round_hash": verifier.round_hash(record).hex(),
             "siblings": base64.b64encode(b"".join(
                 c + h for c, h in records)).decode("ascii"),
             "range_proof": base64.b64encode(range_proof).decode("ascii")}
    return {**ALICE, "proofs": [proof]}, record


def attacks() -> list[dict[str, Any]]:
    honest = [(value, blinding) for value, blinding, _, _ in OPENINGS]
    commitments = [opening[2] for opening in OPENINGS]
    transcript = private.path_transcript(ROUND_ID, 1, INDEX, LEAF[3])
    # A sibling committed to -70,000: the firm hides bob; a cheating prover's range proof.
    negative = list(honest)
    negative[4] = (-70_000, 4242)
    bits = [((value % 2**64) >> i) & 1 for value, _ in negative for i in range(64)]
    _, cheat = _prove_many(bits, negative, private.path_transcript(ROUND_ID, 1, INDEX, LEAF[3]),
                           b"k" * 32, 32)
    negative_commitments = [*commitments[:4], commit(*negative[4]), *commitments[5:]]
    # Two sibling commitments swapped, the root re-signed; the honest range proof kept.
    honest_proof = base64.b64decode(PROOF["range_proof"])
    swapped = list(commitments)
    swapped[2], swapped[6] = commitments[6], commitments[2]
    # A range proof made for other values (each sibling's value plus one).
    _, other = prove_ranges([(value + 1, blinding) for value, blinding in honest], transcript,
                            b"k" * 32)
    return [
        case(*forged(negative, negative_commitments, cheat)),
        case(*forged(honest, swapped, honest_proof)),
        case(*forged(honest, commitments, other)),
        case(*forged(honest, commitments, honest_proof, total=LEAF[0] + sum(
            v for v, _ in honest) - 1)),  # a root that does not open to its total
        case(*forged(honest, commitments, honest_proof)),  # re-signed but honest: accepted
    ]


@pytest.mark.slowest  # one Chromium run of eight range proofs (about 40 s on a loaded machine)
def test_the_page_and_por_verify_agree_on_private_proofs_and_refuse_forgeries(
    tmp_path: Path,
) -> None:
    cases = [case(ALICE, ROUND.record, balances={"BTC": "0.0007"}),
             case(ALICE, ROUND.record, client_id="bob"),
             case(ALICE, ROUND.record, balances={"BTC": "0.0008"}), *attacks()]
    form = [form_of(ALICE, ROUND.record, balances="BTC=0.0007")]
    outcome = run_page(tmp_path, cases, form)
    assert "harness_error" not in outcome, outcome
    expected = [python_report(given) for given in cases]
    for number, (page, python) in enumerate(zip(outcome["reports"], expected, strict=True)):
        assert page == python, (number, page, python)
    reasons = [[result.get("reason") for result in report["results"]] for report in expected]
    assert reasons == [[None], ["root_mismatch"], ["balance_mismatch"],
                       ["sibling_out_of_range"], ["sibling_out_of_range"],
                       ["sibling_out_of_range"], ["root_does_not_open"], [None]]
    assert expected[0]["verdict"] == "accepted"
    (seen,) = outcome["seen"]
    assert seen["verdict"] == "accepted", seen
    assert seen["text"] == verifier.render_text(verifier.verify_bundle(
        ALICE, ROUND.record, client_id="alice", balances={"BTC": "0.0007"},
        private_check=check_private_proof))


def test_the_stdlib_verifier_names_private_proofs_it_cannot_check() -> None:
    report = verifier.verify_bundle(ALICE, ROUND.record, client_id="alice")
    assert report["verdict"] == "rejected"
    assert [result["reason"] for result in report["results"]] == ["private_proof_not_checked"]


pytestmark = pytest.mark.slow
