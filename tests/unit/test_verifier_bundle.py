"""The stdlib verifier on what a client is given: the bundle ``ringfence por proof --json``
prints and the signed round (tests/data/verifier/, made by the real command line), balances
in the major unit, the pinned signing key, the reserves the round signs, and the command
line's output and exit statuses."""

from __future__ import annotations

import copy
import json
import shutil
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import nacl.signing
import pytest

from ringfence import verifier
from ringfence.core import errors
from ringfence.verifier import InputRefusedError, proof_units_of_balance
from ringfence.verifier import verify_bundle as verify_as

DATA = Path(__file__).parents[1] / "data" / "verifier"


def load(name: str) -> Any:
    return json.loads((DATA / name).read_text(encoding="utf-8"))


ROUND, BUNDLE, PROOF_BTC = load("two-assets/round.json"), load("two-assets/bundle.json"), load(
    "two-assets/proof-btc.json")
FIRM_KEY = (DATA / "two-assets" / "public-key.txt").read_text(encoding="utf-8").strip()
COVERED, SHORT = load("attested/round-1.json"), load("attested/round-2.json")
COVERED_BUNDLE, SHORT_BUNDLE = load("attested/bundle-1.json"), load("attested/bundle-2.json")
ATTESTED_KEY = (DATA / "attested" / "public-key.txt").read_text(encoding="utf-8").strip()
ALICE = {"BTC": "0.8", "ETH": "2.000000000000000001"}
# Rounds changed by a test are signed again by this key, which the test then pins.
SIGNER = nacl.signing.SigningKey(b"t" * 32)
SIGNER_KEY = SIGNER.verify_key.encode()


def verify_bundle(bundle: Any, record: Any, **options: Any) -> dict[str, Any]:
    """The report alice's verifier gives (she types her client id)."""
    return verify_as(bundle, record, client_id=options.pop("client_id", "alice"), **options)


def resigned(
    record: dict[str, Any], bundle: dict[str, Any], change: Callable[[dict[str, Any]], object]
) -> tuple[dict[str, Any], dict[str, Any]]:
    """The round changed and signed again by SIGNER, and the bundle's proofs relabelled."""
    record = copy.deepcopy(record)
    change(record)
    record["public_key"] = SIGNER_KEY.hex()
    record["signature"] = SIGNER.sign(verifier.round_hash(record)).signature.hex()
    digest = verifier.round_hash(record).hex()
    bundle = {**bundle, "proofs": [{**proof, "round_hash": digest} for proof in bundle["proofs"]]}
    return record, bundle


def reasons(report: dict[str, Any]) -> list[str]:
    return [result["reason"] for result in report["results"] if not result["ok"]]


def refusal(call: Callable[[], object]) -> str:
    with pytest.raises(InputRefusedError) as caught:
        call()
    assert str(caught.value)
    return caught.value.reason


def test_the_bundle_por_proof_prints_is_accepted_with_balances_in_the_major_unit() -> None:
    report = verify_bundle(BUNDLE, ROUND, balances=ALICE, decimals={"BTC": 8})
    assert report["verdict"] == "accepted"
    assert report["ok"] is True
    assert [(r["asset"], r["proof_units"], r["counted"]) for r in report["results"]] == [
        ("BTC", "80000000", "0.80000000"), ("ETH", "2000000001", "2.000000001")]
    # One wei over 2 ETH is counted as a whole gwei: rounded up, as the firm must.
    short = verify_bundle(BUNDLE, ROUND, balances={"ETH": "2"})
    assert reasons(short) == ["balance_mismatch"]
    assert verify_bundle(BUNDLE, ROUND, balances={"BTC": "0.80000000"},
                         decimals={"BTC": 8})["verdict"] == "accepted"
    assert reasons(verify_bundle(BUNDLE, ROUND, balances={"BTC": "0.79999999"},
                                 decimals={"BTC": 8})) == ["balance_mismatch"]


