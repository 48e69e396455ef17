"""core/money.py's formatting helpers that name their rounding (or say they do not round):
values in finer atoms, ratios, exact prices, and formatted strings read back for ordering."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from ringfence.core.money import (
    Asset,
    format_amount,
    format_decimal_exact,
    format_quotient_floor,
    format_ratio_floor,
    formatted_units,
)

USD = Asset("USD", 2, 1)


@pytest.mark.parametrize(
    ("value", "divisor", "text"),
    [(0, 10**16, "0.00"), (10**16 - 1, 10**16, "0.00"), (123 * 10**16 + 7, 10**16, "1.23")],
)
def test_a_quotient_is_rounded_down_to_the_minor_unit(value: int, divisor: int, text: str) -> None:
    assert format_quotient_floor(value, divisor, USD) == text


@given(value=st.integers(0, 10**40), divisor=st.integers(1, 10**20))
def test_a_quotient_is_never_more_than_it_is(value: int, divisor: int) -> None:
    shown = formatted_units(format_quotient_floor(value, divisor, USD))
    assert shown * divisor <= value < (shown + 1) * divisor


@pytest.mark.parametrize(
    ("numerator", "denominator", "text"),
    [(0, 7, "0.0000"), (9, 10, "0.9000"), (2, 3, "0.6666"), (1, 1, "1.0000"), (5, 2, "2.5000")],
)
def test_a_ratio_is_rounded_down(numerator: int, denominator: int, text: str) -> None:
    assert format_ratio_floor(numerator, denominator, 4) == text


def test_a_ratio_refuses_a_zero_denominator() -> None:
    with pytest.raises(AssertionError):
        format_ratio_floor(1, 0, 4)


@pytest.mark.parametrize(
    ("value", "scale", "places_min", "text"),
    [
        (64_000 * 10**18, 18, 2, "64000.00"),
        (1_234_567_891_234_567_891, 18, 2, "1.234567891234567891"),
        (15 * 10**17, 18, 0, "1.5"),
        (7 * 10**18, 18, 0, "7"),
        (12, 0, 0, "12"),
    ],
)
def test_an_exact_decimal_keeps_every_digit_it_needs(
    value: int, scale: int, places_min: int, text: str
) -> None:
    assert format_decimal_exact(value, scale, places_min) == text


@given(units=st.integers(0, 2**128 - 1), scale=st.integers(0, 38))
def test_formatted_units_read_back_what_format_amount_wrote(units: int, scale: int) -> None:
    assert formatted_units(format_amount(units, Asset("X", scale, 1))) == units


def test_formatted_units_refuses_what_no_formatter_writes() -> None:
    with pytest.raises(AssertionError):
        formatted_units("-1.00")
