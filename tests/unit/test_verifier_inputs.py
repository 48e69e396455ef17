"""Whatever a client is handed, the stdlib verifier answers with a named reason and an exit
status, never a traceback: bundles and rounds mutated at random (rounds signed again, so the
checks after the signature run too), garbage files and random command lines."""

from __future__ import annotations

import contextlib
import copy
import io
import json
import tempfile
from pathlib import Path
from typing import Any

import nacl.signing
from hypothesis import HealthCheck, assume, event, given, settings
from hypothesis import strategies as st

from ringfence import verifier
from ringfence.verifier import InputRefusedError, verify_bundle

DATA = Path(__file__).parents[1] / "data" / "verifier"
PAIRS = [("two-assets/round.json", "two-assets/bundle.json"),
         ("attested/round-1.json", "attested/bundle-1.json"),
         ("attested/round-2.json", "attested/bundle-2.json"),
         ("two-assets/round.json", "two-assets/proof-btc.json")]
FIXTURES = [tuple(json.loads((DATA / name).read_text(encoding="utf-8")) for name in pair)
            for pair in PAIRS]
FILES = [str(DATA / name) for pair in PAIRS for name in pair]
SIGNER = nacl.signing.SigningKey(b"p" * 32)
SIGNER_KEY = SIGNER.verify_key.encode()
STATUSES = set(verifier.verdict_exit_status.values()) | {verifier.exit_status_input,
                                                         verifier.exit_status_storage}
FIELDS = ["v", "round_hash", "round_id", "asset", "asset_number", "pieces", "index", "value",
          "siblings", "proofs", "nonce", "client", "reserves", "status", "file_hash", "total",
          "gross", "covered", "coverage_net_bp", "coverage_gross_bp", "scale", "unit_exponent",
          "height", "root", "sum", "hash", "journal_head", "seq", "snapshot", "snapshot_ns",
          "assets"]
SCALARS = (st.none() | st.booleans() | st.integers(min_value=-(2**80), max_value=2**80)
           | st.floats() | st.text(max_size=30) | st.text("0123456789abcdef", max_size=130)
           | st.integers(min_value=0, max_value=2**70).map(str)
           | st.sampled_from(["ringfence-por-proof/2", "ringfence-por-round/2",
                              "ringfence-por-proof/3", "ringfence-por-round/3", "BTC", "ETH",
                              "attested", "not_attested", "AAAAAAAAAAA=", "0.8", ""]))
VALUES = st.recursive(SCALARS, lambda children: st.lists(children, max_size=3) | st.dictionaries(
    st.sampled_from(FIELDS) | st.text(max_size=6), children, max_size=3), max_leaves=8)


def places(document: Any) -> list[tuple[Any, Any]]:
    """Every (container, key or index) in a JSON document."""
    found, waiting = [], [document]
    while waiting:
        value = waiting.pop()
        items = (value.items() if isinstance(value, dict)
                 else enumerate(value) if isinstance(value, list) else ())
        for key, child in items:
            found.append((value, key))
            waiting.append(child)
    return found


@st.composite
def mutated(draw: st.DrawFn, document: Any) -> Any:
    """The document with one to three values replaced, removed or added."""
    document = copy.deepcopy(document)
    # Places are picked by a drawn Random: hypothesis's own choices favour the first place.
    chance = draw(st.randoms(use_true_random=False))
    for _ in range(draw(st.integers(min_value=1, max_value=3))):
        found = places(document)
        if not found:
            break
        container, key = chance.choice(found)
        action = chance.choice(["replace", "remove", "add"])
        if action == "replace":
            container[key] = draw(VALUES)
        elif action == "remove":
            del container[key]
        elif isinstance(container, dict):
            container[draw(st.sampled_from(FIELDS))] = draw(VALUES)
        else:
            container.insert(key, draw(VALUES))
    return document


def signed_again(record: Any, bundle: Any) -> tuple[Any, Any]:
    """The round signed by SIGNER, and the bundle's proofs relabelled to it where they can be."""
    if not isinstance(record, dict):
        return record, bundle
    record = {**record, "public_key": SIGNER_KEY.hex()}
    record["signature"] = SIGNER.sign(verifier.round_hash(record)).signature.hex()
    digest = verifier.round_hash(record).hex()
    if isinstance(bundle, dict) and isinstance(bundle.get("proofs"), list):
        bundle = {**bundle, "proofs": [{**proof, "round_hash": digest} if isinstance(proof, dict)
                                       else proof for proof in bundle["proofs"]]}
    elif isinstance(bundle, dict) and "v" in bundle:
        bundle = {**bundle, "round_hash": digest}
    return record, bundle


BALANCES = st.dictionaries(st.sampled_from(["BTC", "ETH", "DOGE"]), st.one_of(
    st.sampled_from(["0.8", "1.5", "2", "2.000000000000000001", "0", "1e3", "-1", ""]),
    st.from_regex(r"[0-9]{1,25}(\.[0-9]{1,45})?", fullmatch=True), st.text(max_size=12)),
    max_size=3)
