"""Steps 3 and 4: close part of a single-position bucket when that restores maintenance,
otherwise close every position (a bankrupt bucket goes to ``bankruptcy``)."""

from __future__ import annotations

from collections.abc import Callable
from fractions import Fraction

from ringfence.core.liquidation.bankruptcy import resolve_bankruptcy
from ringfence.core.liquidation.records import BucketState, PortfolioMaintenance
from ringfence.core.liquidation.rounds import (
    PlanningRound,
    has_option,
    liquidation_fee,
    post_close,
    post_fee,
    sign,
)
from ringfence.core.risk.config import ppm
from ringfence.core.risk.instruments import Instrument, Position
from ringfence.core.risk.margin import calculate_margin_maint, tier_index
from ringfence.core.risk.rounding import against_client, ceil_exact


def try_partial(state: PlanningRound, bucket: BucketState) -> bool:
    """Close part of a single-position bucket, some positions of a cross bucket or of a
    portfolio bucket, if that restores maintenance (step 3). Otherwise a bucket holding an
    option closes in full: an option's requirement is not tiered, so the tiered tests below
    cannot say it is covered; so does a portfolio bucket whose requirement is not given."""
    open_positions = [p for p in bucket.positions if p.quantity_lots]
    if bucket.portfolio:
        requirement = state.portfolio_maintenance
        if requirement is None or len(open_positions) != len(bucket.positions):
            return False
        return _try_partial_portfolio(state, bucket, open_positions, requirement)
    if has_option(bucket, state.instruments):
        return False
    if bucket.cross and len(open_positions) > 1:
        return _try_partial_cross(state, bucket, open_positions)
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


def _try_partial_cross(
    state: PlanningRound, bucket: BucketState, open_positions: list[Position]
) -> bool:
    """Reduce a cross bucket's positions one at a time, the one whose maintenance is largest
    first (it frees the most margin; ties by symbol): by ``partial_fraction_ppm`` of its lots
    first, wholly if that does not cover the rest at the marks, then the next, until the rest
    is covered. Each reduced position is settled at its fill and pays its fee on the lots
    sold; the others are untouched. A bucket holding realised P&L only (a closed position
    with a basis), or whose collateral would go below zero on the way, or that would close
    every position, closes in full instead."""
    if len(open_positions) != len(bucket.positions):
        return False
    ranked = sorted(open_positions, key=lambda p: (-_maintenance_at_mark(state, p), p.symbol))
    cash = bucket.collateral
    left = list(ranked)
    chosen: list[_Close] = []

    def owed(rest: list[Position]) -> int:
        return sum(_maintenance_at_mark(state, p) for p in rest)

    for position in ranked[:-1]:  # closing all of them is a full liquidation
        fill = state.fill(position.symbol, position.quantity_lots > 0)
        exact = position.quantity_lots * state.value(position.symbol, fill) - position.basis
        payment = against_client(exact)
        part = _part_covers(state, bucket.name, (position, fill, exact, payment), cash=cash,
                            left=left, owed=owed)
        if part is not None:
            chosen.append(part)
            break
        notional = state.notional(position.symbol, position.quantity_lots, fill)
        fee = liquidation_fee(state.policy, notional, cash + payment)
        cash += payment - fee
        if cash < 0:
            return False
        left.remove(position)
        chosen.append((position, fill, exact, payment, fee, abs(position.quantity_lots)))
        unrealised = sum((p.quantity_lots * state.value(p.symbol, state.marks[p.symbol])
                          - p.basis for p in left), Fraction(0))
        if cash + unrealised >= sum(_maintenance_at_mark(state, p) for p in left):
            break
    else:
        return False
    _post_chosen(state, bucket, chosen)
    return True


def _try_partial_portfolio(
    state: PlanningRound, bucket: BucketState, open_positions: list[Position],
    requirement: PortfolioMaintenance,
) -> bool:
    """Reduce a portfolio bucket's positions one at a time, each time the one whose close frees
    the most margin (the scan's requirement with it less without it; ties by symbol): first by
    ``partial_fraction_ppm`` of its lots, and if that does not cover the rest at the marks, the
    whole of it, then the next. A hedge frees nothing by its close, so it is kept while the risk
    it offsets is cut. The bucket closes in full instead if no close frees margin, if it would
    take every position, or if its collateral would go below zero on the way."""
    name = bucket.name
    cash = bucket.collateral
    left = list(open_positions)
    chosen: list[_Close] = []
    while len(left) > 1:  # closing all of them is a full liquidation
        owed = requirement(name, left)
        freed, position = min(
            ((owed - requirement(name, [p for p in left if p is not held]), held)
             for held in left),
            key=lambda pair: (-pair[0], pair[1].symbol))
        if freed <= 0:
            return False
        symbol, size = position.symbol, abs(position.quantity_lots)
        fill = state.fill(symbol, position.quantity_lots > 0)
        exact = position.quantity_lots * state.value(symbol, fill) - position.basis
        payment = against_client(exact)
        part = _part_covers(state, name, (position, fill, exact, payment), cash=cash,
                            left=left, owed=lambda rest: requirement(name, rest))
        if part is not None:
            chosen.append(part)
            break
        fee = liquidation_fee(state.policy, state.notional(symbol, size, fill), cash + payment)
        cash += payment - fee
        if cash < 0:
            return False
        left.remove(position)
        chosen.append((position, fill, exact, payment, fee, size))
        if cash + _unrealised_at_marks(state, left) >= requirement(name, left):
            break
    else:
        return False
    _post_chosen(state, bucket, chosen)
    return True


