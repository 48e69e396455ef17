"""Steps 3 and 4: close part of a single-position bucket when that restores maintenance,
otherwise close every position (a bankrupt bucket goes to ``bankruptcy``)."""

from __future__ import annotations

from fractions import Fraction

from ringfence.core.liquidation.bankruptcy import resolve_bankruptcy
from ringfence.core.liquidation.records import BucketState
from ringfence.core.liquidation.rounds import (
    PlanningRound,
    liquidation_fee,
    post_close,
    post_fee,
    sign,
)
from ringfence.core.risk.config import ppm
from ringfence.core.risk.instruments import Instrument
from ringfence.core.risk.margin import calculate_margin_maint, tier_index
from ringfence.core.risk.rounding import against_client, ceil_exact


def try_partial(state: PlanningRound, bucket: BucketState) -> bool:
    """Close part of a single-position bucket if that restores maintenance (step 3)."""
    open_positions = [p for p in bucket.positions if p.quantity_lots]
    if len(open_positions) != 1 or len(bucket.positions) != 1:
        return False
    position = open_positions[0]
    instrument = state.instruments[position.symbol]
    mark = state.marks[position.symbol]
    size = abs(position.quantity_lots)
    fill = state.fill(position.symbol, position.quantity_lots > 0)
    fill_value = state.value(position.symbol, fill)
    exact = position.quantity_lots * fill_value - position.basis
    payment = against_client(exact)
    if bucket.collateral + payment < 0:
        return False  # bankrupt at the fill: nothing partial about it
    close = _partial_lots(state, instrument, mark, size)
    if close >= size:
        return False
    fee = liquidation_fee(state.policy, state.notional(position.symbol, close, fill),
               bucket.collateral + payment)
    remaining = position.quantity_lots - sign(position.quantity_lots) * close
    cash = bucket.collateral + payment - fee
    equity = cash + remaining * (state.value(position.symbol, mark) - fill_value)
    schedule = state.tiers[instrument.tiers]
    maintenance = calculate_margin_maint(state.notional(position.symbol, remaining, mark),
                                         schedule, instrument.settlement_scale)
    if equity < maintenance:
        return False
    post_close(state, bucket, position, fill, close, payment=payment, exact=exact)
    post_fee(state, bucket, instrument, fee)
    state.partial.append(bucket.name)
    return True


def _partial_lots(state: PlanningRound, instrument: Instrument, mark: int, size: int) -> int:
    """Lots to close: down below the current tier's floor, or the configured fraction."""
    fraction = ceil_exact(Fraction(size * state.policy.partial_fraction_ppm, ppm))
    schedule = state.tiers[instrument.tiers]
    scale = instrument.settlement_scale
    per_lot = state.notional(instrument.symbol, 1, mark)
    k = tier_index(schedule, per_lot * size, scale)
    if k == 0:
        return fraction
    floor_minor = schedule[k].notional_floor * 10**scale
    keep = max(ceil_exact(floor_minor / per_lot) - 1, 0)  # notional strictly below the floor
    return max(size - keep, fraction)


def liquidate_fully(state: PlanningRound, bucket: BucketState) -> None:
    """Close every position at its fillable price (step 4), or resolve a bankruptcy (5)."""
    closes = []
    for position in bucket.positions:
        instrument = state.instruments[position.symbol]
        if position.quantity_lots:
            fill = state.fill(position.symbol, position.quantity_lots > 0)
        else:
            fill = state.marks[position.symbol]  # realised P&L only: settled at the mark
        exact = position.quantity_lots * state.value(position.symbol, fill) - position.basis
        closes.append((position, fill, exact))
    # Payments round against the client per market, so solvency is judged on the rounded
    # payments: a bucket a few units short after rounding is resolved as bankrupt.
    if bucket.collateral + sum(against_client(c[2]) for c in closes) < 0:
        resolve_bankruptcy(state, bucket, closes)
        return
    cash = bucket.collateral
    # Gains first: posted in this order, the collateral never dips below zero on the way.
    for position, fill, exact in sorted(closes, key=lambda close: -close[2]):
        payment = against_client(exact)
        post_close(state, bucket, position, fill, abs(position.quantity_lots),
                    payment=payment, exact=exact)
        cash += payment
    assert cash >= 0
    for position, fill, _ in closes:
        instrument = state.instruments[position.symbol]
        notional = state.notional(position.symbol, position.quantity_lots, fill)
        fee = liquidation_fee(state.policy, notional, cash)
        post_fee(state, bucket, instrument, fee)
        cash -= fee