def test_one_proof_on_its_own_is_accepted_with_the_rounds_nonce() -> None:
    nonce = bytes.fromhex(BUNDLE["nonce"])
    report = verify_bundle(PROOF_BTC, ROUND, nonce=nonce, balances={"BTC": "0.8"},
                           decimals={"BTC": 8})
    assert [(r["asset"], r["ok"]) for r in report["results"]] == [("BTC", True)]
    assert refusal(lambda: verify_bundle(PROOF_BTC, ROUND)) == "nonce_required"
    # A nonce given by the client wins over the bundle's: another nonce opens nothing.
    other = verify_bundle(BUNDLE, ROUND, nonce=bytes(32))
    assert reasons(other) == ["root_mismatch", "root_mismatch"]
    assert refusal(lambda: verify_bundle({**BUNDLE, "nonce": "12"}, ROUND)) == (
        "nonce_malformed")


def test_the_proofs_are_checked_as_the_client_who_types_their_id() -> None:
    # The bundle names alice; bob typing his own id is refused, whatever the bundle says.
    report = verify_bundle(BUNDLE, ROUND, client_id="bob")
    assert reasons(report) == ["root_mismatch", "root_mismatch"]
    assert report["client_id"] == "bob"
    assert verify_bundle({**BUNDLE, "client": "bob"}, ROUND)["verdict"] == "accepted"
    assert refusal(lambda: verify_as(BUNDLE, ROUND)) == "client_id_required"
    for bad in ("", "a\nb", "x" * 256, 5):
        assert refusal(lambda b=bad: verify_bundle(BUNDLE, ROUND, client_id=b)) == (
            "client_id_malformed")
    assert "Client id alice: every leaf below is rebuilt from it" in verifier.render_text(
        verify_bundle(BUNDLE, ROUND))


@pytest.mark.parametrize(("text", "scale", "exponent", "units"), [
    ("0.8", 8, 0, 80_000_000), ("0.80000000", 8, 0, 80_000_000), ("1", 8, 0, 100_000_000),
    ("0", 8, 0, 0), ("2.000000000000000001", 18, 9, 2_000_000_001), ("2", 18, 9, 2 * 10**9),
    ("0.000000000000000001", 18, 9, 1), ("18446744073709551615", 0, 0, 2**64 - 1),
    ("184467440737.09551615", 8, 0, 2**64 - 1), ("7", 0, 0, 7)])
def test_a_balance_converts_exactly(text: str, scale: int, exponent: int, units: int) -> None:
    assert proof_units_of_balance(text, scale, exponent) == units
    shown = verifier.major_units(units, exponent, scale)
    assert proof_units_of_balance(shown, scale, exponent) == units


@pytest.mark.parametrize(("text", "scale", "reason"), [
    ("0.123456789", 8, "balance_finer_than_scale"), ("0.1", 0, "balance_finer_than_scale"),
    ("184467440737.09551616", 8, "balance_too_large"), ("1" + "0" * 29, 8, "balance_too_large"),
    *[(text, 8, "balance_malformed") for text in (
        "", ".8", "8.", "-1", "+1", "1e3", "0x10", " 1", "1 ", "1_000", "\u0663", "1,5", "NaN",
        "inf", "1.2.3", "0.8 BTC", "1" * 31)]])
def test_a_balance_that_is_not_an_amount_of_the_asset_is_refused(
    text: str, scale: int, reason: str
) -> None:
    assert refusal(lambda: proof_units_of_balance(text, scale, 0)) == reason


def test_the_asset_scale_comes_from_the_signed_round_or_else_from_the_client() -> None:
    # The round signs each asset's scale: balances read as the statement shows them.
    assert [line["scale"] for line in verify_bundle(BUNDLE, ROUND)["round"]["assets"]] == [8, 18]
    assert verify_bundle(BUNDLE, ROUND, balances=ALICE)["verdict"] == "accepted"
    for decimals in ({"ETH": 8}, {"BTC": 10}, {"BTC": 7}):
        assert refusal(lambda d=decimals: verify_bundle(
            BUNDLE, ROUND, balances=ALICE, decimals=d)) == "decimals_mismatch"
    shown = verify_bundle(BUNDLE, ROUND)
    assert [result["counted"] for result in shown["results"]] == ["0.80000000", "2.000000001"]
    # A round without BTC's scale (as format 2 made them): the client's decimals are needed,
    # and the proof unit limits them (ETH's unit exponent 9 still fixes 18 decimals).
    unscaled, bundle = resigned(ROUND, BUNDLE, lambda r: r["assets"][0].pop("scale"))
    assert refusal(lambda: verify_bundle(bundle, unscaled, balances={"BTC": "0.8"})) == (
        "decimals_unknown")
    report = verify_bundle(bundle, unscaled, pinned_key=SIGNER_KEY, balances=ALICE,
                           decimals={"BTC": 8})
    assert report["verdict"] == "accepted"
    assert refusal(lambda: verify_bundle(bundle, unscaled, decimals={"ETH": 9})) == (
        "decimals_mismatch")
    assert refusal(lambda: verify_bundle(bundle, unscaled, decimals={"BTC": 10})) == (
        "decimals_mismatch")
    wrong, bundle = resigned(ROUND, BUNDLE, lambda r: r["assets"][0].update(scale=18))
    assert reasons(verify_bundle(bundle, wrong)) == ["malformed"]


