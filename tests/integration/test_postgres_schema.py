"""The PostgreSQL schema itself: append-only in the database, u128 bounds, the chain head,
the application role, and migrations that upgrade a loaded ledger without changing it."""

from __future__ import annotations

from dataclasses import replace

import psycopg
import pytest
from tests.support import (
    build_custodian,
    custodian_definitions,
    journal_public_key,
    journal_signer,
    principal_changes,
    state_snapshot,
    unsigned_journal,
)

from ringfence.adapters.clock import ManualClock
from ringfence.adapters.storage import postgres
from ringfence.adapters.storage.memory import MemoryStore
from ringfence.adapters.storage.postgres import PostgresStore
from ringfence.core.errors import Result, StorageError
from ringfence.service.audit import verify_store
from ringfence.service.ledger import LedgerService

pytestmark = pytest.mark.postgres
U128 = 2**128


def loaded(url: str, with_principals: bool = True) -> LedgerService:
    """A ledger with the small custodian and a day's worth of transfers; without principals
    (and so without the internal transfer they sign) as a ringfence older than them wrote it."""
    store = MemoryStore() if url == "memory://" else PostgresStore(url)
    service = LedgerService(store, ManualClock(), journal_signer())
    c = build_custodian(service, principals=with_principals)
    batch = [c.house_funding(1, 10**9), c.deposit(2, "alice", U128 // 4, asset="ETH")]
    batch += [c.deposit(10 + i, "bob", 1_000 + i) for i in range(50)]
    if with_principals:
        batch.append(c.internal(100, "bob", "carol", 7))
    batch.append(c.fee(101, "bob", 3))
    assert service.submit(batch) == [Result.ok] * len(batch)
    return service


def tamper(url: str, statement: str, role: str | None = None) -> None:
    with psycopg.connect(url, autocommit=True, connect_timeout=5) as db:
        if role:
            db.execute(f"SET ROLE {role}")
        db.execute(statement)


@pytest.mark.parametrize(
    "statement",
    [
        "UPDATE transfers SET amount = amount + 1 WHERE id = 10",
        "UPDATE transfers SET debit_account = credit_account",
        "DELETE FROM transfers WHERE id = 100",
        "DELETE FROM transfers",
        "TRUNCATE transfers",
        "UPDATE journal SET timestamp = timestamp + 1",
        "DELETE FROM journal WHERE seq = 5",
        "TRUNCATE journal CASCADE",
    ],
)
@pytest.mark.parametrize("role", [None, "ringfence_app"], ids=["owner", "application_role"])
def test_posted_transfers_cannot_be_updated_or_deleted(
    postgres_url: str, statement: str, role: str | None
) -> None:
    service = loaded(postgres_url)
    before = list(service.store.projected_transfers())
    service.close()
    # The owner meets the triggers; the application role lacks the privilege altogether.
    with pytest.raises(psycopg.errors.InsufficientPrivilege, match=r"append-only|permission"):
        tamper(postgres_url, statement, role)
    store = PostgresStore(postgres_url)
    try:
        assert list(store.projected_transfers()) == before
        assert verify_store(store).ok
    finally:
        store.close()


def test_the_application_role_runs_the_ledger(postgres_url: str) -> None:
    """What ringfence_app may do is all the service needs: append, checkpoint, read. (Creating
    the schema is the owner's: the role has no CREATE.)"""
    with pytest.raises(StorageError, match="migration failed"):
        PostgresStore(f"{postgres_url}%20-crole%3Dringfence_app")
    PostgresStore(postgres_url).close()
    as_application = f"{postgres_url}%20-crole%3Dringfence_app"
    service = loaded(as_application)
    service.close()
    store = PostgresStore(as_application)
    try:
        assert verify_store(store).ok
        assert store.transfer_id_max() == 101
    finally:
        store.close()


@pytest.mark.parametrize(
    ("statement", "error"),
    [
        (f"INSERT INTO reversals VALUES (1, {U128})", psycopg.errors.CheckViolation),
        ("INSERT INTO reversals VALUES (1, -1)", psycopg.errors.CheckViolation),
        (
            "INSERT INTO journal VALUES (9, 1, 1, decode(repeat('00', 32), 'hex'), "
            "decode(repeat('00', 32), 'hex'), decode(repeat('00', 32), 'hex'), 0)",
            psycopg.errors.SerializationFailure,
        ),
    ],
    ids=["above_u128", "negative", "not_extending_the_head"],
)
def test_the_database_refuses_what_the_ledger_never_writes(
    postgres_url: str, statement: str, error: type[Exception]
) -> None:
    loaded(postgres_url).close()
    with pytest.raises(error):
        tamper(postgres_url, statement)


def test_amounts_at_the_u128_bound_round_trip_exactly(postgres_url: str) -> None:
    service = loaded(postgres_url)
    service.close()
    store = PostgresStore(postgres_url)
    try:
        assert store.transfers([2])[2].amount == U128 // 4
        assert type(store.transfers([2])[2].amount) is int
        assert max(store.checkpoint().balances[a][3] for a in store.checkpoint().balances) >= (
            U128 // 4
        )
    finally:
        store.close()


def test_migrations_upgrade_a_loaded_ledger_and_change_nothing(postgres_url: str) -> None:
    """Build at version 1 (a journal as it was before signing), load data, upgrade to the
    latest: the ledger reads back the same, and its first signed write vouches for it all."""
    assert postgres.upgrade(postgres_url, target=1) == [1]
    assert postgres.schema_status(postgres_url).version == 1
    model = loaded("memory://", with_principals=False)
    old_store = PostgresStore(postgres_url, expected_version=1)
    for entry, records, definitions in unsigned_journal(model.store):
        old_store.append(entry, records, definitions)
    service = LedgerService(old_store, ManualClock(), journal_signer())
    before = state_snapshot(service)
    service.close()
    old_store = PostgresStore(postgres_url, expected_version=1)
    rows_before = (list(old_store.entries()), list(old_store.projected_transfers()))
    old_store.close()
    expected = f"schema version 1, expected {postgres.schema_version}: run `ringfence db"
    with pytest.raises(StorageError, match=expected):
        PostgresStore(postgres_url)
    assert postgres.upgrade(postgres_url) == list(range(2, postgres.schema_version + 1))
    assert postgres.upgrade(postgres_url) == []  # idempotent
    status = postgres.schema_status(postgres_url)
    assert status.current
    assert [row[0] for row in status.applied] == list(range(1, postgres.schema_version + 1))
    store = PostgresStore(postgres_url)
    try:
        assert (list(store.entries()), list(store.projected_transfers())) == rows_before
        upgraded = LedgerService(store, ManualClock(), journal_signer())
        assert state_snapshot(upgraded) == before
        unvouched = verify_store(store)
        assert [p.kind for p in unvouched.problems] == ["journal_unsigned"]
        # The first write declares the key, whose signature vouches for everything before.
        assert upgraded.define_clients(["newcomer"]) == [Result.ok]
        report = verify_store(store, trusted_keys=[journal_public_key])
        assert report.ok, report.problems
        assert report.journal_keys == [(len(rows_before[0]) + 1, journal_public_key.hex())]
        # The upgraded schema takes principals (kind 13) and the transfers they sign.
        changes = principal_changes(upgraded.ledger_id, custodian_definitions().clients)
        assert upgraded.change_principals(changes) == [Result.ok] * len(changes)
        c = replace(custodian_definitions(), ledger_id=upgraded.ledger_id)
        assert upgraded.submit([c.internal(200, "bob", "carol", 7)]) == [Result.ok]
        assert verify_store(store, trusted_keys=[journal_public_key]).ok
    finally:
        store.close()


def test_a_newer_schema_is_refused(postgres_url: str) -> None:
    PostgresStore(postgres_url).close()
    tamper(postgres_url, "INSERT INTO schema_migrations (version, name) VALUES (99, 'future')")
    expected = f"schema version 99, expected {postgres.schema_version}: this ringfence is"
    with pytest.raises(StorageError, match=expected):
        PostgresStore(postgres_url)


@pytest.mark.parametrize(
    ("url", "message"),
    [
        ("postgresql://[broken", "bad PostgreSQL URL"),
        ("postgresql://127.0.0.1:1/x?connect_timeout=2", "cannot connect"),
        ("mysql://127.0.0.1/x", "not a PostgreSQL URL"),
    ],
)
def test_bad_urls_and_unreachable_servers_are_storage_errors(url: str, message: str) -> None:
    with pytest.raises(StorageError, match=message):
        PostgresStore(url)