def _part_covers(
    state: PlanningRound, name: str, close: tuple[Position, int, Fraction, int], *,
    cash: int, left: list[Position], owed: Callable[[list[Position]], int],
) -> _Close | None:
    """Sell ``partial_fraction_ppm`` of a position's lots (the whole position settles at its
    fill, as a partial close does, and the lots kept are re-based there): that close, if the
    bucket then covers ``owed`` of what it holds at the marks; None otherwise."""
    position, fill, exact, payment = close
    symbol, size = position.symbol, abs(position.quantity_lots)
    part = ceil_exact(Fraction(size * state.policy.partial_fraction_ppm, ppm))
    if part >= size or cash + payment < 0:
        return None
    fee = liquidation_fee(state.policy, state.notional(symbol, part, fill), cash + payment)
    remaining = position.quantity_lots - sign(position.quantity_lots) * part
    reduced = Position(name, symbol, remaining, remaining * state.value(symbol, fill))
    rest = [reduced if p is position else p for p in left]
    if cash + payment - fee + _unrealised_at_marks(state, rest) < owed(rest):
        return None
    return (position, fill, exact, payment, fee, part)


def _unrealised_at_marks(state: PlanningRound, positions: list[Position]) -> Fraction:
    return sum((p.quantity_lots * state.value(p.symbol, state.marks[p.symbol]) - p.basis
                for p in positions), Fraction(0))


# A close chosen for a partial liquidation: the position, its fill, the exact value the whole
# position settles at, the payment, the fee and the lots closed.
_Close = tuple[Position, int, Fraction, int, int, int]


def _post_chosen(state: PlanningRound, bucket: BucketState, chosen: list[_Close]) -> None:
    """The chosen closes, gains first (so the collateral never dips below zero as the
    transfers post), then their fees."""
    for position, fill, exact, payment, _, lots in sorted(chosen, key=lambda c: -c[3]):
        post_close(state, bucket, position, fill, lots, payment=payment, exact=exact)
    for position, _, _, _, fee, _ in chosen:
        post_fee(state, bucket, state.instruments[position.symbol], fee)
    state.partial.append(bucket.name)


def _maintenance_at_mark(state: PlanningRound, position: Position) -> int:
    instrument = state.instruments[position.symbol]
    notional = state.notional(position.symbol, position.quantity_lots,
                              state.marks[position.symbol])
    return calculate_margin_maint(notional, state.tiers[instrument.tiers],
                                  instrument.settlement_scale)


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


def closes_at_fills(
    state: PlanningRound, bucket: BucketState
) -> list[tuple[Position, int, Fraction]]:
    """Each position with the price it closes at and the exact value it realises there."""
    closes = []
    for position in bucket.positions:
        if position.quantity_lots:
            fill = state.fill(position.symbol, position.quantity_lots > 0)
        else:
            fill = state.marks[position.symbol]  # realised P&L only: settled at the mark
        exact = position.quantity_lots * state.value(position.symbol, fill) - position.basis
        closes.append((position, fill, exact))
    return closes


def bankrupt_at_fills(
    bucket: BucketState, closes: list[tuple[Position, int, Fraction]]
) -> bool:
    """Whether closing every position at its fill leaves the bucket short. Payments round
    against the client per market, so solvency is judged on the rounded payments: a bucket a
    few units short after rounding is resolved as bankrupt. A bucket that is not bankrupt here
    is not bankrupt in a partial close either (it settles the same payment)."""
    return bucket.collateral + sum(against_client(c[2]) for c in closes) < 0


def liquidate_fully(
    state: PlanningRound, bucket: BucketState,
    closes: list[tuple[Position, int, Fraction]] | None = None,
) -> None:
    """Close every position at its fillable price (step 4), or resolve a bankruptcy (5);
    ``closes`` as ``closes_at_fills`` gives them, if already known."""
    if closes is None:
        closes = closes_at_fills(state, bucket)
    if bankrupt_at_fills(bucket, closes):
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
