"""Fills into positions, and a settlement cycle's payments, exactly.

A fill adds ``lots x lot_value(price)`` to its position's basis. A settlement at the mark X
pays each position ``lots x lot_value(X) - basis`` (variation margin: realised and unrealised
P&L alike) and resets the basis, so a closed position's realised P&L is paid at the next
cycle. Every trade has a buyer and a seller at one price, so over a market the lots sum to zero
and so do the exact payments: the clearing account nets to zero. Each payment is rounded
against its client (gains down, losses up); the residue, never negative, belongs to the
market's insurance fund. Funding is ``-lots x |lot_value(mark)| x rate``: longs pay shorts
when the rate is positive, and it too sums to zero over the market.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace
from fractions import Fraction

from ringfence.core import limits
from ringfence.core.errors import InputError, Result
from ringfence.core.risk.instruments import Instrument, Position, check_quantity
from ringfence.core.risk.rounding import against_client


@dataclass(frozen=True, slots=True)
class Fill:
    """One execution from the venue's matching engine, for one side (one bucket)."""

    id: int  # the venue's fill id for this side, u128, never zero
    bucket: str
    symbol: str
    quantity_lots: int  # signed: bought positive
    price_units: int
    fee_units: int = 0  # minor units of the settlement asset, charged to the bucket

    def __post_init__(self) -> None:
        if type(self.id) is not int or not 0 < self.id <= limits.id_max:
            raise InputError(Result.id_must_be_integer, f"fill id {self.id!r}")
        check_quantity(self.quantity_lots)
        if type(self.price_units) is not int or self.price_units <= 0:
            raise InputError(Result.price_invalid, repr(self.price_units))
        if type(self.fee_units) is not int or not 0 <= self.fee_units <= limits.amount_units_max:
            raise InputError(Result.amount_must_not_be_negative, f"fee {self.fee_units!r}")


def apply_fill(
    position: Position | None, fill: Fill, instrument: Instrument,
    lot_value: Fraction | None = None,
) -> Position:
    """The position after a fill: lots added, basis grown by the fill's exact value.
    ``lot_value``: ``instrument.lot_value(fill.price_units)``, when the caller has it (a group
    of fills at a few prices computes each once).

    A whole lot value (a linear contract whose settlement scale covers its size and price
    scales) and a whole basis are added as integers: the same exact value as the
    ``Fraction`` sum, without its general path, which dominates a venue's fills."""
    assert fill.symbol == instrument.symbol
    per_lot = instrument.lot_value(fill.price_units) if lot_value is None else lot_value
    lots = fill.quantity_lots
    if position is None:
        if per_lot.denominator == 1:
            return Position(fill.bucket, fill.symbol, lots, Fraction(lots * per_lot.numerator))
        return Position(fill.bucket, fill.symbol, lots, lots * per_lot)
    assert position.bucket == fill.bucket
    basis = position.basis
    if per_lot.denominator == 1 and basis.denominator == 1:
        basis = Fraction(basis.numerator + lots * per_lot.numerator)
    else:
        basis = basis + lots * per_lot
    lots += position.quantity_lots
    if abs(lots) > limits.quantity_lots_max:
        raise InputError(Result.quantity_invalid, f"{fill.bucket} {fill.symbol} {lots}")
    return Position(position.bucket, position.symbol, lots, basis)


@dataclass(frozen=True, slots=True)
class Payment:
    """What one bucket receives (positive) or pays (negative) in one market, in minor units."""

    bucket: str
    symbol: str
    amount: int
    exact: Fraction


@dataclass(frozen=True, slots=True)
class CyclePlan:
    """One market's settlement: payments, the insurance residue and the positions after."""

    symbol: str
    payments: tuple[Payment, ...]
    residual: int
    positions: tuple[Position, ...]

    @property
    def paid_in(self) -> int:
        return -sum(p.amount for p in self.payments if p.amount < 0)

    @property
    def paid_out(self) -> int:
        return sum(p.amount for p in self.payments if p.amount > 0)


def plan_settlement(
    instrument: Instrument, positions: Sequence[Position], mark_units: int
) -> CyclePlan:
    """Variation margin for every position of one market at the mark."""
    _check_balanced(instrument, positions)
    mark_value = instrument.lot_value(mark_units)
    payments = []
    after = []
    for position in positions:
        settled = position.quantity_lots * mark_value
        exact = settled - position.basis
        payments.append(Payment(position.bucket, position.symbol, against_client(exact), exact))
        if position.quantity_lots:
            after.append(replace(position, basis=settled))
    return _plan(instrument, payments, tuple(after))


def plan_funding(
    instrument: Instrument, positions: Sequence[Position], mark_units: int, rate: Fraction
) -> CyclePlan:
    """One funding interval at ``rate`` (a fraction of notional); positions are unchanged."""
    _check_balanced(instrument, positions)
    notional = abs(instrument.lot_value(mark_units))
    payments = []
    for position in positions:
        exact = -position.quantity_lots * notional * rate
        payments.append(Payment(position.bucket, position.symbol, against_client(exact), exact))
    return _plan(instrument, payments, tuple(positions))


def _plan(
    instrument: Instrument, payments: list[Payment], positions: tuple[Position, ...]
) -> CyclePlan:
    assert sum((p.exact for p in payments), Fraction(0)) == 0, "a market's payments sum to zero"
    residual = -sum(p.amount for p in payments)
    assert residual >= 0, "rounding against every client leaves the market a residue"
    paying = tuple(p for p in payments if p.amount)
    return CyclePlan(instrument.symbol, paying, residual, positions)


def _check_balanced(instrument: Instrument, positions: Sequence[Position]) -> None:
    assert all(p.symbol == instrument.symbol for p in positions)
    lots = sum(p.quantity_lots for p in positions)
    basis = sum((p.basis for p in positions), Fraction(0))
    if lots != 0 or basis != 0:
        # Every trade has two sides at one price; a missing side would leave the clearing
        # account holding value that belongs to no one.
        raise InputError(
            Result.market_positions_not_balanced,
            f"{instrument.symbol}: lots {lots} and basis {basis} must both sum to zero",
        )
