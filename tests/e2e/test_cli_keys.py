"""``ringfence keys``: create, list and revoke API keys, and the refusals, in-process."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from ringfence import bootstrap
from ringfence.core import errors
from ringfence.entrypoints.cli.app import app


@pytest.fixture
def db(tmp_path: Path) -> str:
    url = f"sqlite:///{tmp_path / 'ringfence.db'}"
    ledger = bootstrap.open_ledger(url)
    try:
        assert ledger.define_clients(["alice"]) == ["ok"]
    finally:
        ledger.close()
    return url


def keys(db: str, *arguments: str, status: int = 0) -> Any:
    result = CliRunner().invoke(app, ["--db", db, "keys", *arguments, "--json"])
    assert result.exit_code == status, result.output
    return json.loads(result.stdout)


def test_create_list_revoke(db: str, tmp_path: Path) -> None:
    made = keys(db, "create", "--role", "client", "--client", "alice", "--name", "alice-app")
    assert made["key"].startswith(f"rf_{made['key_id']}_")
    assert (made["role"], made["client"], made["name"]) == ("client", "alice", "alice-app")
    listed = keys(db, "list")["keys"]
    assert [row["key_id"] for row in listed] == [made["key_id"]]
    assert made["key"] not in json.dumps(listed)
    assert made["key"].encode() not in (tmp_path / "ringfence.db.api-keys").read_bytes()
    revoked = keys(db, "revoke", made["key_id"])
    assert revoked["status"] == "revoked"
    assert keys(db, "list")["keys"][0]["status"] == "revoked"


@pytest.mark.parametrize(
    ("arguments", "code"),
    [
        (("create", "--role", "client"), "principal_client_required"),
        (("create", "--role", "client", "--client", "bob"), "client_not_found"),
        (
            ("create", "--role", "operator", "--client", "alice"),
            "principal_client_forbidden_for_staff",
        ),
        (("create", "--role", "superuser"), "principal_role_unknown"),
        (("create", "--role", "auditor", "--name", "Not A Name"), "name_invalid"),
        (("revoke", "0123456789abcdef"), "api_key_not_found"),
    ],
)
def test_refusals(db: str, arguments: tuple[str, ...], code: str) -> None:
    document = keys(db, *arguments, status=errors.exit_status_input)
    assert document == {"ok": False, "error": code, "detail": document["detail"]}
    assert keys(db, "list")["keys"] == []


def test_no_database_is_a_storage_error(tmp_path: Path) -> None:
    missing = f"sqlite:///{tmp_path / 'none.db'}"
    document = keys(missing, "create", "--role", "auditor", status=errors.exit_status_storage)
    assert document["error"] == "storage_error"
    assert not (tmp_path / "none.db.api-keys").exists()
