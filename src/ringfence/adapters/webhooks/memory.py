"""Webhook subscriptions in memory (tests, and ``memory://`` ledgers)."""

from __future__ import annotations

import threading

from ringfence.core import limits
from ringfence.core.errors import InputError, Result
from ringfence.core.events.webhooks import Subscription


class MemoryWebhookStore:
    def __init__(self) -> None:
        self._subscriptions: dict[str, Subscription] = {}
        self._lock = threading.Lock()

    def add(self, subscription: Subscription) -> None:
        with self._lock:
            if len(self._subscriptions) >= limits.webhook_subscriptions_max:
                raise InputError(
                    Result.webhook_subscriptions_exceeded,
                    f"at most {limits.webhook_subscriptions_max}",
                )
            assert subscription.id not in self._subscriptions
            self._subscriptions[subscription.id] = subscription

    def get(self, subscription_id: str) -> Subscription | None:
        with self._lock:
            return self._subscriptions.get(subscription_id)

    def records(self) -> list[Subscription]:
        with self._lock:
            found = list(self._subscriptions.values())
        return sorted(found, key=lambda s: (s.created_at_ns, s.id))

    def update(self, subscription: Subscription) -> bool:
        with self._lock:
            stored = self._subscriptions.get(subscription.id)
            if stored is None or stored.version != subscription.version - 1:
                return False
            self._subscriptions[subscription.id] = subscription
            return True

    def remove(self, subscription_id: str) -> bool:
        with self._lock:
            return self._subscriptions.pop(subscription_id, None) is not None

    def close(self) -> None:
        return None
