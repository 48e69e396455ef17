"""``ringfence por ...`` end to end, in process and (one ``por build``) through the installed
console script: a few runs that prove the wiring (the rounds' directory beside a SQLite
database, files named on the command line), the JSON shapes, the tables and the exit statuses.
What the workflows decide (proofs, forgeries, chains, the audit's findings) is tested in
process, in tests/integration/test_por_rounds.py."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from tests.support_cli import Run, copy_folder, run, run_installed, run_json, write_lines

from ringfence import bootstrap
from ringfence.core import errors
from ringfence.service import por

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


@pytest.fixture(scope="module")
def template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    tmp_path = tmp_path_factory.mktemp("por")
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
    return tmp_path


@pytest.fixture
def db(template: Path, tmp_path: Path) -> Path:
    """The module's ledger, copied into the test's folder."""
    copy_folder(template, tmp_path)
    return tmp_path / "ringfence.db"


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
    # The second round on a local Dask cluster the command starts and closes, through the
    # console script.
    said = run_installed(db, "por", "build", "--executor", "dask-local:1")
    assert said.status == 0, said.stderr
    assert "round 2 (" in said.stdout
    refused = run(db, "por", "build", "--executor", "spark://master:7077", "--json")
    assert refused.status == errors.exit_status_input
    assert refused.document["error"] == "executor_invalid"
    assert not (folder / "rounds" / "000003").exists()


def test_a_clients_proofs_verify_through_the_cli_and_a_wrong_one_exits_4(
    db: Path, tmp_path: Path
) -> None:
    run_json(db, "por", "build")
    round_file = db.parent / "por" / "rounds" / "000001" / "round.json"
    bundle = run_json(db, "por", "proof", "alice")
    assert set(bundle) == {"ok", "client", "nonce", "round", "round_hash", "proofs"}
    assert [proof["asset"] for proof in bundle["proofs"]] == ["BTC", "ETH"]
    alice = ("--client-id", "alice")
    accepted = verify(tmp_path, bundle, round_file, *alice, "--balance", "BTC=1.5")
    assert accepted.status == 0, accepted.stdout
    assert {"ok", "verdict", "client_id", "round", "results", "exit_status"} <= set(
        accepted.document)
    assert [row["proof_units"] for row in accepted.document["results"]] == [
        "150000000",
        "2000000001",
    ]
    wrong = verify(tmp_path, bundle, round_file, *alice, "--balance", "BTC=1.50000001")
    assert wrong.status == errors.exit_status_integrity
    assert wrong.document["results"][0]["reason"] == "balance_mismatch"
    record = json.loads(round_file.read_text())
    pinned = verify(tmp_path, bundle, round_file, *alice, "--public-key", record["public_key"])
    assert pinned.status == 0
    other = verify(tmp_path, bundle, round_file, *alice, "--public-key", "00" * 32)
    assert other.status == errors.exit_status_integrity
    assert other.document["results"][0]["reason"] == "signing_key_not_pinned"
    said = run(None, "por", "verify", str(tmp_path / "proof.json"), "--round", str(round_file),
               "--client-id", "bob")  # fmt: skip
    assert said.status == errors.exit_status_integrity
    assert "BTC: REJECTED (root_mismatch)" in said.stdout
    assert "snapshot:     journal entry" in said.stdout
    nameless = verify(tmp_path, bundle, round_file)
    assert nameless.status == errors.exit_status_input
    assert nameless.document["error"] == "client_id_required"
    missing = run(None, "por", "verify", str(tmp_path / "none.json"), "--round",
                  str(round_file), "--json")  # fmt: skip
    assert missing.status == errors.exit_status_input
    assert missing.document["error"] == "file_not_found"
    # The rest (forgeries, keys, signatures): tests/integration/test_por_rounds.py.


def test_a_build_while_another_holds_the_rounds_is_busy_and_builds_nothing(db: Path) -> None:
    """Another process's build (here: its lock, held by this one) refuses ``por build`` and
    ``por challenges`` by name, exit 2, with nothing written."""
    store = bootstrap.open_store(f"sqlite:///{db}")
    try:
        with store.exclusive(por.por_build_lock) as taken:
            assert taken
            block = "ethereum=" + "5a" * 32
            for words in (("por", "build"), ("por", "challenges", "--block", block)):
                refused = run(db, *words, "--json")
                assert refused.status == errors.exit_status_input, refused.stderr
                assert refused.document["error"] == "por_build_busy"
            assert not (db.parent / "por" / "rounds").exists()
    finally:
        store.close()
    assert run_json(db, "por", "build")["round"] == 1


def test_the_audit_passes_an_honest_round_and_exits_4_on_a_changed_one(db: Path) -> None:
    run_json(db, "por", "build")
    round_file = db.parent / "por" / "rounds" / "000001" / "round.json"
    report = run_json(db, "por", "audit", "--round", str(round_file), "--seed", "block-850000",
                      "--sample", "10")  # fmt: skip
    assert set(report) == {"ok", "round_hash", "snapshot", "assets", "sampled", "problems"}
    assert report["ok"] is True, report["problems"]
    assert report["assets"][0]["proof_units"] == "300000000"
    assert len(report["sampled"]) == 3  # every (client, asset) owed something
    said = run(db, "por", "audit", "--round", str(round_file), "--seed", "s")
    assert said.status == 0
    assert "3 proofs sampled; 0 problems" in said.stdout
    tree = round_file.parent / "private" / "tree-1.npz"
    with np.load(tree) as stored:
        arrays = dict(stored)
    arrays["value"][0] += 1
    np.savez(tree, **arrays)
    assert audit_problems(db, round_file, errors.exit_status_integrity) == {"proof_rejected"}
    # The rest (chains, seeds, records): tests/integration/test_por_rounds.py.


def audit_problems(db: Path, round_file: Path, status: int) -> set[str]:
    result = run(db, "por", "audit", "--round", str(round_file), "--seed", "s", "--json")
    assert result.status == status, result.stdout + result.stderr
    return {problem["problem"] for problem in result.document["problems"]}


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


@pytest.mark.slowest  # range proofs, and a local Dask cluster started and stopped
def test_a_private_round_is_built_and_its_proofs_verify_through_the_cli(
    db: Path, tmp_path: Path
) -> None:
    built = run_json(db, "por", "build", "--private")
    assert {(row["asset"], row["mode"], row["height"]) for row in built["assets"]} == {
        ("BTC", "private", 32), ("ETH", "private", 32)}
    round_file = db.parent / "por" / "rounds" / "000001" / "round.json"
    bundle = run_json(db, "por", "proof", "alice")
    assert [proof["v"] for proof in bundle["proofs"]] == ["ringfence-por-private-proof/1"] * 2
    accepted = verify(tmp_path, bundle, round_file, "--client-id", "alice",
                      "--balance", "BTC=1.5")
    assert accepted.status == 0, accepted.stdout
    refused = verify(tmp_path, bundle, round_file, "--client-id", "bob")
    assert refused.status == errors.exit_status_integrity
    assert {row["reason"] for row in refused.document["results"]} == {"root_mismatch"}
    # The private trees built as tasks on a local Dask cluster (one asset per task).
    said = run(db, "por", "build", "--private", "--executor", "dask-local:1")
    assert said.status == 0, said.stderr
    assert "round 2 (" in said.stdout


def test_a_spilled_build_answers_proofs_and_passes_the_audit(db: Path, tmp_path: Path) -> None:
    """``por build --spill``: the same report, the trees kept as partitions; ``por proof``
    reads them and the proof verifies; ``por audit`` rebuilds the round from the journal."""
    built = run_json(db, "por", "build", "--spill")
    assert built["spilled"] is True
    assert {row["asset"]: row["root_sum"] for row in built["assets"]} == {
        "BTC": "300000000",
        "ETH": "2000000001",
    }
    private = db.parent / "por" / "rounds" / "000001" / "private"
    assert (private / "spill" / "spill.json").is_file()
    assert not list(private.glob("tree-*"))
    round_file = private.parent / "round.json"
    bundle = run_json(db, "por", "proof", "alice")
    assert [proof["asset"] for proof in bundle["proofs"]] == ["BTC", "ETH"]
    accepted = verify(tmp_path, bundle, round_file, "--client-id", "alice",
                      "--balance", "BTC=1.5")
    assert accepted.status == 0, accepted.stdout
    audit = run_json(db, "por", "audit", "--round", str(round_file), "--seed", "public")
    assert audit["ok"] is True, audit["problems"]
