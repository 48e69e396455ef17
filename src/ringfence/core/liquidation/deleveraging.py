"""Auto-deleveraging: profitable opposite positions in the same market, ranked by profit %
x effective leverage (BitMEX), take a bankrupt position's lots at its bankruptcy value,
each at most as many lots as its own equity can bear."""

from __future__ import annotations

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
from ringfence.core.risk.rounding import floor_exact


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
        bearable = abs(held.quantity_lots) if gap <= 0 else floor_exact(equity / gap)
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
    for name in state.holders.get(symbol, ()):
        bucket = state.counterparties[name]
        held = state.lots_left.get((name, symbol)) or next(
            (p for p in bucket.positions if p.symbol == symbol), None)
        if held is None or sign(held.quantity_lots) != side or held.quantity_lots == 0:
            continue
        equity = float(state.equity_left.get(name, bucket.equity))  # float-ok: ranking key
        value = held.quantity_lots * mark_value  # float-ok: ranking key
        basis = float(held.basis)  # float-ok: ranking key
        profit = value - basis
        if profit <= 0 or equity <= 0:
            continue
        cost = abs(basis) or abs(value)
        ranked.append((profit / cost * abs(value) / equity, name))
        state.lots_left.setdefault((name, symbol), held)
    ranked.sort(key=lambda entry: (-entry[0], entry[1]))
    return ranked


def _exact_rank(state: PlanningRound, name: str, held: Position) -> Fraction:
    """The BitMEX score of a counterparty exactly (recorded with its deleveraging)."""
    value = held.quantity_lots * state.value(held.symbol, state.marks[held.symbol])
    cost = abs(held.basis) or abs(value)
    equity = state.equity_left[name]
    if equity <= 0 or cost == 0:
        return Fraction(0)
    return (value - held.basis) / cost * abs(value) / equity


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
