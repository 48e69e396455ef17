"""A writer holding the journal key cannot skip the policy by journaling a decision of its own:
``audit verify`` decides every journaled withdrawal decision again, under the policy version in
force when the withdrawal was requested, and names the one that differs.

The forger writes through this project's own journal functions (so the hash chain and the
journal's signatures are whole) a request and a decision copied from bob's 11 ETH withdrawal,
which the policy in force sends to two signed approvals, with one field changed.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any

import pytest
from tests.support import journal_public_key, journal_signer
from tests.support_policy import OTHER_ADDRESS, policy_text
from tests.support_withdrawals import actor, publish_policy, withdrawal_world

from ringfence.adapters.clock import ManualClock
from ringfence.adapters.storage.sqlite import SqliteStore
from ringfence.core.policy.document import Action
from ringfence.core.withdrawals.lifecycle import Approved, Requested, Status
from ringfence.service import withdrawals
from ringfence.service.audit import AuditReport, verify_store
from ringfence.service.ledger import LedgerService
from ringfence.service.policy import books, journal_withdrawal_events
from ringfence.service.withdrawal_ledger import hold

HONEST, FORGED = 40, 41


def _world(tmp_path: Path) -> tuple[LedgerService, int]:
    clock = ManualClock()
    ledger = LedgerService(SqliteStore(str(tmp_path / "l.db")), clock, journal_signer())
    withdrawal_world(ledger, clock)
    signed_version = publish_policy(ledger, clock, policy_text(approvals_signed=True))
    body = {"id": str(HONEST), "pool": "main", "asset": "ETH", "amount": "11",
            "destination": OTHER_ADDRESS, "client": "bob"}  # fmt: skip
    answer = withdrawals.request(ledger, actor("ops"), body)
    assert answer["approval_signatures_required"] is True
    return ledger, signed_version


def _forge(ledger: LedgerService, **decided_changes: Any) -> None:
    """Journal a copy of the honest request as ``FORGED`` with its decision changed."""
    found = books(ledger)
    real = found.withdrawals.withdrawals[HONEST]
    assert real.decided is not None
    decision_changes = {
        name: decided_changes.pop(name)
        for name in list(decided_changes)
        if name not in ("eligible", "senior_eligible", "expires_at_ns")
    }
    at_ns = ledger.next_timestamp()
    decided = dataclasses.replace(
        real.decided,
        id=FORGED,
        decision=dataclasses.replace(real.decided.decision, **decision_changes),
        expires_at_ns=real.decided.expires_at_ns - real.requested_at_ns + at_ns,
        at_ns=at_ns,
    )
    events = [
        Requested(dataclasses.replace(real.spec, id=FORGED), at_ns),
        dataclasses.replace(decided, **decided_changes),
    ]
    for event in events:
        assert found.withdrawals.apply(event).value == "ok"
    journal_withdrawal_events(ledger, found, events, at_ns)


def _approve_unsigned(ledger: LedgerService, *names: str) -> None:
    found = books(ledger)
    for name in names:
        at_ns = ledger.next_timestamp()
        event = Approved(FORGED, name, at_ns)
        assert found.withdrawals.apply(event).value == "ok"
        journal_withdrawal_events(ledger, found, [event], at_ns)


def _mismatches(ledger: LedgerService) -> list[str]:
    report: AuditReport = verify_store(ledger.store, trusted_keys=[journal_public_key])
    kinds = {problem.kind for problem in report.problems}
    assert kinds <= {"withdrawal_decision_mismatch"}, report.problems
    return [problem.detail for problem in report.problems]


def test_the_honest_decisions_verify(tmp_path: Path) -> None:
    ledger, _ = _world(tmp_path)
    blocked = {"id": "50", "pool": "main", "asset": "ETH", "amount": "1000",
               "destination": OTHER_ADDRESS, "client": "bob"}  # fmt: skip
    assert withdrawals.request(ledger, actor("ops"), blocked)["status"] == "blocked"
    assert _mismatches(ledger) == []


def test_a_decision_naming_an_older_unsigned_version_is_named(tmp_path: Path) -> None:
    ledger, signed_version = _world(tmp_path)
    _forge(ledger, policy_version=signed_version - 1)
    _approve_unsigned(ledger, "ann", "ben")
    hold(ledger, books(ledger).withdrawals.withdrawals[FORGED])
    assert books(ledger).withdrawals.withdrawals[FORGED].status is Status.held
    (found,) = _mismatches(ledger)
    assert f"withdrawal {FORGED}: decided under policy version {signed_version - 1}" in found


def test_a_decision_naming_an_unknown_version_is_named(tmp_path: Path) -> None:
    ledger, signed_version = _world(tmp_path)
    _forge(ledger, policy_version=signed_version + 7)
    (found,) = _mismatches(ledger)
    assert f"decided under policy version {signed_version + 7}" in found


def test_an_allow_where_the_policy_asks_for_approvers_is_named(tmp_path: Path) -> None:
    ledger, _ = _world(tmp_path)
    _forge(ledger, action=Action.allow, approvals_required=0)
    hold(ledger, books(ledger).withdrawals.withdrawals[FORGED])
    (found,) = _mismatches(ledger)
    assert f"withdrawal {FORGED}: action is" in found


@pytest.mark.parametrize(
    ("change", "named"),
    [
        ({"approvals_required": 1}, "approvals_required is 1"),
        ({"groups": ("ops",)}, "groups is"),
        ({"eligible": frozenset({"ann", "ben", "zed"})}, "eligible approvers"),
        ({"expires_at_ns": 1}, "expires at 1 ns"),
    ],
)
def test_a_decision_with_one_field_changed_is_named(
    tmp_path: Path, change: dict[str, Any], named: str
) -> None:
    ledger, _ = _world(tmp_path)
    _forge(ledger, **change)
    (found,) = _mismatches(ledger)
    assert named in found
