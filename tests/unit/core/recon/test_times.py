"""core/recon/times.py: the times an operator gives, as exact nanoseconds."""

from __future__ import annotations

import pytest

from ringfence.core.errors import InputError, Result
from ringfence.core.recon.times import parse_time

DAY_NS = 86_400 * 10**9
NOV_20_NS = 1_795_132_800 * 10**9  # 2026-11-20T00:00:00Z


def test_a_date_is_its_start_or_its_last_nanosecond() -> None:
    assert parse_time("2026-11-20", "--from") == NOV_20_NS
    assert parse_time("2026-11-20", "--to", end_of_day=True) == NOV_20_NS + DAY_NS - 1


def test_digits_and_iso_times_are_exact() -> None:
    assert parse_time("17", "--as-of") == 17
    assert parse_time("2026-11-20T00:00:01.5Z", "--as-of") == NOV_20_NS + 1_500_000_000
    assert parse_time("2026-11-20T01:00:00+01:00", "--as-of") == NOV_20_NS
    assert parse_time(None, "--as-of") is None


@pytest.mark.parametrize("text", ["2026-11-20T17:00:00", "yesterday", "2026-13-01", "9" * 20])
def test_a_time_without_a_zone_or_out_of_range_is_refused_by_name(text: str) -> None:
    with pytest.raises(InputError) as refused:
        parse_time(text, "--as-of")
    assert refused.value.code is Result.timestamp_invalid
    assert "--as-of" in refused.value.detail
