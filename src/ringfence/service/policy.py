"""The withdrawal policy's service: versions drafted, approved, published and read, drafts
simulated over the ledger's past movements; and the journal of policies and withdrawals that
it and service/withdrawals.py share.

Gather, decide, apply: the book (core/policy/versions.py) decides each change; the accepted
ones are journaled through the ledger service (one writer, one chain) as a ``policies``
entry. Both books, policies and withdrawals, are rebuilt from the journal the first time a
ledger is used and kept up to date after that by reading only the entries appended since
(``books``): a ledger service reopened on another writer's append starts again from its own.

Every function takes the ``Actor`` it acts as (core/access/roles.py): the REST API's is the
API key's principal, the CLI's the principal whose key file it was given (``actor_with_key``).
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any
from weakref import WeakKeyDictionary

from ringfence.core import limits
from ringfence.core.access.roles import Action, Actor, require
from ringfence.core.errors import InputError, IntegrityError, Result
from ringfence.core.ledger.journal import (
    EntryKind,
    JournalEntry,
    decode_transfers,
    movement_kinds,
)
from ringfence.core.ledger.model import TransferRecord, check_name
from ringfence.core.money import Asset, format_amount
from ringfence.core.policy.codec import decode_policy_events, encode_policy_events
from ringfence.core.policy.decide import CompiledPolicy
from ringfence.core.policy.document import parse_policy
from ringfence.core.policy.simulate import KnownMovement, SimulationReport, simulate
from ringfence.core.policy.versions import (
    PolicyApproved,
    PolicyBook,
    PolicyDrafted,
    PolicyEvent,
    PolicyPublished,
    PolicyVersion,
    policy_approval_message,
)
from ringfence.core.principals.authorisation import public_key_of
from ringfence.core.principals.records import PrincipalRole
from ringfence.core.withdrawals.codec import decode_withdrawal_events, encode_withdrawal_events
from ringfence.core.withdrawals.lifecycle import WithdrawalBook, WithdrawalEvent
from ringfence.service.approvals import refuse_unless_evidence
from ringfence.service.ledger import LedgerService
from ringfence.service.ports import LedgerStore, PrincipalFiles

__all__ = [
    "Actor",
    "MovementBooks",
    "acting",
    "actor_with_key",
    "approve",
    "books",
    "document_bytes_max",
    "draft",
    "draft_body",
    "instruction",
    "journal_withdrawal_events",
    "local_reader",
    "parse_version",
    "publish",
    "replay_movement_entry",
    "show",
    "simulate_body",
    "simulate_policy",
    "transfer_records",
    "versions",
]


@dataclass(slots=True)
class MovementBooks:
    """The policy versions and the withdrawals, as of journal entry ``seq``."""

    policies: PolicyBook = field(default_factory=PolicyBook)
    withdrawals: WithdrawalBook = field(default_factory=WithdrawalBook)
    seq: int = 0


# The entry points bound a policy file before reading it (the core bounds it again).
document_bytes_max = limits.policy_document_bytes_max
_books: WeakKeyDictionary[LedgerService, MovementBooks] = WeakKeyDictionary()


def books(ledger: LedgerService) -> MovementBooks:
    """The books of ``ledger``, brought up to its journal's head."""
    found = _books.get(ledger)
    if found is None or found.seq > ledger.seq:
        found = _books[ledger] = MovementBooks()
    if found.seq < ledger.seq:
        for entry in ledger.store.entries(after_seq=found.seq, kinds=movement_kinds):
            if entry.kind in movement_kinds:
                replay_movement_entry(found, ledger.ledger.assets, entry)
        found.seq = ledger.seq
    return found


def replay_movement_entry(
    found: MovementBooks,
    assets: Mapping[str, Asset],
    entry: JournalEntry,
    before: Callable[[WithdrawalEvent], None] | None = None,
) -> list[PolicyEvent | WithdrawalEvent]:
    """Apply a journaled ``policies`` or ``withdrawals`` entry again; every event must apply
    as it did when written (the audit and every reader run this). Returns the events, for
    the audit to check their approvals' signatures (service/approvals.py); ``before`` sees
    each withdrawal event before it is applied (the audit re-decides each decision on the
    books as they stood, service/withdrawal_decisions.py)."""
    events: list[PolicyEvent | WithdrawalEvent] = []
    try:
        if entry.kind is EntryKind.policies:
            for event in decode_policy_events(entry.body):
                result = found.policies.apply(event, assets)
                if result is not Result.ok:
                    raise ValueError(f"{event} replays as {result.value}")
                events.append(event)
        else:
            for withdrawal_event in decode_withdrawal_events(entry.body):
                if before is not None:
                    before(withdrawal_event)
                result = found.withdrawals.apply(withdrawal_event)
                if result is not Result.ok:
                    raise ValueError(f"{withdrawal_event} replays as {result.value}")
                events.append(withdrawal_event)
    except (ValueError, InputError) as error:
        raise IntegrityError(f"journal entry {entry.seq}: {error}") from error
    return events