def test_a_balance_for_an_asset_without_a_proof_is_refused() -> None:
    only_btc = {**BUNDLE, "proofs": BUNDLE["proofs"][:1]}
    report = verify_bundle(only_btc, ROUND, balances={"ETH": "2.000000000000000001"})
    assert report["verdict"] == "rejected"
    assert [(r["asset"], r.get("reason")) for r in report["results"]] == [
        ("BTC", None), ("ETH", "proof_missing")]
    assert reasons(verify_bundle(BUNDLE, ROUND, balances={"DOGE": "1"})) == ["proof_missing"]


def test_two_proofs_for_one_asset_or_none_at_all_are_refused() -> None:
    doubled = {**BUNDLE, "proofs": [*BUNDLE["proofs"], BUNDLE["proofs"][0]]}
    assert reasons(verify_bundle(doubled, ROUND)) == ["repeated_asset"]
    for proofs in ([], "x", [None], [[]]):
        assert reasons(verify_bundle({**BUNDLE, "proofs": proofs}, ROUND)) == ["malformed"]


def test_only_a_pinned_key_makes_the_signature_valid() -> None:
    unpinned = verify_bundle(BUNDLE, ROUND)
    assert unpinned["verdict"] == "accepted"
    assert unpinned["round"]["signature"] == "not_pinned"
    text = verifier.render_text(unpinned)
    assert "NOT CHECKED AGAINST A KEY YOU TRUST" in text
    assert "valid" not in text
    pinned = verify_bundle(BUNDLE, ROUND, pinned_key=bytes.fromhex(FIRM_KEY))
    assert pinned["round"]["signature"] == "valid"
    assert "signature:    valid, by the key you pinned" in verifier.render_text(pinned)
    # A round made and signed by someone else checks with the key it carries, and only that.
    forged, bundle = resigned(ROUND, BUNDLE, lambda r: r.update(previous_round_hash="cd" * 32))
    assert verify_bundle(bundle, forged)["round"]["signature"] == "not_pinned"
    refused = verify_bundle(bundle, forged, pinned_key=bytes.fromhex(FIRM_KEY))
    assert reasons(refused) == ["signing_key_not_pinned"]
    assert refused["round"] is None


@pytest.mark.parametrize("change", [
    lambda r: r.update(snapshot=8), lambda r: r["assets"][0]["root"].update(sum="1"),
    lambda r: r.update(signature="00" * 64), lambda r: r.update(signature="zz" * 64),
    lambda r: r.update(signature=r["signature"][:-2]), lambda r: r.pop("signature"),
    lambda r: r.update(public_key=SIGNER_KEY.hex()), lambda r: r.update(public_key=5)])
def test_a_round_whose_signature_does_not_check_is_refused(change) -> None:
    record = copy.deepcopy(ROUND)
    change(record)
    report = verify_bundle(BUNDLE, record)
    assert reasons(report) == ["bad_signature"]
    assert report["verdict"] == "rejected"


