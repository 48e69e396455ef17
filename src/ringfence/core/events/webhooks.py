"""Webhook subscriptions and the rules of delivering to them.

A subscription names a receiver's URL, the event types it wants (``transfer.posted``, a family
``break.*``, or ``*``), its signing secret (Standard Webhooks' ``whsec_`` + base64 of 24
random bytes: shown once, when made) and where its delivery stands: the position of the last
event it acknowledged, how many times in a row the next one failed, and when to try again.

Delivery is at least once and in journal order per subscription: an event is retried until
the receiver answers 2xx, and the next is not sent before it (a receiver sees the stream as
the journal wrote it, and a receiver that is down holds back only its own deliveries). Retries
follow Standard Webhooks' recommended schedule (``retry_delays_s``: 5 s, 5 min, 30 min, 2 h,
5 h, 10 h, 10 h, about 28 hours in all); after the last, the subscription is ``failing`` and
nothing more is sent until an admin replays it from a position. An event is never skipped:
a failing subscription resumes from the event that failed.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, replace
from enum import StrEnum, unique
from typing import Final

from ringfence.core import limits
from ringfence.core.errors import InputError, Result
from ringfence.core.events.catalogue import EventType, Position

__all__ = [
    "Subscription",
    "SubscriptionState",
    "check_types",
    "failed",
    "matches",
    "retry_delays_s",
]

secret_prefix: Final = "whsec_"
secret_bytes: Final = 24
subscription_id_hex_digits: Final = 16
# Standard Webhooks' recommended schedule: the delay before each retry after a failure.
retry_delays_s: Final = (5, 5 * 60, 30 * 60, 2 * 3600, 5 * 3600, 10 * 3600, 10 * 3600)
attempts_max: Final = len(retry_delays_s) + 1
_families: Final = frozenset(kind.value.split(".")[0] for kind in EventType)
_id_pattern: Final = re.compile(r"[0-9a-f]{16}")


@unique
class SubscriptionState(StrEnum):
    active = "active"
    failing = "failing"  # every retry of one event failed: waits for a replay


@dataclass(frozen=True, slots=True)
class Subscription:
    id: str
    url: str
    types: tuple[str, ...]
    secret: str
    created_at_ns: int
    position: Position  # after the last event acknowledged (or skipped by the type filter)
    state: SubscriptionState = SubscriptionState.active
    attempts: int = 0  # consecutive failures of the event after ``position``
    next_attempt_ns: int = 0
    last_error: str = ""
    delivered: int = 0
    version: int = 0  # bumped by every change: concurrent changes never overwrite each other

    def __post_init__(self) -> None:
        assert _id_pattern.fullmatch(self.id), self.id
        assert self.secret.startswith(secret_prefix)
        assert 0 <= self.attempts <= attempts_max
        assert len(self.last_error) <= limits.webhook_error_text_max

    def due(self, now_ns: int) -> bool:
        return self.state is SubscriptionState.active and self.next_attempt_ns <= now_ns

    def wants(self, kind: EventType) -> bool:
        return matches(self.types, kind)

    def public(self) -> dict[str, object]:
        """What a list shows: everything but the secret."""
        return {
            "id": self.id,
            "url": self.url,
            "types": list(self.types),
            "created_at_ns": str(self.created_at_ns),
            "position": self.position.text,
            "state": self.state.value,
            "attempts": self.attempts,
            "next_attempt_ns": str(self.next_attempt_ns),
            "last_error": self.last_error or None,
            "delivered": self.delivered,
        }


def check_subscription_id(text: str) -> str:
    if not _id_pattern.fullmatch(text):
        raise InputError(Result.webhook_not_found, repr(text[:32]))
    return text


def check_types(types: object) -> tuple[str, ...]:
    """The event types a subscription asks for: known types, families (``break.*``) or
    ``*``; at least one, at most ``limits.webhook_types_max``, no repeats."""
    if not isinstance(types, list) or not types:
        raise InputError(Result.field_required, 'types: a list of event types, or ["*"]')
    if len(types) > limits.webhook_types_max:
        raise InputError(Result.event_type_unknown, f"at most {limits.webhook_types_max} types")
    known = {kind.value for kind in EventType}
    for pattern in types:
        if not isinstance(pattern, str) or not (
            pattern == "*"
            or pattern in known
            or (pattern.endswith(".*") and pattern[:-2] in _families)
        ):
            raise InputError(Result.event_type_unknown, repr(pattern)[:64])
    if len(set(types)) != len(types):
        raise InputError(Result.event_type_unknown, "a type is listed twice")
    return tuple(types)


def matches(types: tuple[str, ...], kind: EventType) -> bool:
    family = kind.value.split(".")[0] + ".*"
    return any(pattern in ("*", kind.value, family) for pattern in types)


def delivered(subscription: Subscription, position: Position) -> Subscription:
    """The event at ``position`` was acknowledged (2xx): the next one is due now."""
    assert position > subscription.position
    return replace(
        subscription,
        position=position,
        attempts=0,
        next_attempt_ns=0,
        last_error="",
        delivered=subscription.delivered + 1,
        version=subscription.version + 1,
    )


def skipped_to(subscription: Subscription, position: Position) -> Subscription:
    """Nothing it wants up to ``position``: its cursor moves on without a delivery."""
    assert position >= subscription.position
    return replace(subscription, position=position, version=subscription.version + 1)


def failed(subscription: Subscription, now_ns: int, error: str) -> Subscription:
    """The next event failed again: retry after the schedule's next delay, or stop (failing)
    once every retry was spent."""
    attempts = subscription.attempts + 1
    assert attempts <= attempts_max
    text = error[: limits.webhook_error_text_max]
    if attempts == attempts_max:
        return replace(
            subscription,
            attempts=attempts,
            state=SubscriptionState.failing,
            last_error=text,
            version=subscription.version + 1,
        )
    delay_ns = retry_delays_s[attempts - 1] * 10**9
    return replace(
        subscription,
        attempts=attempts,
        next_attempt_ns=now_ns + delay_ns,
        last_error=text,
        version=subscription.version + 1,
    )


def replayed(subscription: Subscription, position: Position) -> Subscription:
    """Deliver again from ``position`` (an admin's replay), now, whatever its state."""
    return replace(
        subscription,
        position=position,
        state=SubscriptionState.active,
        attempts=0,
        next_attempt_ns=0,
        last_error="",
        version=subscription.version + 1,
    )
