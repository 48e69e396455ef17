"""Fixtures shared by every test: a hand-moved clock and ledger services over each store.

Builders of a small custodian and the invariant checks live in ``tests/support.py``
(``from tests.support import build_custodian``).
"""

from __future__ import annotations

import os
import secrets
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import parse_qsl, quote, urlencode, urlsplit, urlunsplit

import psycopg
import pytest
from tests.support import Custodian, build_custodian, journal_signer

from ringfence.adapters.clock import ManualClock
from ringfence.adapters.storage.memory import MemoryStore
from ringfence.adapters.storage.sqlite import SqliteStore
from ringfence.service.ledger import LedgerService


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """The slowest tests first, then the other slow ones (``slow`` or ``crash``), then the rest,
    each group in collection order.

    Under work stealing (``make test``) each worker starts from its share of this list, and an
    idle worker steals from the end of another's queue: with the long tests at the front, the
    run ends on short tests that spread over every worker, not on one worker running a long
    test alone."""

    def marked(item: pytest.Item, *names: str) -> bool:
        return any(any(item.iter_markers(name)) for name in names)

    items.sort(key=lambda item: (not marked(item, "slowest"), not marked(item, "slow", "crash")))


@pytest.fixture
def clock() -> ManualClock:
    """A clock that moves only when a test says so (``clock.advance(seconds=10)``)."""
    return ManualClock()


@pytest.fixture
def memory_service(clock: ManualClock) -> LedgerService:
    """An empty ledger over an in-memory store."""
    return LedgerService(MemoryStore(), clock, journal_signer())


@pytest.fixture
def sqlite_path(tmp_path: Path) -> str:
    return str(tmp_path / "ringfence.db")


@pytest.fixture
def sqlite_service(sqlite_path: str, clock: ManualClock) -> Iterator[LedgerService]:
    """An empty ledger over a SQLite file in the test's own folder; closed afterwards."""
    store = SqliteStore(sqlite_path)
    service = LedgerService(store, clock, journal_signer())
    yield service
    store.close()


@pytest.fixture
def custodian(memory_service: LedgerService) -> Custodian:
    """The small custodian of ``tests/support.py``, defined in ``memory_service``."""
    return build_custodian(memory_service)


# ---------------------------------------------------------------------- PostgreSQL

# The server the PostgreSQL tests use: RINGFENCE_TEST_POSTGRES, else the local one.
POSTGRES_SERVER_URL = "postgresql://postgres@127.0.0.1:5432/postgres"


def url_with(url: str, database: str, **parameters: str) -> str:
    """``url`` naming another database, with more query parameters (``options=-c...``)."""
    parts = urlsplit(url)
    query = [*parse_qsl(parts.query), *parameters.items()]
    return urlunsplit(parts._replace(path=f"/{database}", query=urlencode(query, quote_via=quote)))


class PostgresDatabase:
    """One fresh database ``ringfence_test_<random>`` for this test run (per xdist worker),
    dropped at the end. Each test takes a fresh schema in it (``fresh_url``): a new, empty
    ledger at the cost of a ``CREATE SCHEMA``."""

    def __init__(self, server_url: str) -> None:
        self.server_url = server_url
        self.name = f"ringfence_test_{secrets.token_hex(6)}"
        with psycopg.connect(server_url, autocommit=True, connect_timeout=5) as admin:
            admin.execute(f'CREATE DATABASE "{self.name}"')
        self.url = url_with(server_url, self.name)
        self._schemas = 0

    def fresh_url(self) -> str:
        """A URL naming a new empty schema, through ``search_path``."""
        self._schemas += 1
        schema = f"ledger_{self._schemas}_{secrets.token_hex(3)}"
        with psycopg.connect(self.url, autocommit=True) as db:
            db.execute(f'CREATE SCHEMA "{schema}"')
        return url_with(self.url, self.name, options=f"-csearch_path={schema}")

    def drop(self) -> None:
        with psycopg.connect(self.server_url, autocommit=True) as admin:
            admin.execute(f'DROP DATABASE IF EXISTS "{self.name}" WITH (FORCE)')


@pytest.fixture(scope="session")
def postgres_database() -> Iterator[PostgresDatabase]:
    """The run's PostgreSQL database. Without a server the test skips, except under CI=true,
    where it fails: a CI run must not pass by skipping the production store."""
    server_url = os.environ.get("RINGFENCE_TEST_POSTGRES", POSTGRES_SERVER_URL)
    try:
        database = PostgresDatabase(server_url)
    except psycopg.OperationalError as error:
        reason = f"no PostgreSQL server at {server_url}: {str(error).strip()}"
        if os.environ.get("CI", "").lower() == "true":
            pytest.fail(f"{reason} (CI=true: PostgreSQL tests must run)")
        pytest.skip(reason)
    yield database
    database.drop()


@pytest.fixture
def postgres_url(postgres_database: PostgresDatabase) -> str:
    """A URL naming a fresh, empty ledger on the test server."""
    return postgres_database.fresh_url()
