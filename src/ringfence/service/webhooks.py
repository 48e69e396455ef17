"""Webhooks: subscriptions (an admin's) and their delivery, signed per Standard Webhooks.

A subscription (core/events/webhooks.py) is kept in the ``WebhookStore`` port with its secret
and its cursor. ``deliver`` is one pass of the delivery worker (``ringfence serve`` runs it
every few seconds; ``ringfence events deliver`` runs one): for each subscription that is due,
it reads the events after its cursor that it wants, posts them one at a time through the
``WebhookSender`` port, and moves the cursor after each acknowledged one, durably, before the
next; a failure schedules the retry (the same event, the same ``webhook-id``) and ends that
subscription's pass. A crash between a receiver's 2xx and the cursor's update sends that event
again: delivery is at least once, and receivers deduplicate on ``webhook-id``.

Each message is the event's JSON document (``Event.to_json``) with the headers
``webhook-id`` (the event id, ``SEQ.INDEX``), ``webhook-timestamp`` (seconds) and
``webhook-signature`` (``v1,`` + base64 of HMAC-SHA256 over ``id.timestamp.body`` with the
subscription's secret), made by the ``standardwebhooks`` reference library, so a receiver
verifies it with any Standard Webhooks library.
"""

from __future__ import annotations

import base64
import json
import secrets
from collections.abc import Callable
from contextlib import AbstractContextManager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Final
from urllib.parse import urlsplit

from standardwebhooks.webhooks import Webhook

from ringfence.core import limits
from ringfence.core.access.roles import Action, Actor, require
from ringfence.core.errors import InputError, Result, StorageError
from ringfence.core.events.catalogue import Event, Position
from ringfence.core.events.webhooks import (
    Subscription,
    check_subscription_id,
    check_types,
    delivered,
    failed,
    replayed,
    secret_bytes,
    secret_prefix,
    skipped_to,
    subscription_id_hex_digits,
)
from ringfence.service.events import Scanned, events_after, start_position
from ringfence.service.ledger import LedgerService
from ringfence.service.ports import Clock, WebhookSender, WebhookStore

__all__ = [
    "Delivered",
    "deliver",
    "locked_reader",
    "reader_of",
    "replay",
    "subscribe",
    "subscription",
    "subscriptions",
    "unsubscribe",
]

user_agent: Final = "ringfence-webhooks/1"
_subscribe_fields: Final = frozenset({"url", "types", "after"})

# Reads the events a subscription wants after its cursor: (its cursor, its filter) -> scanned.
EventReader = Callable[[Position, Callable[[Event], bool]], Scanned]


# ---------------------------------------------------------------------- subscriptions


