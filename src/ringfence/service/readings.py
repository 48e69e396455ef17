"""Amounts and ratios as a page shows them to a person: rounded for reading, with the exact
figure kept beside them (hover text, exports). Pages import no core, so the rounding rules of
core/money.py reach them through here.
"""

from __future__ import annotations

from ringfence.core.money import (
    coverage_ppm_floor,
    format_ppm_as_percent,
    format_signed_units,
    format_units_for_reading,
    formatted_units,
)

__all__ = [
    "coverage_ppm", "exact_of_units", "percent_text", "reading_of", "reading_of_units",
    "units_and_scale",
]  # fmt: skip


def units_and_scale(exact: str) -> tuple[int, int]:
    """A document's decimal string (``-12.50``) as signed minor units and its scale."""
    negative = exact.startswith("-")
    text = exact[1:] if negative else exact
    _, _, fraction = text.partition(".")
    units = formatted_units(text)
    return (-units if negative else units), len(fraction)


def reading_of(exact: str) -> str:
    """A document's exact decimal string rounded for reading (core/money.py's rule: at least
    four decimals' worth of precision, three significant digits, half to even)."""
    units, scale = units_and_scale(exact)
    return format_units_for_reading(units, scale)


def reading_of_units(units: int, scale: int) -> str:
    """Signed minor units at ``scale`` rounded for reading (a sum or a chart's tick)."""
    return format_units_for_reading(units, scale)


def exact_of_units(units: int, scale: int) -> str:
    """Signed minor units at ``scale`` written exactly."""
    return format_signed_units(units, scale)


def coverage_ppm(funds: int, requirement: int) -> int:
    """Funds over requirement in millionths, rounded down; a whole when nothing is owed."""
    return coverage_ppm_floor(funds, requirement)


def percent_text(ppm: int) -> str:
    """Millionths as a percentage with four decimals (``99.9878%``)."""
    return format_ppm_as_percent(ppm)
