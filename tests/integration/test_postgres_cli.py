"""``--db postgresql://...`` works for every command (through the CLI in process; an unreachable
server through the installed console script): the same session of commands against
SQLite and against PostgreSQL prints the same documents (the database's own name aside)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from tests import support_cli as cli

from ringfence.adapters.storage.postgres import redacted

pytestmark = pytest.mark.postgres

accounts = [
    {"id": "1", "asset": "BTC", "class": "custody", "owner": "wallet-1", "kind": "hot",
     "pool": "omni"},
    {"id": "2", "asset": "BTC", "class": "client", "owner": "alice", "kind": "available",
     "pool": "omni"},
    {"id": "3", "asset": "BTC", "class": "client", "owner": "bob", "kind": "available",
     "pool": "omni"},
    {"id": "4", "asset": "BTC", "class": "house", "owner": "house", "kind": "revenue"},
    {"id": "5", "asset": "BTC", "class": "custody", "owner": "house-wallet", "kind": "cold"},
]  # fmt: skip
transfers = [
    {"id": "1", "debit_account": "1", "credit_account": "2", "amount": "1.5", "code": "deposit"},
    {"id": "2", "debit_account": "2", "credit_account": "4", "amount": "0.1", "code": "fee"},
    {"id": "3", "debit_account": "3", "credit_account": "1", "amount": "1", "code": "withdrawal"},
    {"id": "4", "debit_account": "5", "credit_account": "3", "amount": "0.25",
     "code": "misdirected_deposit"},
    {"id": "1", "debit_account": "1", "credit_account": "2", "amount": "1.5", "code": "deposit"},
    {"id": str(2**128 - 1), "debit_account": "1", "credit_account": "3",
     "amount": "1000000000000000000.5", "code": "deposit"},
]  # fmt: skip


def run(url: str, *arguments: str, key: Path | None = None) -> tuple[int, Any]:
    """A command's exit status and JSON document, through the CLI in process."""
    keyed = ("--journal-key", str(key)) if key is not None else ()
    done = cli.run(url, *keyed, *arguments, "--json")
    assert done.stdout, done.stderr
    return done.status, done.document


def session(url: str, folder: Path) -> list[tuple[int, Any]]:
    """A custodian's first day through the CLI; every command's status and document."""
    account_file = folder / "accounts.jsonl"
    account_file.write_text("".join(json.dumps(a) + "\n" for a in accounts), encoding="utf-8")
    transfer_file = folder / "transfers.jsonl"
    transfer_file.write_text("".join(json.dumps(t) + "\n" for t in transfers), encoding="utf-8")
    commands = [
        ("init",),
        ("assets", "create", "--code", "BTC", "--scale", "20", "--number", "1"),
        ("clients", "create", "alice", "bob"),
        ("pools", "create", "omni", "--kind", "omnibus", "--terms", "custody"),
        ("accounts", "import", str(account_file)),
        ("accounts", "create", "--id", "7", "--asset", "BTC", "--class", "client", "--owner",
         "bob", "--kind", "available", "--pool", "omni"),
        ("transfers", "submit", str(transfer_file)),
        ("balances",),
        ("balances", "--client", "bob"),
        ("positions",),
        ("breaks",),
        ("audit", "verify"),
    ]  # fmt: skip
    key = folder / "journal.key"
    return [without_clock(run(url, *command, key=key)) for command in commands]


def without_clock(output: tuple[int, Any]) -> tuple[int, Any]:
    """The output without what depends on the wall clock (timestamps, hence hashes) or on
    the database's name."""

    def strip(value: Any) -> Any:
        if isinstance(value, dict):
            return {
                key: strip(item)
                for key, item in value.items()
                if key not in ("db", "journal_keys")
                and not key.startswith(("opened_at", "head_hash", "timestamp"))
            }
        if isinstance(value, list):
            return [strip(item) for item in value]
        return value

    return output[0], strip(output[1])


def test_every_command_prints_the_same_on_postgres_as_on_sqlite(
    postgres_url: str, tmp_path: Path
) -> None:
    (tmp_path / "pg").mkdir()
    (tmp_path / "lite").mkdir()
    postgres_outputs = session(postgres_url, tmp_path / "pg")
    sqlite_outputs = session(f"sqlite:///{tmp_path / 'lite' / 'r.db'}", tmp_path / "lite")
    statuses = [status for status, _ in postgres_outputs]
    assert statuses == [0] * 6 + [1] + [0] * 5, postgres_outputs  # one withdrawal is refused
    assert postgres_outputs == sqlite_outputs
    balances = {row["account"]: row["balance"] for row in postgres_outputs[7][1]["balances"]}
    assert balances["3"] == "1000000000000000000.75000000000000000000"  # 10^38 minor units


def test_demo_audit_and_db_commands_on_postgres(postgres_url: str, tmp_path: Path) -> None:
    key = tmp_path / "journal.key"
    status, demo = run(postgres_url, "demo", "--clients", "10", "--out", str(tmp_path), key=key)
    assert status == 0, demo
    assert Path(demo["report_html"]).is_file()
    status, audit = run(postgres_url, "audit", "verify", key=key)
    assert (status, audit["ok"], audit["problems"]) == (0, True, [])
    status, document = run(postgres_url, "db", "status", key=key)
    assert status == 0
    assert (document["engine"], document["current"], document["pending"]) == (
        "postgresql",
        True,
        [],
    )
    status, document = run(postgres_url, "db", "upgrade", key=key)
    assert (status, document["migrations_applied"]) == (0, [])


@pytest.mark.slow
def test_bench_ledger_runs_against_postgres(postgres_url: str, tmp_path: Path) -> None:
    key = tmp_path / "journal.key"  # the benchmark signs with a key of its own
    status, document = run(postgres_url, "bench", "ledger", "--quick", key=key)
    assert status == 0, document
    assert document["database"]["fsync"] == "on"
    assert [r["case"] for r in document["results"]] == [
        "batch_1_uniform", "batch_128_uniform", "batch_8189_uniform", "batch_8189_zipfian",
        "batch_8189_internal_signed",
    ]  # fmt: skip
    assert all(r["ops_per_s"] > 0 for r in document["results"])
    assert all(r["cpu_us_per_transfer"] > 0 for r in document["results"])
    assert len(document["load_average"]) == len(document["load_average_after"]) == 3


def test_an_unreachable_server_is_a_storage_error() -> None:
    url = "postgresql://127.0.0.1:1/none?connect_timeout=2"
    done = cli.run_installed(url, "balances", "--json")  # as an operator meets it
    assert done.status == 3
    assert done.document["error"] == "storage_error"
    document = done.document
    assert "cannot connect" in document["detail"]


@pytest.mark.parametrize(
    "url",
    [
        "postgresql://alice:s3cret-pw@127.0.0.1:1/none?connect_timeout=2",
        "postgresql://alice@127.0.0.1:1/none?password=s3cret-pw&connect_timeout=2",
        "postgresql://127.0.0.1:1/none?connect_timeout=2&user=alice&password=s3cret-pw",
        "postgresql://127.0.0.1:1/none?connect_timeout=2&sslpassword=s3cret-pw",
    ],
    ids=["userinfo", "query-first", "query-last", "sslpassword"],
)
def test_a_password_in_the_url_is_never_printed(url: str) -> None:
    status, document = run(url, "balances")
    assert status == 3
    assert "cannot connect" in document["detail"]
    assert "s3cret-pw" not in document["detail"]
    assert "***" in document["detail"]
    assert redacted(url).count("***") == 1
    assert "s3cret-pw" not in redacted(url)
