"""Clocks: the system's, and one a test or a simulation moves by hand."""

from __future__ import annotations

import time


class SystemClock:
    def now_ns(self) -> int:
        return time.time_ns()

    def sleep_ns(self, nanoseconds: int) -> None:
        assert nanoseconds >= 0
        time.sleep(nanoseconds / 1e9)


class ManualClock:
    """Starts at ``start_ns`` and moves only when told to."""

    def __init__(self, start_ns: int = 1_700_000_000 * 10**9) -> None:
        self.time_ns = start_ns

    def now_ns(self) -> int:
        return self.time_ns

    def sleep_ns(self, nanoseconds: int) -> None:
        """Waiting is time passing: the clock moves, nobody waits."""
        self.advance(nanoseconds=nanoseconds)

    def advance(self, seconds: int = 0, nanoseconds: int = 0) -> None:
        assert seconds >= 0
        assert nanoseconds >= 0
        self.time_ns += seconds * 10**9 + nanoseconds
