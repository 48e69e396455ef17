"""Step 5: a bucket whose equity at the fillable prices is negative pays all it has; each
losing market covers the rest with its fund, the global fund when policy allows, then
auto-deleveraging; what nobody absorbs is reported as unresolved."""

from __future__ import annotations

from fractions import Fraction

from ringfence.core.liquidation.deleveraging import deleverage
from ringfence.core.liquidation.records import (
    BucketState,
    CloseOrder,
    LiquidationCode,
    SettledValue,
    clearing_account,
    global_fund_account,
    insurance_account,
)
from ringfence.core.liquidation.rounds import (
    PlanningRound,
    post_close,
    post_payment,
    sign,
)
from ringfence.core.risk.instruments import Instrument, Position
from ringfence.core.risk.rounding import against_client, ceil_exact, floor_exact


def resolve_bankruptcy(
    state: PlanningRound, bucket: BucketState, closes: list[tuple[Position, int, Fraction]]
) -> None:
    """The bucket takes its gains and pays all it has to its losing markets, largest loss
    first; each market covers what is left with its fund, the global fund if allowed, then
    auto-deleveraging. The bucket's own gains paying its own losses is netting inside one
    bucket, never across buckets."""
    cash = bucket.collateral
    losing = []
    for position, fill, exact in closes:
        if exact >= 0 or not position.quantity_lots:
            payment = against_client(exact)
            post_close(state, bucket, position, fill, abs(position.quantity_lots),
                        payment=payment, exact=exact)
            cash += payment
        else:
            losing.append((position, fill, exact))
    assert cash >= 0
    losing.sort(key=lambda close: (close[2], close[0].symbol))
    for position, fill, exact in losing:
        instrument = state.instruments[position.symbol]
        pay = min(cash, ceil_exact(-exact))
        cash -= pay
        share = -exact - pay
        realised = _cover_market(state, bucket.name, position, fill, max(share, Fraction(0)))
        state.settled.append(SettledValue(bucket.name, position.symbol, realised))
        state.positions.append(Position(bucket.name, position.symbol, 0, Fraction(0)))
        post_payment(state, bucket.name, instrument, -pay)
    assert cash == 0 or not losing, "a bankrupt bucket keeps nothing"


def _cover_market(
    state: PlanningRound, bucket: str, position: Position, fill: int, share: Fraction
) -> Fraction:
    """Cover one market's share of a bankruptcy; returns the exact value the position
    realised (its lots closed at the fill, the deleveraged ones at the bankruptcy value)."""
    instrument = state.instruments[position.symbol]
    symbol = position.symbol
    lots = abs(position.quantity_lots)
    side = sign(position.quantity_lots)
    fill_value = state.value(symbol, fill)
    exact_at_fill = position.quantity_lots * fill_value - position.basis
    if share == 0:
        if lots:
            state.orders.append(CloseOrder(bucket, symbol, -side * lots, fill, True))
        return exact_at_fill
    per_lot = share / lots
    funded = _draw_funds(state, bucket, instrument, lots, per_lot)
    bankruptcy_value = fill_value + side * per_lot
    deleveraged = deleverage(state, bucket, position, lots - funded, bankruptcy_value)
    market_lots = lots - deleveraged
    if market_lots:
        state.orders.append(CloseOrder(bucket, symbol, -side * market_lots, fill, True))
    unresolved = lots - funded - deleveraged
    if unresolved:
        state.unresolved[symbol] = state.unresolved.get(symbol, 0) + ceil_exact(
            unresolved * per_lot)
    return exact_at_fill + deleveraged * per_lot


def _draw_funds(
    state: PlanningRound, bucket: str, instrument: Instrument, lots: int, per_lot: Fraction
) -> int:
    """Lots whose shortfall the market's fund, then (by policy) the global fund, pays."""
    symbol, asset = instrument.symbol, instrument.settlement
    clearing = clearing_account(symbol)
    available = state.insurance.get(symbol, 0)
    from_market = min(lots, floor_exact(available / per_lot))
    payout = ceil_exact(from_market * per_lot)
    assert payout <= available, "a fund pays only what it holds"
    if payout:
        state.transfer(insurance_account(symbol), clearing, payout,
                       LiquidationCode.insurance_payout, asset, bucket, symbol)
        state.insurance[symbol] = available - payout
    from_global = 0
    if state.policy.global_fund_allowed and from_market < lots:
        global_available = state.global_funds.get(asset, 0)
        from_global = min(lots - from_market, floor_exact(global_available / per_lot))
        payout = ceil_exact(from_global * per_lot)
        if payout:
            state.transfer(global_fund_account(asset), clearing, payout,
                           LiquidationCode.global_insurance_payout, asset, bucket, symbol)
            state.global_funds[asset] = global_available - payout
    return from_market + from_global
