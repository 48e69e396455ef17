"""adapters/private_sqlite.py: the file behind the API key, webhook and idempotency stores is
its owner's alone from its first byte, a refused write leaves nothing behind, and a SQLite
failure is a storage error naming the file."""

from __future__ import annotations

import os
import stat
from pathlib import Path

import pytest

from ringfence.adapters.private_sqlite import PrivateSqliteFile
from ringfence.core.errors import StorageError

SCHEMA = "CREATE TABLE IF NOT EXISTS things (name TEXT PRIMARY KEY) STRICT"


def test_the_file_is_its_owners_alone_whatever_the_umask(tmp_path: Path) -> None:
    path = tmp_path / "books.db.secrets"
    previous = os.umask(0)
    try:
        kept = PrivateSqliteFile(path, SCHEMA, "secrets file")
    finally:
        os.umask(previous)
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    kept.close()


def test_a_refusal_inside_a_transaction_writes_nothing(tmp_path: Path) -> None:
    kept = PrivateSqliteFile(tmp_path / "f", SCHEMA, "secrets file")
    with pytest.raises(LookupError), kept.transaction() as db:
        db.execute("INSERT INTO things VALUES ('a')")
        raise LookupError("refused after the insert")
    with kept.transaction() as db:
        db.execute("INSERT INTO things VALUES ('b')")
    with kept.locked() as db:
        assert db.execute("SELECT name FROM things").fetchall() == [("b",)]
    kept.close()


def test_sqlite_failures_are_storage_errors_naming_the_file(tmp_path: Path) -> None:
    kept = PrivateSqliteFile(tmp_path / "f", SCHEMA, "secrets file")
    with pytest.raises(StorageError, match=f"secrets file {tmp_path / 'f'}: "), kept.locked() as db:
        db.execute("INSERT INTO nowhere VALUES (1)")
    kept.close()
    (tmp_path / "not-sqlite").write_bytes(b"x" * 4096)
    with pytest.raises(StorageError, match="cannot open the secrets file"):
        PrivateSqliteFile(tmp_path / "not-sqlite", SCHEMA, "secrets file")
