"""Journal rows that are no entry, on PostgreSQL: ``audit verify`` names each (exit status 4,
JSON under ``--json``) and opening the ledger refuses it with an integrity error, never a
traceback.

Method: a small ledger is written through the service; then, as the database's superuser (an
insider who can lift the schema's own defences: the append-only triggers and the journal's
CHECK constraints), one row is changed with plain SQL.
"""

from __future__ import annotations

import psycopg
import pytest
from tests import support_cli as cli
from tests.support import build_custodian, journal_signer

from ringfence.adapters.clock import ManualClock
from ringfence.adapters.storage.postgres import PostgresStore
from ringfence.core import errors
from ringfence.core.errors import IntegrityError, Result
from ringfence.service.audit import verify_store
from ringfence.service.ledger import LedgerService

pytestmark = pytest.mark.postgres


@pytest.fixture
def written(postgres_url: str) -> str:
    """A ledger of eight entries: the journal key's, four of definitions, the principals', two
    of transfers."""
    service = LedgerService(PostgresStore(postgres_url), ManualClock(), journal_signer())
    c = build_custodian(service)
    assert service.submit([c.house_funding(1, 10_000)]) == [Result.ok]
    assert service.submit([c.deposit(2, "alice", 500)]) == [Result.ok]
    service.close()
    return postgres_url


def tamper(url: str, statement: str) -> None:
    """Lift the journal's triggers and CHECK constraints, then run ``statement``."""
    with psycopg.connect(url, autocommit=True) as db:
        db.execute("ALTER TABLE journal DISABLE TRIGGER ALL")
        checks = db.execute(
            "SELECT conname FROM pg_constraint WHERE conrelid = 'journal'::regclass "
            "AND contype = 'c'"
        ).fetchall()
        for (name,) in checks:
            db.execute(f'ALTER TABLE journal DROP CONSTRAINT "{name}"')
        db.execute(statement)


CASES = {
    "kind-99": ("UPDATE journal SET kind = 99 WHERE seq = 5", 5, "kind 99 is no entry kind"),
    "short-body": (
        "UPDATE journal SET body = '\\x00112233445566778899'::bytea WHERE seq = 5",
        5,
        "its body is 10 bytes, shorter than its header",
    ),
    "short-hash": (
        "UPDATE journal SET hash = '\\x0011'::bytea WHERE seq = 8",
        8,
        "its hash is 2 bytes",
    ),
    "negative-seq": (
        "INSERT INTO journal SELECT -3, kind, timestamp, body, previous_hash, hash, records "
        "FROM journal WHERE seq = 1",
        -3,
        "sequence number -3",
    ),
}


@pytest.mark.parametrize("case", CASES)
def test_a_malformed_journal_row_is_named_by_the_audit(written: str, case: str) -> None:
    statement, seq, detail = CASES[case]
    tamper(written, statement)
    store = PostgresStore(written)
    try:
        report = verify_store(store)
    finally:
        store.close()
    malformed = [p for p in report.problems if p.kind == "journal_entry_malformed"]
    assert [p.where for p in malformed] == [f"journal entry {seq}"], report.problems
    assert detail in malformed[0].detail


@pytest.mark.parametrize("case", ["kind-99", "short-hash"])
def test_opening_refuses_a_malformed_row_it_reads(written: str, case: str) -> None:
    statement, seq, _ = CASES[case]
    tamper(written, statement)
    store = PostgresStore(written)
    try:
        with pytest.raises(IntegrityError, match=f"journal entry {seq}"):
            LedgerService(store, ManualClock(), journal_signer())
    finally:
        store.close()


def test_the_cli_reports_a_malformed_row_with_the_integrity_status(written: str) -> None:
    tamper(written, CASES["kind-99"][0])
    finished = cli.run(written, "audit", "verify", "--json")
    assert finished.status == errors.exit_status_integrity, finished.stderr
    assert finished.stderr == ""
    report = finished.document
    assert report["ok"] is False
    assert "journal_entry_malformed" in {problem["kind"] for problem in report["problems"]}