def _journal(
    ledger: LedgerService, found: MovementBooks, kind: EntryKind, timestamp: int, encode: Any
) -> None:
    """Append the events just applied to ``found``; on any failure forget the books, which
    are then rebuilt from the journal: memory never runs ahead of it."""
    try:
        ledger.append_entry(kind, timestamp, encode)
    except BaseException:
        _books.pop(ledger, None)
        raise
    found.seq = ledger.seq


def journal_withdrawal_events(
    ledger: LedgerService, found: MovementBooks, events: Sequence[WithdrawalEvent], at_ns: int
) -> None:
    """Journal withdrawal events already applied to ``found`` (stamped ``at_ns``, from
    ``ledger.next_timestamp()``)."""
    listed = list(events)
    _journal(
        ledger, found, EntryKind.withdrawals, at_ns,
        lambda seq: encode_withdrawal_events(seq, at_ns, listed),
    )  # fmt: skip


def _apply_and_journal(ledger: LedgerService, event_of: Any) -> tuple[PolicyEvent, Result]:
    found = books(ledger)
    at_ns = ledger.next_timestamp()
    event = event_of(found.policies, at_ns)
    result = found.policies.apply(event, ledger.ledger.assets)
    if result is Result.ok:
        _journal(
            ledger, found, EntryKind.policies, at_ns,
            lambda seq: encode_policy_events(seq, at_ns, [event]),
        )  # fmt: skip
    return event, result


def _refuse(result: Result, detail: str) -> None:
    if result is not Result.ok:
        raise InputError(result, detail)


# ---------------------------------------------------------------------- who is asking


# Who reads through the command line when it names no principal: whoever holds the database
# (and so can read every row of it) reads it all, as an auditor would, and writes nothing.
local_reader = Actor("local-reader", PrincipalRole.auditor)


def acting(
    ledger: LedgerService, files: PrincipalFiles, principal: str | None, key_file: str | None
) -> Actor:
    """The actor a command acts as: the principal proven by its key file, else (both absent)
    ``local_reader``."""
    if principal is None and key_file is None:
        return local_reader
    if principal is None or key_file is None:
        raise InputError(Result.field_required, "--principal and --key go together")
    return actor_with_key(ledger, principal, files.read_key(key_file))


def actor_with_key(ledger: LedgerService, name: str, seed: bytes) -> Actor:
    """The journaled principal ``name``, proven by its key: the key file's public key must be
    the principal's active key (the CLI's way of saying who acts)."""
    state = ledger.ledger.principals.by_name.get(name)
    if state is None:
        raise InputError(Result.principal_not_found, name)
    if not state.active:
        raise InputError(Result.principal_key_revoked, name)
    principal = state.principal
    if public_key_of(seed) != principal.public_key:
        raise InputError(Result.principal_key_mismatch, f"that key is not {name}'s")
    return Actor(principal.name, principal.role, principal.client)


# ---------------------------------------------------------------------- versions


def policy_text(document: object) -> bytes:
    """A policy sent as a JSON value (the REST API's body) as the bytes to journal."""

    def refuse(value: object) -> object:
        if isinstance(value, Decimal):
            raise InputError(Result.amount_must_not_be_float, f"{value}: a decimal string")
        raise InputError(Result.policy_document_malformed, type(value).__name__)

    return json.dumps(document, default=refuse, separators=(",", ":")).encode("utf-8")


def draft_body(ledger: LedgerService, actor: Actor, body: object) -> dict[str, Any]:
    """A draft sent as ``{"policy": {...}}`` (the REST API's body)."""
    return draft(ledger, actor, policy_text(_only(body, "policy", required=("policy",))["policy"]))


def simulate_body(ledger: LedgerService, actor: Actor, body: object) -> dict[str, Any]:
    """A simulation asked as ``{"from": "YYYY-MM-DD", "policy": {...}}`` or with
    ``"version": N`` (neither: the latest draft)."""
    fields = _only(body, "from", "policy", "version", required=("from",))
    if not isinstance(fields["from"], str):
        raise InputError(Result.timestamp_invalid, "from: YYYY-MM-DD")
    version = fields.get("version")
    if version is not None and (type(version) is not int or version < 1):
        raise InputError(Result.policy_version_not_found, repr(version))
    text = policy_text(fields["policy"]) if "policy" in fields else None
    return simulate_policy(ledger, actor, fields["from"], text=text, version=version)


