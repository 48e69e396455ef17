"""Instruments, margin buckets and positions, with exact per-lot values.

A price is an integer ``price_units`` with the instrument's ``price_scale`` (BTC at 65,000.5
USD with scale 1 is 650,005); a decimal string is parsed exactly and refused when finer than
the tick. A contract's size is an integer with its own scale. Values are exact ``Fraction``s of
the settlement asset's minor unit, so that settlement is exact; the scan uses float64 copies.

Per lot, at price P (quote per base) and for a settlement asset of scale ``ss``:

- linear (spot, perpetual, future settled in the quote): ``size x P x 10^ss``
- inverse (coin-margined, settled in the base): ``-(value / P) x 10^ss``, where ``value`` is the
  contract's face in the quote (1 USD, 100 USD): long P&L is ``value x (1/E - 1/P)``
- option: ``size x premium x 10^ss``, the premium quoted in the settlement asset per unit of
  underlying (in coin on coin-settled venues, as Deribit does)
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from enum import StrEnum, unique
from fractions import Fraction

from ringfence.core import limits
from ringfence.core.errors import InputError, Result
from ringfence.core.ledger.model import check_name

_decimal_pattern = re.compile(r"(?P<whole>[0-9]+)(?:\.(?P<fraction>[0-9]+))?\Z")
_bucket_pattern = re.compile(r"[a-z0-9][a-z0-9_.-]{0,20}\Z")


@unique
class InstrumentKind(StrEnum):
    spot = "spot"
    perpetual = "perpetual"
    future = "future"
    option = "option"


@unique
class OptionType(StrEnum):
    call = "call"
    put = "put"


@unique
class MarginMode(StrEnum):
    """The three kinds of bucket (DESIGN.md §5); nothing nets across buckets."""

    isolated = "isolated"  # one position
    cross = "cross"  # one per client per settlement asset
    portfolio = "portfolio"  # one per client per underlying


@dataclass(frozen=True, slots=True)
class Instrument:
    """One tradable market. ``symbol`` names its clearing and insurance accounts."""

    symbol: str
    kind: InstrumentKind
    underlying: str  # the index it follows, e.g. ``btc``
    settlement: str  # the asset code its P&L and margin are paid in, e.g. ``USDT``
    settlement_scale: int
    price_scale: int
    tick_units: int
    size_units: int  # linear and options: underlying per lot; inverse: quote face per lot
    size_scale: int = 0
    inverse: bool = False
    tiers: str = "linear"
    expiry_ns: int = 0  # futures and options
    strike_units: int = 0  # options, in price units of the underlying
    strike_scale: int = 0
    option_type: OptionType | None = None

    def __post_init__(self) -> None:
        check_name(self.symbol, "instrument")
        check_name(self.underlying, "underlying")
        for name in ("settlement_scale", "price_scale", "size_scale", "strike_scale"):
            value = getattr(self, name)
            if type(value) is not int or not 0 <= value <= limits.asset_scale_max:
                raise InputError(Result.instrument_invalid, f"{name} {value!r}")
        for name in ("tick_units", "size_units"):
            value = getattr(self, name)
            if type(value) is not int or not 0 < value < 2**63:
                raise InputError(Result.instrument_invalid, f"{name} {value!r}")
        if self.price_scale > limits.price_scale_max:
            raise InputError(Result.instrument_invalid, "price_scale")
        is_option = self.kind is InstrumentKind.option
        if is_option != (self.option_type is not None) or is_option != (self.strike_units > 0):
            raise InputError(Result.instrument_invalid, "options, and only options, have a "
                             "type and a strike")
        dated = self.kind in (InstrumentKind.future, InstrumentKind.option)
        if dated != (self.expiry_ns > 0):
            raise InputError(Result.instrument_invalid, "futures and options, and only they, "
                             "expire")
        if self.inverse and self.kind not in (InstrumentKind.perpetual, InstrumentKind.future):
            raise InputError(Result.instrument_invalid, "only futures and perpetuals are inverse")

    @property
    def size(self) -> Fraction:
        return Fraction(self.size_units, 10**self.size_scale)

    @property
    def strike(self) -> Fraction:
        return Fraction(self.strike_units, 10**self.strike_scale)

    def price(self, price_units: int) -> Fraction:
        """A price in quote per base (options: premium in settlement per underlying)."""
        return Fraction(price_units, 10**self.price_scale)

    def lot_value(self, price_units: int) -> Fraction:
        """One lot's value at a price, in exact minor units of the settlement asset."""
        assert type(price_units) is int
        assert price_units > 0
        minor = 10**self.settlement_scale
        price = self.price(price_units)
        value: Fraction = -self.size * minor / price if self.inverse else self.size * price * minor
        return value

    def notional(self, quantity_lots: int, price_units: int) -> Fraction:
        """What a position is worth in the settlement asset's minor units, unsigned."""
        return abs(quantity_lots * self.lot_value(price_units))


