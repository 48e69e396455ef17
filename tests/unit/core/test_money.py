"""core/money.py: amounts are exact integers, parsed strictly, formatted losslessly, and divided
only through helpers that name their rounding direction."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from ringfence.core import limits
from ringfence.core.errors import InputError, Result
from ringfence.core.money import (
    Asset,
    check_transfer_units,
    check_units,
    format_amount,
    format_signed_amount,
    mul_div_ceil,
    mul_div_floor,
    parse_amount,
)

BTC = Asset("BTC", 8, 1)
ETH = Asset("ETH", 18, 2)
WHOLE = Asset("GEM", 0, 3)  # an asset with no minor unit
FINEST = Asset("DUST", 38, 4)  # the finest scale a u128 can carry
U128_MAX = 2**128 - 1


def refusal(call, *args: object) -> Result:
    with pytest.raises(InputError) as caught:
        call(*args)
    return caught.value.code


# ---------------------------------------------------------------------- assets


def test_asset_accepts_the_bounds_of_scale_and_number() -> None:
    assert Asset("A", 0, 1).scale == 0
    assert Asset("A1234567890B", 38, 2**32 - 1).number == 2**32 - 1


@pytest.mark.parametrize(
    ("arguments", "code"),
    [
        (("btc", 8, 1), Result.name_invalid),
        (("", 8, 1), Result.name_invalid),
        (("1BTC", 8, 1), Result.name_invalid),
        (("ABCDEFGHIJKLM", 8, 1), Result.name_invalid),  # 13 characters
        (({}, 8, 1), Result.name_invalid),  # not a string at all (a JSON object)
        (("BTC", -1, 1), Result.asset_scale_invalid),
        (("BTC", 39, 1), Result.asset_scale_invalid),
        (("BTC", True, 1), Result.asset_scale_invalid),
        (("BTC", 8, 0), Result.asset_number_invalid),
        (("BTC", 8, 2**32), Result.asset_number_invalid),
    ],
)
def test_asset_refuses_bad_definitions(arguments: tuple[object, ...], code: Result) -> None:
    assert refusal(Asset, *arguments) is code


def test_asset_refuses_a_chain_name_longer_than_a_name() -> None:
    assert refusal(Asset, "BTC", 8, 1, "c" * 33) is Result.name_invalid


@pytest.mark.parametrize(("chain", "contract"), [("bitcoïn", ""), ("", "0x\u00e9"), ("a\0b", "")])
def test_asset_refuses_a_chain_or_contract_the_journal_cannot_hold(
    chain: str, contract: str
) -> None:
    # The journal encodes chain and contract as ASCII padded with zero bytes: a non-ASCII
    # character could not be journaled, and a zero byte would be lost on decode.
    assert refusal(Asset, "BTC", 8, 1, chain, contract) is Result.name_invalid


# ---------------------------------------------------------------------- parsing


@pytest.mark.parametrize(
    ("text", "asset", "units"),
    [
        ("0", BTC, 0),
        ("1", BTC, 100_000_000),
        ("1.5", BTC, 150_000_000),
        ("0.00000001", BTC, 1),
        ("21000000.00000000", BTC, 2_100_000_000_000_000),
        ("00.10", BTC, 10_000_000),
        ("1.10000000000", BTC, 110_000_000),  # trailing zeros beyond the scale are not finer
        ("7", WHOLE, 7),
        ("7.000", WHOLE, 7),
        ("0.00000000000000000000000000000000000001", FINEST, 1),
        ("3.40282366920938463463374607431768211455", FINEST, U128_MAX),
        ("340282366920938463463.374607431768211455", ETH, U128_MAX),
        ("340282366920938463463374607431768211455", WHOLE, U128_MAX),
    ],
)
def test_parse_amount_reads_major_units_exactly(text: str, asset: Asset, units: int) -> None:
    assert parse_amount(text, asset) == units


@pytest.mark.parametrize(
    ("value", "code"),
    [
        (1.5, Result.amount_must_not_be_float),
        (0.0, Result.amount_must_not_be_float),
        (True, Result.amount_must_be_decimal_string),
        (15, Result.amount_must_be_decimal_string),  # a JSON number is never an amount
        (None, Result.amount_must_be_decimal_string),
        ("-1", Result.amount_must_not_be_negative),
        ("-0.5", Result.amount_must_not_be_negative),
        ("1e5", Result.amount_must_be_decimal_string),
        ("1E5", Result.amount_must_be_decimal_string),
        ("1.", Result.amount_must_be_decimal_string),
        (".5", Result.amount_must_be_decimal_string),
        ("", Result.amount_must_be_decimal_string),
        (" 1", Result.amount_must_be_decimal_string),
        ("1 ", Result.amount_must_be_decimal_string),
        ("1\n", Result.amount_must_be_decimal_string),
        ("1 000", Result.amount_must_be_decimal_string),
        ("1,5", Result.amount_must_be_decimal_string),
        ("1_000", Result.amount_must_be_decimal_string),
        ("+1", Result.amount_must_be_decimal_string),
        ("0x10", Result.amount_must_be_decimal_string),
        ("1.2.3", Result.amount_must_be_decimal_string),
        ("NaN", Result.amount_must_be_decimal_string),
        ("Infinity", Result.amount_must_be_decimal_string),
        ("\u0661", Result.amount_must_be_decimal_string),  # ARABIC-INDIC DIGIT ONE
        ("\uff11", Result.amount_must_be_decimal_string),  # FULLWIDTH DIGIT ONE
        ("\u00b2", Result.amount_must_be_decimal_string),  # SUPERSCRIPT TWO
        ("1" * 81, Result.amount_must_be_decimal_string),
        ("0.000000001", Result.amount_finer_than_asset_scale),
        ("1.123456789", Result.amount_finer_than_asset_scale),
        ("340282366920938463463.374607431768211456", Result.amount_must_be_below_2_128),
        ("340282366920938463464", Result.amount_must_be_below_2_128),
    ],
)
def test_parse_amount_refuses_with_a_named_code(value: object, code: Result) -> None:
    asset = ETH if isinstance(value, str) and value.startswith("3402") else BTC
    assert refusal(parse_amount, value, asset) is code


def test_parse_amount_refuses_any_fraction_for_a_whole_asset() -> None:
    assert refusal(parse_amount, "1.5", WHOLE) is Result.amount_finer_than_asset_scale
    assert refusal(parse_amount, "1.01", Asset("EUR", 1, 9)) is (
        Result.amount_finer_than_asset_scale
    )


# ---------------------------------------------------------------------- formatting


@pytest.mark.parametrize(
    ("units", "asset", "text"),
    [
        (0, BTC, "0.00000000"),
        (1, BTC, "0.00000001"),
        (150_000_000, BTC, "1.50000000"),
        (7, WHOLE, "7"),
        (U128_MAX, WHOLE, "340282366920938463463374607431768211455"),
        (U128_MAX, ETH, "340282366920938463463.374607431768211455"),
        (1, FINEST, "0.00000000000000000000000000000000000001"),
    ],
)
def test_format_amount_keeps_every_digit_to_scale(units: int, asset: Asset, text: str) -> None:
    assert format_amount(units, asset) == text


def test_format_signed_amount_shows_deficits() -> None:
    assert format_signed_amount(-150, BTC) == "-0.00000150"
    assert format_signed_amount(150, BTC) == "0.00000150"
    assert format_signed_amount(0, WHOLE) == "0"


@given(units=st.integers(0, U128_MAX), scale=st.integers(0, limits.asset_scale_max))
def test_format_then_parse_is_the_identity(units: int, scale: int) -> None:
    asset = Asset("X", scale, 1)
    assert parse_amount(format_amount(units, asset), asset) == units


@given(units=st.integers(2**128 - 10**20, U128_MAX))
def test_wei_near_two_to_the_128_round_trip(units: int) -> None:
    assert parse_amount(format_amount(units, ETH), ETH) == units


@given(whole=st.integers(0, 10**20), fraction=st.integers(0, 10**18 - 1))
def test_parse_then_format_is_the_identity_on_canonical_text(whole: int, fraction: int) -> None:
    text = f"{whole}.{fraction:018d}"
    assert format_amount(parse_amount(text, ETH), ETH) == text


# ---------------------------------------------------------------------- minor units


@pytest.mark.parametrize(("value", "units"), [(0, 0), ("0", 0), ("42", 42), (U128_MAX, U128_MAX)])
def test_check_units_accepts_ints_and_digit_strings(value: object, units: int) -> None:
    assert check_units(value) == units


@pytest.mark.parametrize(
    ("value", "code"),
    [
        (1.0, Result.amount_must_not_be_float),
        (float("nan"), Result.amount_must_not_be_float),
        (False, Result.amount_must_be_decimal_string),
        (True, Result.amount_must_be_decimal_string),
        (None, Result.amount_must_be_decimal_string),
        (b"1", Result.amount_must_be_decimal_string),
        ("1.0", Result.amount_must_be_decimal_string),
        ("1e3", Result.amount_must_be_decimal_string),
        (" 1", Result.amount_must_be_decimal_string),
        ("\u0661", Result.amount_must_be_decimal_string),
        ("", Result.amount_must_be_decimal_string),
        ("9" * 81, Result.amount_must_be_decimal_string),
        (-1, Result.amount_must_not_be_negative),
        ("-1", Result.amount_must_not_be_negative),
        (2**128, Result.amount_must_be_below_2_128),
        (str(2**128), Result.amount_must_be_below_2_128),
    ],
)
def test_check_units_refuses_with_a_named_code(value: object, code: Result) -> None:
    assert refusal(check_units, value) is code


def test_check_transfer_units_refuses_zero_only_beyond_check_units() -> None:
    assert refusal(check_transfer_units, 0) is Result.amount_must_not_be_zero
    assert refusal(check_transfer_units, "0") is Result.amount_must_not_be_zero
    assert check_transfer_units(1) == 1
    assert refusal(check_transfer_units, 1.0) is Result.amount_must_not_be_float


# ---------------------------------------------------------------------- division


@pytest.mark.parametrize(
    ("value", "numerator", "denominator", "floor", "ceil"),
    [
        (7, 1, 2, 3, 4),
        (6, 1, 2, 3, 3),
        (1, 1, 3, 0, 1),
        (0, 5, 7, 0, 0),
        (-7, 1, 2, -4, -3),
        (U128_MAX, U128_MAX, U128_MAX, U128_MAX, U128_MAX),
        (10**18, 333, 1000, 333 * 10**15, 333 * 10**15),
        (10**18 + 1, 333, 1000, 333 * 10**15, 333 * 10**15 + 1),
    ],
)
def test_mul_div_rounds_in_the_named_direction(
    value: int, numerator: int, denominator: int, floor: int, ceil: int
) -> None:
    assert mul_div_floor(value, numerator, denominator) == floor
    assert mul_div_ceil(value, numerator, denominator) == ceil


@given(
    value=st.integers(0, U128_MAX),
    numerator=st.integers(0, 10**6),
    denominator=st.integers(1, 10**6),
)
def test_floor_and_ceil_bracket_the_exact_quotient(
    value: int, numerator: int, denominator: int
) -> None:
    floor = mul_div_floor(value, numerator, denominator)
    ceil = mul_div_ceil(value, numerator, denominator)
    exact = value * numerator
    assert floor * denominator <= exact <= ceil * denominator
    assert ceil - floor == (0 if exact % denominator == 0 else 1)


def test_mul_div_refuses_a_zero_denominator() -> None:
    with pytest.raises(AssertionError):
        mul_div_floor(1, 1, 0)
    with pytest.raises(AssertionError):
        mul_div_ceil(1, 1, 0)


def test_exact_rationals_round_down_to_whole_units() -> None:
    from fractions import Fraction

    from ringfence.core.money import ppm_share_floor, units_floor

    assert units_floor(Fraction(7, 2)) == 3
    assert units_floor(Fraction(-7, 2)) == -4  # down, not towards zero
    assert units_floor(5) == 5
    assert ppm_share_floor(Fraction(130_000_001, 10), 53_500) == 695_500  # 695,500.0053...
    assert ppm_share_floor(1_000_000, 1) == 1
    assert ppm_share_floor(999_999, 1) == 0


def test_coarsen_ceil_rounds_up_and_basis_points_floor_rounds_down() -> None:
    from ringfence.core import money  # here, not above: an append merges without conflict

    assert money.coarsen_ceil(1, 9) == 1  # one wei owed counts as one gwei
    assert money.coarsen_ceil(10**9, 9) == 1
    assert money.coarsen_ceil(10**9 + 1, 9) == 2
    assert money.coarsen_ceil(0, 9) == 0
    assert money.coarsen_ceil(12_345, 0) == 12_345
    assert money.basis_points_floor(3 * 10**9, 2 * 10**9 + 1) == 14_999
    assert money.basis_points_floor(3, 2) == 15_000
    assert money.basis_points_floor(0, 7) == 0
