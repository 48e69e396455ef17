"""``ringfence por ...`` end to end: build rounds from a SQLite ledger, print a client's
proofs, verify them (and refuse forged ones with a named reason), and audit a round against
the journal, through the installed console script."""

from __future__ import annotations

import base64
import json
import shutil
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from tests.e2e.test_cli import Run, run, run_json, write_lines

from ringfence.core import errors

accounts = [
    {"id": "1", "asset": "BTC", "class": "custody", "owner": "wallet-1", "kind": "hot",
     "pool": "omni"},
    {"id": "2", "asset": "BTC", "class": "client", "owner": "alice", "kind": "available",
     "pool": "omni"},
    {"id": "3", "asset": "BTC", "class": "client", "owner": "bob", "kind": "available",
     "pool": "omni"},
    {"id": "6", "asset": "ETH", "class": "custody", "owner": "wallet-2", "kind": "hot",
     "pool": "omni"},
    {"id": "7", "asset": "ETH", "class": "client", "owner": "alice", "kind": "available",
     "pool": "omni"},
]  # fmt: skip


def deposit(transfer_id: str, debit: str, credit: str, amount: str) -> dict[str, str]:
    return {
        "id": transfer_id,
        "debit_account": debit,
        "credit_account": credit,
        "amount": amount,
        "code": "deposit",
    }


def submit(db: Path, folder: Path, lines: list[dict[str, str]]) -> None:
    submitted = run_json(db, "transfers", "submit", str(write_lines(folder / "t.jsonl", lines)))
    assert submitted["ok"] is True, submitted


@pytest.fixture
def db(tmp_path: Path) -> Path:
    db = tmp_path / "ringfence.db"
    run_json(db, "init")
    for code, scale, number in (("BTC", "8", "1"), ("ETH", "18", "2")):
        run_json(db, "assets", "create", "--code", code, "--scale", scale, "--number", number)
    run_json(db, "clients", "create", "alice", "bob", "carol")
    run_json(db, "pools", "create", "omni", "--kind", "omnibus", "--terms", "custody")
    run_json(db, "accounts", "import", str(write_lines(tmp_path / "a.jsonl", accounts)))
    submit(
        db,
        tmp_path,
        [
            deposit("1", "1", "2", "1.5"),
            deposit("2", "1", "3", "1.5"),
            deposit("3", "6", "7", "2.000000000000000001"),
        ],
    )
    return db


def verify(folder: Path, proof: Any, round_file: Path, *extra: str) -> Run:
    path = folder / "proof.json"
    path.write_text(json.dumps(proof), encoding="utf-8")
    return run(None, "por", "verify", str(path), "--round", str(round_file), *extra, "--json")


def test_build_stores_a_signed_round_beside_the_database(db: Path) -> None:
    built = run_json(db, "por", "build")
    assert built["ok"] is True
    assert built["round"] == 1
    assert built["reserves"] == {"status": "not_attested"}
    assert {row["asset"]: row["root_sum"] for row in built["assets"]} == {
        "BTC": "300000000",
        "ETH": "2000000001",
    }  # one wei owed counts as a gwei
    folder = db.parent / "por"
    record = json.loads((folder / "rounds" / "000001" / "round.json").read_text())
    assert record["round_id"] and record["signature"]
    assert record["reserves"] == {"status": "not_attested"}
    assert (folder / "master.key").stat().st_mode & 0o777 == 0o600
    assert (folder / "rounds" / "000001" / "private").stat().st_mode & 0o777 == 0o700


def test_a_clients_proofs_verify_and_forgeries_are_refused_with_a_reason(
    db: Path, tmp_path: Path
) -> None:
    run_json(db, "por", "build")
    round_file = db.parent / "por" / "rounds" / "000001" / "round.json"
    bundle = run_json(db, "por", "proof", "alice")
    assert [proof["asset"] for proof in bundle["proofs"]] == ["BTC", "ETH"]
    accepted = verify(tmp_path, bundle, round_file, "--balance", "BTC=150000000")
    assert accepted.status == 0, accepted.stdout
    assert [row["proof_units"] for row in accepted.document["results"]] == [
        "150000000",
        "2000000001",
    ]
    wrong = verify(tmp_path, bundle, round_file, "--balance", "BTC=150000001")
    assert wrong.status == errors.exit_status_integrity
    assert wrong.document["results"][0]["reason"] == "balance_mismatch"
    forged = json.loads(json.dumps(bundle))
    raw = bytearray(base64.b64decode(forged["proofs"][0]["siblings"]))
    raw[8] ^= 1
    forged["proofs"][0]["siblings"] = base64.b64encode(bytes(raw)).decode()
    refused = verify(tmp_path, forged, round_file)
    assert refused.status == errors.exit_status_integrity
    assert refused.document["ok"] is False
    assert refused.document["results"][0]["reason"] == "root_mismatch"
    # One proof on its own needs the key; bob's key does not open alice's leaves.
    single = bundle["proofs"][1]
    assert verify(tmp_path, single, round_file, "--key", bundle["client_key"]).status == 0
    bob = run_json(db, "por", "proof", "bob")
    stolen = verify(tmp_path, single, round_file, "--key", bob["client_key"])
    assert stolen.document["results"][0]["reason"] == "root_mismatch"
    record = json.loads(round_file.read_text())
    record["snapshot"] += 1
    resigned = tmp_path / "round.json"
    resigned.write_text(json.dumps(record))
    unsigned = verify(tmp_path, bundle, resigned)
    assert unsigned.status == errors.exit_status_integrity
    assert unsigned.document["results"][0]["reason"] == "bad_signature"


