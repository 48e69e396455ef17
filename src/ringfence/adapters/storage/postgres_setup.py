"""PostgreSQL's setting up: URLs and connections, and the versioned migrations that build a
ledger's schema (``migrations/NNNN_name.sql``, recorded in ``schema_migrations``), applied in
order, each in its own transaction under the writer lock. The store itself is postgres.py.
"""

from __future__ import annotations

import re
import secrets
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from importlib import resources
from typing import Any
from urllib.parse import parse_qsl, quote, urlencode, urlsplit, urlunsplit

import psycopg
from psycopg.conninfo import conninfo_to_dict, make_conninfo
from psycopg.types.numeric import IntLoader

from ringfence.adapters.storage.urls import redacted, url_prefixes
from ringfence.core.errors import StorageError

connect_timeout_s_default = 10


# ---------------------------------------------------------------------- migrations


@dataclass(frozen=True, slots=True)
class Migration:
    version: int
    name: str
    text: str


def migrations() -> list[Migration]:
    """The migrations shipped with this version, in order (``migrations/NNNN_name.sql``)."""
    found = []
    for item in resources.files("ringfence.adapters.storage").joinpath("migrations").iterdir():
        matched = re.fullmatch(r"(\d{4})_(\w+)\.sql", item.name)
        if matched:
            text = item.read_text(encoding="utf-8")
            found.append(Migration(int(matched[1]), matched[2], text))
    found.sort(key=lambda migration: migration.version)
    assert [m.version for m in found] == list(range(1, len(found) + 1)), "gap in migrations"
    return found


schema_version = len(migrations())


@dataclass(frozen=True, slots=True)
class SchemaStatus:
    """Where a database's schema stands against the migrations this version ships."""

    version: int  # 0: no ringfence schema yet
    latest: int
    applied: list[tuple[int, str, str]]  # (version, name, applied at, ISO 8601)
    pending: list[tuple[int, str]]

    @property
    def current(self) -> bool:
        return self.version == self.latest


def schema_status(url: str) -> SchemaStatus:
    """Read the schema's version without changing anything."""
    with connect(url) as db:
        return status_of(db)


def upgrade(url: str, target: int | None = None) -> list[int]:
    """Apply the pending migrations up to ``target`` (default: all); return those applied.

    Each runs in its own transaction under the writer lock, so writers wait and a failed
    migration leaves the schema at the version before it.
    """
    with connect(url) as db:
        return upgrade_to(db, schema_version if target is None else target)


def status_of(db: psycopg.Connection[Any]) -> SchemaStatus:
    shipped = migrations()
    applied: list[tuple[int, str, str]] = []
    if has_migrations_table(db):
        rows = db.execute(
            "SELECT version, name, applied_at FROM schema_migrations ORDER BY version"
        ).fetchall()
        applied = [(int(v), str(n), a.isoformat()) for v, n, a in rows]
    version = max((row[0] for row in applied), default=0)
    pending = [(m.version, m.name) for m in shipped if m.version > version]
    return SchemaStatus(version, len(shipped), applied, pending)


def has_migrations_table(db: psycopg.Connection[Any]) -> bool:
    row = db.execute("SELECT to_regclass('schema_migrations') IS NOT NULL").fetchone()
    return bool(row and row[0])


def upgrade_to(db: psycopg.Connection[Any], target: int) -> list[int]:
    if not 0 <= target <= schema_version:
        raise StorageError(f"no schema version {target} (this ringfence knows 1-{schema_version})")
    applied = []
    try:
        for migration in migrations():
            if migration.version > target:
                break
            with db.transaction():
                db.execute(_lock_writer_bootstrap)
                db.execute(
                    "CREATE TABLE IF NOT EXISTS schema_migrations (version INTEGER PRIMARY KEY,"
                    " name TEXT NOT NULL, applied_at TIMESTAMPTZ NOT NULL DEFAULT now())"
                )
                done = db.execute(
                    "SELECT 1 FROM schema_migrations WHERE version = %s", (migration.version,)
                ).fetchone()
                if done is None:
                    db.execute(migration.text.encode())
                    db.execute(
                        "INSERT INTO schema_migrations (version, name) VALUES (%s, %s)",
                        (migration.version, migration.name),
                    )
                    applied.append(migration.version)
    except psycopg.Error as error:
        raise StorageError(f"migration failed: {describe(error)}") from error
    return applied


# Migrations run before ringfence_lock_writer exists, so they take the same lock directly.

_lock_writer_bootstrap = "SELECT pg_advisory_xact_lock(1919510118, hashtext(current_schema()))"


# ---------------------------------------------------------------------- connections


def conninfo(url: str) -> str:
    """The URL as libpq connection parameters, with a connect timeout unless one is given."""
    if not url.startswith(url_prefixes):
        raise StorageError(f"not a PostgreSQL URL: {redacted(url)!r} (expected postgresql://...)")
    try:
        given = conninfo_to_dict(url)
    except psycopg.Error as error:
        raise StorageError(f"bad PostgreSQL URL {redacted(url)!r}: {describe(error)}") from error
    if "connect_timeout" in given:
        return url
    return make_conninfo(url, connect_timeout=connect_timeout_s_default)


def connect(url: str) -> psycopg.Connection[Any]:
    try:
        db = psycopg.connect(conninfo(url), autocommit=True)
    except psycopg.Error as error:
        raise StorageError(f"cannot connect to {redacted(url)}: {describe(error)}") from error
    # NUMERIC(39,0) comes back as text digits, read straight into int: exact, never Decimal.
    db.adapters.register_loader("numeric", IntLoader)
    return db


def url_with_schema(url: str, schema: str) -> str:
    """``url`` with its ledger in ``schema`` (libpq ``options=-csearch_path=...``)."""
    assert re.fullmatch(r"[a-z_][a-z0-9_]*", schema), schema
    parts = urlsplit(url)
    query = [*parse_qsl(parts.query), ("options", f"-csearch_path={schema}")]
    return urlunsplit(parts._replace(query=urlencode(query, quote_via=quote)))


@contextmanager
def scratch_ledger(url: str, prefix: str) -> Iterator[str]:
    """A new empty schema in the database at ``url``, dropped afterwards; yields a URL naming
    it. Benchmarks use it to start each run on an empty ledger without creating databases."""
    schema = f"{prefix}_{secrets.token_hex(4)}"
    with connect(url) as db:
        db.execute(f'CREATE SCHEMA "{schema}"')
    try:
        yield url_with_schema(url, schema)
    finally:
        with connect(url) as db:
            db.execute(f'DROP SCHEMA "{schema}" CASCADE')


def server_settings(url: str) -> dict[str, str]:
    """The server's version and durability settings, for benchmark reports."""
    names = ["server_version", "fsync", "synchronous_commit", "wal_sync_method", "full_page_writes"]
    settings = {}
    with connect(url) as db:
        for name in names:
            row = db.execute(f"SHOW {name}").fetchone()
            settings[name] = "" if row is None else str(row[0])
    return settings


def describe(error: psycopg.Error) -> str:
    text = str(error).strip().splitlines()
    return text[0] if text else type(error).__name__