def test_reserves_that_do_not_cover_are_reported_whatever_the_proofs_say() -> None:
    pinned = bytes.fromhex(ATTESTED_KEY)
    covered = verify_bundle(COVERED_BUNDLE, COVERED, pinned_key=pinned, balances={"ETH": "2"})
    assert covered["verdict"] == "accepted"
    assert covered["round"]["assets"] == [{
        "asset": "ETH", "liabilities": "2000000000", "unit_exponent": 9, "scale": 18,
        "status": "covered", "reserves_net": "3000000000", "reserves_gross": "3000000000",
        "coverage_net_bp": "15000", "coverage_gross_bp": "15000"}]
    # Round 2 replayed round 1's proofs of control: 3 ETH held, none of it proven this round.
    short = verify_bundle(SHORT_BUNDLE, SHORT, pinned_key=pinned, balances={"ETH": "2"})
    assert short["verdict"] == "not_covered"
    assert short["ok"] is False
    assert all(result["ok"] for result in short["results"])
    (line,) = short["round"]["assets"]
    assert (line["status"], line["coverage_net_bp"], line["coverage_gross_bp"]) == (
        "not_covered", "0", "15000")
    text = verifier.render_text(short)
    assert "ETH: NOT COVERED, owes 2.000000000 ETH" in text
    assert "reserves net   0.000000000 ETH (0.00% of what it owes)" in text
    assert text.splitlines()[-1].startswith("NOT COVERED: your proofs check, but")