DECIMALS = st.dictionaries(st.sampled_from(["BTC", "ETH"]),
                           st.integers(min_value=0, max_value=verifier.scale_max), max_size=2)


def check_report(report: dict[str, Any]) -> None:
    """A report is one of three verdicts, with a named reason for every refusal, and prints."""
    assert report["verdict"] in verifier.verdict_exit_status
    assert report["ok"] is (report["verdict"] == "accepted")
    for result in report["results"]:
        assert result["ok"] or result["reason"] in verifier.rejection_reasons
    json.dumps(report)
    verifier.render_text(report)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=st.data(), balances=BALANCES, decimals=DECIMALS)
def test_no_mutation_of_a_bundle_or_a_round_escapes_as_an_exception(
    data: st.DataObject, balances: dict[str, str], decimals: dict[str, int]
) -> None:
    record, bundle = data.draw(st.sampled_from(FIXTURES))
    where = data.draw(st.sampled_from(["round", "bundle", "both"]))
    if where != "bundle":
        record = data.draw(mutated(record))
    if where != "round":
        bundle = data.draw(mutated(bundle))
    pinned = None
    if data.draw(st.booleans()):  # the firm's mutation, signed: every later check runs
        record, bundle = signed_again(record, bundle)
        pinned = SIGNER_KEY if data.draw(st.booleans()) else None
    nonce = bytes.fromhex(FIXTURES[0][1]["nonce"]) if data.draw(st.booleans()) else None
    client_id = data.draw(st.sampled_from(["alice", "bob"]) | st.text(max_size=8) | st.none())
    try:
        report = verify_bundle(bundle, record, client_id=client_id, nonce=nonce,
                               pinned_key=pinned, balances=balances, decimals=decimals)
    except InputRefusedError as refusal:
        event(f"refused: {refusal.reason}")
        assert refusal.reason in verifier.refusal_reasons
        assert refusal.exit_status == verifier.exit_status_input
        return
    event(f"{report['verdict']}: {sorted({r.get('reason', 'ok') for r in report['results']})}")
    check_report(report)


def run_main(arguments: list[str]) -> tuple[int, str]:
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        status = verifier.main(arguments)
    assert err.getvalue() == ""
    return status, out.getvalue()


def damaged_bytes(data: st.DataObject) -> bytes:
    """A fixture file with bytes changed, cut or added, or bytes at random."""
    if data.draw(st.booleans()):
        return data.draw(st.binary(max_size=200))
    raw = bytearray(Path(data.draw(st.sampled_from(FILES))).read_bytes())
    for _ in range(data.draw(st.integers(min_value=1, max_value=4))):
        at = data.draw(st.integers(min_value=0, max_value=len(raw) - 1))
        change = data.draw(st.sampled_from(["flip", "cut", "insert"]))
        if change == "flip":
            raw[at] ^= 1 << data.draw(st.integers(min_value=0, max_value=7))
        elif change == "cut":
            del raw[at : at + data.draw(st.integers(min_value=1, max_value=40))]
        else:
            raw[at:at] = data.draw(st.sampled_from([b"[", b"{", b"9" * 30, b"\xff", b'"', b",1"]))
        if not raw:
            break
    return bytes(raw)


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=st.data())
def test_damaged_or_garbage_files_get_a_named_reason_and_one_json_document(
    data: st.DataObject
) -> None:
    with tempfile.TemporaryDirectory() as folder:
        paths = []
        for name in ("proof.json", "round.json"):
            path = Path(folder) / name
            path.write_bytes(damaged_bytes(data) if data.draw(st.booleans())
                             else Path(data.draw(st.sampled_from(FILES))).read_bytes())
            paths.append(str(path))
        status, out = run_main([*paths, "--client-id", "alice", "--json"])
    assert status in STATUSES
    document = json.loads(out)
    event(f"status {status}: {document.get('error', document.get('verdict'))}")
    if "verdict" in document:
        check_report(document)
    else:
        assert document["error"] in verifier.refusal_reasons


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(arguments=st.lists(st.one_of(
    st.sampled_from([*FILES, "--public-key", "--balance", "--decimals", "--json", "--", "ab" * 32,
                     "--client-id", "alice",
                     "BTC=0.8", "ETH=2", "BTC=8", "=", "-", "--bal", "--balance=ETH=2"]),
    st.text(max_size=20)), max_size=7))
def test_any_command_line_gets_a_named_reason(arguments: list[str]) -> None:
    assume(not any(argument.startswith("-h") or argument == "--help" for argument in arguments))
    status, out = run_main([*arguments, "--json"])
    assert status in STATUSES
    document = json.loads(out)
    assert document.get("error", "usage") in verifier.refusal_reasons
