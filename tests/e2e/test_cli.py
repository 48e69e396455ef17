"""The ``ringfence`` CLI end to end against a SQLite file: the Typer application in process
(tests/support_cli.py), and the installed console script for ``init``, a first ``transfers
submit``, a read through ``RINGFENCE_DB`` and an audit that fails.

One database is built per module (init, assets, clients, pools, accounts) and the tests read
it; tests that write use their own files or copies, so that they can run in any order.
"""

from __future__ import annotations

import json
import sqlite3
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from tests.support import key_file_signer
from tests.support_cli import Run, copy_of, run, run_installed, run_json, write_lines

from ringfence.adapters.clock import ManualClock
from ringfence.adapters.storage.sqlite import SqliteStore
from ringfence.core import errors
from ringfence.core.errors import Result
from ringfence.core.ledger.model import Transfer, TransferCode
from ringfence.service.ledger import LedgerService

u128_max = 2**128 - 1


# Accounts: BTC custody wallet 1, clients 2 (alice) and 3 (bob) in the omnibus pool, house
# revenue 4, house wallet 5; ETH custody wallet 6 and client 7 (alice).
accounts = [
    {"id": "1", "asset": "BTC", "class": "custody", "owner": "wallet-1", "kind": "hot",
     "pool": "omni"},
    {"id": "2", "asset": "BTC", "class": "client", "owner": "alice", "kind": "available",
     "pool": "omni"},
    {"id": "3", "asset": "BTC", "class": "client", "owner": "bob", "kind": "available",
     "pool": "omni"},
    {"id": "4", "asset": "BTC", "class": "house", "owner": "house", "kind": "revenue"},
    {"id": "5", "asset": "BTC", "class": "custody", "owner": "house-wallet", "kind": "cold"},
    {"id": "6", "asset": "ETH", "class": "custody", "owner": "wallet-2", "kind": "hot",
     "pool": "omni"},
]  # fmt: skip