def test_rounds_chain_and_the_audit_replays_each_snapshot(db: Path, tmp_path: Path) -> None:
    first = run_json(db, "por", "build")
    submit(db, tmp_path, [deposit("4", "1", "2", "0.25")])
    second = run_json(db, "por", "build")
    assert second["round"] == 2
    assert second["snapshot"] > first["snapshot"]
    rounds = db.parent / "por" / "rounds"
    record = json.loads((rounds / "000002" / "round.json").read_text())
    assert record["previous_round_hash"] == first["round_hash"]
    for number, total in (("000001", "300000000"), ("000002", "325000000")):
        report = run_json(
            db,
            "por",
            "audit",
            "--round",
            str(rounds / number / "round.json"),
            "--seed",
            "block-850000",
            "--sample",
            "10",
        )
        assert report["ok"] is True, report["problems"]
        assert report["assets"][0]["proof_units"] == total
        assert len(report["sampled"]) == 3  # every (client, asset) owed something
    # The same public seed picks the same sample.
    again = run_json(
        db,
        "por",
        "audit",
        "--round",
        str(rounds / "000001" / "round.json"),
        "--seed",
        "block-850000",
        "--sample",
        "2",
    )
    other = run_json(
        db,
        "por",
        "audit",
        "--round",
        str(rounds / "000001" / "round.json"),
        "--seed",
        "block-850000",
        "--sample",
        "2",
    )
    assert again["sampled"] == other["sampled"]
    assert len(again["sampled"]) == 2


def audit_problems(db: Path, round_file: Path, status: int) -> set[str]:
    result = run(db, "por", "audit", "--round", str(round_file), "--seed", "s", "--json")
    assert result.status == status, result.stdout + result.stderr
    return {problem["problem"] for problem in result.document["problems"]}


def test_the_audit_names_what_does_not_match_the_journal(db: Path) -> None:
    run_json(db, "por", "build")
    round_folder = db.parent / "por" / "rounds" / "000001"
    round_file = round_folder / "round.json"
    integrity = errors.exit_status_integrity
    assert audit_problems(db, round_file, 0) == set()
    pristine = round_folder.parent / "pristine"
    shutil.copytree(round_folder, pristine)
    # A different build seed rebuilds other trees than the round's.
    seed_file = round_folder / "private" / "build.seed"
    seed_file.chmod(0o600)
    seed_file.write_text("11" * 32 + "\n")
    assert audit_problems(db, round_file, integrity) == {"root_mismatch"}
    # A stored leaf that was changed makes the proofs it answers fail.
    shutil.rmtree(round_folder)
    shutil.copytree(pristine, round_folder)
    tree = round_folder / "private" / "tree-1.npz"
    with np.load(tree) as stored:
        arrays = dict(stored)
    arrays["value"][0] += 1
    np.savez(tree, **arrays)
    assert audit_problems(db, round_file, integrity) == {"proof_rejected"}
    # A record that claims another total breaks its signature and the totals.
    shutil.rmtree(round_folder)
    shutil.copytree(pristine, round_folder)
    record = json.loads(round_file.read_text())
    record["assets"][0]["root"]["sum"] = "299999999"
    round_file.write_text(json.dumps(record))
    assert {"signature_invalid", "total_mismatch", "root_mismatch"} <= audit_problems(
        db, round_file, integrity
    )


def test_proof_refuses_an_unknown_client_and_a_missing_round(db: Path, tmp_path: Path) -> None:
    missing = run(db, "por", "proof", "alice", "--out", str(tmp_path / "none"), "--json")
    assert missing.status == errors.exit_status_storage
    assert missing.document["error"] == "storage_error"
    run_json(db, "por", "build", "--out", str(tmp_path / "rounds"))
    unknown = run(db, "por", "proof", "zoe", "--out", str(tmp_path / "rounds"), "--json")
    assert unknown.status == errors.exit_status_input
    assert unknown.document["error"] == "client_not_found"
    found = run_json(
        db,
        "por",
        "proof",
        "carol",
        "--out",
        str(tmp_path / "rounds"),
        status=errors.exit_status_input,
    )
    assert found["error"] == "client_not_found"  # carol is owed nothing