@dataclass(frozen=True, slots=True)
class Bucket:
    """A margin bucket: a ring-fence whose collateral is one ledger account.

    ``scope`` is the instrument symbol (isolated), the settlement asset code (cross) or the
    underlying (portfolio).
    """

    name: str
    client: str
    mode: MarginMode
    settlement: str
    scope: str

    def __post_init__(self) -> None:
        if not isinstance(self.name, str) or not _bucket_pattern.match(self.name):
            raise InputError(Result.bucket_invalid, f"bucket name {self.name!r}")
        assert len(self.name) <= limits.bucket_name_length_max
        check_name(self.client, "client")
        if self.mode is MarginMode.cross and self.scope != self.settlement:
            raise InputError(Result.bucket_invalid, "a cross bucket's scope is its settlement")

    @property
    def account_kind(self) -> str:
        return f"collateral:{self.name}"

    def admits(self, instrument: Instrument) -> Result | None:
        """None if a position in ``instrument`` may live in this bucket, else why not."""
        if instrument.settlement != self.settlement:
            return Result.instrument_not_allowed_in_bucket
        if self.mode is MarginMode.isolated and instrument.symbol != self.scope:
            return Result.instrument_not_allowed_in_bucket
        if self.mode is MarginMode.portfolio and instrument.underlying != self.scope:
            return Result.instrument_not_allowed_in_bucket
        return None


@dataclass(frozen=True, slots=True)
class Position:
    """Lots held (signed: long positive) and the exact value they were settled at last.

    ``basis`` is ``Σ quantity x lot_value(price)`` over fills since the last settlement plus
    the settled value; a settlement at price X pays ``quantity x lot_value(X) - basis`` and
    resets the basis to ``quantity x lot_value(X)``. A closed position (zero lots) may still
    carry a basis: its realised P&L, paid at the next settlement.
    """

    bucket: str
    symbol: str
    quantity_lots: int
    basis: Fraction

    def __post_init__(self) -> None:
        assert type(self.quantity_lots) is int
        assert abs(self.quantity_lots) <= limits.quantity_lots_max


def parse_price(text: object, instrument: Instrument) -> int:
    """A decimal string (or int price units) as price units, refused if finer than the tick."""
    if isinstance(text, (bool, float)):
        raise InputError(Result.price_invalid, f"{text!r}: prices are decimal strings")
    if isinstance(text, int):
        units = text
    else:
        if not isinstance(text, str) or len(text) > limits.amount_text_length_max:
            raise InputError(Result.price_invalid, repr(text))
        match = _decimal_pattern.match(text)
        if match is None:
            raise InputError(Result.price_invalid, repr(text))
        fraction = (match["fraction"] or "").rstrip("0")
        if len(fraction) > instrument.price_scale:
            raise InputError(Result.price_finer_than_tick, f"{text} for {instrument.symbol}")
        scale = instrument.price_scale
        units = int(match["whole"]) * 10**scale + int(fraction.ljust(scale, "0") or "0")
    if units <= 0 or units >= 2**63:
        raise InputError(Result.price_invalid, f"{text!r} must be positive")
    if units % instrument.tick_units:
        raise InputError(Result.price_finer_than_tick, f"{text} for {instrument.symbol}")
    return units


def format_price(units: int, scale: int) -> str:
    assert type(units) is int
    if scale == 0:
        return str(units)
    sign = "-" if units < 0 else ""
    whole, fraction = divmod(abs(units), 10**scale)
    return f"{sign}{whole}.{fraction:0{scale}d}"


def check_quantity(value: object) -> int:
    """Signed lots: a true int, not zero, within the limit."""
    if type(value) is not int or value == 0 or abs(value) > limits.quantity_lots_max:
        raise InputError(Result.quantity_invalid, repr(value))
    return value
