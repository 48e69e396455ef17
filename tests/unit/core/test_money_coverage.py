"""core/money.py's helpers for figures read back from documents: coverage in millionths rounded
down, an exact percentage of it, and minor units at a scale with no asset."""

from __future__ import annotations

from ringfence.core.money import coverage_ppm_floor, format_ppm_as_percent, format_signed_units


def test_coverage_is_exact_millionths_rounded_down() -> None:
    assert coverage_ppm_floor(1, 3) == 333_333
    assert coverage_ppm_floor(2, 3) == 666_666  # never 666,667: coverage is not overstated
    assert coverage_ppm_floor(5, 0) == 1_000_000  # nothing owed: covered
    assert coverage_ppm_floor(10**30 + 1, 10**30) == 1_000_000


def test_percentages_and_units_are_exact_text() -> None:
    assert format_ppm_as_percent(999_950) == "99.9950%"
    assert format_ppm_as_percent(-5) == "-0.0005%"
    assert format_signed_units(-150_000_001, 8) == "-1.50000001"
    assert format_signed_units(42, 0) == "42"
