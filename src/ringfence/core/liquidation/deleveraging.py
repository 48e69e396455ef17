"""Auto-deleveraging: profitable opposite positions in the same market, ranked by profit %
x effective leverage (BitMEX), take a bankrupt position's lots at its bankruptcy value,
each at most as many lots as its own equity can bear."""

from __future__ import annotations

import operator
from fractions import Fraction

from ringfence.core.liquidation.records import Deleveraging
from ringfence.core.liquidation.rounds import (
    PlanningRound,
    RankKey,
    has_option,
    sign,
)
from ringfence.core.liquidation.valuation import exact_equity
from ringfence.core.risk.instruments import Position


def deleverage(
    state: PlanningRound, bankrupt: str, position: Position, lots: int, lot_value: Fraction
) -> int:
    """Close up to ``lots`` of profitable opposite positions in the same market at the
    bankruptcy value, highest rank first; returns the lots placed. The ranking is taken once
    per market and side per round, at the mark (BitMEX ranks at a point in time too)."""
    if lots == 0:
        return 0
    symbol = position.symbol
    side = sign(position.quantity_lots)
    mark_value = state.value(symbol, state.marks[symbol])
    gap = side * (lot_value - mark_value)  # each lot's cost to the counterparty vs the mark
    key = (symbol, -side)
    if key not in state.rankings:
        state.rankings[key] = _ranking(state, symbol, -side)
        state.ranking_start[key] = 0
    ranking = state.rankings[key]
    placed = 0
    for index in range(state.ranking_start[key], len(ranking)):
        _, name = ranking[index]
        held = state.lots_left[(name, symbol)]
        equity = _equity_of(state, name)
        if equity <= 0:
            continue
        bearable = abs(held.quantity_lots) if gap <= 0 else _lots_bearable(equity, gap)
        take = min(lots - placed, abs(held.quantity_lots), bearable)
        if take <= 0:
            continue
        fill_lots = side * take
        rank = _exact_rank(state, name, held)
        state.lots_left[(name, symbol)] = Position(
            name, symbol, held.quantity_lots + fill_lots, held.basis + fill_lots * lot_value
        )
        state.equity_left[name] = equity - gap * take
        state.deleveraging.append(Deleveraging(name, symbol, fill_lots, lot_value, rank,
                                               bankrupt))
        placed += take
        if placed == lots:
            break
    start = state.ranking_start[key]
    while start < len(ranking) and not state.lots_left[(ranking[start][1], symbol)].quantity_lots:
        start += 1  # fully deleveraged: never looked at again this round
    state.ranking_start[key] = start
    return placed


def _ranking(state: PlanningRound, symbol: str, side: int) -> list[tuple[RankKey, str]]:
    """Profitable positions on ``side`` in one market, by profit % x effective leverage
    (BitMEX), highest first, ties by name. Effective leverage is notional over the holding
    bucket's equity (the scan's); profit % is profit over the position's basis (or notional).

    The key is a float: it only orders the counterparties (near-ties within float precision
    may come in either order) and moves no money. What a counterparty can bear is decided on
    its exact equity, taken when the ranking reaches it, so a crash with thousands of
    counterparties values only the ones it uses."""
    mark_value = float(state.value(symbol, state.marks[symbol]))  # float-ok: ranking key
    ranked = []
    lots_left, equity_left, counterparties = state.lots_left, state.equity_left, (
        state.counterparties)
    for name in state.holders.get(symbol, ()):
        bucket = counterparties[name]
        key = (name, symbol)
        held = lots_left.get(key) or _held_in(bucket.positions, symbol)
        if held is None:
            continue
        lots = held.quantity_lots
        if (lots > 0) != (side > 0) or lots == 0:
            continue
        equity = float(equity_left.get(name, bucket.equity))  # float-ok: ranking key
        value = lots * mark_value  # float-ok: ranking key
        basis = held.basis.numerator / held.basis.denominator  # float-ok: as float(basis)
        profit = value - basis
        if profit <= 0 or equity <= 0:
            continue
        cost = abs(basis) or abs(value)
        ranked.append((profit / cost * abs(value) / equity, name))
        lots_left.setdefault(key, held)
    # Highest key first, ties by name: two stable sorts (by name, then by key descending;
    # a reversed sort keeps equal keys in their order) without a key tuple per entry.
    ranked.sort(key=_name_in_entry)
    ranked.sort(key=_key_in_entry, reverse=True)
    return ranked


def _held_in(positions: tuple[Position, ...], symbol: str) -> Position | None:
    for position in positions:
        if position.symbol == symbol:
            return position
    return None


_key_in_entry = operator.itemgetter(0)
_name_in_entry = operator.itemgetter(1)


def _exact_rank(state: PlanningRound, name: str, held: Position) -> Fraction:
    """The BitMEX score of a counterparty exactly (recorded with its deleveraging):
    ``(value - basis) / cost x |value| / equity``, its numerator and denominator multiplied
    out in integers and reduced once (the same fraction as the four ``Fraction`` steps)."""
    value = held.quantity_lots * state.value(held.symbol, state.marks[held.symbol])
    basis = held.basis
    cost = abs(basis) or abs(value)
    equity = state.equity_left[name]
    if equity <= 0 or cost == 0:
        return Fraction(0)
    value_n, value_d = value.numerator, value.denominator
    basis_n, basis_d = basis.numerator, basis.denominator
    numerator = (value_n * basis_d - basis_n * value_d) * cost.denominator * abs(value_n)
    denominator = value_d * basis_d * cost.numerator * value_d * equity.numerator
    return Fraction(numerator * equity.denominator, denominator)


def _lots_bearable(equity: Fraction, gap: Fraction) -> int:
    """``floor(equity / gap)`` for a positive gap, in integers (the floor of the same
    fraction, unreduced)."""
    assert gap > 0
    return (equity.numerator * gap.denominator) // (equity.denominator * gap.numerator)


def _equity_of(state: PlanningRound, name: str) -> Fraction:
    """A counterparty's equity left this round, valued exactly on first use: at the marks, or
    by its scan if it holds options (options are priced there, not at a mark)."""
    equity = state.equity_left.get(name)
    if equity is None:
        bucket = state.counterparties[name]
        equity = state.equity_left[name] = (
            Fraction(bucket.equity) if has_option(bucket, state.instruments)
            else exact_equity(bucket, state.instruments, state.marks)
        )
    return equity
