"""``ringfence principals keygen|add|revoke|list|sign`` end to end, and transfer lines whose
``authorisation`` is missing, malformed or forged: in process, and a refused ``keygen`` through
the installed console script."""

from __future__ import annotations

import json
import os
import stat
from pathlib import Path
from typing import Any

import pytest
from tests.support_cli import copy_folder, run, run_installed, run_json, write_lines

from ringfence.core import errors


def results(document: Any) -> list[str]:
    return [row["result"] for row in document["results"]]


def keygen(folder: Path, name: str) -> tuple[Path, str]:
    path = folder / f"{name}.key"
    document = run_json(None, "principals", "keygen", "--out", str(path))
    assert document["key_file"] == str(path)
    # The public half beside it, for the admin who registers it (as ssh-keygen does).
    assert Path(document["public_key_file"]).read_text() == document["public_key"] + "\n"
    return path, document["public_key"]


def payment(transfer_id: str, amount: str, **fields: object) -> dict[str, object]:
    return {
        "id": transfer_id,
        "debit_account": "2",
        "credit_account": "3",
        "amount": amount,
        "code": "internal_transfer",
        **fields,
    }


@pytest.fixture(scope="module")
def template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """alice and bob in one omnibus pool, alice funded; an admin ``root``, and a principal for
    alice, each with a key file in the folder; built once, copied for each test."""
    tmp_path = tmp_path_factory.mktemp("principals")
    db = tmp_path / "ringfence.db"
    run_json(db, "init")
    run_json(db, "assets", "create", "--code", "BTC", "--scale", "8", "--number", "1")
    run_json(db, "clients", "create", "alice", "bob")
    run_json(db, "pools", "create", "omni", "--kind", "omnibus", "--terms", "custody")
    for account_id, owner, account_class, kind in (
        ("1", "omni-hot", "custody", "hot"),
        ("2", "alice", "client", "available"),
        ("3", "bob", "client", "available"),
    ):
        run_json(db, "accounts", "create", "--id", account_id, "--asset", "BTC", "--class",
                 account_class, "--owner", owner, "--kind", kind, "--pool", "omni")  # fmt: skip
    _, root_key = keygen(tmp_path, "root")
    _, alice_key = keygen(tmp_path, "alice")
    assert results(run_json(db, "principals", "add", "root", "--role", "admin",
                            "--public-key", root_key)) == ["ok"]  # fmt: skip
    added = run_json(db, "principals", "add", "alice", "--role", "client", "--public-key",
                     alice_key, "--endorser", "root", "--endorser-key",
                     str(tmp_path / "root.key"))  # fmt: skip
    assert results(added) == ["ok"]
    deposit = {"id": "1", "debit_account": "1", "credit_account": "2", "amount": "1",
               "code": "deposit"}  # fmt: skip
    run_json(db, "transfers", "submit", str(write_lines(tmp_path / "funding.jsonl", [deposit])))
    return tmp_path


@pytest.fixture
def ledger(template: Path, tmp_path: Path) -> Path:
    """The module's ledger and its key files, copied into the test's folder."""
    copy_folder(template, tmp_path)
    return tmp_path / "ringfence.db"


def test_a_key_file_is_private_and_never_replaced(tmp_path: Path) -> None:
    path, public_key = keygen(tmp_path, "alice")
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o600
    assert len(public_key) == 64
    assert len(path.read_text(encoding="ascii").strip()) == 64
    again = run_installed(None, "principals", "keygen", "--out", str(path), "--json")
    assert again.status == errors.exit_status_storage
    assert "never replaced" in again.document["detail"]


def test_a_signed_file_commits_and_the_audit_verifies_it(ledger: Path, tmp_path: Path) -> None:
    lines = [payment("10", "0.25"), {"id": "11", "debit_account": "1", "credit_account": "3",
                                     "amount": "0.5", "code": "deposit"}]  # fmt: skip
    unsigned = write_lines(tmp_path / "day.jsonl", lines)
    signed = tmp_path / "signed.jsonl"
    result = run(ledger, "principals", "sign", str(unsigned), "--key", str(tmp_path / "alice.key"),
                 "--principal", "alice", "--out", str(signed))  # fmt: skip
    assert result.status == 0, result.stderr
    written = [json.loads(line) for line in signed.read_text(encoding="utf-8").splitlines()]
    assert written[1] == lines[1]  # a deposit needs no authorisation: unchanged
    assert written[0]["authorised_by"] == "alice"
    assert len(written[0]["authorisation"]) == 128
    submitted = run_json(ledger, "transfers", "submit", str(signed))
    assert submitted["committed"] == 2
    assert run_json(ledger, "audit", "verify")["ok"] is True


