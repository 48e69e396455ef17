"""``ringfence journal ...`` and ``audit verify`` with published keys and heads, end to end:
the head a firm publishes, a proof-of-reserves round that signs it, a rotation of the journal
key, and the audit naming a journal that no longer holds what was published."""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path

import pytest
from tests.e2e.test_cli_por import accounts, deposit
from tests.support_cli import copy_folder, run, run_installed, run_json, write_lines

from ringfence.core import errors


@pytest.fixture(scope="module")
def template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    tmp_path = tmp_path_factory.mktemp("journal")
    db = tmp_path / "books.db"
    run_json(db, "init")
    run_json(db, "assets", "create", "--code", "BTC", "--scale", "8", "--number", "1")
    run_json(db, "assets", "create", "--code", "ETH", "--scale", "18", "--number", "2")
    run_json(db, "clients", "create", "alice", "bob")
    run_json(db, "pools", "create", "omni", "--kind", "omnibus", "--terms", "custody")
    run_json(db, "accounts", "import", str(write_lines(tmp_path / "a.jsonl", accounts)))
    submit(db, [deposit("1", "1", "2", "1.5")])
    return tmp_path


@pytest.fixture
def db(template: Path, tmp_path: Path) -> Path:
    """The module's ledger, copied into the test's folder."""
    copy_folder(template, tmp_path)
    return tmp_path / "books.db"


def submit(db: Path, lines: list[dict[str, str]]) -> None:
    path = write_lines(db.parent / "t.jsonl", lines)
    assert run_json(db, "transfers", "submit", str(path))["ok"] is True


def test_a_new_ledger_makes_its_key_and_signs_every_entry(db: Path) -> None:
    key_file = Path(f"{db}.journal-key")
    assert key_file.is_file()
    assert key_file.stat().st_mode & 0o077 == 0  # readable by its owner only
    key = run_json(db, "journal", "key")
    assert key["key_file_in_force"] is True
    assert [d["from_seq"] for d in key["declared"]] == [1]
    report = run_json(db, "audit", "verify")
    assert (report["ok"], report["key_trusted"]) == (True, True)  # the key file's key
    assert report["journal_keys"] == [
        {"from_seq": 1, "public_key": key["declared"][0]["public_key"]}
    ]


def test_a_published_head_is_checked_and_a_cut_off_one_named(db: Path) -> None:
    installed = run_installed(db, "journal", "head", "--json")
    assert installed.status == 0, installed.stderr
    head = installed.document
    assert head["expect_head"] == f"{head['seq']}:{head['hash']}"
    assert len(bytes.fromhex(head["signature"])) == 64
    submit(db, [deposit("2", "1", "3", "0.5")])
    later = run_json(db, "journal", "head")["expect_head"]
    report = run_json(db, "audit", "verify", "--expect-head", head["expect_head"],
                      "--expect-head", later)  # fmt: skip
    assert (report["ok"], report["heads_checked"]) == (True, 2)
    with sqlite3.connect(db) as connection:  # an intruder cuts the last entry off
        connection.execute("DROP TRIGGER journal_no_delete")
        connection.execute("DELETE FROM journal WHERE seq = (SELECT max(seq) FROM journal)")
    cut = run(db, "audit", "verify", "--expect-head", later, "--json")
    assert cut.status == errors.exit_status_integrity
    assert "published_head_missing" in [p["kind"] for p in cut.document["problems"]]


def test_an_unknown_key_and_malformed_heads_are_named(db: Path) -> None:
    stranger = "ab" * 32
    report = run(db, "audit", "verify", "--public-key", stranger, "--json")
    assert report.status == errors.exit_status_integrity
    assert [p["kind"] for p in report.document["problems"]] == ["journal_key_not_trusted"]
    for option, value, code in (
        ("--public-key", "xyz", "journal_key_invalid"),
        ("--expect-head", "3", "published_head_invalid"),
        ("--expect-head", "3:" + "0" * 63, "published_head_invalid"),
    ):
        refused = run(db, "audit", "verify", option, value, "--json")
        assert refused.status == errors.exit_status_input
        assert refused.document["error"] == code


def test_a_round_signs_the_journal_head_and_the_audit_holds_the_journal_to_it(
    db: Path, tmp_path: Path
) -> None:
    run_json(db, "por", "build")
    round_file = db.parent / "por" / "rounds" / "000001" / "round.json"
    record = json.loads(round_file.read_text())
    head = run_json(db, "journal", "head")
    assert record["journal_head"] == {"seq": head["seq"], "hash": head["hash"]}
    report = run_json(db, "audit", "verify", "--round", str(round_file))
    assert report["heads_checked"] == 1
    record["journal_head"]["hash"] = "00" * 32  # edited after signing: the round is refused
    forged = tmp_path / "forged.json"
    forged.write_text(json.dumps(record))
    refused = run(db, "audit", "verify", "--round", str(forged), "--json")
    assert (refused.status, refused.document["error"]) == (
        errors.exit_status_input,
        "published_head_invalid",
    )


def test_rotation_hands_the_journal_on_to_the_new_key_only(db: Path, tmp_path: Path) -> None:
    old = run_json(db, "journal", "key")["declared"][0]["public_key"]
    new_file = tmp_path / "next.key"
    rotated = run_json(db, "journal", "rotate", "--new-key", str(new_file))
    assert new_file.is_file()
    stale = run(db, "clients", "create", "carol", "--json")  # still the old key file
    assert (stale.status, stale.document["error"]) == (
        errors.exit_status_input,
        "journal_key_mismatch",
    )
    fresh = run(db, "--journal-key", str(new_file), "clients", "create", "carol", "--json")
    assert fresh.status == 0, fresh.stdout
    for trusted in (old, rotated["public_key"]):
        report = run_json(db, "audit", "verify", "--public-key", trusted)
        assert report["ok"] is True
        assert [k["public_key"] for k in report["journal_keys"]] == [old, rotated["public_key"]]
