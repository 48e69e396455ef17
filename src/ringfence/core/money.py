"""The one owner of amounts.

Amounts are exact integers in an asset's minor unit (sats, wei, the stablecoin's 10^-6), with
0 <= amount < 2^128. They are plain ``int`` on the hot path; this module is the only place that
builds them from outside input (decimal strings, JSON values) and the only place that turns
them back into text. Nothing here rounds silently: input finer than the asset's scale is
rejected, and division goes through helpers that name their rounding direction.

A float or a bool is never an amount: both are refused with a named result code wherever they
appear, because a binary fraction cannot represent 0.1 BTC and ``True`` is an ``int`` in Python.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from fractions import Fraction

from ringfence.core import limits
from ringfence.core.errors import InputError, Result

_asset_code_pattern = re.compile(r"[A-Z][A-Z0-9]{0,11}\Z")
_decimal_pattern = re.compile(r"(?P<whole>[0-9]+)(?:\.(?P<fraction>[0-9]+))?\Z")


@dataclass(frozen=True, slots=True)
class Asset:
    """One asset, one ledger. ``number`` is the ledger's u32 identity in journal records."""

    code: str
    scale: int
    number: int
    chain: str = ""
    contract: str = ""

    def __post_init__(self) -> None:
        if not isinstance(self.code, str) or not _asset_code_pattern.match(self.code):
            raise InputError(Result.name_invalid, f"asset code {self.code!r}")
        if type(self.scale) is not int or not 0 <= self.scale <= limits.asset_scale_max:
            raise InputError(Result.asset_scale_invalid, f"scale {self.scale!r}")
        if type(self.number) is not int or not 0 < self.number <= limits.asset_number_max:
            raise InputError(Result.asset_number_invalid, f"number {self.number!r}")
        for text, length_max in ((self.chain, limits.name_length_max), (self.contract, 64)):
            if not isinstance(text, str) or len(text) > length_max or not text.isascii():
                raise InputError(Result.name_invalid, f"chain or contract {text!r}")
            if "\0" in text:
                raise InputError(Result.name_invalid, "chain or contract holds a zero byte")


def check_units(value: object) -> int:
    """Accept an amount already in minor units, as Python or JSON gives it, or say why not.

    Only a true ``int`` or a string of decimal digits passes; zero passes here (a balance may be
    zero) and callers that need a positive amount use ``check_transfer_units``.
    """
    if isinstance(value, float):
        raise InputError(Result.amount_must_not_be_float, repr(value))
    if isinstance(value, bool):
        raise InputError(Result.amount_must_be_decimal_string, repr(value))
    if isinstance(value, str):
        if len(value) > limits.amount_text_length_max or not value.isascii():
            raise InputError(Result.amount_must_be_decimal_string, "too long or not ASCII")
        if value.startswith("-"):
            raise InputError(Result.amount_must_not_be_negative, value)
        if not value.isdigit():
            raise InputError(Result.amount_must_be_decimal_string, repr(value))
        value = int(value)
    if type(value) is not int:
        raise InputError(Result.amount_must_be_decimal_string, type(value).__name__)
    if value < 0:
        raise InputError(Result.amount_must_not_be_negative, str(value))
    if value > limits.amount_units_max:
        raise InputError(Result.amount_must_be_below_2_128, str(value))
    return value


def check_transfer_units(value: object) -> int:
    """Minor units for a transfer: as ``check_units``, and never zero."""
    units = check_units(value)
    if units == 0:
        raise InputError(Result.amount_must_not_be_zero)
    return units


def parse_amount(text: object, asset: Asset) -> int:
    """Parse a decimal string in the asset's major unit ("1.5" BTC) into minor units.

    Refuses floats, signs, exponents, separators, empty fractions and any digit finer than the
    asset's scale; never rounds. Zero parses (callers decide whether zero is allowed).
    """
    if isinstance(text, float):
        raise InputError(Result.amount_must_not_be_float, repr(text))
    if not isinstance(text, str):
        raise InputError(Result.amount_must_be_decimal_string, type(text).__name__)
    if len(text) > limits.amount_text_length_max or not text.isascii():
        raise InputError(Result.amount_must_be_decimal_string, "too long or not ASCII")
    if text.startswith("-"):
        raise InputError(Result.amount_must_not_be_negative, text)
    match = _decimal_pattern.match(text)
    if match is None:
        raise InputError(Result.amount_must_be_decimal_string, repr(text))
    fraction = (match["fraction"] or "").rstrip("0")
    if len(fraction) > asset.scale:
        raise InputError(
            Result.amount_finer_than_asset_scale,
            f"{text} has {len(fraction)} decimals, {asset.code} has {asset.scale}",
        )
    whole: str = match["whole"]
    units: int = int(whole) * 10**asset.scale + int(fraction.ljust(asset.scale, "0") or "0")
    if units > limits.amount_units_max:
        raise InputError(Result.amount_must_be_below_2_128, text)
    return units


