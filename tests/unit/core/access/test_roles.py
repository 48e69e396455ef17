"""Roles' duties and the client's view, and the shape of API keys."""

from __future__ import annotations

import pytest

from ringfence.core.access.keys import key_id_of, key_text
from ringfence.core.access.roles import Action, Actor, permitted, require, sees_account, sees_client
from ringfence.core.errors import InputError, Result
from ringfence.core.ledger.model import AccountClass, AccountDefinition
from ringfence.core.principals.records import PrincipalRole

R = PrincipalRole


def test_only_the_admin_defines_and_only_the_operator_and_clients_move_money() -> None:
    assert [role for role in R if permitted(role, Action.define)] == [R.admin]
    movers = {role for role in R if permitted(role, Action.submit_transfers)}
    assert movers == {R.operator, R.client}
    assert {role for role in R if permitted(role, Action.audit)} == {R.auditor, R.admin}


def test_a_client_never_reads_sums_over_other_clients() -> None:
    for action in (Action.read_positions, Action.read_metrics, Action.audit, Action.define):
        assert not permitted(R.client, action)
    with pytest.raises(InputError) as refused:
        require(Actor("alice", R.client, "alice"), Action.read_positions)
    assert refused.value.code is Result.role_forbidden


def test_the_auditor_writes_nothing() -> None:
    for action in (Action.define, Action.submit_transfers):
        assert not permitted(R.auditor, action)


def account(owner: str, account_class: AccountClass = AccountClass.client) -> AccountDefinition:
    kind = "available" if account_class is AccountClass.client else "hot"
    return AccountDefinition(1, "BTC", account_class, owner, kind, "main")


def test_a_client_sees_only_its_own_client_accounts() -> None:
    alice = Actor("alice", R.client, "alice")
    assert sees_account(alice, account("alice"))
    assert not sees_account(alice, account("bob"))
    # A wallet named like the client is still the firm's custody account, not hers.
    assert not sees_account(alice, account("alice", AccountClass.custody))
    assert sees_client(alice, "alice")
    assert not sees_client(alice, "bob")
    operator = Actor("ops", R.operator)
    assert sees_account(operator, account("bob"))
    assert sees_client(operator, "bob")


@pytest.mark.parametrize(
    ("role", "client", "code"),
    [
        (R.client, "", Result.principal_client_required),
        (R.operator, "alice", Result.principal_client_forbidden_for_staff),
    ],
)
def test_actors_are_checked(role: PrincipalRole, client: str, code: Result) -> None:
    with pytest.raises(InputError) as refused:
        Actor("someone", role, client)
    assert refused.value.code is code


def test_key_text_round_trips_and_refuses_anything_else() -> None:
    text = key_text("0123456789abcdef", "A" * 43)
    assert key_id_of(text) == "0123456789abcdef"
    for bad in ("", "rf_0123_x", text + "A", text.upper(), "x" * 10_000, text.replace("_", "-")):
        with pytest.raises(InputError) as refused:
            key_id_of(bad)
        assert refused.value.code is Result.api_key_invalid


def test_breaks_are_resolved_by_operations_and_compliance_and_proofs_read_by_their_owner() -> None:
    assert {role for role in R if permitted(role, Action.resolve_breaks)} == {
        R.operator, R.compliance}  # fmt: skip
    assert {role for role in R if permitted(role, Action.read_proofs)} == {R.client, R.auditor}
    for action in (Action.read_reconciliation, Action.read_venue, Action.read_positions):
        assert not permitted(R.client, action)
    assert permitted(R.client, Action.read_statements)
    assert permitted(R.client, Action.read_rounds)
