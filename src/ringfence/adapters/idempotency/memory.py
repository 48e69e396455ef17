"""Remembered answers in memory, the most recent ``limits.idempotency_responses_max``: for
``memory://`` ledgers and tests (a restart forgets them)."""

from __future__ import annotations

import threading
from collections import OrderedDict

from ringfence.core import limits
from ringfence.service.ports import RememberedResponse


class MemoryIdempotencyStore:
    def __init__(self) -> None:
        self._responses: OrderedDict[tuple[str, str], RememberedResponse] = OrderedDict()
        self._lock = threading.Lock()

    def find(self, principal: str, key: str) -> RememberedResponse | None:
        with self._lock:
            return self._responses.get((principal, key))

    def keep(self, principal: str, key: str, response: RememberedResponse) -> None:
        with self._lock:
            self._responses.setdefault((principal, key), response)
            while len(self._responses) > limits.idempotency_responses_max:
                self._responses.popitem(last=False)

    def close(self) -> None:
        return None
