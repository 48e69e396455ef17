"""Tampering behind the engine's back: ``audit verify`` names each edit, deletion, insertion and
reordering of rows in the SQLite file, and passes the untouched file.

Each test copies one small closed ledger, changes it with plain SQL (dropping the append-only
triggers first, as an intruder with file access could), and checks the problem the audit
reports: its kind and where it points.
"""

from __future__ import annotations

import shutil
import sqlite3
from collections.abc import Callable
from pathlib import Path

import pytest
from tests.support import key_seed, principal_changes

from ringfence.adapters.clock import ManualClock
from ringfence.adapters.storage.sqlite import SqliteStore
from ringfence.core.errors import Result
from ringfence.core.model import (
    AccountClass,
    AccountDefinition,
    Pool,
    PoolKind,
    Terms,
    Transfer,
    TransferCode,
    TransferFlags,
)
from ringfence.core.money import Asset
from ringfence.service.audit import AuditReport, verify_store
from ringfence.service.ledger_service import LedgerService

hot, house, alice, bob = 1, 2, 3, 4


@pytest.fixture(scope="module")
def pristine(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("tamper") / "ledger.db"
    service = LedgerService(SqliteStore(str(path)), ManualClock(), checkpoint_interval_batches=1)
    service.define_assets([Asset("BTC", 8, 1, "bitcoin")])
    service.define_clients(["alice", "bob"])
    service.define_pools([Pool("omni", PoolKind.omnibus, Terms.custody)])
    service.define_accounts(
        [
            AccountDefinition(hot, "BTC", AccountClass.custody, "omni-hot", "hot", "omni"),
            AccountDefinition(house, "BTC", AccountClass.custody, "house-hot", "hot"),
            AccountDefinition(alice, "BTC", AccountClass.client, "alice", "available", "omni"),
            AccountDefinition(bob, "BTC", AccountClass.client, "bob", "available", "omni"),
        ]
    )
    service.change_principals(principal_changes(service.ledger_id, ["alice", "bob"]))
    payment = Transfer(12, alice, bob, 700, TransferCode.internal_transfer, authorised_by="alice")
    batches = [
        [Transfer(10, hot, alice, 5_000, TransferCode.deposit)],
        [
            Transfer(11, hot, bob, 3_000, TransferCode.deposit),
            service.authorise(payment, key_seed("alice")),
        ],
        [Transfer(13, alice, hot, 900, TransferCode.withdrawal, TransferFlags.pending)],
        [Transfer(14, house, bob, 50, TransferCode.misdirected_deposit)],
    ]
    for batch in batches:
        assert all(result is Result.ok for result in service.submit(batch))
    service.close()
    return path


def tampered(pristine: Path, tmp_path: Path, *statements: str) -> AuditReport:
    path = tmp_path / "copy.db"
    shutil.copy(pristine, path)
    with sqlite3.connect(path) as db:
        triggers = db.execute("SELECT name FROM sqlite_master WHERE type = 'trigger'")
        for (trigger,) in triggers.fetchall():
            db.execute(f"DROP TRIGGER {trigger}")
        for statement in statements:
            db.execute(statement)
    store = SqliteStore(str(path))
    try:
        return verify_store(store)
    finally:
        store.close()


def key(value: int, width: int = 16) -> str:
    return "x'" + value.to_bytes(width, "big").hex() + "'"


def kinds(report: AuditReport) -> list[str]:
    return [problem.kind for problem in report.problems]


def test_the_untouched_ledger_verifies(pristine: Path, tmp_path: Path) -> None:
    report = tampered(pristine, tmp_path)
    assert report.ok, report.problems
    assert report.transfers == 5


def test_an_edited_transfer_amount_is_named(pristine: Path, tmp_path: Path) -> None:
    report = tampered(
        pristine, tmp_path, f"UPDATE transfers SET amount = {key(6_000)} WHERE id = {key(10)}"
    )
    assert kinds(report) == ["transfer_row_edited"]
    assert report.problems[0].where.startswith("transfer 10 ")
    assert report.problems[0].detail.startswith("amount differs")


def test_a_deleted_transfer_row_is_named(pristine: Path, tmp_path: Path) -> None:
    report = tampered(pristine, tmp_path, f"DELETE FROM transfers WHERE id = {key(12)}")
    assert kinds(report) == ["transfer_row_deleted"]
    assert report.problems[0].where == "transfer 12"


def test_an_inserted_transfer_row_is_named(pristine: Path, tmp_path: Path) -> None:
    report = tampered(
        pristine,
        tmp_path,
        "INSERT INTO transfers SELECT "
        f"{key(7, 8)}, {key(99)}, debit_account, credit_account, amount, pending_id, reference, "
        f"authoriser, timeout_s, asset, code, flags, seq FROM transfers WHERE id = {key(10)}",
    )
    assert kinds(report) == ["transfer_row_inserted"]
    assert "transfer 99" in report.problems[0].detail


def test_two_transfer_rows_swapped_are_both_named(pristine: Path, tmp_path: Path) -> None:
    report = tampered(
        pristine,
        tmp_path,
        f"UPDATE transfers SET amount = {key(3_000)} WHERE id = {key(10)}",
        f"UPDATE transfers SET amount = {key(5_000)} WHERE id = {key(11)}",
    )
    assert kinds(report) == ["transfer_row_edited", "transfer_row_edited"]
    assert [p.where.split()[1] for p in report.problems] == ["10", "11"]


def test_an_edited_journal_entry_is_named(pristine: Path, tmp_path: Path) -> None:
    report = tampered(
        pristine,
        tmp_path,
        "UPDATE journal SET body = CAST(substr(body, 1, 40) || x'ff' || substr(body, 42) AS BLOB) "
        "WHERE seq = 6",
    )
    assert "journal_entry_edited" in kinds(report)
    assert report.problems[0].where == "journal entry 6"


def test_a_deleted_journal_entry_is_named(pristine: Path, tmp_path: Path) -> None:
    report = tampered(pristine, tmp_path, "DELETE FROM journal WHERE seq = 7")
    assert report.problems[0].kind == "journal_entry_deleted"
    assert report.problems[0].where == "journal entry 7"


def test_a_deleted_last_journal_entry_is_named(pristine: Path, tmp_path: Path) -> None:
    report = tampered(pristine, tmp_path, "DELETE FROM journal WHERE seq = 9")
    assert "journal_entry_deleted" in kinds(report)  # the checkpoint is past the journal's end
    assert "transfer_row_inserted" in kinds(report)  # its row is in no entry any more


def test_reordered_journal_entries_are_named(pristine: Path, tmp_path: Path) -> None:
    report = tampered(
        pristine,
        tmp_path,
        "UPDATE journal SET seq = 100 WHERE seq = 7",
        "UPDATE journal SET seq = 7 WHERE seq = 8",
        "UPDATE journal SET seq = 8 WHERE seq = 100",
    )
    assert "journal_chain_broken" in kinds(report) or "journal_entries_reordered" in kinds(report)
    assert report.problems[0].where == "journal entry 7"


def test_an_inserted_journal_entry_is_named(pristine: Path, tmp_path: Path) -> None:
    report = tampered(
        pristine,
        tmp_path,
        "UPDATE journal SET seq = 10 WHERE seq = 9",
        "UPDATE journal SET seq = 9 WHERE seq = 8",
        "INSERT INTO journal SELECT 8, kind, timestamp, body, previous_hash, hash, records "
        "FROM journal WHERE seq = 7",
    )
    assert report.problems[0].where == "journal entry 8"
    assert report.problems[0].kind in ("journal_chain_broken", "journal_entries_reordered")


def test_an_edited_stored_balance_is_named(pristine: Path, tmp_path: Path) -> None:
    report = tampered(
        pristine, tmp_path, f"UPDATE accounts SET credits_posted = 1 WHERE id = {bob}"
    )
    assert kinds(report) == ["balance_mismatch"]
    assert report.problems[0].where == f"account {bob}"


def test_an_edited_account_definition_is_named(pristine: Path, tmp_path: Path) -> None:
    report = tampered(pristine, tmp_path, f"UPDATE accounts SET owner = 'bob' WHERE id = {alice}")
    assert kinds(report) == ["definition_row_edited"]
    assert report.problems[0].where == "accounts row 3"


def test_a_deleted_account_row_is_named(pristine: Path, tmp_path: Path) -> None:
    report = tampered(pristine, tmp_path, f"DELETE FROM accounts WHERE id = {house}")
    assert "definition_row_deleted" in kinds(report) or "definition_row_edited" in kinds(report)


def test_an_edited_pending_status_is_named(pristine: Path, tmp_path: Path) -> None:
    report = tampered(pristine, tmp_path, "UPDATE pending_transfers SET status = 2")
    assert kinds(report) == ["pending_mismatch"]
    assert report.problems[0].where == "pending transfer 13"


def test_an_edited_break_is_named(pristine: Path, tmp_path: Path) -> None:
    report = tampered(pristine, tmp_path, "UPDATE breaks SET cured = 50")
    assert kinds(report) == ["break_mismatch"]
    assert report.problems[0].where == "break 14"


def test_the_database_refuses_an_entry_that_does_not_extend_the_head(
    pristine: Path, tmp_path: Path
) -> None:
    path = tmp_path / "copy.db"
    shutil.copy(pristine, path)
    with sqlite3.connect(path) as db, pytest.raises(sqlite3.IntegrityError, match="head"):
        db.execute(
            "INSERT INTO journal SELECT seq + 1, kind, timestamp, body, previous_hash, hash, "
            "records FROM journal WHERE seq = 9"
        )


@pytest.mark.parametrize("table", ["journal", "transfers"])
def test_the_append_only_triggers_refuse_changes(
    pristine: Path, tmp_path: Path, table: str
) -> None:
    path = tmp_path / "copy.db"
    shutil.copy(pristine, path)
    attempts: list[Callable[[sqlite3.Connection], object]] = [
        lambda db: db.execute(f"DELETE FROM {table}"),
        lambda db: db.execute(f"UPDATE {table} SET seq = seq"),
    ]
    with sqlite3.connect(path) as db:
        for attempt in attempts:
            with pytest.raises(sqlite3.IntegrityError, match=r"append-only|immutable"):
                attempt(db)