def _only(body: object, *names: str, required: tuple[str, ...]) -> dict[str, Any]:
    if not isinstance(body, dict):
        raise InputError(Result.request_body_malformed, "a JSON object")
    unknown = sorted(set(body) - set(names))
    if unknown:
        raise InputError(Result.field_unknown, unknown[0])
    for name in required:
        if name not in body:
            raise InputError(Result.field_required, name)
    return body


def parse_version(text: str) -> int:
    """A version number from a path (decimal digits, 1 or more)."""
    if not text.isascii() or not text.isdigit() or len(text) > 9 or int(text) == 0:
        raise InputError(Result.policy_version_not_found, repr(text[:20]))
    return int(text)


def draft(ledger: LedgerService, actor: Actor, text: bytes) -> dict[str, Any]:
    """A new version from ``text`` (a policy document, JSON), drafted by ``actor``."""
    require(actor, Action.draft_policies)
    parse_policy(text, ledger.ledger.assets)  # refuse by name before anything is written

    def event_of(book: PolicyBook, at_ns: int) -> PolicyEvent:
        return PolicyDrafted(book.next_version, actor.name, at_ns, text)

    event, result = _apply_and_journal(ledger, event_of)
    _refuse(result, f"version {event.version}")
    return version_document(ledger, books(ledger).policies.versions[event.version])


def approve(
    ledger: LedgerService, actor: Actor, version: int, signature: bytes | None = None
) -> dict[str, Any]:
    """``actor`` approves ``version`` (four-eyes: never its author; only the governing group).
    ``signature``: the approver's Ed25519 signature of the approval instruction
    (``instruction``), required when the governing policy says ``approvals_signed`` and
    checked whenever given."""
    require(actor, Action.approve_policies)

    def event_of(book: PolicyBook, at_ns: int) -> PolicyEvent:
        found = book.versions.get(version)
        if found is not None:  # an unknown version is the book's to refuse, by name
            refuse_unless_evidence(
                ledger.ledger.principals,
                policy_approval_message(ledger.ledger_id, found, actor.name),
                actor.name,
                signature,
                required=book.approvals_signed(found, at_ns),
                what=f"policy version {version}",
            )
        return PolicyApproved(version, actor.name, at_ns, signature)

    _, result = _apply_and_journal(ledger, event_of)
    _refuse(result, f"version {version} by {actor.name}")
    return version_document(ledger, books(ledger).policies.versions[version])


def instruction(
    ledger: LedgerService, actor: Actor, version: int, approver: str = ""
) -> dict[str, Any]:
    """The approval instruction ``approver`` (default: ``actor``) signs to approve
    ``version``, as hex, for a key that signs elsewhere (an HSM, an air-gapped machine)."""
    require(actor, Action.read_policies)
    book = books(ledger).policies
    found = book.versions.get(version)
    if found is None:
        raise InputError(Result.policy_version_not_found, str(version))
    approver = check_name(approver or actor.name, "approver")
    return {
        "ok": True,
        "version": version,
        "approver": approver,
        "decision": "approve",
        "ledger_id": ledger.ledger_id.hex(),
        "document_sha256": found.digest,
        "signatures_required": book.approvals_signed(found, ledger.clock.now_ns()),
        "instruction": policy_approval_message(ledger.ledger_id, found, approver).hex(),
    }


def publish(ledger: LedgerService, actor: Actor, version: int) -> dict[str, Any]:
    """Publish an approved ``version``: it takes effect once the governing time-lock ends."""
    require(actor, Action.publish_policies)

    def event_of(book: PolicyBook, at_ns: int) -> PolicyEvent:
        found = book.versions.get(version)
        lock_s = 0 if found is None else book.governance(found, at_ns).time_lock_s
        return PolicyPublished(version, actor.name, at_ns, at_ns + lock_s * 10**9)

    _, result = _apply_and_journal(ledger, event_of)
    _refuse(result, f"version {version}")
    return version_document(ledger, books(ledger).policies.versions[version])


def versions(ledger: LedgerService, actor: Actor) -> list[dict[str, Any]]:
    require(actor, Action.read_policies)
    book = books(ledger).policies
    return [version_document(ledger, found) for found in book.versions.values()]


def show(ledger: LedgerService, actor: Actor, version: int | None = None) -> dict[str, Any]:
    """A version (default: the one in force now) with its document."""
    require(actor, Action.read_policies)
    book = books(ledger).policies
    if version is None:
        found = book.in_force(ledger.clock.now_ns())
        if found is None:
            raise InputError(Result.no_policy_in_force, "name a version")
    else:
        found = book.versions.get(version)
        if found is None:
            raise InputError(Result.policy_version_not_found, str(version))
    document = version_document(ledger, found)
    document["document"] = json.loads(found.text)
    return document