def test_bad_authorisations_are_refused_per_line(ledger: Path, tmp_path: Path) -> None:
    signed = tmp_path / "signed.jsonl"
    run(ledger, "principals", "sign", str(write_lines(tmp_path / "one.jsonl",
        [payment("20", "0.1")])), "--key", str(tmp_path / "alice.key"), "--principal", "alice",
        "--out", str(signed))  # fmt: skip
    good = json.loads(signed.read_text(encoding="utf-8"))
    lines = [
        payment("21", "0.1"),  # no authorised_by
        payment("22", "0.1", authorised_by="alice"),  # a bare name
        payment("23", "0.1", authorised_by="alice", authorisation="00" * 63),
        payment("24", "0.1", authorised_by="alice", authorisation=good["authorisation"].upper()),
        payment("25", "0.2", authorised_by="alice", authorisation=good["authorisation"]),
        payment("26", "0.1", authorised_by="bob", authorisation=good["authorisation"]),
        {**good, "id": "20"},
    ]
    document = run_json(ledger, "transfers", "submit",
                        str(write_lines(tmp_path / "bad.jsonl", lines)),
                        status=errors.exit_status_rejected)  # fmt: skip
    assert results(document) == [
        "authorisation_required",
        "authorisation_signature_required",
        "authorisation_malformed",
        "authorisation_malformed",
        "authorisation_signature_invalid",  # alice's signature of 0.1, on 0.2
        "authoriser_has_no_key",
        "ok",
    ]
    assert "128 lowercase hex digits" in document["results"][2]["detail"]
    assert run_json(ledger, "audit", "verify")["ok"] is True


def test_revoke_list_and_refusals(ledger: Path, tmp_path: Path) -> None:
    root_key = str(tmp_path / "root.key")
    revoked = run_json(ledger, "principals", "revoke", "alice", "--endorser", "root",
                       "--endorser-key", root_key)  # fmt: skip
    assert results(revoked) == ["ok"]
    listed = run_json(ledger, "principals", "list")
    assert [(p["name"], p["role"], p["client"], p["status"]) for p in listed["principals"]] == [
        ("root", "admin", "", "active"),
        ("alice", "client", "alice", "revoked"),
    ]
    assert [h["status"] for h in listed["principals"][1]["history"]] == ["active", "revoked"]
    assert len(listed["ledger_id"]) == 64
    # A revoked key signs nothing; nobody enters without an admin; names and keys are checked.
    sign = run(ledger, "principals", "sign", str(write_lines(tmp_path / "p.jsonl",
               [payment("30", "0.1")])), "--key", str(tmp_path / "alice.key"), "--principal",
               "alice")  # fmt: skip
    assert sign.status == errors.exit_status_input
    assert sign.stderr.startswith("error: signing_key_invalid")
    _, bob_key = keygen(tmp_path, "bob")
    unendorsed = run(ledger, "principals", "add", "bob", "--role", "client", "--public-key",
                     bob_key, "--json")  # fmt: skip
    assert unendorsed.status == errors.exit_status_rejected
    assert results(unendorsed.document) == ["endorsement_required"]
    for arguments, code in [
        (("--role", "king", "--public-key", bob_key), "principal_role_unknown"),
        (("--role", "client", "--public-key", "00" * 32), "principal_key_invalid"),
        (("--role", "client", "--public-key", bob_key[:-2]), "principal_key_invalid"),
    ]:
        refused = run(ledger, "principals", "add", "bob", *arguments, "--json")
        assert refused.status == errors.exit_status_input
        assert refused.document["error"] == code
    not_a_key = tmp_path / "not.key"
    not_a_key.write_text("hello\n", encoding="ascii")
    refused = run(ledger, "principals", "add", "bob", "--role", "client", "--public-key",
                  bob_key, "--endorser", "root", "--endorser-key", str(not_a_key),
                  "--json")  # fmt: skip
    assert refused.document["error"] == "signing_key_invalid"
    assert run_json(ledger, "audit", "verify")["ok"] is True


def test_a_bad_line_leaves_no_signed_file(ledger: Path, tmp_path: Path) -> None:
    lines = [payment("40", "0.1"), payment("41", "0.1", authorised_by="bob")]
    out = tmp_path / "signed.jsonl"
    result = run(ledger, "principals", "sign", str(write_lines(tmp_path / "in.jsonl", lines)),
                 "--key", str(tmp_path / "alice.key"), "--principal", "alice", "--out",
                 str(out))  # fmt: skip
    assert result.status == errors.exit_status_input
    assert "line 2 is authorised by bob, not alice" in result.stderr
    assert not out.exists()
    assert not (tmp_path / "signed.jsonl.partial").exists()
