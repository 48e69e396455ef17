"""``ringfence policy ...`` and ``ringfence withdrawals ...`` end to end, in process: each
command acts as the principal whose key file it is given, and is refused by name otherwise."""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

import pytest
from tests.support import key_file_signer, key_seed
from tests.support_policy import OTHER_ADDRESS, policy_text
from tests.support_withdrawals import STAFF, withdrawal_world
from typer.testing import CliRunner

from ringfence import bootstrap
from ringfence.adapters.clock import ManualClock
from ringfence.adapters.storage.sqlite import SqliteStore
from ringfence.core import errors
from ringfence.entrypoints.cli.app import app
from ringfence.service.ledger import LedgerService


@pytest.fixture
def db(tmp_path: Path) -> str:
    """The withdrawal world in a SQLite file, built two days ago on a hand-moved clock (its
    policy in force now), with a key file per staff principal in the test's folder."""
    path = tmp_path / "ringfence.db"
    clock = ManualClock(time.time_ns() - 2 * 86_400 * 10**9)
    ledger = LedgerService(SqliteStore(str(path)), clock, key_file_signer(path))
    withdrawal_world(ledger, clock)
    ledger.close()
    files = bootstrap.principal_files()
    for name in ("root", *STAFF):
        files.create_key(str(tmp_path / f"{name}.key"), key_seed(name))
    return f"sqlite:///{path}"


def ringfence(db: str, *arguments: str, status: int = 0) -> Any:
    result = CliRunner().invoke(app, ["--db", db, *arguments, "--json"])
    assert result.exit_code == status, result.output
    return json.loads(result.stdout)


def acting(db: str, name: str) -> tuple[str, ...]:
    folder = Path(db.removeprefix("sqlite:///")).parent
    return ("--principal", name, "--key", str(folder / f"{name}.key"))


def test_a_withdrawal_from_request_to_hold(db: str) -> None:
    request = ("withdrawals", "request", "--id", "1", "--client", "bob", "--pool", "main",
               "--asset", "ETH", "--amount", "12", "--destination", OTHER_ADDRESS)  # fmt: skip
    requested = ringfence(db, *request, *acting(db, "ops"))
    assert (requested["status"], requested["decision"]["rule"]) == ("awaiting_approval", "large")
    refused = ringfence(db, "withdrawals", "approve", "1", *acting(db, "ops"),
                        status=errors.exit_status_input)  # fmt: skip
    assert refused["error"] == "approver_is_initiator"
    forged = ("--principal", "ann", "--key", acting(db, "ben")[-1])
    mismatch = ringfence(db, "withdrawals", "approve", "1", *forged,
                         status=errors.exit_status_input)  # fmt: skip
    assert mismatch["error"] == "principal_key_mismatch"
    ringfence(db, "withdrawals", "approve", "1", *acting(db, "ann"))
    held = ringfence(db, "withdrawals", "approve", "1", *acting(db, "ben"))
    assert held["status"] == "held"
    shown = ringfence(db, "withdrawals", "show", "1")
    assert shown["decision"]["trace"][-1] == "rule large matched (the firm): 2 of treasury"
    assert [row["id"] for row in ringfence(db, "withdrawals", "list", "--status", "held")["items"]]
    processed = ringfence(db, "withdrawals", "process", *acting(db, "ops"))
    assert processed["advanced"] == []  # no chain is wired: held, waiting for one
    again = ringfence(db, *request, *acting(db, "ops"))
    assert again["result"] == "exists"
    smaller = ("withdrawals", "request", "--id", "2", "--client", "bob", "--pool", "main",
               "--asset", "ETH", "--amount", "1", "--destination", OTHER_ADDRESS)  # fmt: skip
    assert ringfence(db, *smaller, *acting(db, "ops"))["status"] == "awaiting_approval"
    assert ringfence(db, "withdrawals", "reject", "2", *acting(db, "cat"))["status"] == "voided"


def test_a_policy_version_from_draft_to_simulation(db: str, tmp_path: Path) -> None:
    assert ringfence(db, "policy", "show")["state"] == "in_force"
    document = tmp_path / "strict.json"
    document.write_bytes(policy_text(rules=[{"id": "stop", "action": "block"}]))
    drafted = ringfence(db, "policy", "draft", str(document), *acting(db, "carl"))
    assert (drafted["version"], drafted["state"]) == (2, "draft")
    author = ringfence(db, "policy", "approve", "2", *acting(db, "carl"),
                       status=errors.exit_status_input)  # fmt: skip
    assert author["error"] == "policy_approver_is_author"
    ringfence(db, "policy", "approve", "2", *acting(db, "ann"))
    simulated = ringfence(db, "policy", "simulate", "--from", "2020-01-01")
    assert (simulated["policy"], simulated["by_rule"]) == ("version 2", {"stop": 1})
    published = ringfence(db, "policy", "publish", "2", *acting(db, "root"),
                          status=errors.exit_status_input)  # fmt: skip
    assert published["error"] == "policy_quorum_not_reached"
    ringfence(db, "policy", "approve", "2", *acting(db, "ben"))
    assert ringfence(db, "policy", "publish", "2", *acting(db, "root"))["state"] == "time_locked"
    every = ringfence(db, "policy", "show", "--all")["versions"]
    assert [row["state"] for row in every] == ["in_force", "time_locked"]
    bad = tmp_path / "bad.json"
    bad.write_text('{"format": 1, "rules": []}')
    refused = ringfence(db, "policy", "draft", str(bad), *acting(db, "carl"),
                        status=errors.exit_status_input)  # fmt: skip
    assert refused["error"] == "policy_governance_invalid"