def version_document(ledger: LedgerService, found: PolicyVersion) -> dict[str, Any]:
    book = books(ledger).policies
    members, needed = book.governance_members(found, ledger.clock.now_ns())
    return {
        "version": found.version,
        "state": book.state(found, ledger.clock.now_ns()).value,
        "sha256": found.digest,
        "author": found.author,
        "drafted_at_ns": str(found.drafted_at_ns),
        "approvals": [
            {"approver": name, "at_ns": str(at), "signed": name in found.signatures}
            for name, at in found.approvals
        ],
        "approval_signatures_required": book.approvals_signed(found, ledger.clock.now_ns()),
        "approvals_required": needed,
        "approvers_eligible": sorted(members),
        "published_by": found.publisher or None,
        "published_at_ns": str(found.published_at_ns) if found.published else None,
        "effective_at_ns": str(found.effective_at_ns) if found.published else None,
        "rules": len(found.document.rules),
    }


# ---------------------------------------------------------------------- simulation


def simulate_policy(
    ledger: LedgerService,
    actor: Actor,
    from_date: str,
    *,
    text: bytes | None = None,
    version: int | None = None,
) -> dict[str, Any]:
    """Replay every movement since ``from_date`` (YYYY-MM-DD, UTC) against a policy: ``text``
    (a document not yet drafted), else ``version``, else the latest draft not published."""
    require(actor, Action.read_policies)
    from_ns = parse_date_ns(from_date)
    found = books(ledger)
    if text is not None:
        document = parse_policy(text, ledger.ledger.assets)
        label = "the document given"
    else:
        chosen = _version_to_simulate(found.policies, version)
        document, label = chosen.document, f"version {chosen.version}"
    policy = CompiledPolicy(document, version or 0, {})
    accounts = {a.id: a.definition for a in ledger.ledger.accounts.values()}
    records = transfer_records(ledger.store)
    report = simulate(policy, records, accounts, from_ns=from_ns, known=_known(found))
    return _report_document(ledger, report, label, from_date)


def parse_date_ns(text: str) -> int:
    try:
        day = datetime.strptime(text, "%Y-%m-%d").replace(tzinfo=UTC)
    except ValueError:
        raise InputError(Result.timestamp_invalid, f"{text!r}: a date, YYYY-MM-DD") from None
    return int(day.timestamp()) * 10**9


def _version_to_simulate(book: PolicyBook, version: int | None) -> PolicyVersion:
    if version is not None:
        chosen = book.versions.get(version)
        if chosen is None:
            raise InputError(Result.policy_version_not_found, str(version))
        return chosen
    drafts = [v for v in book.versions.values() if not v.published]
    if not drafts:
        raise InputError(Result.policy_version_not_found, "no draft: give --policy or --version")
    return drafts[-1]


def transfer_records(store: LedgerStore) -> Iterator[TransferRecord]:
    """Every committed transfer of ``store``, in journal order."""
    for entry in store.entries(kinds=[EntryKind.transfers]):
        if entry.kind is EntryKind.transfers:
            yield from decode_transfers(entry.body)[1]


def _known(found: MovementBooks) -> dict[int, KnownMovement]:
    known: dict[int, KnownMovement] = {}
    for withdrawal in found.withdrawals.withdrawals.values():
        decided = withdrawal.decided
        if withdrawal.hold_id and decided is not None:
            spec = withdrawal.spec
            known[withdrawal.hold_id] = KnownMovement(
                spec.initiator, spec.initiator_role, spec.destination,
                decided.decision.action, decided.decision.rule_id,
            )  # fmt: skip
    return known


def _report_document(
    ledger: LedgerService, report: SimulationReport, label: str, from_date: str
) -> dict[str, Any]:
    assets = ledger.ledger.assets
    changes = [
        {
            "transfer_id": str(change.movement.transfer_id),
            "at_ns": str(change.movement.at_ns),
            "kind": change.movement.kind.value,
            "pool": change.movement.pool,
            "client": change.movement.client or None,
            "asset": change.movement.asset,
            "amount": format_amount(change.movement.amount, assets[change.movement.asset]),
            "before": {"action": change.before[0].value, "rule": change.before[1] or None},
            "after": {
                "action": change.after.action.value,
                "rule": change.after.rule_id or None,
                "reason": change.after.reason.value if change.after.reason else None,
                "approvals_required": change.after.approvals_required,
                "senior_approvals_required": change.after.senior_approvals_required,
            },
        }
        for change in report.changes
    ]
    return {
        "ok": True,
        "policy": label,
        "from": from_date,
        "movements": report.movements,
        "by_kind": dict(sorted(report.by_kind.items())),
        "by_rule": {rule or "(none)": count for rule, count in sorted(report.by_rule.items())},
        "by_action": dict(sorted(report.by_action.items())),
        "by_reason": dict(sorted(report.by_reason.items())),
        "changed": report.changed,
        "changes": changes,
        "changes_shown_max": limits.rejections_shown_max,
    }
