"""What each role may do, and what a client principal may see.

A request acts as an ``Actor``: the principal behind the API key it presented, with the key's
role and, for the ``client`` role, the one client it acts for. Two questions are decided here
and nowhere else:

- ``permitted(role, action)``: the table below, by duty. Staff read; ``admin`` defines
  (assets, clients, pools, accounts) and does not move money; ``operator`` initiates movements
  and drives approved withdrawals through the chain, and does not define; ``approver``
  approves withdrawals and policy versions and initiates nothing; ``compliance`` drafts,
  approves and publishes policy versions; ``auditor`` reads everything and runs the audit, and
  writes nothing. A client requests withdrawals from its own accounts. Custody wallets are
  definitions (``admin``) and staff's reading; a client reads its own deposit addresses. A
  proof-of-reserves round is built by ``operator`` or ``admin`` (it moves nothing).
  Reconciliation is run by ``operator`` and ``compliance``, and its breaks are explained and
  cured by them (the segregation officer is compliance); every staff role reads them.
  ``admin`` also manages webhook subscriptions, which carry every event of every client.
- ``sees_account(actor, account)``: a client principal sees only the client accounts its
  client owns; staff see every account. The service applies it to every read and write, so
  isolation never depends on a route remembering to filter.

A client principal may read its own accounts, balances, transfers, statements and the events
about them, its own proofs of inclusion and the published proof-of-reserves rounds, and submit
transfers whose every account is its own (an internal transfer still needs its Ed25519
authorisation, core/principals/authorisation.py). It never sees pool positions,
reconciliations or the venue's funds, which sum other clients. A client's inclusion proofs (and
the key that finds its leaves) are read by that client and by the auditor, who samples them.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum, unique
from typing import Final

from ringfence.core.errors import InputError, Result
from ringfence.core.ledger.model import AccountClass, AccountDefinition, check_name
from ringfence.core.principals.records import PrincipalRole

__all__ = ["Action", "Actor", "permissions", "permitted", "sees_account"]


@unique
class Action(StrEnum):
    read_definitions = "read_definitions"  # assets, clients, pools
    define = "define"  # create assets, clients, pools, accounts
    read_accounts = "read_accounts"  # accounts and their balances
    submit_transfers = "submit_transfers"
    read_transfers = "read_transfers"
    read_positions = "read_positions"  # pool positions and coverage (every client's sums)
    audit = "audit"
    read_metrics = "read_metrics"
    read_reconciliation = "read_reconciliation"  # segregation statements, runs and breaks
    reconcile = "reconcile"  # run (and journal) a reconciliation
    resolve_breaks = "resolve_breaks"  # explain and cure a reconciliation break
    read_statements = "read_statements"  # client statements of position (a client: its own)
    read_rounds = "read_rounds"  # published proof-of-reserves round records
    read_proofs = "read_proofs"  # a client's inclusion proofs and client key
    read_venue = "read_venue"  # insurance funds and liquidation rounds per market
    # What a failure would return to every client in kind (the in-kind return schedule of a
    # simulated insolvency): a resolution planner's and an auditor's reading.
    read_resolution = "read_resolution"
    submit_fills = "submit_fills"  # the venue's fills into the book (and their fees)
    read_wallets = "read_wallets"  # the custody wallet registry: every pool's and the house's
    # A client's deposit addresses (a client: its own).
    read_deposit_addresses = "read_deposit_addresses"
    # Build, sign and keep a proof-of-reserves round (and attest its reserves).
    build_rounds = "build_rounds"
    read_events = "read_events"  # the event stream (a client: events about its own accounts)
    manage_webhooks = "manage_webhooks"  # webhook subscriptions: they carry every event
    # Withdrawals and their policy (service/withdrawals.py, service/policy.py). Who may
    # approve a given withdrawal or policy version is also a matter of the policy's groups.
    request_withdrawals = "request_withdrawals"
    approve_withdrawals = "approve_withdrawals"
    process_withdrawals = "process_withdrawals"  # drive approved ones through the chain
    read_withdrawals = "read_withdrawals"
    read_policies = "read_policies"
    draft_policies = "draft_policies"
    approve_policies = "approve_policies"
    publish_policies = "publish_policies"


_reading: Final = frozenset(
    {
        Action.read_definitions,
        Action.read_accounts,
        Action.read_transfers,
        Action.read_positions,
        Action.read_metrics,
        Action.read_reconciliation,
        Action.read_statements,
        Action.read_rounds,
        Action.read_venue,
        Action.read_events,
        Action.read_withdrawals,
        Action.read_policies,
        Action.read_wallets,
        Action.read_deposit_addresses,
    }
)

permissions: Final[dict[PrincipalRole, frozenset[Action]]] = {
    PrincipalRole.client: frozenset(
        {
            Action.read_definitions,
            Action.read_accounts,
            Action.read_transfers,
            Action.submit_transfers,
            Action.read_events,
            Action.read_statements,
            Action.read_rounds,
            Action.read_proofs,
            Action.request_withdrawals,
            Action.read_withdrawals,
            Action.read_deposit_addresses,
        }
    ),
    PrincipalRole.operator: _reading
    | {
        Action.build_rounds,
        Action.submit_transfers,
        Action.submit_fills,
        Action.reconcile,
        Action.resolve_breaks,
        Action.request_withdrawals,
        Action.process_withdrawals,
    },
    PrincipalRole.approver: _reading | {Action.approve_withdrawals, Action.approve_policies},
    PrincipalRole.compliance: _reading
    | {
        Action.reconcile,
        Action.resolve_breaks,
        Action.draft_policies,
        Action.approve_policies,
        Action.publish_policies,
        Action.read_resolution,
    },
    PrincipalRole.auditor: _reading | {Action.audit, Action.read_proofs, Action.read_resolution},
    PrincipalRole.admin: _reading
    | {
        Action.define,
        Action.build_rounds,
        Action.audit,
        Action.manage_webhooks,
        Action.draft_policies,
        Action.approve_policies,
        Action.publish_policies,
    },
}
# Duties apart: whoever approves a withdrawal never initiates one, and the auditor changes
# nothing (four-eyes on each withdrawal is the lifecycle's: core/withdrawals/lifecycle.py).
assert not any(
    {Action.request_withdrawals, Action.approve_withdrawals} <= permissions[role]
    for role in PrincipalRole
)
assert set(permissions) == set(PrincipalRole)
assert all(Action.define not in permissions[role] for role in PrincipalRole if role.name != "admin")


@dataclass(frozen=True, slots=True)
class Actor:
    """Who a request acts as: the principal's name (its API key's label), role and client."""

    name: str
    role: PrincipalRole
    client: str = ""  # the client a client principal acts for; empty for staff

    def __post_init__(self) -> None:
        check_name(self.name, "principal")
        if not isinstance(self.role, PrincipalRole):
            raise InputError(Result.principal_role_unknown, repr(self.role))
        if self.role is PrincipalRole.client and not self.client:
            raise InputError(Result.principal_client_required, self.name)
        if self.role is not PrincipalRole.client and self.client:
            raise InputError(Result.principal_client_forbidden_for_staff, self.name)

    @property
    def is_client(self) -> bool:
        return self.role is PrincipalRole.client


def permitted(role: PrincipalRole, action: Action) -> bool:
    return action in permissions[role]


def require(actor: Actor, action: Action) -> None:
    """Refuse (``role_forbidden``) an action the actor's role does not allow."""
    if not permitted(actor.role, action):
        raise InputError(Result.role_forbidden, f"{actor.role.name} may not {action.value}")


def sees_account(actor: Actor, account: AccountDefinition) -> bool:
    """Whether ``actor`` may see (and so name in a transfer) ``account``."""
    if not actor.is_client:
        return True
    return account.account_class is AccountClass.client and account.owner == actor.client


def sees_client(actor: Actor, client: str) -> bool:
    return not actor.is_client or client == actor.client