@pytest.fixture
def signed_db(tmp_path: Path) -> str:
    """The withdrawal world under a second policy version that requires signed approvals."""
    from tests.support_withdrawals import publish_policy

    path = tmp_path / "ringfence.db"
    clock = ManualClock(time.time_ns() - 2 * 86_400 * 10**9)
    ledger = LedgerService(SqliteStore(str(path)), clock, key_file_signer(path))
    withdrawal_world(ledger, clock)
    publish_policy(ledger, clock, policy_text(approvals_signed=True))
    ledger.close()
    files = bootstrap.principal_files()
    for name in ("root", *STAFF):
        files.create_key(str(tmp_path / f"{name}.key"), key_seed(name))
    return f"sqlite:///{path}"


def test_approvals_signed_with_the_key_file_or_given_signed_elsewhere(signed_db: str) -> None:
    from ringfence.core.principals.authorisation import sign

    db = signed_db
    for withdrawal_id in ("5", "6"):
        request = ("withdrawals", "request", "--id", withdrawal_id, "--client", "bob",
                   "--pool", "main", "--asset", "ETH", "--amount", "12",
                   "--destination", OTHER_ADDRESS)  # fmt: skip
        assert ringfence(db, *request, *acting(db, "ops"))["status"] == "awaiting_approval"
    shown = ringfence(db, "withdrawals", "instruction", "5", "--approver", "ann")
    plain = CliRunner().invoke(
        app, ["--db", db, "withdrawals", "instruction", "5", "--approver", "ann"]
    )
    assert plain.stdout.strip() == shown["instruction"]  # the bytes to sign, alone
    other = ringfence(db, "withdrawals", "instruction", "6", "--approver", "ann")
    wrong = sign(key_seed("ann"), bytes.fromhex(other["instruction"])).hex()
    refused = ringfence(db, "withdrawals", "approve", "5", *acting(db, "ann"), "--signature",
                        wrong, status=errors.exit_status_input)  # fmt: skip
    assert refused["error"] == "approval_signature_invalid"
    # Signed elsewhere: the signature proves who approves, so no key file is given; it must be
    # the named approver's over this withdrawal, and without a key a signature is required.
    offline = sign(key_seed("ann"), bytes.fromhex(shown["instruction"])).hex()
    for who, signature, error in (
        ("ann", wrong, "approval_signature_invalid"),
        ("ben", offline, "approval_signature_invalid"),  # ann's signature, ben's name
        ("ann", None, "approval_signature_required"),
    ):
        given = () if signature is None else ("--signature", signature)
        refused = ringfence(db, "withdrawals", "approve", "5", "--principal", who, *given,
                            status=errors.exit_status_input)  # fmt: skip
        assert refused["error"] == error, who
    assert ringfence(db, "withdrawals", "show", "5")["approvals"] == []
    ringfence(db, "withdrawals", "approve", "5", "--principal", "ann", "--signature", offline)
    held = ringfence(db, "withdrawals", "approve", "5", *acting(db, "ben"))  # signed by its key
    assert held["status"] == "held"
    assert [row["signed"] for row in held["approvals"]] == [True, True]
    draft_file = Path(db.removeprefix("sqlite:///")).parent / "next.json"
    draft_file.write_bytes(policy_text(approvals_signed=True, approval_timeout_s=600))
    version = str(ringfence(db, "policy", "draft", str(draft_file), *acting(db, "root"))["version"])
    shown = ringfence(db, "policy", "instruction", version, "--approver", "ben")
    assert shown["signatures_required"] is True  # governed by version 2, now in force
    approved = ringfence(db, "policy", "approve", version, *acting(db, "ann"))  # its key signs
    offline = sign(key_seed("ben"), bytes.fromhex(shown["instruction"])).hex()
    approved = ringfence(db, "policy", "approve", version, "--principal", "ben",
                         "--signature", offline)  # fmt: skip
    assert [row["signed"] for row in approved["approvals"]] == [True, True]
    assert ringfence(db, "audit", "verify")["ok"] is True