def attested(record: dict[str, Any], btc: tuple[int, int], eth: tuple[int, int]) -> None:
    """Make a two-asset round attested, with (net, gross) reserves per asset."""
    record["reserves"] = {"status": "attested", "file_hash": "ab" * 32}
    for line, (net, gross) in zip(record["assets"], (btc, eth), strict=True):
        owed = int(line["root"]["sum"])
        line["reserves"] = {"total": str(net), "gross": str(gross), "covered": net >= owed,
                            "coverage_net_bp": str(net * 10_000 // owed),
                            "coverage_gross_bp": str(gross * 10_000 // owed)}


def test_reserves_at_37_5_percent_are_not_false_comfort() -> None:
    # BTC: 2.3 owed (alice 0.8, bob 1.5), 37.5% held net, 50% gross; ETH fully covered.
    record, bundle = resigned(ROUND, BUNDLE, lambda r: attested(
        r, (86_250_000, 115_000_000), (2_000_000_001, 2_000_000_001)))
    report = verify_bundle(bundle, record, pinned_key=SIGNER_KEY, balances=ALICE,
                           decimals={"BTC": 8})
    assert report["verdict"] == "not_covered"
    assert [line["status"] for line in report["round"]["assets"]] == ["not_covered", "covered"]
    text = verifier.render_text(report)
    assert "BTC: NOT COVERED, owes 2.30000000 BTC" in text
    assert "(37.50% of what it owes)" in text
    assert "(50.00% of what it owes)" in text
    assert "ACCEPTED" not in text


@pytest.mark.parametrize(("change", "reason"), [
    (lambda line: line.update(covered=True), "reserves_inconsistent"),
    (lambda line: line.update(coverage_net_bp="3751"), "reserves_inconsistent"),
    (lambda line: line.update(coverage_gross_bp=None), "reserves_inconsistent"),
    (lambda line: line.update(gross="1"), "reserves_inconsistent"),
    (lambda line: line.update(total="-1"), "malformed"),
    (lambda line: line.update(total=str(2**64)), "sum_out_of_range"),
    (lambda line: line.clear(), "malformed")])
def test_a_reserves_line_that_contradicts_itself_is_refused(change, reason: str) -> None:
    def damaged(record: dict[str, Any]) -> None:
        attested(record, (86_250_000, 115_000_000), (2_000_000_001, 2_000_000_001))
        change(record["assets"][0]["reserves"])

    record, bundle = resigned(ROUND, BUNDLE, damaged)
    assert reasons(verify_bundle(bundle, record, pinned_key=SIGNER_KEY)) == [reason]


@pytest.mark.parametrize(("change", "reason"), [
    (lambda r: r["assets"][0].update(reserves={"total": "1"}), "reserves_inconsistent"),
    (lambda r: r.update(reserves={"status": "attested", "file_hash": "ab" * 32}),
     "reserves_inconsistent"),
    (lambda r: r.update(reserves={"status": "maybe"}), "malformed"),
    (lambda r: r.update(reserves=None), "malformed"),
    (lambda r: r.update(assets=[]), "malformed"),
    (lambda r: r["assets"][1].update(asset="BTC"), "malformed"),
    (lambda r: r["assets"][0].update(asset="btc"), "malformed"),
    (lambda r: r["assets"][0].update(unit_exponent=30), "malformed"),
    (lambda r: r.update(journal_head={"seq": 6, "hash": "ab" * 32}), "malformed"),
    (lambda r: r.update(journal_head={"seq": True, "hash": "ab" * 32}), "malformed"),
    (lambda r: r.update(snapshot_ns="-1"), "malformed"),
    (lambda r: r.update(snapshot_ns=str(253_402_300_800 * 10**9)), "malformed"),
    (lambda r: r.update(snapshot_ns=1_767_225_600 * 10**9), "malformed"),
    (lambda r: r.update(snapshot_ns="1e18"), "malformed"),
    (lambda r: r.update(v="ringfence-por-round/4"), "unknown_format"),
    (lambda r: r.update(v="ringfence-por-round/2"), "identity_not_bound")])
def test_a_signed_round_that_is_malformed_is_refused(change, reason: str) -> None:
    record, bundle = resigned(ROUND, BUNDLE, change)
    assert reasons(verify_bundle(bundle, record, pinned_key=SIGNER_KEY)) == [reason]


def test_the_snapshot_time_and_journal_head_are_shown_from_the_signed_round() -> None:
    report = verify_bundle(BUNDLE, ROUND)
    text = verifier.render_text(report)
    assert report["round"]["snapshot_time"].startswith("20")
    assert f"snapshot:     journal entry {ROUND['snapshot']}, taken at 20" in text
    assert f"journal head: {ROUND['journal_head']['hash']}" in text
    untimed, bundle = resigned(ROUND, BUNDLE, lambda r: r.pop("snapshot_ns"))
    text = verifier.render_text(verify_bundle(bundle, untimed))
    assert f"snapshot:     journal entry {ROUND['snapshot']}, no time recorded" in text
    timed, bundle = resigned(ROUND, BUNDLE, lambda r: r.update(
        snapshot_ns=str(1_767_225_600 * 10**9 + 123_456_789)))
    report = verify_bundle(bundle, timed, pinned_key=SIGNER_KEY)
    assert report["round"]["snapshot_time"] == "2026-01-01T00:00:00.123456789Z"
    assert "taken at 2026-01-01T00:00:00.123456789Z" in verifier.render_text(report)


def test_the_exit_statuses_are_those_of_por_verify() -> None:
    assert (verifier.exit_status_ok, verifier.exit_status_rejected, verifier.exit_status_input,
            verifier.exit_status_storage, verifier.exit_status_integrity) == (
        errors.exit_status_ok, errors.exit_status_rejected, errors.exit_status_input,
        errors.exit_status_storage, errors.exit_status_integrity)
    assert verifier.verdict_exit_status == {"accepted": errors.exit_status_ok,
                                            "not_covered": errors.exit_status_rejected,
                                            "rejected": errors.exit_status_integrity}


# ---------------------------------------------------------------------- the command line


def main(capsys: pytest.CaptureFixture[str], *arguments: str) -> tuple[int, Any]:
    """Run ``verifier.main`` with --json; its exit status and the one JSON document printed."""
    status = verifier.main([*arguments, "--json"])
    captured = capsys.readouterr()
    assert captured.err == ""
    return status, json.loads(captured.out)


def test_the_command_line_reports_each_verdict_with_its_exit_status(
    capsys: pytest.CaptureFixture[str]
) -> None:
    attested_files = [str(DATA / "attested" / name) for name in ("bundle-2.json", "round-2.json")]
    status, document = main(capsys, *attested_files, "--public-key", ATTESTED_KEY,
                            "--balance", "ETH=2", "--client-id", "alice")
    assert (status, document["verdict"]) == (1, "not_covered")
    status, document = main(capsys, str(DATA / "two-assets" / "bundle.json"),
                            str(DATA / "two-assets" / "round.json"), "--balance", "BTC=0.8",
                            "--decimals", "BTC=8", "--public-key", FIRM_KEY, "--client-id", "alice")
    assert (status, document["verdict"]) == (0, "accepted")
    status, document = main(capsys, str(DATA / "two-assets" / "bundle.json"),
                            str(DATA / "two-assets" / "round.json"), "--public-key", ATTESTED_KEY,
                            "--client-id", "alice")
    assert (status, document["results"][0]["reason"]) == (4, "signing_key_not_pinned")
    status, document = main(capsys, str(DATA / "two-assets" / "bundle.json"),
                            str(DATA / "two-assets" / "round.json"), "--client-id", "bob")
    assert (status, document["results"][0]["reason"]) == (4, "root_mismatch")


def test_the_command_line_names_every_bad_input(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    bundle, record = (str(DATA / "two-assets" / name) for name in ("bundle.json", "round.json"))
    files = {"list": "[]", "text": "not json", "deep": "[" * 40 + "]" * 40,
             "huge": '{"v": ' + "9" * 5000 + "}", "nan": "NaN"}
    for name, content in files.items():
        (tmp_path / name).write_text(content, encoding="utf-8")
    (tmp_path / "latin1").write_bytes(b'{"asset": "\xe9"}')
    alice = ("--client-id", "alice")
    cases = [
        ((bundle, record), "client_id_required", 2),
        ((bundle, record, "--client-id", ""), "client_id_malformed", 2),
        ((bundle, record, "--client-id", "a\tb"), "client_id_malformed", 2),
        ((), "usage", 2), ((bundle,), "usage", 2),
        ((bundle, record, "ab" * 32, "70000"), "usage", 2),  # the old balance in proof units
        ((bundle, record, "--balance"), "usage", 2),
        ((str(tmp_path / "absent.json"), record), "file_unreadable", 3),
        ((bundle, str(tmp_path)), "file_unreadable", 3),
        *[((str(tmp_path / name), record), "json_malformed", 2) for name in (*files, "latin1")],
        ((bundle, str(tmp_path / "list")), "json_malformed", 2),
        ((bundle, record, "xyz"), "nonce_malformed", 2),
        ((bundle, record, "--public-key", "ab" * 31), "public_key_malformed", 2),
        ((bundle, record, "--balance", "BTC"), "balance_malformed", 2),
        ((bundle, record, "--balance", "btc=1"), "balance_malformed", 2),
        ((bundle, record, "--balance", "BTC=1", "--balance", "BTC=2"), "balance_malformed", 2),
        ((bundle, record, "--balance", "BTC=0,8", "--decimals", "BTC=8"), "balance_malformed", 2),
        ((bundle, record, "--balance", "BTC=0.8", "--decimals", "BTC=7"), "decimals_mismatch", 2),
        ((bundle, record, "--decimals", "BTC=eight"), "decimals_malformed", 2),
        ((bundle, record, "--decimals", "BTC=99"), "decimals_malformed", 2)]
    for given, reason, expected in cases:
        arguments = given
        if reason not in ("usage", "client_id_required", "client_id_malformed"):
            arguments = (*given, *alice)
        status, document = main(capsys, *arguments)
        assert (status, document["error"]) == (expected, reason), arguments
        assert document["ok"] is False
        assert document["detail"]
    monkeypatch.setattr(verifier, "input_bytes_max", 100)
    assert main(capsys, bundle, record, *alice)[1]["error"] == "input_too_large"


def test_without_json_a_bad_input_is_one_line_on_standard_error(
    capsys: pytest.CaptureFixture[str]
) -> None:
    assert verifier.main([str(DATA / "two-assets" / "proof-btc.json"),
                          str(DATA / "two-assets" / "round.json"), "--client-id", "alice"]) == 2
    captured = capsys.readouterr()
    assert captured.out == ""
    assert captured.err.startswith("error: nonce_required: ")
    assert captured.err.count("\n") == 1


def test_the_verifier_runs_alone_downloaded_as_one_file(tmp_path: Path) -> None:
    shutil.copy(verifier.__file__, tmp_path / "verifier.py")
    for name in ("bundle-2.json", "round-2.json"):
        shutil.copy(DATA / "attested" / name, tmp_path / name)
    finished = subprocess.run(
        [sys.executable, "-I", "verifier.py", "bundle-2.json", "round-2.json",
         "--public-key", ATTESTED_KEY, "--balance", "ETH=2", "--client-id", "alice"],
        cwd=tmp_path, capture_output=True, text=True, check=False, timeout=60)
    assert finished.returncode == 1, finished.stderr
    assert "ETH: OK, 2000000000 proof units (2.000000000 ETH) counted" in finished.stdout
    assert finished.stdout.splitlines()[-1].startswith("NOT COVERED")
    assert finished.stderr == ""
