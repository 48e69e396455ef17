"""The event stream: the journal read from a position as typed events (core/events/
catalogue.py), for a reader (``GET /v1/events``, ``ringfence events list``) and for the
webhook delivery worker (service/webhooks.py).

Nothing is written to make an event: the committed entry is the event's only record, so an
event exists exactly when its cause is durable, and any past position can be read again.
A read examines at most ``limits.events_examined_max`` events per call (a reader's or the
worker's) and says where it stopped, so a reader whose filter matches little (a client's own
events in a busy journal) pages through the journal instead of asking the server to scan all
of it at once.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, replace
from typing import Any

from ringfence.core import limits
from ringfence.core.access.roles import Action, Actor, require, sees_account
from ringfence.core.errors import InputError, Result
from ringfence.core.events.catalogue import (
    Event,
    Position,
    View,
    entry_end,
    events_of_entry,
    expired_pending_ids,
    liquidation_transfer_ids,
    parse_position,
)
from ringfence.core.events.webhooks import check_types, matches
from ringfence.core.ledger.model import AccountDefinition
from ringfence.core.ledger.state import AccountState
from ringfence.service.ledger import LedgerService
from ringfence.service.risk_ledger import collateral_id

__all__ = ["Scanned", "events", "events_after", "start_position"]


class _Definitions(Mapping[int, AccountDefinition]):
    """The ledger's accounts as definitions, without copying them."""

    def __init__(self, accounts: Mapping[int, AccountState]) -> None:
        self._accounts = accounts

    def __getitem__(self, key: int) -> AccountDefinition:
        return self._accounts[key].definition

    def __iter__(self) -> Iterator[int]:
        return iter(self._accounts)

    def __len__(self) -> int:
        return len(self._accounts)


def view_of(ledger: LedgerService) -> View:
    """What entries are read against: accounts, assets and principals as they stand (an
    account or an asset, once defined, never changes, so today's view reads every past entry)."""
    engine = ledger.ledger
    names = {number: state.principal.name for number, state in engine.principals.by_number.items()}
    return View(
        _Definitions(engine.accounts),
        engine.assets_by_number,
        engine.assets,
        names,
        collateral_of=collateral_id,
    )


@dataclass(frozen=True, slots=True)
class Scanned:
    """Events read, and the position the scan reached (the next read starts after it)."""

    events: list[Event]
    reached: Position
    at_head: bool  # the scan reached the journal's head: nothing more to read now


def events_after(
    ledger: LedgerService,
    position: Position,
    wanted: Callable[[Event], bool],
    *,
    events_max: int,
    examined_max: int = limits.events_examined_max,
) -> Scanned:
    """At most ``events_max`` events after ``position`` that ``wanted`` accepts, examining at
    most ``examined_max`` events (an entry is read whole: at most one batch past it)."""
    assert events_max > 0
    assert examined_max > 0
    view = view_of(ledger)
    found: list[Event] = []
    reached = position
    examined = 0
    whole = position.index == entry_end  # "after entry SEQ", not after one of its events
    head = ledger.seq  # what the loaded view can read; a later writer's entries wait for a reload
    for entry in ledger.store.entries(after_seq=position.seq if whole else position.seq - 1):
        if entry.seq > head:
            break
        for event in events_of_entry(entry, _with_pending_sides(ledger, view, entry)):
            if event.position <= position:
                continue
            if examined == examined_max:
                return Scanned(found, reached, at_head=False)
            examined += 1
            reached = event.position
            if wanted(event):
                found.append(event)
                if len(found) == events_max:
                    return Scanned(found, event.position, at_head=False)
        reached = Position(entry.seq)
    return Scanned(found, reached, at_head=True)


def _with_pending_sides(ledger: LedgerService, view: View, entry: Any) -> View:
    """The view with what the entry's events need looked up: an expiry's two accounts, a
    liquidation round's transfers."""
    pending = expired_pending_ids(entry)
    if pending:
        records = ledger.store.transfers(pending)
        sides = {i: (r.debit_account, r.credit_account) for i, r in records.items()}
        return replace(view, pending_sides=sides)
    liquidation = liquidation_transfer_ids(entry)
    if liquidation:
        return replace(view, round_transfers=ledger.store.transfers(liquidation))
    return view


def sees_event(ledger: LedgerService, actor: Actor | None, event: Event) -> bool:
    """Staff (and the command line: None) see every event; a client those about one of its
    own accounts, or itself."""
    if actor is None or not actor.is_client:
        return True
    if actor.client in event.clients:
        return True
    accounts = ledger.ledger.accounts
    return any(
        (state := accounts.get(account_id)) is not None and sees_account(actor, state.definition)
        for account_id in event.accounts
    )


def start_position(ledger: LedgerService, text: str | None) -> Position:
    """A reader's or a subscription's start: an event id or a journal sequence (after it),
    at most the journal's head; the head itself when not given (only what comes next)."""
    head = ledger.seq
    if text is None or text == "":
        return Position(head)
    position = parse_position(text)
    if position.seq > head:
        raise InputError(Result.event_position_beyond_journal, f"{text}: the head is {head}")
    return position


def events(
    ledger: LedgerService,
    actor: Actor | None,
    *,
    after: str | None = None,
    types: str = "",
    limit: int | None = None,
) -> dict[str, Any]:
    """Events after ``after`` (an event id or a journal sequence; from the start when not
    given), oldest first, of the ``types`` given (comma-separated types, ``family.*`` or
    ``*``; all when empty), that the actor may see (the command line, None, sees all).
    ``next_cursor`` is where to go on from (pass it back as ``after``); it is null once the
    page reached the journal's head."""
    if actor is not None:
        require(actor, Action.read_events)
    size = limits.api_page_size_default if limit is None else limit
    if not 0 < size <= limits.api_page_size_max:
        raise InputError(Result.page_size_too_large, f"limit {size}: 1..{limits.api_page_size_max}")
    position = start_position(ledger, after) if after else Position(0)
    chosen = check_types(types.split(",")) if types else ("*",)

    def wanted(event: Event) -> bool:
        return matches(chosen, event.type) and sees_event(ledger, actor, event)

    scanned = events_after(ledger, position, wanted, events_max=size)
    return {
        "items": [event.to_json() for event in scanned.events],
        "next_cursor": None if scanned.at_head else scanned.reached.text,
        "head": str(ledger.seq),
    }
