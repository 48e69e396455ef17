"""Transfers' metadata through the service, on SQLite and PostgreSQL: committed, compared by a
retry through the store, replayed when the ledger is opened again and by ``audit verify``; and
a pair edited, deleted or inserted behind the engine's back (as an insider who lifts the
append-only triggers would) is named by the audit, as is a metadata byte edited in the journal.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path

import psycopg
import pytest
from tests.support import build_custodian, journal_signer

from ringfence.adapters.clock import ManualClock
from ringfence.adapters.storage.postgres import PostgresStore
from ringfence.adapters.storage.sqlite import SqliteStore
from ringfence.core.errors import Result
from ringfence.service.audit import AuditReport, verify_store
from ringfence.service.ledger import LedgerService
from ringfence.service.ports import LedgerStore

TXID = "4a5e1e4baab89f3a32518a88c31bc87f618f76673e2cc77ab2127b7afdeda33b"


class Ledger:
    """A small ledger on one store: ``open`` a store on it, ``tamper`` it with plain SQL."""

    def __init__(self, open_store: Callable[[], LedgerStore], tamper: Callable[[str], None]):
        self.open_store = open_store
        self.tamper = tamper


def sqlite_ledger(tmp_path: Path) -> Ledger:
    path = str(tmp_path / "ledger.db")

    def tamper(statement: str) -> None:
        with sqlite3.connect(path) as db:
            for (trigger,) in db.execute(
                "SELECT name FROM sqlite_master WHERE type = 'trigger'"
            ).fetchall():
                db.execute(f"DROP TRIGGER {trigger}")
            db.execute(statement)

    return Ledger(lambda: SqliteStore(path), tamper)


def postgres_ledger(url: str) -> Ledger:
    def tamper(statement: str) -> None:
        with psycopg.connect(url, autocommit=True) as db:
            db.execute("ALTER TABLE transfer_metadata DISABLE TRIGGER ALL")
            db.execute("ALTER TABLE journal DISABLE TRIGGER ALL")
            db.execute(postgres_dialect(statement))

    return Ledger(lambda: PostgresStore(url), tamper)


def postgres_dialect(statement: str) -> str:
    """The tests' SQLite statements as PostgreSQL reads them (a blob literal and a cast)."""
    return statement.replace("x'", "'\\x").replace("CAST(", "(").replace(" AS BLOB", "::bytea")


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def ledger(request: pytest.FixtureRequest, tmp_path: Path) -> Ledger:
    if request.param == "postgres":
        made = postgres_ledger(request.getfixturevalue("postgres_url"))
    else:
        made = sqlite_ledger(tmp_path)
    service = LedgerService(made.open_store(), ManualClock(), journal_signer())
    c = build_custodian(service)
    deposit = replace(c.deposit(2, "alice", 500), metadata={"txid": TXID, "vout": "1"})
    assert service.submit([c.house_funding(1, 10_000), deposit]) == [Result.ok, Result.ok]
    memo = replace(c.deposit(3, "bob", 70), metadata={"memo": "wire ref 7"})
    assert service.submit([memo, c.deposit(4, "bob", 30)]) == [Result.ok, Result.ok]
    # Retries, each decided against what the store kept.
    assert service.submit([deposit]) == [Result.exists]
    other = replace(deposit, metadata={"txid": TXID, "vout": "2"})
    assert service.submit([other]) == [Result.exists_with_different_metadata]
    assert service.submit([replace(deposit, metadata={})]) == [
        Result.exists_with_different_metadata
    ]
    service.close()
    return made


def audited(ledger: Ledger) -> AuditReport:
    store = ledger.open_store()
    try:
        return verify_store(store)
    finally:
        store.close()


def kinds(report: AuditReport) -> list[str]:
    return [problem.kind for problem in report.problems]


def test_the_untouched_ledger_verifies_and_reopens_with_its_metadata(ledger: Ledger) -> None:
    report = audited(ledger)
    assert report.ok, report.problems
    service = LedgerService(ledger.open_store(), ManualClock(), journal_signer())
    try:
        assert service.store.transfer_metadata([2, 3, 4]).keys() == {2, 3}
        found = service.store.transfers_with_metadata({"txid": TXID})
        assert [record.id for record in found] == [2]
    finally:
        service.close()


def test_an_edited_metadata_value_is_named(ledger: Ledger) -> None:
    ledger.tamper("UPDATE transfer_metadata SET value = '2' WHERE key = 'vout'")
    report = audited(ledger)
    assert kinds(report) == ["transfer_metadata_edited"]
    assert report.problems[0].where.startswith("transfer 2 ")
    assert report.problems[0].detail == "vout differs from the journal"


def test_a_deleted_metadata_row_is_named(ledger: Ledger) -> None:
    ledger.tamper("DELETE FROM transfer_metadata WHERE key = 'memo'")
    report = audited(ledger)
    assert kinds(report) == ["transfer_metadata_deleted"]
    assert report.problems[0].where.startswith("transfer 3 ")


def test_an_inserted_metadata_row_is_named(ledger: Ledger) -> None:
    ledger.tamper(
        "INSERT INTO transfer_metadata SELECT timestamp, 'txid', 'forged' FROM transfer_metadata "
        "WHERE key = 'memo'"
    )
    report = audited(ledger)
    assert kinds(report) == ["transfer_metadata_inserted"]
    assert "txid" in report.problems[0].detail


def test_a_metadata_byte_edited_in_the_journal_breaks_its_hash(ledger: Ledger) -> None:
    # The memo's last byte ("7") is the body's last: the journal entry of transfers 3 and 4.
    ledger.tamper(
        "UPDATE journal SET body = CAST(substr(body, 1, length(body) - 1) || x'38' AS BLOB) "
        "WHERE seq = (SELECT max(seq) FROM journal WHERE kind = 1)"
    )
    report = audited(ledger)
    assert "journal_entry_edited" in kinds(report)