def subscribe(
    ledger: LedgerService, store: WebhookStore, clock: Clock, actor: Actor, document: object
) -> dict[str, Any]:
    """A new subscription from ``{"url", "types", "after"?}``: its events are those after
    ``after`` (an event id or a journal sequence; the current head when not given). The answer
    holds the signing secret, shown this once."""
    require(actor, Action.manage_webhooks)
    if not isinstance(document, dict):
        raise InputError(Result.request_body_malformed, 'a JSON object {"url": ..., "types": []}')
    unknown = sorted(str(key) for key in document if key not in _subscribe_fields)
    if unknown:
        raise InputError(Result.field_unknown, ", ".join(unknown))
    url = check_url(document.get("url"))
    types = check_types(document.get("types"))
    after = document.get("after")
    if after is not None and not isinstance(after, str):
        raise InputError(Result.event_position_invalid, "after: a string, SEQ or SEQ.INDEX")
    secret = secret_prefix + base64.b64encode(secrets.token_bytes(secret_bytes)).decode("ascii")
    made = Subscription(
        secrets.token_hex(subscription_id_hex_digits // 2),
        url,
        types,
        secret,
        clock.now_ns(),
        start_position(ledger, after),
    )
    store.add(made)
    return {**made.public(), "secret": secret}


def check_url(url: object) -> str:
    """A receiver's URL: http or https, a host, no credentials (they would show in every list)
    and no fragment; printable ASCII of at most ``limits.webhook_url_length_max``."""
    if not isinstance(url, str) or not url:
        raise InputError(Result.webhook_url_invalid, "url: an http(s) URL")
    if len(url) > limits.webhook_url_length_max or not (url.isascii() and url.isprintable()):
        raise InputError(Result.webhook_url_invalid, "printable ASCII, at most 2,048 characters")
    if " " in url:
        raise InputError(Result.webhook_url_invalid, "a URL has no spaces")
    try:
        parts = urlsplit(url)
        port_ok = parts.port is None or parts.port > 0
    except ValueError as error:
        raise InputError(Result.webhook_url_invalid, str(error)) from None
    if parts.scheme not in ("http", "https") or not parts.hostname or not port_ok:
        raise InputError(Result.webhook_url_invalid, "http:// or https:// and a host")
    if parts.username is not None or parts.password is not None or parts.fragment:
        raise InputError(Result.webhook_url_invalid, "no credentials and no fragment")
    return url


def subscriptions(store: WebhookStore, actor: Actor) -> dict[str, Any]:
    require(actor, Action.manage_webhooks)
    return {"items": [found.public() for found in store.records()]}


def subscription(store: WebhookStore, actor: Actor, subscription_id: str) -> dict[str, Any]:
    require(actor, Action.manage_webhooks)
    return _found(store, subscription_id).public()


def unsubscribe(store: WebhookStore, actor: Actor, subscription_id: str) -> dict[str, Any]:
    require(actor, Action.manage_webhooks)
    if not store.remove(check_subscription_id(subscription_id)):
        raise InputError(Result.webhook_not_found, subscription_id)
    return {"ok": True, "id": subscription_id}


def replay(
    ledger: LedgerService,
    store: WebhookStore,
    actor: Actor,
    subscription_id: str,
    document: object,
) -> dict[str, Any]:
    """Deliver again from ``{"after": SEQ or SEQ.INDEX}``, now, whatever the subscription's
    state (a failing one resumes)."""
    require(actor, Action.manage_webhooks)
    if not isinstance(document, dict) or set(document) != {"after"}:
        raise InputError(Result.field_required, 'a JSON object {"after": "SEQ"}')
    after = document["after"]
    if not isinstance(after, str) or not after:
        raise InputError(Result.event_position_invalid, "after: a string, SEQ or SEQ.INDEX")
    position = start_position(ledger, after)
    for _ in range(limits.webhook_update_attempts_max):
        current = _found(store, subscription_id)
        changed = replayed(current, position)
        if store.update(changed):
            return changed.public()
    raise StorageError(f"webhook {subscription_id} kept changing under the replay; retry")


def _found(store: WebhookStore, subscription_id: str) -> Subscription:
    found = store.get(check_subscription_id(subscription_id))
    if found is None:
        raise InputError(Result.webhook_not_found, subscription_id)
    return found


# ---------------------------------------------------------------------- delivery


@dataclass(slots=True)
class Delivered:
    """What one pass did: messages acknowledged and failed, and per subscription its state."""

    acknowledged: int = 0
    failed: int = 0
    subscriptions: dict[str, str] = field(default_factory=dict)

    def to_json(self) -> dict[str, Any]:
        return {
            "ok": self.failed == 0,
            "acknowledged": self.acknowledged,
            "failed": self.failed,
            "subscriptions": self.subscriptions,
        }


def reader_of(ledger: LedgerService) -> EventReader:
    """Reads a subscription's events from ``ledger`` (the CLI's; the server reads under its
    lock, from the ledger as it stands at each read)."""

    def read(position: Position, wanted: Callable[[Event], bool]) -> Scanned:
        return events_after(
            ledger,
            position,
            wanted,
            events_max=limits.webhook_events_per_pass_max,
        )

    return read


def locked_reader(
    ledger_of: Callable[[], LedgerService], lock: AbstractContextManager[Any]
) -> EventReader:
    """Reads as ``reader_of`` does, from the ledger ``ledger_of`` gives at each read, holding
    ``lock`` (the server's: its ledger is shared with the request threads)."""

    def read(position: Position, wanted: Callable[[Event], bool]) -> Scanned:
        with lock:
            return reader_of(ledger_of())(position, wanted)

    return read


def deliver(
    read: EventReader, store: WebhookStore, sender: WebhookSender, clock: Clock
) -> Delivered:
    """One pass over every subscription that is due (see the module docstring)."""
    done = Delivered()
    for found in store.records():
        if found.due(clock.now_ns()):
            _deliver_one(found, read, store=store, sender=sender, clock=clock, done=done)
        current = store.get(found.id)
        if current is not None:
            done.subscriptions[found.id] = current.state.value
    return done


def _deliver_one(
    subscription: Subscription,
    read: EventReader,
    *,
    store: WebhookStore,
    sender: WebhookSender,
    clock: Clock,
    done: Delivered,
) -> None:
    scanned = read(subscription.position, lambda event: subscription.wants(event.type))
    current = subscription
    for event in scanned.events:
        body = json.dumps(event.to_json(), separators=(",", ":"), sort_keys=True).encode()
        headers = signed_headers(current.secret, event.id, clock.now_ns(), body)
        answer = sender.post(current.url, body, headers, limits.webhook_delivery_timeout_s)
        if answer.acknowledged:
            changed = delivered(current, event.position)
            done.acknowledged += 1
        else:
            changed = failed(current, clock.now_ns(), answer.error or f"HTTP {answer.status}")
            done.failed += 1
        if not store.update(changed):
            return  # replayed or removed meanwhile: the next pass starts from there
        current = changed
        if not answer.acknowledged:
            return
    if scanned.reached > current.position:
        store.update(skipped_to(current, scanned.reached))


def signed_headers(secret: str, message_id: str, now_ns: int, body: bytes) -> dict[str, str]:
    """The Standard Webhooks headers of one message."""
    moment = datetime.fromtimestamp(now_ns // 10**9, UTC)
    signature = Webhook(secret).sign(message_id, moment, body.decode("utf-8"))
    return {
        "content-type": "application/json",
        "user-agent": user_agent,
        "webhook-id": message_id,
        "webhook-timestamp": str(now_ns // 10**9),
        "webhook-signature": signature,
    }