@pytest.fixture(scope="module")
def database(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("cli")
    db = folder / "ringfence.db"
    installed = run_installed(db, "init", "--json")
    assert installed.status == 0, installed.stderr
    init = installed.document
    assert init["ok"] is True
    assert init["head_seq"] == 0
    assert db.is_file()
    assets = [("BTC", "8", "1", "bitcoin"), ("ETH", "18", "2", "ethereum")]
    for code, scale, number, chain in assets:
        created = run_json(
            db, "assets", "create", "--code", code, "--scale", scale, "--number", number,
            "--chain", chain,
        )  # fmt: skip
        assert created == {"ok": True, "results": [{"asset": code, "result": "ok"}]}
    clients = run_json(db, "clients", "create", "alice", "bob")
    assert [row["result"] for row in clients["results"]] == ["ok", "ok"]
    pool = run_json(db, "pools", "create", "omni", "--kind", "omnibus", "--terms", "custody")
    assert pool["results"] == [{"pool": "omni", "result": "ok"}]
    imported = run_json(db, "accounts", "import", str(write_lines(folder / "a.jsonl", accounts)))
    assert imported["ok"] is True
    assert imported["defined"] == len(accounts)
    created = run_json(
        db, "accounts", "create", "--id", "7", "--asset", "ETH", "--class", "client",
        "--owner", "alice", "--kind", "available", "--pool", "omni",
    )  # fmt: skip
    assert created["results"] == [{"account": "7", "result": "ok"}]
    return db


def balances_of(db: Path) -> dict[str, str]:
    document = run_json(db, "balances")
    return {row["account"]: row["balance"] for row in document["balances"]}


# ---------------------------------------------------------------------- database and errors


def test_commands_other_than_init_refuse_a_missing_database(tmp_path: Path) -> None:
    missing = tmp_path / "missing.db"
    document = run_json(missing, "balances", status=errors.exit_status_storage)
    assert document["ok"] is False
    assert document["error"] == "storage_error"
    assert document["detail"].startswith("no database at")
    assert not missing.exists()


@pytest.mark.parametrize(
    "command", [("balances",), ("audit", "verify"), ("db", "status"), ("positions",)]
)
def test_commands_refuse_an_empty_file_and_leave_it_empty(
    tmp_path: Path, command: tuple[str, ...]
) -> None:
    empty = tmp_path / "empty.db"
    empty.touch()
    document = run_json(empty, *command, status=errors.exit_status_storage)
    assert document["error"] == "storage_error"
    assert "not a ringfence database" in document["detail"]
    assert empty.stat().st_size == 0
    assert sorted(path.name for path in tmp_path.iterdir()) == ["empty.db"]


def checkpoint_seq(db: Path) -> int:
    with sqlite3.connect(db) as connection:
        row = connection.execute("SELECT value FROM meta WHERE key = 'checkpoint_seq'").fetchone()
    connection.close()
    return 0 if row is None else int(row[0])


def test_a_read_only_command_never_writes_a_checkpoint(database: Path, tmp_path: Path) -> None:
    db = copy_of(database, tmp_path)
    # A writer that stopped without closing: its last entry is past the checkpoint.
    store = SqliteStore(str(db))
    service = LedgerService(store, ManualClock(2_000_000_000 * 10**9), key_file_signer(db))
    assert service.submit([Transfer(500, 1, 2, 7, TransferCode.deposit)]) == [Result.ok]
    head = service.seq
    store.close()
    behind = checkpoint_seq(db)
    assert behind < head
    for command in (("balances",), ("positions",), ("breaks",), ("audit", "verify")):
        run_json(db, *command)
    assert checkpoint_seq(db) == behind
    assert balances_of(db)["2"] == "0.00000007"


def test_a_checkpoint_at_entry_0_with_balances_is_refused_and_named(
    database: Path, submitted: Submitted, tmp_path: Path
) -> None:
    db = copy_of(database, tmp_path)
    with sqlite3.connect(db) as connection:
        connection.execute("UPDATE meta SET value = 0 WHERE key = 'checkpoint_seq'")
    connection.close()
    refused = run_json(db, "balances", status=errors.exit_status_integrity)
    assert refused["error"] == "integrity_error"
    assert "entry 0" in refused["detail"]
    report = run_json(db, "audit", "verify", status=errors.exit_status_integrity)
    assert "balance_mismatch" in {problem["kind"] for problem in report["problems"]}
    assert checkpoint_seq(db) == 0  # nothing was written over it


def test_definitions_report_rejections_per_item(database: Path, tmp_path: Path) -> None:
    db = copy_of(database, tmp_path)
    bad_name = run(db, "clients", "create", "carol", "Bob")
    assert bad_name.status == errors.exit_status_input
    assert bad_name.stderr == "error: name_invalid: client 'Bob'\n"
    assert bad_name.stdout == ""
    lines = [
        accounts[0],  # the same definition again
        {**accounts[1], "id": "8", "asset": "DOGE"},
        {**accounts[1], "id": "9", "colour": "red"},
        "{not json",
        {**accounts[1], "id": "10", "owner": "carol"},  # not created: the request was refused
        {**accounts[0], "owner": "wallet-9"},
    ]
    imported = run_json(
        db, "accounts", "import", str(write_lines(tmp_path / "a.jsonl", lines)),
        status=errors.exit_status_rejected,
    )  # fmt: skip
    assert imported["ok"] is False
    assert imported["defined"] == 0
    assert [(row["line"], row["id"], row["result"]) for row in imported["results"]] == [
        (1, "1", "exists"),
        (2, "8", "asset_not_found"),
        (3, None, "field_unknown"),
        (4, None, "line_malformed"),
        (5, "10", "client_not_found"),
        (6, "1", "definition_exists_with_different_body"),
    ]


# ---------------------------------------------------------------------- transfers


def deposit(transfer_id: str, amount: object, **fields: object) -> dict[str, object]:
    return {
        "id": transfer_id,
        "debit_account": "1",
        "credit_account": "2",
        "amount": amount,
        "code": "deposit",
        **fields,
    }


eth_amount = "1000.000000000000000001"
transfers: list[tuple[object, str]] = [
    (deposit("1", "1.5"), "ok"),
    (deposit("2", eth_amount, debit_account="6", credit_account="7"), "ok"),
    (deposit("3", 1.5), "amount_must_not_be_float"),
    (deposit("4", 150000000), "amount_must_be_decimal_string"),
    (deposit("5", "0"), "amount_must_not_be_zero"),
    (deposit("6", "-1"), "amount_must_not_be_negative"),
    (deposit("7", "0.123456789"), "amount_finer_than_asset_scale"),
    (deposit("8", str(2**128)), "amount_must_be_below_2_128"),
    (deposit("9", "1", debit_account="404"), "debit_account_not_found"),
    (deposit("10", "1", memo="hello"), "field_unknown"),
    ('{"id": "11", "id": "12", "code": "deposit"}', "line_malformed"),
    ('{"id": "13", "amount": "1"', "line_malformed"),
    (deposit("14", "1", asset="ETH"), "asset_does_not_match_accounts"),
    (deposit(str(u128_max + 1), "1"), "id_must_be_below_2_128"),
    (deposit("15", "0.1", flags=["linked"]), "linked_event_failed"),
    (deposit("16", "0"), "amount_must_not_be_zero"),
    # Only the withdrawal lifecycle books a withdrawal (`withdrawals request`).
    (deposit("17", "1", debit_account="3", credit_account="1", code="withdrawal"),
     "transfer_code_reserved"),
    (deposit("18", "0.1", debit_account="2", credit_account="5", code="fee"),
     "client_to_house_forbidden"),
    (deposit("1", "1.5"), "exists"),
    (deposit("19", "0.25", debit_account="5", credit_account="3", code="misdirected_deposit"),
     "ok"),
]  # fmt: skip
zero_balances = {str(n): "0.00000000" for n in range(1, 6)} | {"6": "0." + "0" * 18}
zero_balances["7"] = zero_balances["6"]
committed_balances = {
    "1": "1.50000000",
    "2": "1.50000000",
    "3": "0.25000000",
    "4": "0.00000000",
    "5": "0.25000000",
    "6": eth_amount,
    "7": eth_amount,
}


@dataclass
class Submitted:
    """What the module's database went through: one file with good and bad lines, twice."""

    before: dict[str, str]
    first: Any
    second: Any
    after: dict[str, str]


@pytest.fixture(scope="module")
def submitted(database: Path, tmp_path_factory: pytest.TempPathFactory) -> Submitted:
    # Read without --db: the database named by RINGFENCE_DB.
    read = run_installed(None, "balances", "--json", env={"RINGFENCE_DB": f"sqlite:///{database}"})
    assert read.status == 0
    before = {row["account"]: row["balance"] for row in read.document["balances"]}
    path = write_lines(tmp_path_factory.mktemp("transfers") / "t.jsonl", [t for t, _ in transfers])
    installed = run_installed(database, "transfers", "submit", str(path), "--json")
    assert installed.status == errors.exit_status_rejected, installed.stderr
    first = installed.document
    second = run_json(database, "transfers", "submit", str(path), status=1)
    return Submitted(before, first, second, balances_of(database))


def test_each_line_gets_its_result_and_rejected_lines_change_nothing(
    submitted: Submitted,
) -> None:
    document = submitted.first
    assert [row["result"] for row in document["results"]] == [code for _, code in transfers]
    assert [row["line"] for row in document["results"]] == list(range(1, len(transfers) + 1))
    assert document["ok"] is False
    assert document["committed"] == 3
    # Lines that parse go to the ledger (line 15 too: the ledger fails it with line 16, the
    # rest of its chain, which did not parse); line 17, a withdrawal, never does.
    assert document["submitted"] == 6
    assert submitted.before == zero_balances
    assert submitted.after == committed_balances


def test_results_name_ids_as_strings_and_explain_parse_failures(submitted: Submitted) -> None:
    rows = submitted.first["results"]
    assert rows[0] == {"line": 1, "id": "1", "result": "ok"}
    assert rows[2]["id"] == "3"
    assert "amount" in rows[2]["detail"]
    assert rows[11]["id"] is None  # unreadable JSON: no id can be told
    assert rows[15]["detail"] == "amount 0"  # line 16: the event that failed its chain
    assert "detail" not in rows[14]


def test_submitting_the_same_file_again_changes_nothing(submitted: Submitted) -> None:
    results = [row["result"] for row in submitted.second["results"]]
    assert results[0] == results[1] == results[-1] == "exists"
    assert submitted.second["committed"] == 0
    assert submitted.after == committed_balances


def test_good_lines_exit_zero_and_a_long_line_fails_with_its_chain(
    database: Path, tmp_path: Path
) -> None:
    db = copy_of(database, tmp_path)
    good = write_lines(tmp_path / "good.jsonl", [deposit("100", "2"), "", deposit("101", "0.5")])
    document = run_json(db, "transfers", "submit", str(good))
    assert document == {
        "ok": True,
        "submitted": 2,
        "committed": 2,
        "results": [
            {"line": 1, "id": "100", "result": "ok"},
            {"line": 3, "id": "101", "result": "ok"},
        ],
    }
    long_line = deposit("200", "1", flags=["linked"], memo="x" * 5000)
    path = write_lines(tmp_path / "t.jsonl", [long_line, deposit("201", "1"), deposit("202", "1")])
    table = run(db, "transfers", "submit", str(path))
    assert table.status == errors.exit_status_rejected
    assert "3 lines: submitted 2, committed 1, rejected 2" in table.stdout
    assert "line_too_long" in table.stdout
    assert "linked_event_failed" in table.stdout


def test_a_linked_chain_longer_than_a_batch_is_refused_whole_and_the_rest_commits(
    database: Path, tmp_path: Path
) -> None:
    db = copy_of(database, tmp_path)
    before = Decimal(balances_of(db)["2"])
    length = 9_001
    chain = [deposit(str(1_000 + i), "0.00000001", flags=["linked"]) for i in range(length - 1)]
    chain.append(deposit(str(1_000 + length), "0.00000001"))
    lines = [deposit("900", "1"), *chain, deposit("901", "2")]
    document = run_json(
        db, "transfers", "submit", str(write_lines(tmp_path / "t.jsonl", lines)), status=1
    )
    results = [row["result"] for row in document["results"]]
    assert results == ["ok"] + ["linked_chain_too_long"] * length + ["ok"]
    assert (document["committed"], document["submitted"]) == (2, length + 2)
    assert Decimal(balances_of(db)["2"]) == before + 3  # only the deposits around the chain
    assert run_json(db, "audit", "verify")["ok"] is True


def test_odd_lines_each_get_their_code_and_a_leading_byte_order_mark_is_accepted(
    database: Path, tmp_path: Path
) -> None:
    db = copy_of(database, tmp_path)
    lines = [
        json.dumps(deposit("300", "0.1")),
        json.dumps({**deposit("301", "0.1"), "id": 301}),  # a JSON integer id is read as one
        json.dumps(deposit("1" * 40, "0.1")),
        json.dumps(deposit("302", "0.1", flags=["pending"], timeout_s=-1)),
        "null",
        "[1, 2]",
        "\ufeff" + json.dumps(deposit("303", "0.1")),  # a byte order mark inside the file
    ]
    path = tmp_path / "odd.jsonl"
    path.write_bytes(b"\xef\xbb\xbf" + "\n".join(lines).encode("utf-8") + b"\n")
    document = run_json(db, "transfers", "submit", str(path), status=1)
    assert [(row["id"], row["result"]) for row in document["results"]] == [
        ("300", "ok"),
        ("301", "ok"),
        (None, "id_must_be_below_2_128"),
        ("302", "timeout_must_not_be_negative"),
        (None, "line_malformed"),
        (None, "line_malformed"),
        (None, "line_malformed"),
    ]
    assert "BOM" in document["results"][-1]["detail"]


# ---------------------------------------------------------------------- reports


@pytest.fixture(scope="module")
def reports(database: Path, submitted: Submitted) -> dict[str, Any]:
    """Every read-only report of the module's database."""
    commands = {
        "alice": ("balances", "--client", "alice"),
        "eth": ("balances", "--pool", "omni", "--asset", "ETH"),
        "unknown": ("balances", "--client", "nobody"),
        "positions": ("positions",),
        "breaks": ("breaks",),
        "audit": ("audit", "verify"),
    }
    return {name: run(database, *command, "--json") for name, command in commands.items()}


def test_balances_filter_by_client_pool_and_asset(reports: dict[str, Run]) -> None:
    alice = reports["alice"].document["balances"]
    assert [(row["account"], row["asset"], row["balance"]) for row in alice] == [
        ("2", "BTC", "1.50000000"),
        ("7", "ETH", eth_amount),
    ]
    assert alice[0] == {
        "account": "2",
        "asset": "BTC",
        "class": "client",
        "owner": "alice",
        "kind": "available",
        "pool": "omni",
        "balance": "1.50000000",
        "debits_pending": "0.00000000",
        "debits_posted": "0.00000000",
        "credits_pending": "0.00000000",
        "credits_posted": "1.50000000",
    }
    eth = reports["eth"].document["balances"]
    assert [row["account"] for row in eth] == ["6", "7"]
    assert reports["unknown"].status == errors.exit_status_input
    assert reports["unknown"].document["error"] == "client_not_found"


def test_positions_show_a_misdirected_deposit_as_negative_residual_interest(
    reports: dict[str, Run],
) -> None:
    assert reports["positions"].status == 0
    by_asset = {row["asset"]: row for row in reports["positions"].document["positions"]}
    assert by_asset["BTC"] == {
        "pool": "omni",
        "kind": "omnibus",
        "terms": "custody",
        "purpose": "spot_custody",
        "asset": "BTC",
        "holdings": "1.50000000",
        "liabilities": "1.75000000",
        "residual_interest": "-0.25000000",
        "shortfall_pending": "0.00000000",
        "breaks_outstanding": "0.25000000",
        "breaks_open": 1,
    }
    assert by_asset["ETH"]["residual_interest"] == "0." + "0" * 18


def test_breaks_list_the_open_break(reports: dict[str, Run]) -> None:
    assert reports["breaks"].status == 0
    (broken,) = reports["breaks"].document["breaks"]
    assert broken["id"] == "19"
    assert broken["pool"] == "omni"
    assert broken["asset"] == "BTC"
    assert broken["state"] == "open"
    assert (broken["amount"], broken["cured"], broken["outstanding"]) == (
        "0.25000000",
        "0.00000000",
        "0.25000000",
    )
    assert broken["opened_at"].endswith("Z")


# ---------------------------------------------------------------------- audit and bench


def test_audit_verify_passes_on_an_untouched_database(reports: dict[str, Run]) -> None:
    assert reports["audit"].status == 0
    report = reports["audit"].document
    assert report["ok"] is True
    assert report["problems"] == []
    assert report["transfers"] == 3


def test_audit_verify_exits_with_the_integrity_status_on_a_tampered_database(
    database: Path, submitted: Submitted, tmp_path: Path
) -> None:
    db = copy_of(database, tmp_path)
    connection = sqlite3.connect(db)
    with connection:
        # What an insider with write access to the file could do: lift the append-only
        # triggers and delete a journal entry from the middle of the chain.
        triggers = connection.execute("SELECT name FROM sqlite_master WHERE type = 'trigger'")
        for (name,) in triggers.fetchall():
            connection.execute(f'DROP TRIGGER "{name}"')
        connection.execute("DELETE FROM journal WHERE seq = 2")
    connection.close()
    table = run_installed(db, "audit", "verify")
    assert table.status == errors.exit_status_integrity
    assert "problems" in table.stdout


@pytest.mark.parametrize(
    ("statement", "detail"),
    [
        ("UPDATE journal SET kind = 99 WHERE seq = 2", "kind 99 is no entry kind"),
        ("UPDATE journal SET body = x'00112233445566778899' WHERE seq = 2", "10 bytes"),
    ],
    ids=["kind-99", "short-body"],
)
def test_audit_verify_names_a_malformed_journal_row_with_the_integrity_status(
    database: Path, submitted: Submitted, tmp_path: Path, statement: str, detail: str
) -> None:
    db = copy_of(database, tmp_path)
    connection = sqlite3.connect(db)
    with connection:
        triggers = connection.execute("SELECT name FROM sqlite_master WHERE type = 'trigger'")
        for (name,) in triggers.fetchall():
            connection.execute(f'DROP TRIGGER "{name}"')
        connection.execute(statement)
    connection.close()
    report = run_json(db, "audit", "verify", status=errors.exit_status_integrity)
    assert report["ok"] is False
    (malformed,) = [p for p in report["problems"] if p["kind"] == "journal_entry_malformed"]
    assert malformed["where"] == "journal entry 2"
    assert detail in malformed["detail"]
    table = run(db, "audit", "verify")
    assert table.status == errors.exit_status_integrity
    assert "journal_entry_malformed" in table.stdout
    assert table.stderr == ""
    refused = run_json(db, "balances", status=errors.exit_status_integrity)
    assert refused["error"] == "integrity_error"


def test_an_unknown_benchmark_is_a_usage_error_naming_the_available_ones() -> None:
    result = run(None, "bench", "no-such-bench")
    assert result.status == errors.exit_status_input
    assert result.stderr.startswith("error: name_invalid: no benchmark 'no-such-bench'")
    assert "ledger" in result.stderr


# ---------------------------------------------------------------------- demo


def test_demo_writes_its_report_into_a_database_that_passes_the_audit(tmp_path: Path) -> None:
    db = tmp_path / "demo.db"
    out = tmp_path / "report"
    document = run_json(db, "demo", "--clients", "10", "--seed", "3", "--out", str(out))
    assert document["ok"] is True
    assert document["clients"] == 10
    assert Path(document["report_html"]) == out / "report.html"
    assert Path(document["report_html"]).read_text(encoding="utf-8").lstrip().startswith("<")
    assert isinstance(json.loads(Path(document["report_json"]).read_text(encoding="utf-8")), dict)
    assert run_json(db, "audit", "verify")["ok"] is True
    # The files its regulatory outputs read are kept, and make a resolution pack (as `make
    # demo` does) holding the register and the in-kind schedule, each hashed in its index.
    inputs = document["inputs"]
    assert sorted(inputs) == ["haircuts", "policies", "prices", "register", "scenario"]
    pack = run_json(
        db, "resolution-pack", "--out", str(tmp_path / "pack.zip"),
        "--scenario", inputs["scenario"], "--register", inputs["register"],
        "--policies", inputs["policies"], "--prices", inputs["prices"],
    )  # fmt: skip
    indexed = {entry["file"]: entry["sha256"] for entry in pack["files"]}
    for name in ("regulatory/sub_custodians.json", "regulatory/in_kind_returns.json",
                 "regulatory/in_kind_returns.csv", "regulatory/insurance.json"):  # fmt: skip
        assert len(indexed[name]) == 64, name
