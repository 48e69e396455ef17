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
from ringfence.core.risk.rounding import against_client, ceil_exact


def resolve_bankruptcy(
    state: PlanningRound, bucket: BucketState, closes: list[tuple[Position, int, Fraction]]
) -> None:
    """The bucket takes its gains and pays all it has to its losing markets, largest loss
    first; each market covers what is left with its fund, the global fund if allowed, then
    auto-deleveraging. The bucket's own gains paying its own losses is netting inside one
    bucket, never across buckets. A closed position's realised loss is paid first from what
    the bucket has (nobody can be deleveraged for it) and its rest by the funds; it is never
    settled before the gains, which could take the collateral below zero."""
    if len(closes) == 1 and paid_by_market_fund(state, bucket, closes[0]):
        return
    cash = bucket.collateral
    losing = []
    for position, fill, exact in closes:
        if exact >= 0:  # gains first, closed positions' realised gains too
            payment = against_client(exact)
            post_close(state, bucket, position, fill, abs(position.quantity_lots),
                        payment=payment, exact=exact)
            cash += payment
        else:
            losing.append((position, fill, exact))
    assert cash >= 0
    # Closed positions' realised losses first: nobody can be deleveraged for them, so the
    # bucket's own collateral goes there before the open losses the market can still share.
    losing.sort(key=lambda close: (close[0].quantity_lots != 0, close[2], close[0].symbol))
    for position, fill, exact in losing:
        instrument = state.instruments[position.symbol]
        pay = min(cash, ceil_exact(-exact))
        cash -= pay
        share = -exact - pay
        realised = _cover_market(state, bucket.name, position, fill, exact_at_fill=exact,
                                 share=max(share, Fraction(0)))
        state.settled.append(SettledValue(bucket.name, position.symbol, realised))
        state.positions.append(Position(bucket.name, position.symbol, 0, Fraction(0)))
        post_payment(state, bucket.name, instrument, -pay)
    assert cash == 0 or not losing, "a bankrupt bucket keeps nothing"


def paid_by_market_fund(
    state: PlanningRound, bucket: BucketState, close: tuple[Position, int, Fraction]
) -> bool:
    """A single-position bankruptcy whose share the market's fund covers whole, planned in
    integers (a linear market's values on the tick are whole minor units): the steps of the
    general path with nobody deleveraged and no global fund, record for record. The bucket
    pays all its collateral; the fund pays the rest exactly. False, planning nothing, when
    the share is not a whole number of units or the fund cannot cover it."""
    position, fill, exact = close
    share = -exact.numerator - bucket.collateral
    fund = state.insurance.get(position.symbol, 0)
    if exact.denominator != 1 or not position.quantity_lots or not 0 < share <= fund:
        return False
    instrument = state.instruments[position.symbol]
    symbol, name = position.symbol, bucket.name
    state.orders.append(CloseOrder(name, symbol, -position.quantity_lots, fill, True))
    state.transfer(insurance_account(symbol), clearing_account(symbol), share,
                   LiquidationCode.insurance_payout, instrument.settlement, name, symbol)
    state.insurance[symbol] = fund - share
    state.settled.append(SettledValue(name, symbol, exact))
    state.positions.append(Position(name, symbol, 0, Fraction(0)))
    post_payment(state, name, instrument, -bucket.collateral)
    return True


def _cover_market(
    state: PlanningRound, bucket: str, position: Position, fill: int, *,
    exact_at_fill: Fraction, share: Fraction,
) -> Fraction:
    """Cover one market's share of a bankruptcy; returns the exact value the position
    realised (its lots closed at the fill, ``exact_at_fill`` if all did; the deleveraged ones
    at the bankruptcy value).

    The funds come first and pay exact amounts, not whole lots: auto-deleveraging takes only
    the whole lots the funds cannot cover (``ceil(uncovered / per_lot)``), and the funds then
    pay what those lots leave, rounded up, never more than they hold. So a fund is never left
    holding money while its market is halted, and a fund that covers the share leaves nobody
    deleveraged."""
    instrument = state.instruments[position.symbol]
    symbol = position.symbol
    lots = abs(position.quantity_lots)
    side = sign(position.quantity_lots)
    fill_value = state.value(symbol, fill)
    if share == 0:
        if lots:
            state.orders.append(CloseOrder(bucket, symbol, -side * lots, fill, True))
        return exact_at_fill
    if not lots:  # a closed position's realised loss: nobody to deleverage, the funds pay
        paid = _draw_funds(state, bucket, instrument, ceil_exact(share))
        if paid < share:
            state.unresolved[symbol] = state.unresolved.get(symbol, 0) + ceil_exact(share - paid)
        return exact_at_fill
    per_lot = share / lots
    uncovered = share - _funds_available(state, instrument)
    wanted = ceil_exact(uncovered / per_lot) if uncovered > 0 else 0
    assert 0 <= wanted <= lots, "the funds' gap is at most the market's share"
    deleveraged = deleverage(state, bucket, position, wanted, fill_value + side * per_lot)
    owed = share - deleveraged * per_lot  # what the funds must cover, exactly
    assert owed >= 0
    paid = _draw_funds(state, bucket, instrument, ceil_exact(owed))
    market_lots = lots - deleveraged
    if market_lots:
        state.orders.append(CloseOrder(bucket, symbol, -side * market_lots, fill, True))
    if paid < owed:
        state.unresolved[symbol] = state.unresolved.get(symbol, 0) + ceil_exact(owed - paid)
    return exact_at_fill + deleveraged * per_lot


def _funds_available(state: PlanningRound, instrument: Instrument) -> int:
    """What the market's fund and (by policy) the settlement asset's global fund hold."""
    available = state.insurance.get(instrument.symbol, 0)
    if state.policy.global_fund_allowed:
        available += state.global_funds.get(instrument.settlement, 0)
    return available


def _draw_funds(state: PlanningRound, bucket: str, instrument: Instrument, amount: int) -> int:
    """Pay up to ``amount`` from the market's fund, then (by policy) the global fund; returns
    what they paid. A fund pays only what it holds."""
    symbol, asset = instrument.symbol, instrument.settlement
    clearing = clearing_account(symbol)
    available = state.insurance.get(symbol, 0)
    from_market = min(amount, available)
    if from_market:
        state.transfer(insurance_account(symbol), clearing, from_market,
                       LiquidationCode.insurance_payout, asset, bucket, symbol)
        state.insurance[symbol] = available - from_market
    from_global = 0
    if state.policy.global_fund_allowed and from_market < amount:
        global_available = state.global_funds.get(asset, 0)
        from_global = min(amount - from_market, global_available)
        if from_global:
            state.transfer(global_fund_account(asset), clearing, from_global,
                           LiquidationCode.global_insurance_payout, asset, bucket, symbol)
            state.global_funds[asset] = global_available - from_global
    assert from_market + from_global <= amount
    return from_market + from_global
