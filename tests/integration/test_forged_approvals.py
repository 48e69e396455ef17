"""A writer holding the journal key (the service's own key, or the service itself, taken over)
cannot make up an approval that ``audit verify`` accepts, where the policy requires signed
approvals.

The firm's ledger (SQLite file or PostgreSQL schema): the withdrawal world of
``tests/support_withdrawals.py`` under a policy that says ``approvals_signed``, and bob's 11 ETH
withdrawal approved by ann and ben, each with a signature, and held. The forger edits the
journaled approval with plain SQL and this project's own encoders, then chains every later
entry again and signs every head with the journal key, so the hash chain and the journal's
signatures are whole. What gives the forgery away is the approval's own evidence.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path

import psycopg
import pytest
from tests.support import journal_public_key, journal_signer, key_seed
from tests.support_policy import OTHER_ADDRESS, policy_text
from tests.support_withdrawals import actor, publish_policy, withdrawal_world

from ringfence import bootstrap
from ringfence.adapters.clock import ManualClock
from ringfence.core.ledger.authenticity import head_message
from ringfence.core.ledger.journal import EntryKind, chain
from ringfence.core.principals.approval import ApprovalDecision
from ringfence.core.principals.authorisation import sign
from ringfence.core.withdrawals.codec import (
    decode_withdrawal_events,
    encode_withdrawal_events,
    withdrawal_approval_message,
)
from ringfence.core.withdrawals.lifecycle import Approved, WithdrawalEvent
from ringfence.service import withdrawals
from ringfence.service.audit import AuditReport, verify_store
from ringfence.service.ledger import LedgerService
from ringfence.service.policy import books

WITHDRAWAL = 40


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def ledger_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'ledger.db'}"
    url = request.getfixturevalue("postgres_url")
    assert isinstance(url, str)
    return url


@pytest.fixture
def honest(ledger_url: str) -> str:
    clock = ManualClock()
    ledger = LedgerService(bootstrap.open_store(ledger_url), clock, journal_signer())
    withdrawal_world(ledger, clock)
    publish_policy(ledger, clock, policy_text(approvals_signed=True))
    body = {"id": str(WITHDRAWAL), "pool": "main", "asset": "ETH", "amount": "11",
            "destination": OTHER_ADDRESS, "client": "bob"}  # fmt: skip
    withdrawals.request(ledger, actor("ops"), body)
    spec = books(ledger).withdrawals.withdrawals[WITHDRAWAL].spec
    for name in ("ann", "ben"):
        message = withdrawal_approval_message(
            ledger.ledger_id, spec, name, ApprovalDecision.approve
        )
        withdrawals.approve(ledger, actor(name), WITHDRAWAL, sign(key_seed(name), message))
    assert books(ledger).withdrawals.withdrawals[WITHDRAWAL].status.value == "held"
    ledger.close()
    return ledger_url


def audit(url: str) -> AuditReport:
    store = bootstrap.open_store(url)
    try:
        return verify_store(store, trusted_keys=[journal_public_key])
    finally:
        store.close()


def rewrite_with_the_journal_key(url: str, edit: Callable[[Approved], Approved]) -> int:
    """Edit ben's journaled approval with ``edit``, chain every later entry again and sign
    every head with the journal key; returns the edited entry's number."""
    store = bootstrap.open_store(url)
    try:
        entries = list(store.entries())
    finally:
        store.close()
    target = next(
        entry
        for entry in entries
        if entry.kind is EntryKind.withdrawals
        and any(
            isinstance(event, Approved) and event.approver == "ben"
            for event in decode_withdrawal_events(entry.body)
        )
    )
    events: list[WithdrawalEvent] = [
        edit(event) if isinstance(event, Approved) and event.approver == "ben" else event
        for event in decode_withdrawal_events(target.body)
    ]
    rows: list[tuple[bytes, bytes, bytes, bytes, int]] = []
    previous = entries[target.seq - 2].hash
    for entry in entries[target.seq - 1 :]:
        body = (
            encode_withdrawal_events(entry.seq, entry.timestamp, events)
            if entry.seq == target.seq
            else entry.body
        )
        digest = chain(previous, body)
        signature = journal_signer().sign(head_message(entry.seq, digest))
        rows.append((body, previous, digest, signature, entry.seq))
        previous = digest
    _update(url, rows)
    return target.seq


def _update(url: str, rows: list[tuple[bytes, bytes, bytes, bytes, int]]) -> None:
    statement = "UPDATE journal SET body = {0}, previous_hash = {0}, hash = {0}, signature = {0} "
    if url.startswith("sqlite:"):
        with sqlite3.connect(url[len("sqlite:///") :]) as db:
            for (trigger,) in db.execute("SELECT name FROM sqlite_master WHERE type = 'trigger'"):
                db.execute(f"DROP TRIGGER {trigger}")
            db.executemany(statement.format("?") + "WHERE seq = ?", rows)
        return
    with psycopg.connect(url, autocommit=True) as db:
        db.execute("SET session_replication_role = replica")  # triggers off (superuser)
        with db.cursor() as cursor:
            cursor.executemany(statement.format("%s") + "WHERE seq = %s", rows)


def _problems(report: AuditReport) -> list[tuple[str, str]]:
    return [(problem.kind, problem.where) for problem in report.problems]


def test_the_honest_ledger_verifies(honest: str) -> None:
    report = audit(honest)
    assert report.ok, report.problems


@pytest.mark.parametrize(
    "edit",
    [
        lambda event: replace(event, approver="cat"),  # ben's signature, cat's name
        lambda event: replace(event, signature=None),  # the evidence dropped
        lambda event: replace(event, signature=sign(key_seed("cat"), b"anything")),
    ],
    ids=["renamed", "unsigned", "signed by another"],
)
def test_an_approval_edited_and_the_heads_signed_again_is_named(
    honest: str, edit: Callable[[Approved], Approved]
) -> None:
    seq = rewrite_with_the_journal_key(honest, edit)
    report = audit(honest)
    assert _problems(report) == [("approval_signature_invalid", f"journal entry {seq}")]
    assert f"withdrawal {WITHDRAWAL}" in report.problems[0].detail
