"""API keys in a SQLite file of their own, beside the ledger's database (``PATH.api-keys``).

A file of its own because the ledger's database is handed to auditors and copied into
resolution packs, and key hashes have no business there (docs/api.md, "Where keys are kept").
The file is created readable by its owner only. Every read goes to the file, so a key revoked
by ``ringfence keys revoke`` in another process is refused by a running server at once.
"""

from __future__ import annotations

from pathlib import Path

from ringfence.adapters.private_sqlite import PrivateSqliteFile
from ringfence.core import limits
from ringfence.core.access.keys import ApiKey
from ringfence.core.errors import InputError, Result
from ringfence.core.principals.records import PrincipalRole

_schema = """
CREATE TABLE IF NOT EXISTS api_keys (
    key_id TEXT PRIMARY KEY,
    name TEXT NOT NULL,
    role INTEGER NOT NULL,
    client TEXT NOT NULL,
    secret_hash TEXT NOT NULL,
    created_at_ns INTEGER NOT NULL,
    revoked_at_ns INTEGER NOT NULL DEFAULT 0
) STRICT
"""
_columns = "key_id, name, role, client, secret_hash, created_at_ns, revoked_at_ns"


class SqliteKeyStore:
    """Thread-safe: the server verifies keys from its worker threads."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._file = PrivateSqliteFile(path, _schema, "API key file")
        # A token's principal is checked against the keys of its name on every request.
        with self._file.locked() as db:
            db.execute("CREATE INDEX IF NOT EXISTS api_keys_by_name ON api_keys (name)")

    def add(self, key: ApiKey) -> None:
        with self._file.transaction() as db:
            (count,) = db.execute("SELECT count(*) FROM api_keys").fetchone()
            if count >= limits.api_keys_max:
                raise InputError(Result.api_keys_exceeded, f"at most {limits.api_keys_max}")
            db.execute(
                f"INSERT INTO api_keys ({_columns}) VALUES (?, ?, ?, ?, ?, ?, ?)",
                (
                    key.key_id,
                    key.name,
                    int(key.role),
                    key.client,
                    key.secret_hash,
                    key.created_at_ns,
                    key.revoked_at_ns,
                ),
            )

    def get(self, key_id: str) -> ApiKey | None:
        with self._file.locked() as db:
            row = db.execute(
                f"SELECT {_columns} FROM api_keys WHERE key_id = ?", (key_id,)
            ).fetchone()
        return None if row is None else _key_of(row)

    def revoke(self, key_id: str, at_ns: int) -> ApiKey | None:
        with self._file.locked() as db:
            db.execute(
                "UPDATE api_keys SET revoked_at_ns = ? WHERE key_id = ? AND revoked_at_ns = 0",
                (at_ns, key_id),
            )
        return self.get(key_id)

    def named(self, name: str) -> list[ApiKey]:
        with self._file.locked() as db:
            rows = db.execute(
                f"SELECT {_columns} FROM api_keys WHERE name = ? ORDER BY created_at_ns, key_id",
                (name,),
            ).fetchall()
        return [_key_of(row) for row in rows]

    def records(self) -> list[ApiKey]:
        with self._file.locked() as db:
            rows = db.execute(
                f"SELECT {_columns} FROM api_keys ORDER BY created_at_ns, key_id"
            ).fetchall()
        return [_key_of(row) for row in rows]

    def close(self) -> None:
        self._file.close()


def _key_of(row: tuple[str, str, int, str, str, int, int]) -> ApiKey:
    key_id, name, role, client, secret_hash, created_at_ns, revoked_at_ns = row
    return ApiKey(
        key_id, name, PrincipalRole(role), client, secret_hash, created_at_ns, revoked_at_ns
    )
