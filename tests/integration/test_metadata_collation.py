"""The metadata projection on a PostgreSQL database whose default collation is not byte order
(ICU ``en-US``, as a cloud provider or ``initdb --locale-provider=icu`` makes it): the audit
walks ``transfer_metadata`` in (timestamp, key) order and merges it with the journal's pairs,
which are in byte order, so the table's keys must sort by bytes too (``COLLATE "C"``).
Otherwise ``a_b`` before ``a-b`` (ICU ignores punctuation at first) reads as one pair deleted
and another inserted in a healthy ledger.
"""

from __future__ import annotations

import secrets
from collections.abc import Iterator
from dataclasses import replace

import psycopg
import pytest
from tests.conftest import POSTGRES_SERVER_URL, url_with
from tests.support import build_custodian, journal_signer

from ringfence.adapters.clock import ManualClock
from ringfence.adapters.storage.postgres import PostgresStore
from ringfence.core.errors import Result
from ringfence.core.ledger.metadata import encode_metadata
from ringfence.service.audit import verify_store
from ringfence.service.ledger import LedgerService

pytestmark = pytest.mark.postgres

# Keys whose byte order and en-US order differ: "-" (0x2d) < "." (0x2e) < "_" (0x5f) by byte.
KEYS = ("a-b", "a.b", "a_b", "ab", "a0")


@pytest.fixture
def icu_database_url(postgres_database: object) -> Iterator[str]:
    """A fresh database whose default collation is ICU en-US, dropped afterwards."""
    name = f"ringfence_test_icu_{secrets.token_hex(4)}"
    with psycopg.connect(POSTGRES_SERVER_URL, autocommit=True) as admin:
        admin.execute(
            f'CREATE DATABASE "{name}" TEMPLATE template0 LOCALE_PROVIDER icu '
            "ICU_LOCALE 'en-US' LOCALE 'C.UTF-8'"
        )
    try:
        yield url_with(POSTGRES_SERVER_URL, name)
    finally:
        with psycopg.connect(POSTGRES_SERVER_URL, autocommit=True) as admin:
            admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def test_a_healthy_ledger_verifies_under_an_icu_collation(icu_database_url: str) -> None:
    with psycopg.connect(icu_database_url) as db:
        ordered = [key for (key,) in db.execute(
            "SELECT k FROM unnest(%s::text[]) k ORDER BY k", (list(KEYS),)
        )]
    assert ordered != sorted(KEYS), "the database must not sort text by bytes"
    service = LedgerService(PostgresStore(icu_database_url), ManualClock(), journal_signer())
    c = build_custodian(service)
    deposit = replace(c.deposit(2, "alice", 500), metadata={key: "1" for key in KEYS})
    assert service.submit([c.house_funding(1, 10_000), deposit]) == [Result.ok, Result.ok]
    assert service.submit([deposit]) == [Result.exists]
    service.close()
    store = PostgresStore(icu_database_url)
    try:
        report = verify_store(store)
        assert report.ok, report.problems
        assert store.transfer_metadata([2]) == {2: encode_metadata(deposit.metadata)}
    finally:
        store.close()
