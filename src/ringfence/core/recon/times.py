"""The times an operator gives a reconciliation or a statement, as nanoseconds since the epoch.

A time is nanoseconds as digits, an ISO-8601 time with its zone (``2026-11-20T17:00:00Z``) or a
date. A date given as an end (``--as-of``, ``--to``: ``end_of_day``) means the last nanosecond
of that day, the close of business in UTC, so that a statement covers the whole day; given as a
start (``--from``), its first. A time without a zone is refused: guessing one would shift a
statement by hours. Every defect is ``timestamp_invalid`` naming the option.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

from ringfence.core import limits
from ringfence.core.errors import InputError, Result

_date_length = len("2026-11-20")


def parse_time(text: str | None, what: str, end_of_day: bool = False) -> int | None:
    """Nanoseconds for a time option (``what`` names it in errors); None when not given."""
    if text is None:
        return None
    if text.isdigit():
        value = int(text)
    else:
        try:
            value = _parse_calendar_time(text, end_of_day)
        except ValueError:
            raise InputError(Result.timestamp_invalid, f"{what} {text!r}") from None
    if not 0 <= value <= limits.timestamp_ns_max:
        raise InputError(Result.timestamp_invalid, f"{what} {text!r}")
    return value


def _parse_calendar_time(text: str, end_of_day: bool) -> int:
    if len(text) == _date_length:
        day = date.fromisoformat(text)
        moment = datetime(day.year, day.month, day.day, tzinfo=UTC)
        if end_of_day:
            moment += timedelta(days=1)
        return int(moment.timestamp()) * 10**9 - (1 if end_of_day else 0)
    moment = datetime.fromisoformat(text.replace("Z", "+00:00"))
    if moment.tzinfo is None:
        raise ValueError("no time zone")
    return int(moment.timestamp()) * 10**9 + moment.microsecond * 1_000
