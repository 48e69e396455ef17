"""The vectorised path: the solvent single-position buckets of linear markets decided
together in int64 arrays, exactly (every value an integer in units of ``1/D``, ``D`` the
market's lot-value denominator), with the same records as the one-by-one path (``plan``
puts them in bucket name order)."""

from __future__ import annotations

import functools
from collections.abc import Callable
from dataclasses import dataclass
from fractions import Fraction
from typing import Any, cast

import numpy as np
from numpy.typing import NDArray

from ringfence.core import limits
from ringfence.core.liquidation.records import (
    BucketState,
    CloseOrder,
    LiquidationCode,
    PlannedTransfer,
    SettledValue,
    clearing_account,
    insurance_account,
)
from ringfence.core.liquidation.rounds import PlanningRound
from ringfence.core.risk.config import ppm
from ringfence.core.risk.instruments import InstrumentKind, Position
from ringfence.core.risk.margin import cumulative_deductions, tier_index


def plan_vectorised(state: PlanningRound, planned: list[BucketState]) -> list[BucketState]:
    """Decide the solvent single-position buckets of linear markets together; returns, in name
    order, the buckets left for the one-by-one path (bankrupt, cross, portfolio, inverse, too
    large)."""
    groups: dict[str, list[BucketState]] = {}
    rest: list[BucketState] = []
    for bucket in planned:
        positions = bucket.positions
        if len(positions) == 1 and positions[0].quantity_lots and not bucket.portfolio:
            instrument = state.instruments[positions[0].symbol]
            if instrument.kind is not InstrumentKind.option and not instrument.inverse:
                groups.setdefault(instrument.symbol, []).append(bucket)
                continue
        rest.append(bucket)
    for symbol, group in groups.items():
        rest += _vector_market(state, symbol, group)
    rest.sort(key=lambda b: b.name)
    return rest


def _vector_market(
    state: PlanningRound, symbol: str, group: list[BucketState]
) -> list[BucketState]:
    """One linear market's buckets in int64 arrays; returns those it cannot decide."""
    arrays = _VectorInputs.build(state, symbol, group)
    if arrays is None:
        return group
    decided = _vector_decide(state, arrays)
    if decided is None:
        return group
    partial, close, payment, fee, exact_d = decided
    bankrupt = (arrays.collateral + payment) < 0
    _vector_emit(state, arrays, group, partial=partial, close=close, payment=payment, fee=fee,
                 exact_d=exact_d, skip=bankrupt)
    return [bucket for bucket, skip in zip(group, bankrupt.tolist(), strict=True) if skip]


