"""The event catalogue: what each committed journal entry says happened, as typed events.

An event is a view of a committed entry, never a row of its own: the journal is the outbox
(docs/events.md argues why). So an event exists exactly when the entry that caused it is
durable, in the same transaction by construction, and replaying events from any journal
sequence means reading the journal from there. An event's id is its place, ``SEQ.INDEX`` (the
entry's sequence number and the event's index among that entry's events): the same event
always has the same id, which is what a webhook receiver deduplicates on.

Every event carries the entry's journal hash, so a receiver holding a signed head can check
that what it was told is in the chain (``ringfence audit verify --expect-head``).

Types, by what caused them:

- a transfers entry: per committed transfer ``transfer.posted`` (single-phase),
  ``transfer.pending``, ``transfer.pending_posted`` or ``transfer.pending_voided``; per
  expired pending transfer ``transfer.pending_expired``; a ``misdirected_deposit`` also opens
  a segregation break (``ledger_break.opened``) and a ``break_cure`` makes one good
  (``ledger_break.cure_posted``); an entry with liquidation transfers is one
  ``liquidation.executed``;
- a reconciliation run: ``reconciliation.completed``, then per coverage line with an alert
  ``coverage.undersegregated`` or ``coverage.below_target`` (and ``regulatory.breach`` of kind
  ``possession_deficit`` when a custody pool's holdings, encumbered ones included, fall short
  of what its clients are owed), then per break snapshot ``break.opened``, ``break.updated``
  or ``break.cured``;
- a residual-interest deadline check: per custody pool and asset whose residual interest, at
  or after the deadline, falls short of what its clients are undermargined by,
  ``regulatory.breach`` of kind ``residual_interest_deadline`` (its status computed again from
  the facts the entry keeps, core/regulatory/records.py); a recorded version of the
  sub-custodian register: ``sub_custodian_register.recorded``;
- an operator's action on a break: ``break.explained``, ``break.corrected`` or
  ``break.made_good`` (``break.cured`` when the action cured it);
- definitions: ``asset.defined``, ``client.defined``, ``pool.defined``, ``account.defined``;
  principals: ``principal.changed``; the journal key: ``journal_key.declared``; the wallet
  registry: ``custody.registry_changed``;
- the venue (core/events/venue.py): a fills entry, ``venue.fill.recorded`` per fill; a
  transfers entry with a settlement cycle's transfers, ``venue.settlement.completed`` per
  bucket, and with an insurance fund's funding or payout, ``venue.insurance_fund.funded`` or
  ``.drawn``; a liquidation round's positions entry, ``venue.liquidation.executed`` per bucket
  liquidated (its round's transfers looked up by id: ``round_transfer_ids``).

Who may see an event is decided from ``Event.accounts`` and ``Event.clients`` (the accounts and
clients it is about): a client principal sees an event only when one of them is its own.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from enum import StrEnum, unique
from typing import Any, Final

from ringfence.core.errors import InputError, Result
from ringfence.core.ledger import journal, wire
from ringfence.core.ledger.journal import EntryKind, JournalEntry, registry_kinds
from ringfence.core.ledger.model import (
    AccountDefinition,
    Pool,
    TransferCode,
    TransferFlags,
    TransferRecord,
)
from ringfence.core.money import Asset, format_amount, format_signed_units
from ringfence.core.recon.breaks import BreakState, ReconBreak
from ringfence.core.recon.codec import ActionKind, Coverage, decode_recon_entry
from ringfence.core.recon.segregation_statement import Alert
from ringfence.core.regulatory.records import decode_deadline_check, decode_register
from ringfence.core.regulatory.residual import DeadlineStatus

__all__ = ["Event", "EventType", "Position", "View", "events_of_entry", "parse_position"]


@unique
class EventType(StrEnum):
    transfer_posted = "transfer.posted"
    transfer_pending = "transfer.pending"
    transfer_pending_posted = "transfer.pending_posted"
    transfer_pending_voided = "transfer.pending_voided"
    transfer_pending_expired = "transfer.pending_expired"
    ledger_break_opened = "ledger_break.opened"
    ledger_break_cure_posted = "ledger_break.cure_posted"
    liquidation_executed = "liquidation.executed"
    reconciliation_completed = "reconciliation.completed"
    coverage_undersegregated = "coverage.undersegregated"
    coverage_below_target = "coverage.below_target"
    regulatory_breach = "regulatory.breach"
    break_opened = "break.opened"
    break_updated = "break.updated"
    break_explained = "break.explained"
    break_corrected = "break.corrected"
    break_made_good = "break.made_good"
    break_cured = "break.cured"
    asset_defined = "asset.defined"
    client_defined = "client.defined"
    pool_defined = "pool.defined"
    account_defined = "account.defined"
    principal_changed = "principal.changed"
    journal_key_declared = "journal_key.declared"
    custody_registry_changed = "custody.registry_changed"
    sub_custodian_register_recorded = "sub_custodian_register.recorded"
    venue_fill_recorded = "venue.fill.recorded"
    venue_settlement_completed = "venue.settlement.completed"
    venue_liquidation_executed = "venue.liquidation.executed"
    venue_insurance_fund_funded = "venue.insurance_fund.funded"
    venue_insurance_fund_drawn = "venue.insurance_fund.drawn"


_liquidation_codes: Final = frozenset(
    {
        TransferCode.liquidation_settlement,
        TransferCode.liquidation_fee,
        TransferCode.insurance_payout,
        TransferCode.global_insurance_payout,
    }
)
_alert_types: Final = {
    Alert.undersegregated: EventType.coverage_undersegregated,
    Alert.below_target: EventType.coverage_below_target,
}
_action_types: Final = {
    ActionKind.explain: EventType.break_explained,
    ActionKind.correct: EventType.break_corrected,
    ActionKind.make_good: EventType.break_made_good,
}
_definition_types: Final = {
    EntryKind.assets: EventType.asset_defined,
    EntryKind.clients: EventType.client_defined,
    EntryKind.pools: EventType.pool_defined,
    EntryKind.accounts: EventType.account_defined,
}
# An index past any entry's last event: "after entry SEQ" is the position (SEQ, entry_end).
entry_end: Final = 2**32 - 1


@dataclass(frozen=True, slots=True, order=True)
class Position:
    """A place in the event stream: after the event ``index`` of entry ``seq``."""

    seq: int
    index: int = entry_end

    @property
    def text(self) -> str:
        """``SEQ.INDEX``, or ``SEQ`` for "after the whole entry" (``parse_position`` reads both)."""
        return str(self.seq) if self.index == entry_end else f"{self.seq}.{self.index}"


def parse_position(text: str) -> Position:
    """A position from an event id (``SEQ.INDEX``) or a bare journal sequence (``SEQ``: after
    that whole entry)."""
    seq_text, dot, index_text = text.partition(".")
    parts = (seq_text, index_text) if dot else (seq_text,)
    if len(text) > 32 or not all(part.isascii() and part.isdigit() for part in parts):
        raise InputError(Result.event_position_invalid, repr(text[:32]))
    seq = int(seq_text)
    index = int(index_text) if dot else entry_end
    if seq >= 2**64 or index > entry_end:
        raise InputError(Result.event_position_invalid, text)
    return Position(seq, index)


@dataclass(frozen=True, slots=True)
class Event:
    """One event: its type, where it is in the journal, and what it says (JSON-able data, every
    amount a decimal string in the asset's major unit)."""

    type: EventType
    seq: int
    index: int
    timestamp_ns: int
    journal_hash: bytes
    data: dict[str, Any]
    accounts: frozenset[int] = field(default=frozenset())
    clients: frozenset[str] = field(default=frozenset())

    @property
    def id(self) -> str:
        return f"{self.seq}.{self.index}"

    @property
    def position(self) -> Position:
        return Position(self.seq, self.index)

    def to_json(self) -> dict[str, Any]:
        """The document a reader or a webhook receiver gets (Standard Webhooks' payload shape:
        ``type``, ``timestamp`` and ``data``, with the journal's place and hash beside them)."""
        return {
            "id": self.id,
            "type": self.type.value,
            "timestamp": iso_time(self.timestamp_ns),
            "timestamp_ns": str(self.timestamp_ns),
            "seq": str(self.seq),
            "journal_hash": self.journal_hash.hex(),
            "data": self.data,
        }


@dataclass(frozen=True, slots=True)
class View:
    """What an entry's records are read against: accounts by id, assets by number and code,
    principals' names by number, and each expired pending transfer's two accounts (the
    caller looks them up: an expiry names only the pending id)."""

    accounts: Mapping[int, AccountDefinition]
    assets_by_number: Mapping[int, Asset]
    assets: Mapping[str, Asset]
    principal_names: Mapping[int, str]
    pending_sides: Mapping[int, tuple[int, int]] = field(default_factory=dict)
    # A bucket's collateral account id from its name (service/risk_ledger.py derives it);
    # None where no venue is read: a fill's event is then about no account (staff only).
    collateral_of: Callable[[str], int] | None = None
    # A liquidation round's transfers by id (``round_transfer_ids`` names them).
    round_transfers: Mapping[int, TransferRecord] = field(default_factory=dict)


def iso_time(ns: int) -> str:
    seconds, rest = divmod(ns, 10**9)
    moment = datetime.fromtimestamp(seconds, UTC).replace(microsecond=rest // 1000)
    return moment.isoformat().replace("+00:00", "Z")


def expired_pending_ids(entry: JournalEntry) -> list[int]:
    """The pending transfers a transfers entry expired (their accounts are needed for scope)."""
    if entry.kind is not EntryKind.transfers:
        return []
    _, _, expiries = journal.decode_transfers(entry.body)
    return [expiry.pending_id for expiry in expiries]


def liquidation_transfer_ids(entry: JournalEntry) -> list[int]:
    """The transfers a liquidation round's positions entry may have made (for its events)."""
    if entry.kind is not EntryKind.positions:
        return []
    from ringfence.core.events.venue import round_transfer_ids  # numpy: see _venue_entry_events
    from ringfence.core.venue.codec import decode_positions

    return round_transfer_ids(decode_positions(entry.body))


def events_of_entry(entry: JournalEntry, view: View) -> list[Event]:
    """Every event of one committed entry, in order (an entry of no known kind has none)."""
    made: list[tuple[EventType, dict[str, Any], frozenset[int], frozenset[str]]] = []
    add = _Adder(made)
    if entry.kind is EntryKind.transfers:
        _transfer_events(entry, view, add)
    elif entry.kind in (EntryKind.reconciliations, EntryKind.break_actions):
        _recon_events(entry, view, add)
    elif entry.kind in _definition_types:
        _definition_events(entry, add)
    elif entry.kind is EntryKind.principals:
        _, records, _ = journal.decode_principals(entry.body)
        for number, principal in records:
            data = {"number": number, "name": principal.name, "role": principal.role.name}
            data["client"] = principal.client or None
            data["status"] = principal.status.name
            add(EventType.principal_changed, data)
    elif entry.kind is EntryKind.journal_keys:
        add(EventType.journal_key_declared, {})
    elif entry.kind is EntryKind.residual_deadlines:
        _deadline_events(entry, view, add)
    elif entry.kind is EntryKind.sub_custodian_registers:
        register = decode_register(entry.body)
        add(EventType.sub_custodian_register_recorded, {
            "sha256": register.identity.sha256, "version": register.identity.version,
            "sub_custodians": [entry.name for entry in register.sub_custodians],
            "wallets": sum(len(entry.wallets) for entry in register.sub_custodians),
        })  # fmt: skip
    elif entry.kind in (EntryKind.fills, EntryKind.positions):
        _venue_entry_events(entry, view, add)
    elif entry.kind in registry_kinds:
        header = journal.decode_header(entry.body)
        add(
            EventType.custody_registry_changed, {"kind": entry.kind.name, "records": header.records}
        )
    return [
        Event(kind, entry.seq, index, entry.timestamp, entry.hash, data, accounts, clients)
        for index, (kind, data, accounts, clients) in enumerate(made)
    ]


class _Adder:
    def __init__(self, made: list[Any]) -> None:
        self.made = made

    def __call__(
        self,
        kind: EventType,
        data: dict[str, Any],
        accounts: frozenset[int] = frozenset(),
        clients: frozenset[str] = frozenset(),
    ) -> None:
        self.made.append((kind, data, accounts, clients))

    def venue(
        self, kind: str, data: dict[str, Any], accounts: frozenset[int], clients: frozenset[str]
    ) -> None:
        self.made.append((EventType(kind), data, accounts, clients))


def _transfer_type(record: TransferRecord) -> EventType:
    if record.flags & TransferFlags.pending:
        return EventType.transfer_pending
    if record.flags & TransferFlags.post_pending:
        return EventType.transfer_pending_posted
    if record.flags & TransferFlags.void_pending:
        return EventType.transfer_pending_voided
    return EventType.transfer_posted


def _transfer_events(entry: JournalEntry, view: View, add: _Adder) -> None:
    _, records, expiries = journal.decode_transfers(entry.body)
    pairs_of = journal.metadata_pairs_of(entry.body, records)
    metadata = {record.id: pairs for record, pairs in pairs_of}
    liquidated: list[str] = []
    for record in records:
        asset = view.assets_by_number[record.asset]
        authoriser = view.principal_names.get(record.authoriser)
        data = wire.record_to_json(record, asset, authoriser, metadata.get(record.id, {}))
        sides = frozenset((record.debit_account, record.credit_account))
        add(_transfer_type(record), data, sides)
        if record.code == TransferCode.misdirected_deposit:
            add(EventType.ledger_break_opened, {"break": str(record.id), **_money(record, view)})
        elif record.code == TransferCode.break_cure:
            cured = {"break": str(record.reference), "transfer": str(record.id)}
            add(EventType.ledger_break_cure_posted, {**cured, **_money(record, view)})
        if record.code in _liquidation_codes:
            liquidated.append(str(record.id))
    for expiry in expiries:
        sides = frozenset(view.pending_sides.get(expiry.pending_id, ()))
        data = {"pending_id": str(expiry.pending_id), "expired_at_ns": str(expiry.timestamp)}
        add(EventType.transfer_pending_expired, data, sides)
    if liquidated:
        add(EventType.liquidation_executed, {"transfers": liquidated})
    from ringfence.core.events.venue import venue_transfer_events  # numpy: see _venue_entry_events

    venue_transfer_events(records, view.accounts, view.assets_by_number, add.venue)


def _venue_entry_events(entry: JournalEntry, view: View, add: _Adder) -> None:
    """A fills or positions entry's events. The venue's modules are imported here, not at the
    top: they bring numpy (core/risk), which a small command that never reads venue entries
    must not pay for (tests/unit/entrypoints/cli/test_help.py)."""
    from ringfence.core.events.venue import fill_events, liquidation_events
    from ringfence.core.venue.codec import decode_fills, decode_positions

    if entry.kind is EntryKind.fills:
        fill_events(decode_fills(entry.body), view.accounts, view.assets, view.collateral_of,
                    add.venue)  # fmt: skip
        return
    liquidation_events(
        decode_positions(entry.body), view.round_transfers, add.venue, accounts=view.accounts,
        collateral_of=view.collateral_of, assets_by_number=view.assets_by_number,
    )  # fmt: skip


def _money(record: TransferRecord, view: View) -> dict[str, str]:
    asset = view.assets_by_number[record.asset]
    return {"amount": format_amount(record.amount, asset), "asset": asset.code}


def _recon_events(entry: JournalEntry, view: View, add: _Adder) -> None:
    records = decode_recon_entry(entry.body)
    summary = records.summary
    if summary is not None:
        add(EventType.reconciliation_completed, {
            "run": summary.run, "as_of_ns": str(summary.as_of_ns),
            "funds_basis": summary.basis.value, "breaks_open": summary.breaks_open,
            "breaks_opened": summary.breaks_opened, "breaks_cured": summary.breaks_cured,
            "undersegregated": summary.undersegregated, "below_target": summary.below_target,
            "findings": summary.findings,
        })  # fmt: skip
        for line in records.coverage:
            if line.alert in _alert_types:
                asset = view.assets[line.asset]
                amounts = {"requirement": line.requirement, "funds": line.funds,
                           "target": line.target}  # fmt: skip
                data = {"pool": line.pool, "asset": line.asset, "run": summary.run}
                data.update({k: format_amount(v, asset) for k, v in amounts.items()})
                add(_alert_types[line.alert], data)
                _possession_deficit(line, asset, summary.run, add)
    opened_from = len(records.snapshots) - (summary.breaks_opened if summary else 0)
    for number, snapshot in enumerate(records.snapshots):
        if snapshot.state is BreakState.cured:
            kind = EventType.break_cured
        elif records.action is not None:
            kind = _action_types[records.action.kind]
        else:
            kind = EventType.break_opened if number >= opened_from else EventType.break_updated
        add(kind, _break_data(snapshot, view))


def _possession_deficit(line: Coverage, asset: Asset, run: int, add: _Adder) -> None:
    """The possession report's ``deficit`` (core/regulatory/possession.py): what no holding of
    the pool covers, wherever it is and whether or not it is encumbered. The run's line holds
    all three terms (the requirement is the possession report's entitlement), so the breach is
    read from the journal; the report's other shortfalls (assets at an unapproved
    sub-custodian, encumbered) need the register, which is not journaled."""
    deficit = line.requirement - line.funds - line.encumbered
    if line.segregated and deficit > 0:
        add(EventType.regulatory_breach, {
            "kind": "possession_deficit", "pool": line.pool, "asset": line.asset,
            "amount": format_amount(deficit, asset), "run": run,
        })  # fmt: skip


def _deadline_events(entry: JournalEntry, view: View, add: _Adder) -> None:
    """A breach per pool and asset the check finds short at or after the deadline (CFTC
    1.22(c)); the status is computed again from the entry's facts."""
    check = decode_deadline_check(entry.body)
    for line in check.lines():
        if line.status is not DeadlineStatus.breach:
            continue
        asset = view.assets[line.asset]
        amounts = {"undermargined": line.undermargined, "cover_shortfall": line.cover_shortfall,
                   "targeted_residual_interest": line.targeted_residual_interest}  # fmt: skip
        # Read back from a stored entry, a figure may lie beyond what a ledger amount can be
        # (a difference of two u128s): written as signed units, never refused by an assertion.
        add(EventType.regulatory_breach, {
            "kind": "residual_interest_deadline", "pool": line.pool, "asset": line.asset,
            "residual_interest": format_signed_units(line.residual_interest, asset.scale),
            **{name: format_signed_units(value, asset.scale) for name, value in amounts.items()},
            "accounts_undermargined": line.accounts_undermargined,
            "as_of_ns": str(check.as_of_ns), "deadline_ns": str(check.deadline_ns),
            "requirements_sha256": check.requirements_sha256.hex(),
        })  # fmt: skip


def _break_data(snapshot: ReconBreak, view: View) -> dict[str, Any]:
    asset = view.assets[snapshot.asset]
    return {
        "break": snapshot.id,
        "wallet": snapshot.wallet,
        "asset": snapshot.asset,
        "state": snapshot.state.value,
        "cause": snapshot.cause.value,
        "book": format_amount(snapshot.book, asset),
        "observed": format_amount(snapshot.observed, asset),
        "first_seen_ns": str(snapshot.first_seen_ns),
    }


def _definition_events(entry: JournalEntry, add: _Adder) -> None:
    _, definitions = journal.decode_definitions(entry.body)
    kind = _definition_types[entry.kind]
    for definition in definitions:
        if isinstance(definition, Asset):
            add(kind, {"code": definition.code, "scale": definition.scale,
                       "number": definition.number})  # fmt: skip
        elif isinstance(definition, tuple):
            add(kind, {"name": definition[0]}, clients=frozenset({definition[0]}))
        elif isinstance(definition, Pool):
            add(kind, {"name": definition.name, "kind": definition.kind.value,
                       "terms": definition.terms.value})  # fmt: skip
        else:
            add(kind, _account_data(definition), frozenset({definition.id}))


def _account_data(account: AccountDefinition) -> dict[str, Any]:
    return {
        "id": str(account.id),
        "asset": account.asset,
        "class": account.account_class.value,
        "owner": account.owner,
        "kind": account.kind,
        "pool": account.pool,
    }
