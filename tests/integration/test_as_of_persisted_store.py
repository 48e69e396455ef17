"""Persisted snapshots of the past as a real store holds them, misbehaving: a role that may
not read them still reads the past (from the journal); a ``past_states``
table rebuilt without its column types is read as findings, never a crash; another
writer holding the database keeps a past read waiting a moment, not the appends' 10 s; rows
beyond the journal or too big are left in the table unread, and those that fail are logged in
one line."""

from __future__ import annotations

import logging
import secrets
import sqlite3
import time
import tracemalloc
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import psycopg
import pytest
from tests.conftest import PostgresDatabase, url_with
from tests.integration.test_as_of_persisted import _ledger, _read, _written
from tests.support import build_custodian, journal_signer

from ringfence.adapters.clock import ManualClock
from ringfence.adapters.signing import NoSigner
from ringfence.adapters.storage.postgres import PostgresStore
from ringfence.core import limits
from ringfence.service.ledger import LedgerService
from ringfence.service.ledger.past import PastStates


def test_a_table_rebuilt_without_types_is_ignored_not_a_crash(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    path = tmp_path / "ledger.db"
    _, seen = _written(path)
    with sqlite3.connect(path) as db:
        db.execute("DROP TABLE past_states")
        db.execute("CREATE TABLE past_states (seq PRIMARY KEY, entry_hash, body, signature)")
        db.executemany(
            "INSERT INTO past_states VALUES (?, ?, ?, ?)",
            [
                ("3", b"\0" * 32, b"\0" * 64, b"\0" * 64),
                (4, "\0" * 32, b"\0" * 64, b"\0" * 64),
                (5, b"\0" * 32, 12, b"\0" * 64),
                (6, b"\0" * 32, b"\0" * 64, None),
            ],
        )
    caplog.set_level(logging.WARNING, logger="ringfence.ledger.past")
    ledger = _ledger(path)
    for seq, expected in seen.items():
        assert _read(ledger, seq) == expected
    assert "not bytes" in caplog.text
    ledger.close()


def test_a_past_read_does_not_wait_for_another_writer_to_persist_its_snapshots(
    tmp_path: Path,
) -> None:
    path = tmp_path / "ledger.db"
    _, seen = _written(path)
    with sqlite3.connect(path) as db:
        db.execute("DELETE FROM past_states")
    ledger = _ledger(path)
    other = sqlite3.connect(path, isolation_level=None)
    other.execute("BEGIN IMMEDIATE")  # another process holds the write lock
    try:
        started = time.monotonic()
        for seq, expected in seen.items():
            assert _read(ledger, seq) == expected
        took = time.monotonic() - started
    finally:
        other.execute("ROLLBACK")
        other.close()
    assert took < 2 * len(seen) * limits.as_of_persist_busy_ms / 1000 + 2  # not 10 s a read
    assert ledger.store.past_states() == []
    _read(ledger, min(seen))  # the lock released: written after the next read
    assert len(ledger.store.past_states()) == len(seen) - 1
    ledger.close()


def test_rows_someone_else_wrote_cost_a_load_little_and_one_log_line(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    path = tmp_path / "ledger.db"
    _, seen = _written(path)
    head = max(seen)
    with sqlite3.connect(path) as db:
        db.execute("DELETE FROM past_states")
        junk = (b"\0" * 32, b"x" * 1000, b"\0" * 64)
        db.executemany(  # beyond the journal's head
            "INSERT INTO past_states VALUES (?, ?, ?, ?)",
            ((head + 1 + i, *junk) for i in range(50_000)),
        )
        db.executemany(  # within it, too big to be a snapshot this service wrote
            "INSERT INTO past_states VALUES (?, ?, ?, ?)",
            ((seq, b"\0" * 32, b"x" * (2 * 2**20), b"\0" * 64) for seq in range(1, head)),
        )
    caplog.set_level(logging.WARNING, logger="ringfence.ledger.past")
    ledger = _ledger(path)
    ledger.past_states = PastStates(transfers_between=1, snapshots_max=16, bytes_max=3 * 2**20)
    tracemalloc.start()
    try:
        assert _read(ledger, head - 1) == seen[head - 1]
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert peak < 24 * 2**20  # 50 MB of junk beyond the head, 2 MB rows: at most one read
    assert len([m for m in caplog.messages if "is ignored" in m]) == 1
    for seq, expected in seen.items():
        assert _read(ledger, seq) == expected
    ledger.close()


def test_a_role_that_may_not_read_the_snapshots_still_reads_the_past(
    postgres_database: PostgresDatabase, caplog: pytest.LogCaptureFixture
) -> None:
    """A reader role granted SELECT before schema 12 added ``past_states``."""
    url = postgres_database.fresh_url()
    ledger = LedgerService(PostgresStore(url), ManualClock(10**18), journal_signer())
    ledger.past_states = PastStates(transfers_between=1, snapshots_max=16)
    custodian = build_custodian(ledger)
    for number in range(6):
        batch = [
            custodian.deposit(2 * number + 1, "alice", 100 + number),
            custodian.deposit(2 * number + 2, "bob", 7),
        ]
        assert all(result.succeeded for result in ledger.submit(batch))
    head = ledger.seq
    expected = {seq: _read(ledger, seq) for seq in (head - 1, head - 2)}
    ledger.close()
    schema = parse_qs(urlsplit(url).query)["options"][0].removeprefix("-csearch_path=")
    role = f"ringfence_test_reader_{secrets.token_hex(3)}"
    with psycopg.connect(postgres_database.url, autocommit=True) as db:
        db.execute(f'CREATE ROLE "{role}" NOLOGIN')
    try:
        with psycopg.connect(postgres_database.url, autocommit=True) as db:
            db.execute(f'GRANT USAGE ON SCHEMA "{schema}" TO "{role}"')
            db.execute(f'GRANT SELECT ON ALL TABLES IN SCHEMA "{schema}" TO "{role}"')
            db.execute(f'REVOKE SELECT ON "{schema}".past_states FROM "{role}"')
        reader_url = url_with(
            postgres_database.url,
            postgres_database.name,
            options=f"-csearch_path={schema} -crole={role}",
        )
        caplog.set_level(logging.WARNING, logger="ringfence.ledger.past")
        reader = LedgerService(PostgresStore(reader_url), ManualClock(10**18), NoSigner("reader"))
        try:
            for _ in range(2):
                for seq, then in expected.items():
                    assert _read(reader, seq) == then
        finally:
            reader.close()
        assert len([m for m in caplog.messages if "not loaded" in m]) == 1
    finally:
        with psycopg.connect(postgres_database.url, autocommit=True) as db:
            db.execute(f'DROP OWNED BY "{role}"')
            db.execute(f'DROP ROLE "{role}"')