@dataclass(frozen=True, slots=True)
class _VectorInputs:
    """One market's candidates as arrays, money in units of ``1/denominator`` of the minor
    unit (exact: a linear lot value's denominator divides it, and so does every basis)."""

    symbol: str
    denominator: int
    lots: NDArray[np.int64]
    basis_d: NDArray[np.int64]
    collateral: NDArray[np.int64]
    fill: NDArray[np.int64]
    fill_value_d: NDArray[np.int64]
    mark_value_d: int

    @staticmethod
    def build(state: PlanningRound, symbol: str, group: list[BucketState]) -> _VectorInputs | None:
        d = state.value(symbol, 1).denominator
        mark_value = state.value(symbol, state.marks[symbol]) * d
        fills = (state.fill(symbol, True), state.fill(symbol, False))
        values = [state.value(symbol, f) * d for f in fills]
        assert mark_value.denominator == 1 and all(v.denominator == 1 for v in values)
        basis = [b.positions[0].basis for b in group]
        if any(d % v.denominator for v in basis):
            return None
        bound = limits.liquidation_vector_product_max
        try:
            lots = np.array([b.positions[0].quantity_lots for b in group], dtype=np.int64)
            basis_d = np.array([v.numerator * (d // v.denominator) for v in basis],
                               dtype=np.int64)
            collateral = np.array([b.collateral for b in group], dtype=np.int64)
        except OverflowError:
            return None
        largest = max(abs(int(mark_value)), *(abs(int(v)) for v in values), d)
        lots_max = int(np.abs(lots).max())
        if lots_max * largest * ppm >= bound or int(np.abs(basis_d).max()) >= bound // 4:
            return None
        if int(collateral.max()) * d >= bound // 4:
            return None
        long = lots > 0
        return _VectorInputs(
            symbol, d, lots, basis_d, collateral,
            np.where(long, fills[0], fills[1]).astype(np.int64),
            np.where(long, int(values[0]), int(values[1])).astype(np.int64), int(mark_value),
        )


def _vector_decide(
    state: PlanningRound, a: _VectorInputs
) -> tuple[NDArray[np.bool_], NDArray[np.int64], NDArray[np.int64], NDArray[np.int64],
           NDArray[np.int64]] | None:
    """Steps 3-5 for every bucket at once: partial if it restores maintenance, else full;
    the fee capped by the equity left. The same integer formulas as ``try_partial`` and
    ``liquidate_fully``, multiplied through by the denominator."""
    d, policy = a.denominator, state.policy
    instrument = state.instruments[a.symbol]
    scale = instrument.settlement_scale
    size = np.abs(a.lots)
    per_lot = abs(a.mark_value_d)  # one lot's notional at the mark, x d
    # Only the brackets some position reaches: the top ones' deductions exceed int64.
    largest = Fraction(int(size.max()) * per_lot, d)
    schedule = state.tiers[instrument.tiers]
    schedule = schedule[: tier_index(schedule, largest, scale) + 1]
    floors_d = [t.notional_floor * 10**scale * d for t in schedule]
    deductions_d = [x * d for x in cumulative_deductions(schedule, scale)]
    if max(floors_d) >= limits.liquidation_vector_product_max or max(
            deductions_d) >= limits.liquidation_vector_product_max:
        return None
    floors = np.array(floors_d, dtype=np.int64)
    rates = np.array([t.maintenance_ppm for t in schedule], dtype=np.int64)
    deductions = np.array(deductions_d, dtype=np.int64)
    side = np.sign(a.lots)
    exact_d = a.lots * a.fill_value_d - a.basis_d
    payment = np.floor_divide(exact_d, d)
    cash = a.collateral + payment
    fill_lot = np.abs(a.fill_value_d)
    # Lots to close: below the tier's floor, or the configured fraction (``_partial_lots``).
    fraction = -(-size * policy.partial_fraction_ppm // ppm)
    tier = np.maximum(np.searchsorted(floors, size * per_lot, side="right") - 1, 0)
    keep = np.maximum(-(-floors[tier] // per_lot) - 1, 0)
    close = np.where(tier == 0, fraction, np.maximum(size - keep, fraction))
    fee_partial = np.maximum(np.minimum(-(-close * fill_lot * policy.fee_ppm // (d * ppm)),
                                        cash), 0)
    remaining = a.lots - side * close
    equity_d = (cash - fee_partial) * d + remaining * (a.mark_value_d - a.fill_value_d)
    notional_d = np.abs(remaining) * per_lot
    k = np.maximum(np.searchsorted(floors, notional_d, side="right") - 1, 0)
    maintenance = -(-(notional_d * rates[k] - deductions[k]) // (ppm * d))
    partial = (close < size) & (cash >= 0) & (equity_d >= maintenance * d)
    fee_full = np.maximum(np.minimum(-(-size * fill_lot * policy.fee_ppm // (d * ppm)), cash), 0)
    return (partial, np.where(partial, close, size), payment,
            np.where(partial, fee_partial, fee_full), exact_d)


def _vector_emit(
    state: PlanningRound, a: _VectorInputs, group: list[BucketState], *, partial: NDArray[np.bool_],
    close: NDArray[np.int64], payment: NDArray[np.int64], fee: NDArray[np.int64],
    exact_d: NDArray[np.int64], skip: NDArray[np.bool_],
) -> None:
    """The decided buckets as orders, settled values, positions and transfers (as
    ``post_close``, ``post_payment`` and ``post_fee`` would write them)."""
    symbol, d = a.symbol, a.denominator
    asset = state.instruments[symbol].settlement
    clearing, insurance = clearing_account(symbol), insurance_account(symbol)
    settlement, fee_code = LiquidationCode.liquidation_settlement, LiquidationCode.liquidation_fee
    close_ids, transfers = state.ids.close, state.transfers
    rows = zip(group, a.lots.tolist(), close.tolist(), a.fill.tolist(), a.fill_value_d.tolist(),
               payment.tolist(), fee.tolist(), exact_d.tolist(), partial.tolist(), skip.tolist(),
               strict=True)
    fees = 0
    # Fraction(v) of an int takes no gcd: the common case (d == 1) builds values cheaply.
    exact_of = Fraction if d == 1 else (lambda v: Fraction(v, d))
    # The loop runs once per liquidation: bound methods and the tuples' own constructor
    # (as the ledger builds its records) keep it to a few microseconds.
    add_order, add_settled = state.orders.append, state.settled.append
    add_position, add_transfer, add_partial = (
        state.positions.append, transfers.append, state.partial.append)
    for bucket, lots, closed, fill, fill_d, paid, charged, exact, part, bankrupt in rows:
        if bankrupt:
            continue
        name = bucket.name
        side = 1 if lots > 0 else -1
        remaining = lots - side * closed
        add_order(_new_order((name, symbol, -side * closed, fill, remaining == 0)))
        add_settled(_new_settled((name, symbol, exact_of(exact))))
        add_position(Position(name, symbol, remaining,
                              exact_of(remaining * fill_d) if remaining else _zero))
        own = "collateral:" + name
        settlement_id, fee_id = close_ids(name, symbol)
        if paid:
            debit, credit = (own, clearing) if paid < 0 else (clearing, own)
            add_transfer(_new_transfer((settlement_id, debit, credit, abs(paid), settlement,
                                        asset, name)))
        if charged:
            add_transfer(_new_transfer((fee_id, own, insurance, charged, fee_code, asset,
                                        name)))
            fees += charged
        if part:
            add_partial(name)
    if fees:  # as ``post_fee``: a market whose fund saw no fee gets no entry
        state.insurance[symbol] = state.insurance.get(symbol, 0) + fees


# A closed position's basis: one immutable zero shared by every full close.
_zero = Fraction(0)

# The named tuples' constructors without their Python-level ``__new__`` (fields in order).
_new_order = cast("Callable[[tuple[Any, ...]], CloseOrder]",
                  functools.partial(tuple.__new__, CloseOrder))
_new_settled = cast("Callable[[tuple[Any, ...]], SettledValue]",
                    functools.partial(tuple.__new__, SettledValue))
_new_transfer = cast("Callable[[tuple[Any, ...]], PlannedTransfer]",
                     functools.partial(tuple.__new__, PlannedTransfer))
