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
from tests.support import journal_signer, key_seed, principal_changes

from ringfence.adapters.clock import ManualClock
from ringfence.adapters.storage.sqlite import SqliteStore
from ringfence.core.errors import IntegrityError, Result
from ringfence.core.ledger.model import (
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
from ringfence.service.ledger import LedgerService

hot, house, alice, bob = 1, 2, 3, 4


@pytest.fixture(scope="module")
def pristine(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("tamper") / "ledger.db"
    service = LedgerService(
        SqliteStore(str(path)), ManualClock(), journal_signer(), checkpoint_interval_batches=1
    )
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


def tampered_copy(pristine: Path, tmp_path: Path, *statements: str) -> Path:
    path = tmp_path / "copy.db"
    shutil.copy(pristine, path)
    with sqlite3.connect(path) as db:
        triggers = db.execute("SELECT name FROM sqlite_master WHERE type = 'trigger'")
        for (trigger,) in triggers.fetchall():
            db.execute(f"DROP TRIGGER {trigger}")
        for statement in statements:
            db.execute(statement)
    return path


def tampered(pristine: Path, tmp_path: Path, *statements: str) -> AuditReport:
    store = SqliteStore(str(tampered_copy(pristine, tmp_path, *statements)))
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
        "WHERE seq = 7",
    )
    assert "journal_entry_edited" in kinds(report)
    assert report.problems[0].where == "journal entry 7"


def test_a_deleted_journal_entry_is_named(pristine: Path, tmp_path: Path) -> None:
    report = tampered(pristine, tmp_path, "DELETE FROM journal WHERE seq = 8")
    assert report.problems[0].kind == "journal_entry_deleted"
    assert report.problems[0].where == "journal entry 8"


def test_a_deleted_last_journal_entry_is_named(pristine: Path, tmp_path: Path) -> None:
    report = tampered(pristine, tmp_path, "DELETE FROM journal WHERE seq = 10")
    assert "journal_entry_deleted" in kinds(report)  # the checkpoint is past the journal's end
    assert "transfer_row_inserted" in kinds(report)  # its row is in no entry any more


def test_reordered_journal_entries_are_named(pristine: Path, tmp_path: Path) -> None:
    report = tampered(
        pristine,
        tmp_path,
        "UPDATE journal SET seq = 100 WHERE seq = 8",
        "UPDATE journal SET seq = 8 WHERE seq = 9",
        "UPDATE journal SET seq = 9 WHERE seq = 100",
    )
    assert "journal_chain_broken" in kinds(report) or "journal_entries_reordered" in kinds(report)
    assert report.problems[0].where == "journal entry 8"


def test_an_inserted_journal_entry_is_named(pristine: Path, tmp_path: Path) -> None:
    report = tampered(
        pristine,
        tmp_path,
        "UPDATE journal SET seq = 11 WHERE seq = 10",
        "UPDATE journal SET seq = 10 WHERE seq = 9",
        "UPDATE journal SET seq = 9 WHERE seq = 8",
        "INSERT INTO journal SELECT 8, kind, timestamp, body, previous_hash, hash, records, "
        "signature FROM journal WHERE seq = 7",
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


# Rows that are no journal entry at all. Each is a named finding of the audit (never a
# traceback), and opening the store refuses it with IntegrityError wherever it reads one.
# ``PRAGMA ignore_check_constraints`` lets the tampering past the table's own checks.
MALFORMED_ROWS = {
    "kind 99": ("UPDATE journal SET kind = 99 WHERE seq = 6", 6, "kind 99 is no entry kind"),
    "short body": (
        "UPDATE journal SET body = x'00112233445566778899' WHERE seq = 6",
        6,
        "its body is 10 bytes, shorter than its header",
    ),
    "short hash": (
        "UPDATE journal SET hash = x'0011' WHERE seq = 6",
        6,
        "its hash is 2 bytes, not 32 bytes",
    ),
    "empty previous hash": (
        "UPDATE journal SET previous_hash = x'' WHERE seq = 7",
        7,
        "its previous hash is 0 bytes, not 32 bytes",
    ),
    "negative seq": (
        "INSERT INTO journal SELECT -1, kind, timestamp, body, previous_hash, hash, records, "
        "signature FROM journal WHERE seq = 1",
        -1,
        "sequence number -1 is not a positive integer",
    ),
    "unknown kind at the head": ("UPDATE journal SET kind = 99 WHERE seq = 10", 10, "kind 99"),
    "short definition body": (
        "UPDATE journal SET body = x'0011' WHERE seq = 2",
        2,
        "shorter than its header",
    ),
}


@pytest.mark.parametrize("case", MALFORMED_ROWS)
def test_a_malformed_journal_row_is_named_not_a_crash(
    pristine: Path, tmp_path: Path, case: str
) -> None:
    statement, seq, detail = MALFORMED_ROWS[case]
    report = tampered(pristine, tmp_path, "PRAGMA ignore_check_constraints = ON", statement)
    malformed = [p for p in report.problems if p.kind == "journal_entry_malformed"]
    assert [p.where for p in malformed] == [f"journal entry {seq}"], report.problems
    assert detail in malformed[0].detail


@pytest.mark.parametrize(
    "case", ["kind 99", "unknown kind at the head", "short hash", "short definition body"]
)
def test_opening_a_store_with_a_malformed_row_it_reads_is_an_integrity_error(
    pristine: Path, tmp_path: Path, case: str
) -> None:
    statement, seq, _ = MALFORMED_ROWS[case]
    if case == "short hash":  # the head's hash is what a writer chains from
        statement, seq = statement.replace("seq = 6", "seq = 10"), 10
    path = tampered_copy(pristine, tmp_path, "PRAGMA ignore_check_constraints = ON", statement)
    store = SqliteStore(str(path))
    try:
        with pytest.raises(IntegrityError, match=f"journal entry {seq}"):
            LedgerService(store, ManualClock(), journal_signer())
    finally:
        store.close()


def test_a_body_whose_header_counts_more_records_than_it_holds_is_named(
    pristine: Path, tmp_path: Path
) -> None:
    # Entry 6 holds one transfer; its header (records at bytes 25-28) now says five.
    report = tampered(
        pristine,
        tmp_path,
        "UPDATE journal SET body = CAST(substr(body, 1, 24) || x'00000005' || substr(body, 29) "
        "AS BLOB) WHERE seq = 7",
    )
    assert "replay_failed" in kinds(report)
    failed = next(p for p in report.problems if p.kind == "replay_failed")
    assert failed.where == "journal entry 7"
    assert "bytes, not" in failed.detail


def test_rows_of_no_type_the_journal_allows_are_named(pristine: Path, tmp_path: Path) -> None:
    """A journal table rebuilt without its constraints: NULL and text where bytes belong."""
    report = tampered(
        pristine,
        tmp_path,
        "CREATE TABLE loose (seq INTEGER PRIMARY KEY, kind, timestamp, body, previous_hash, hash,"
        " records, signature)",
        "INSERT INTO loose SELECT * FROM journal",
        "DROP TABLE journal",
        "ALTER TABLE loose RENAME TO journal",
        "UPDATE journal SET hash = NULL WHERE seq = 3",
        "UPDATE journal SET kind = 'transfers' WHERE seq = 5",
        "UPDATE journal SET body = 'text' WHERE seq = 7",
    )
    malformed = {p.where: p.detail for p in report.problems if p.kind == "journal_entry_malformed"}
    assert malformed == {
        "journal entry 3": "its hash is not bytes, not 32 bytes",
        "journal entry 5": "kind 'transfers' is no entry kind",
        "journal entry 7": "its body is no bytes, shorter than its header",
    }


# The checkpoint moved back to entry 0, where nothing has happened yet: the balances, pending
# transfers and breaks it holds are invented there, and opening the store would add the whole
# journal on top of them.
checkpoint_at_entry_0 = (
    "UPDATE meta SET value = 0 WHERE key = 'checkpoint_seq'",
    "UPDATE meta SET value = '0' WHERE key = 'checkpoint_timestamp_last'",
)


def test_a_checkpoint_at_entry_0_holding_balances_is_named(pristine: Path, tmp_path: Path) -> None:
    report = tampered(pristine, tmp_path, *checkpoint_at_entry_0)
    assert report.checkpoint_seq == 0
    assert {"balance_mismatch", "pending_mismatch", "break_mismatch"} <= set(kinds(report))
    assert f"account {alice}" in [p.where for p in report.problems]


def test_opening_refuses_a_checkpoint_at_entry_0_holding_balances(
    pristine: Path, tmp_path: Path
) -> None:
    path = tampered_copy(pristine, tmp_path, *checkpoint_at_entry_0)
    store = SqliteStore(str(path))
    try:
        with pytest.raises(IntegrityError, match="entry 0"):
            LedgerService(store, ManualClock(), journal_signer())
    finally:
        store.close()


def test_opening_refuses_a_checkpoint_whose_debits_and_credits_differ(
    pristine: Path, tmp_path: Path
) -> None:
    path = tampered_copy(
        pristine, tmp_path, f"UPDATE accounts SET credits_posted = 1 WHERE id = {bob}"
    )
    store = SqliteStore(str(path))
    try:
        with pytest.raises(IntegrityError, match="debits and credits"):
            LedgerService(store, ManualClock(), journal_signer())
    finally:
        store.close()


def test_the_database_refuses_an_entry_that_does_not_extend_the_head(
    pristine: Path, tmp_path: Path
) -> None:
    path = tmp_path / "copy.db"
    shutil.copy(pristine, path)
    with sqlite3.connect(path) as db, pytest.raises(sqlite3.IntegrityError, match="head"):
        db.execute(
            "INSERT INTO journal SELECT seq + 1, kind, timestamp, body, previous_hash, hash, "
            "records, signature FROM journal WHERE seq = 10"
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