def format_amount(units: int, asset: Asset) -> str:
    """Minor units as a decimal string in the major unit, with trailing zeros kept to scale."""
    assert type(units) is int
    assert 0 <= units <= limits.amount_units_max
    if asset.scale == 0:
        return str(units)
    whole, fraction = divmod(units, 10**asset.scale)
    return f"{whole}.{fraction:0{asset.scale}d}"


def format_signed_amount(units: int, asset: Asset) -> str:
    """As ``format_amount`` for differences (excess, deficiency), which may be negative."""
    assert type(units) is int
    sign = "-" if units < 0 else ""
    return sign + format_amount(abs(units), asset)


def mul_div_floor(value: int, numerator: int, denominator: int) -> int:
    """value * numerator / denominator rounded down: in the client's favour for requirements
    owed by the firm, against the client for collateral the client owns."""
    assert type(value) is int
    assert type(numerator) is int
    assert type(denominator) is int
    assert denominator > 0
    return (value * numerator) // denominator


def mul_div_ceil(value: int, numerator: int, denominator: int) -> int:
    """value * numerator / denominator rounded up: against the client for requirements and
    liabilities counted in a proof (nothing owed may be understated)."""
    assert type(value) is int
    assert type(numerator) is int
    assert type(denominator) is int
    assert denominator > 0
    return -((-value * numerator) // denominator)


def units_floor(value: Fraction | int) -> int:
    """An exact rational amount of minor units (a ``Fraction`` from exact valuation) rounded
    down to whole units: never overstated."""
    assert isinstance(value, Fraction | int)
    assert not isinstance(value, bool)
    return value.numerator // value.denominator


def ppm_share_floor(value: Fraction | int, share_ppm: int) -> int:
    """``share_ppm`` parts per million of an exact amount of minor units, rounded down (as
    ``units_floor``): a margin or fee sized from a notional, never overstated."""
    assert type(share_ppm) is int
    return units_floor(Fraction(value) * share_ppm / 1_000_000)


def format_signed_units(units: int, scale: int) -> str:
    """Minor units at ``scale`` decimals as signed text, for a figure that has a scale but no
    asset of the ledger (a price, a quote amount, a sum read back from a document)."""
    assert type(units) is int
    assert type(scale) is int
    assert 0 <= scale <= max(limits.asset_scale_max, limits.price_scale_max)
    sign = "-" if units < 0 else ""
    if scale == 0:
        return f"{sign}{abs(units)}"
    whole, fraction = divmod(abs(units), 10**scale)
    return f"{sign}{whole}.{fraction:0{scale}d}"


ppm_whole = 1_000_000  # a ratio of one in millionths


def coverage_ppm_floor(funds: int, requirement: int) -> int:
    """Funds over requirement in millionths, rounded down (a coverage is never overstated);
    a whole (1,000,000) when nothing is owed. Millionths, not basis points: a day's network
    fee moves a large pool by less than one basis point."""
    assert type(funds) is int
    assert type(requirement) is int
    if requirement <= 0:
        return ppm_whole
    return mul_div_floor(funds, ppm_whole, requirement)


def format_ppm_as_percent(ppm: int) -> str:
    """Millionths as an exact percentage with four decimals: 999_950 -> "99.9950%"."""
    assert type(ppm) is int
    sign = "-" if ppm < 0 else ""
    whole, rest = divmod(abs(ppm), ppm_whole // 100)
    return f"{sign}{whole}.{rest:04d}%"


def format_quotient_floor(value: int, divisor: int, asset: Asset) -> str:
    """``value / divisor`` rounded down to the asset's minor unit, as ``format_amount`` writes it:
    a value held in finer atoms (an insolvency's value atoms) shown in the quote currency,
    never more than it is."""
    assert type(value) is int
    assert type(divisor) is int
    assert value >= 0
    assert divisor > 0
    return format_amount(value // divisor, asset)


def format_ratio_floor(numerator: int, denominator: int, places: int) -> str:
    """``numerator / denominator`` as a decimal string with ``places`` decimals, rounded down
    ("0.9000"): a recovery rate or a dividend is never overstated."""
    assert type(numerator) is int
    assert type(denominator) is int
    assert numerator >= 0
    assert denominator > 0
    assert places > 0
    whole, fraction = divmod(numerator * 10**places // denominator, 10**places)
    return f"{whole}.{fraction:0{places}d}"


def format_decimal_exact(value: int, scale: int, places_min: int) -> str:
    """``value / 10^scale`` exactly (nothing rounded), trailing zeros trimmed down to
    ``places_min`` decimals: a price per major unit with as many decimals as it needs."""
    assert type(value) is int
    assert value >= 0
    assert places_min >= 0
    whole, fraction = divmod(value, 10**scale)
    digits = f"{fraction:0{scale}d}".rstrip("0").ljust(places_min, "0")
    return f"{whole}.{digits}" if digits else str(whole)


def formatted_units(text: str) -> int:
    """The integer a decimal string written by ``format_amount`` (or a helper above) stands for,
    at the scale it was written with, exactly: strings of one scale order as these integers
    do, and a string stands for zero when this is 0."""
    assert _decimal_pattern.match(text), text
    return int(text.replace(".", ""))


def coarsen_ceil(units: int, decimals_dropped: int) -> int:
    """Units in a unit ``decimals_dropped`` decimals coarser (wei to gwei), rounded up: a
    liability counted in a proof's unit is never understated."""
    assert type(units) is int
    assert units >= 0
    assert 0 <= decimals_dropped <= limits.asset_scale_max
    divisor: int = 10**decimals_dropped
    return -(-units // divisor)


def basis_points_floor(part: int, whole: int) -> int:
    """``part`` as a share of ``whole`` in basis points (1/10,000), rounded down: a coverage
    ratio is never overstated."""
    assert type(part) is int
    assert type(whole) is int
    assert part >= 0
    assert whole > 0
    return part * 10_000 // whole


def split_pro_rata(total: int, weights: Sequence[int]) -> list[int]:
    """``total`` shared in proportion to ``weights``, in whole units, all of it.

    Each share is floor(total * weight / sum); the units left over (fewer than the number of
    participants) go one each to the largest remainders, ties to the earlier participant, so
    shares differ from the exact proportion by less than one unit and the order of the input
    alone decides. Requires 0 <= total <= sum(weights).
    """
    weight_sum = sum(weights)
    assert 0 <= total <= weight_sum
    if total == weight_sum:
        return list(weights)
    if total == 0:
        return [0] * len(weights)
    shares: list[int] = []
    remainders: list[int] = []
    for weight in weights:
        share, remainder = divmod(weight * total, weight_sum)
        shares.append(share)
        remainders.append(remainder)
    left = total - sum(shares)
    assert 0 <= left < max(len(weights), 1)
    if left:
        # sorted() is stable with reverse=True: equal remainders keep their input order.
        for index in sorted(range(len(weights)), key=remainders.__getitem__, reverse=True)[:left]:
            shares[index] += 1
    return shares


# ---------------------------------------------------------------------- amounts for reading
# A page shows an amount rounded so that a person can read it, with the exact amount beside it
# (a page's hover text and its exports). Rounding for reading keeps ``reading_places_min``
# decimals, more where needed to keep ``reading_digits_min`` significant digits (so that a
# shortfall of one satoshi never reads as zero), never more than the asset's scale.
reading_places_min = 4
reading_digits_min = 3


def reading_places(units: int, scale: int) -> int:
    """How many decimals an amount of ``units`` at ``scale`` is shown with for reading."""
    assert type(units) is int
    assert 0 <= scale <= max(limits.asset_scale_max, limits.price_scale_max)
    magnitude = abs(units)
    if magnitude == 0 or magnitude >= 10**scale:
        return min(scale, reading_places_min)
    leading_zeros = scale - len(str(magnitude))  # zeros between the point and the first digit
    return min(scale, max(reading_places_min, leading_zeros + reading_digits_min))


def format_units_half_even(units: int, scale: int, places: int) -> str:
    """Minor units at ``scale`` decimals rounded to ``places`` decimals, half to even (a
    figure for reading, never for booking: the exact amount is kept beside it)."""
    assert type(units) is int
    assert 0 <= places <= scale
    dropped = 10 ** (scale - places)
    quotient, remainder = divmod(abs(units), dropped)
    twice = 2 * remainder
    if twice > dropped or (twice == dropped and quotient % 2 == 1):
        quotient += 1
    text = format_signed_units(quotient, places)
    return "-" + text if units < 0 and quotient else text


def format_units_for_reading(units: int, scale: int) -> str:
    """An amount rounded for reading (``reading_places`` decimals, half to even)."""
    return format_units_half_even(units, scale, reading_places(units, scale))
