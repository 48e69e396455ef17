"""core/money.py: amounts rounded for reading. The rounding is half to even, as Python's
``Decimal`` does it; a non-zero amount never reads as zero (three significant digits are
kept); an amount is never shown with more decimals than its asset has."""

from __future__ import annotations

from decimal import ROUND_HALF_EVEN, Decimal, localcontext

from hypothesis import given
from hypothesis import strategies as st

from ringfence.core.money import (
    format_units_for_reading,
    format_units_half_even,
    reading_digits_min,
    reading_places,
    reading_places_min,
)

# Amounts reach 2^128 (39 digits), more than the default context's 28: each test widens its own.
precision = 80
units = st.integers(min_value=-(2**128) + 1, max_value=2**128 - 1)
scales = st.integers(min_value=0, max_value=18)


@given(units, scales, st.data())
def test_rounding_is_half_to_even_as_decimal_does_it(value: int, scale: int, data) -> None:
    places = data.draw(st.integers(min_value=0, max_value=scale))
    with localcontext(prec=precision):
        check_half_even(value, scale, places)


def check_half_even(value: int, scale: int, places: int) -> None:
    exact = Decimal(value).scaleb(-scale)
    expected = exact.quantize(Decimal(1).scaleb(-places), rounding=ROUND_HALF_EVEN)
    shown = format_units_half_even(value, scale, places)
    assert Decimal(shown) == expected
    assert len(shown.partition(".")[2]) == places


@given(units, scales)
def test_a_reading_never_hides_an_amount_and_never_invents_decimals(value: int, scale: int) -> None:
    with localcontext(prec=precision):
        check_reading(value, scale)


def check_reading(value: int, scale: int) -> None:
    places = reading_places(value, scale)
    assert places <= scale
    assert places >= min(scale, reading_places_min)
    shown = format_units_for_reading(value, scale)
    if value != 0:
        assert Decimal(shown) != 0
        digits = str(abs(int(Decimal(shown).scaleb(places))))
        assert len(digits) >= min(reading_digits_min, len(str(abs(value))))
    # Rounding moves an amount by at most half a unit of the last decimal shown.
    error = abs(Decimal(shown) - Decimal(value).scaleb(-scale))
    assert error <= Decimal(5).scaleb(-places - 1)


def test_what_a_person_reads() -> None:
    assert format_units_for_reading(21_212 * 10**8, 8) == "21212.0000"
    assert format_units_for_reading(-259_000_000, 8) == "-2.5900"
    assert format_units_for_reading(1, 8) == "0.00000001"
    assert format_units_for_reading(12_345, 8) == "0.000123"
    assert format_units_for_reading(1_234_567_890_123_456_789, 18) == "1.2346"
    assert format_units_for_reading(125, 2) == "1.25"
    assert format_units_half_even(-4, 8, 4) == "0.0000"  # no "-0"
    assert format_units_half_even(25, 2, 1) == "0.2"
    assert format_units_half_even(35, 2, 1) == "0.4"
