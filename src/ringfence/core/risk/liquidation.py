"""Liquidation plans: which buckets to close, at what price, and who absorbs the loss.

Pure: a plan is a value computed from a scan's verdicts, the book and the funds' balances;
the shell posts it. Design and worked examples: docs/liquidation.md; formulas: research
margin.md §2.7 and §3.

Economics, in exact rationals of the settlement asset's minor unit. A position of q lots with
basis B is worth ``q x lot_value(P) - B`` at price P, and a bucket's equity is its collateral
plus that sum over its positions. A liquidation *settles* each closed position at the price
it closes at (the payment is rounded against the client, as in ``settlement``) and re-bases
what remains at that price, so the bucket's equity measured at the mark changes only by the
slippage, the fee and rounding.

1. Detection: every bucket whose equity is below maintenance (the scan's verdict) and that
   holds an open position. A bucket with no open position is never touched.
2. Fillable price: the mark moved against the position by ``slippage_ppm``, on the tick.
3. Partial first: a single-position bucket that stays solvent at the fillable price closes
   enough lots to drop below its tier's floor, or ``partial_fraction_ppm`` of the position,
   whichever is more; if that leaves it at or above maintenance it stops there.
4. Otherwise full: every position closes. A liquidation fee of ``fee_ppm`` of the closed
   notional, capped by the equity left, goes to that market's insurance fund (the market's
   liquidation surplus).
5. Bankruptcy: if equity at the fillable prices is negative, the bucket pays all its
   collateral and the shortfall is split over the markets where it lost (largest first).
   Per market the lots of the bankrupt position are covered, in order, by the market's
   insurance fund (including this round's fees there), the global fund of the settlement
   asset when policy allows, and auto-deleveraging: profitable opposite positions in the SAME
   market, ranked by profit % x effective leverage, take the remaining lots at the per-lot
   bankruptcy value, each at most as many lots as its own equity can bear. Lots nobody can
   absorb are reported as ``unresolved`` (socialised loss is not offered): the shell must halt
   that market.

Nothing here crosses a market: every transfer connects one market's accounts with the
liquidated bucket, and auto-deleveraging moves positions only inside one market.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from enum import StrEnum, unique
from fractions import Fraction
from typing import Any

import numpy as np
from numpy.typing import NDArray

from ringfence.core.errors import InputError, Result
from ringfence.core.risk.config import Tier, ppm
from ringfence.core.risk.instruments import Instrument, InstrumentKind, Position
from ringfence.core.risk.margin import calculate_margin_maint, tier_index
from ringfence.core.risk.rounding import against_client, ceil_exact, floor_exact
from ringfence.core.risk.scan import Health, ScanResult

# Buckets one plan may liquidate; belongs in core/limits.py with the next step.
liquidations_per_plan_max = 1_000_000


@unique
class LiquidationCode(StrEnum):
    """Why a planned transfer moves value; the next step maps these to ``TransferCode``s."""

    liquidation_settlement = "liquidation_settlement"  # bucket <-> clearing:<market>
    liquidation_fee = "liquidation_fee"  # bucket -> insurance:<market>
    insurance_payout = "insurance_payout"  # insurance:<market> -> clearing:<market>
    global_insurance_payout = "global_insurance_payout"  # global fund -> clearing:<market>


@dataclass(frozen=True, slots=True)
class LiquidationPolicy:
    """Parameters of the liquidation loop (ppm of one)."""

    partial_fraction_ppm: int = 500_000
    slippage_ppm: int = 5_000
    fee_ppm: int = 5_000
    global_fund_allowed: bool = False

    def __post_init__(self) -> None:
        for name in ("partial_fraction_ppm", "slippage_ppm", "fee_ppm"):
            value = getattr(self, name)
            if type(value) is not int or not 0 <= value < ppm:
                raise InputError(Result.risk_config_invalid, f"{name} {value!r}")
        if self.partial_fraction_ppm == 0:
            raise InputError(Result.risk_config_invalid, "partial_fraction_ppm must be > 0")


@dataclass(frozen=True, slots=True)
class BucketState:
    """One bucket as the scan saw it: ledger collateral, scan equity and maintenance (integer
    minor units) and its positions."""

    name: str
    settlement: str
    collateral: int
    equity: int
    maintenance: int
    positions: tuple[Position, ...]

    @property
    def open(self) -> bool:
        return any(p.quantity_lots for p in self.positions)


@dataclass(frozen=True, slots=True)
class PlannedTransfer:
    """A ledger transfer as plain data: account names, amount in minor units, why."""

    id: int
    debit: str
    credit: str
    amount: int
    code: LiquidationCode
    asset: str


@dataclass(frozen=True, slots=True)
class CloseOrder:
    """A reduce-only order for the venue, at the fillable price the plan assumed."""

    bucket: str
    symbol: str
    quantity_lots: int  # signed fill: a long closes with a negative quantity
    price_units: int
    full: bool


@dataclass(frozen=True, slots=True)
class Deleveraging:
    """Lots of a profitable counterparty closed against a bankrupt bucket, in one market."""

    bucket: str
    symbol: str
    quantity_lots: int  # signed fill for ``bucket``
    lot_value: Fraction  # the bankrupt position's per-lot bankruptcy value
    rank: Fraction
    against: str


@dataclass(frozen=True, slots=True)
class SettledValue:
    """The exact value a liquidated position realised (before rounding)."""

    bucket: str
    symbol: str
    exact: Fraction


@dataclass(frozen=True, slots=True)
class LiquidationPlan:
    round_id: int
    orders: tuple[CloseOrder, ...]
    transfers: tuple[PlannedTransfer, ...]
    deleveraging: tuple[Deleveraging, ...]
    positions: tuple[Position, ...]  # every changed position, after (zero lots: closed)
    settled: tuple[SettledValue, ...]
    insurance_after: Mapping[str, int]
    global_after: Mapping[str, int]
    unresolved: Mapping[str, int]  # per market: loss no one could absorb, rounded up
    liquidated: tuple[str, ...]
    partial: tuple[str, ...]
    deferred: tuple[str, ...]  # candidates this version cannot plan (options)


def collateral_account(bucket: str) -> str:
    return f"collateral:{bucket}"


def clearing_account(symbol: str) -> str:
    return f"clearing:{symbol}"


def insurance_account(symbol: str) -> str:
    return f"insurance:{symbol}"


def global_fund_account(asset: str) -> str:
    return f"insurance-global:{asset.lower()}"


def transfer_id(round_id: int, *parts: object) -> int:
    """A u128 id from the round and what the transfer is for: posting the same plan twice
    gives the same ids, so the ledger answers ``exists`` the second time."""
    text = ":".join(str(p) for p in ("ringfence-liquidation", round_id, *parts))
    return int.from_bytes(hashlib.sha256(text.encode()).digest()[:16], "big") or 1


def candidates(scan: ScanResult) -> NDArray[np.int64]:
    """Indices of the buckets the scan found below maintenance."""
    return np.flatnonzero(scan.health == Health.liquidatable).astype(np.int64)


def buckets_from_scan(
    scan: ScanResult,
    names: Sequence[str],
    settlements: Sequence[str],
    collateral: Sequence[int] | NDArray[Any],
    positions: Mapping[str, tuple[Position, ...]],
) -> list[BucketState]:
    """Every bucket of a scan (in bucket order) as ``BucketState``s: the liquidatable ones
    and the possible auto-deleveraging counterparties alike."""
    assert len(names) == len(settlements) == len(collateral) == scan.equity.shape[0]
    return [
        BucketState(
            names[k], settlements[k], int(collateral[k]), int(scan.equity[k]),
            int(scan.maintenance[k]), positions.get(names[k], ()),
        )
        for k in range(len(names))
    ]


def fillable_price(instrument: Instrument, mark_units: int, long: bool, slippage_ppm: int) -> int:
    """The mark moved against the position being closed, rounded to the tick against it."""
    tick = instrument.tick_units
    if long:
        moved = Fraction(mark_units * (ppm - slippage_ppm), ppm)
        return max(floor_exact(moved / tick) * tick, tick)
    moved = Fraction(mark_units * (ppm + slippage_ppm), ppm)
    return ceil_exact(moved / tick) * tick


def bankruptcy_lot_value(position: Position, collateral: int | Fraction) -> Fraction:
    """The per-lot value at which a single-position bucket's equity is zero: equity is
    linear in the lot value (linear and inverse alike), ``C + q x v - B = 0``."""
    assert position.quantity_lots != 0
    return (position.basis - collateral) / position.quantity_lots


def exact_equity(
    bucket: BucketState, instruments: Mapping[str, Instrument], marks: Mapping[str, int]
) -> Fraction:
    value = sum(
        (p.quantity_lots * instruments[p.symbol].lot_value(marks[p.symbol]) - p.basis
         for p in bucket.positions),
        Fraction(0),
    )
    return bucket.collateral + value


@dataclass(slots=True)
class _Round:
    """What a plan accumulates; private and mutable only while one plan is built."""

    round_id: int
    instruments: Mapping[str, Instrument]
    marks: Mapping[str, int]
    policy: LiquidationPolicy
    tiers: Mapping[str, tuple[Tier, ...]]
    insurance: dict[str, int]
    global_funds: dict[str, int]
    counterparties: dict[str, BucketState]
    holders: dict[str, list[str]] = field(default_factory=dict)  # symbol -> bucket names
    rankings: dict[tuple[str, int], list[tuple[Fraction, str]]] = field(default_factory=dict)
    ranking_start: dict[tuple[str, int], int] = field(default_factory=dict)
    equity_left: dict[str, Fraction] = field(default_factory=dict)
    lots_left: dict[tuple[str, str], Position] = field(default_factory=dict)
    orders: list[CloseOrder] = field(default_factory=list)
    transfers: list[PlannedTransfer] = field(default_factory=list)
    deleveraging: list[Deleveraging] = field(default_factory=list)
    positions: list[Position] = field(default_factory=list)
    settled: list[SettledValue] = field(default_factory=list)
    unresolved: dict[str, int] = field(default_factory=dict)
    partial: list[str] = field(default_factory=list)

    def transfer(
        self, debit: str, credit: str, amount: int, code: LiquidationCode, asset: str,
        *key: object,
    ) -> None:
        assert amount > 0
        assert debit != credit
        self.transfers.append(
            PlannedTransfer(transfer_id(self.round_id, code, *key), debit, credit, amount,
                            code, asset)
        )


def plan_liquidations(
    round_id: int,
    buckets: Sequence[BucketState],
    instruments: Mapping[str, Instrument],
    marks: Mapping[str, int],
    *,
    insurance: Mapping[str, int],
    tiers: Mapping[str, tuple[Tier, ...]],
    policy: LiquidationPolicy = LiquidationPolicy(),
    global_funds: Mapping[str, int] | None = None,
) -> LiquidationPlan:
    """The liquidation plan for one scan round. ``buckets`` is the whole book (liquidatable
    buckets and possible auto-deleveraging counterparties alike); ``insurance`` maps each
    market to its fund's balance, ``global_funds`` each settlement asset to the global fund's.
    Buckets are planned in name order, so the plan does not depend on input order."""
    assert all(balance >= 0 for balance in insurance.values())
    book = sorted(buckets, key=lambda b: b.name)
    assert len({b.name for b in book}) == len(book), "bucket names are unique"
    liquidatable = [b for b in book if b.equity < b.maintenance and b.open]
    assert len(liquidatable) <= liquidations_per_plan_max
    names = {b.name for b in liquidatable}
    state = _Round(
        round_id, instruments, marks, policy, tiers, dict(insurance), dict(global_funds or {}),
        {b.name: b for b in book if b.name not in names and b.open},
    )
    for bucket in state.counterparties.values():
        for position in bucket.positions:
            if position.quantity_lots:
                state.holders.setdefault(position.symbol, []).append(bucket.name)
    deferred = [b.name for b in liquidatable if _has_option(b, instruments)]
    planned = [b for b in liquidatable if b.name not in deferred]
    for bucket in planned:
        if not _try_partial(state, bucket):
            _liquidate_fully(state, bucket)
    assert all(balance >= 0 for balance in state.insurance.values()), "funds never negative"
    assert all(balance >= 0 for balance in state.global_funds.values())
    positions = {(p.bucket, p.symbol): p for p in state.positions}
    positions.update((key, state.lots_left[key])
                     for key in {(d.bucket, d.symbol) for d in state.deleveraging})
    return LiquidationPlan(
        round_id, tuple(state.orders), tuple(state.transfers), tuple(state.deleveraging),
        tuple(positions[key] for key in sorted(positions)), tuple(state.settled),
        state.insurance, state.global_funds, state.unresolved,
        tuple(b.name for b in planned), tuple(state.partial), tuple(deferred),
    )


def _has_option(bucket: BucketState, instruments: Mapping[str, Instrument]) -> bool:
    return any(
        instruments[p.symbol].kind is InstrumentKind.option and p.quantity_lots
        for p in bucket.positions
    )


def _sign(lots: int) -> int:
    return 1 if lots > 0 else -1


def _try_partial(state: _Round, bucket: BucketState) -> bool:
    """Close part of a single-position bucket if that restores maintenance (step 3)."""
    open_positions = [p for p in bucket.positions if p.quantity_lots]
    if len(open_positions) != 1 or len(bucket.positions) != 1:
        return False
    position = open_positions[0]
    instrument = state.instruments[position.symbol]
    mark = state.marks[position.symbol]
    size = abs(position.quantity_lots)
    close = _partial_lots(state, instrument, mark, size)
    if close >= size:
        return False
    fill = fillable_price(instrument, mark, position.quantity_lots > 0,
                          state.policy.slippage_ppm)
    fill_value = instrument.lot_value(fill)
    exact = position.quantity_lots * fill_value - position.basis
    payment = against_client(exact)
    if bucket.collateral + payment < 0:
        return False
    fee = _fee(state.policy, instrument.notional(close, fill), bucket.collateral + payment)
    remaining = position.quantity_lots - _sign(position.quantity_lots) * close
    cash = bucket.collateral + payment - fee
    equity = cash + remaining * (instrument.lot_value(mark) - fill_value)
    schedule = state.tiers[instrument.tiers]
    maintenance = calculate_margin_maint(instrument.notional(remaining, mark), schedule,
                                         instrument.settlement_scale)
    if equity < maintenance:
        return False
    _post_close(state, bucket, position, fill, close, payment=payment, exact=exact)
    _post_fee(state, bucket, instrument, fee)
    state.partial.append(bucket.name)
    return True


def _partial_lots(state: _Round, instrument: Instrument, mark: int, size: int) -> int:
    """Lots to close: down below the current tier's floor, or the configured fraction."""
    fraction = ceil_exact(Fraction(size * state.policy.partial_fraction_ppm, ppm))
    schedule = state.tiers[instrument.tiers]
    scale = instrument.settlement_scale
    per_lot = instrument.notional(1, mark)
    k = tier_index(schedule, per_lot * size, scale)
    if k == 0:
        return fraction
    floor_minor = schedule[k].notional_floor * 10**scale
    keep = max(ceil_exact(floor_minor / per_lot) - 1, 0)  # notional strictly below the floor
    return max(size - keep, fraction)


def _fee(policy: LiquidationPolicy, notional: Fraction, equity_left: int) -> int:
    return max(min(ceil_exact(notional * policy.fee_ppm / ppm), equity_left), 0)


def _post_close(
    state: _Round, bucket: BucketState, position: Position, fill: int, close: int, *,
    payment: int, exact: Fraction,
) -> None:
    """Settle the whole position at the fill, re-base what remains there, order the close."""
    instrument = state.instruments[position.symbol]
    symbol = position.symbol
    side = _sign(position.quantity_lots)
    remaining = position.quantity_lots - side * close
    state.orders.append(CloseOrder(bucket.name, symbol, -side * close, fill,
                                   remaining == 0))
    state.settled.append(SettledValue(bucket.name, symbol, exact))
    state.positions.append(
        Position(bucket.name, symbol, remaining, remaining * instrument.lot_value(fill))
    )
    _post_payment(state, bucket.name, instrument, payment)


def _post_payment(state: _Round, bucket: str, instrument: Instrument, payment: int) -> None:
    code = LiquidationCode.liquidation_settlement
    own, clearing = collateral_account(bucket), clearing_account(instrument.symbol)
    if payment < 0:
        state.transfer(own, clearing, -payment, code, instrument.settlement, bucket,
                       instrument.symbol)
    elif payment > 0:
        state.transfer(clearing, own, payment, code, instrument.settlement, bucket,
                       instrument.symbol)


def _post_fee(state: _Round, bucket: BucketState, instrument: Instrument, fee: int) -> None:
    if fee <= 0:
        return
    state.transfer(collateral_account(bucket.name), insurance_account(instrument.symbol), fee,
                   LiquidationCode.liquidation_fee, instrument.settlement, bucket.name,
                   instrument.symbol)
    state.insurance[instrument.symbol] = state.insurance.get(instrument.symbol, 0) + fee


def _liquidate_fully(state: _Round, bucket: BucketState) -> None:
    """Close every position at its fillable price (step 4), or resolve a bankruptcy (5)."""
    closes = []
    for position in bucket.positions:
        instrument = state.instruments[position.symbol]
        if position.quantity_lots:
            fill = fillable_price(instrument, state.marks[position.symbol],
                                  position.quantity_lots > 0, state.policy.slippage_ppm)
        else:
            fill = state.marks[position.symbol]  # realised P&L only: settled at the mark
        exact = position.quantity_lots * instrument.lot_value(fill) - position.basis
        closes.append((position, fill, exact))
    # Payments round against the client per market, so solvency is judged on the rounded
    # payments: a bucket a few units short after rounding is resolved as bankrupt.
    if bucket.collateral + sum(against_client(c[2]) for c in closes) < 0:
        _resolve_bankruptcy(state, bucket, closes)
        return
    cash = bucket.collateral
    for position, fill, exact in closes:
        payment = against_client(exact)
        _post_close(state, bucket, position, fill, abs(position.quantity_lots),
                    payment=payment, exact=exact)
        cash += payment
    assert cash >= 0
    for position, fill, _ in closes:
        instrument = state.instruments[position.symbol]
        fee = _fee(state.policy, instrument.notional(position.quantity_lots, fill), cash)
        _post_fee(state, bucket, instrument, fee)
        cash -= fee


def _resolve_bankruptcy(
    state: _Round, bucket: BucketState, closes: list[tuple[Position, int, Fraction]]
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
            _post_close(state, bucket, position, fill, abs(position.quantity_lots),
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
        _post_payment(state, bucket.name, instrument, -pay)
    assert cash == 0 or not losing, "a bankrupt bucket keeps nothing"


def _cover_market(
    state: _Round, bucket: str, position: Position, fill: int, share: Fraction
) -> Fraction:
    """Cover one market's share of a bankruptcy; returns the exact value the position
    realised (its lots closed at the fill, the deleveraged ones at the bankruptcy value)."""
    instrument = state.instruments[position.symbol]
    symbol = position.symbol
    lots = abs(position.quantity_lots)
    side = _sign(position.quantity_lots)
    fill_value = instrument.lot_value(fill)
    exact_at_fill = position.quantity_lots * fill_value - position.basis
    if share == 0:
        if lots:
            state.orders.append(CloseOrder(bucket, symbol, -side * lots, fill, True))
        return exact_at_fill
    per_lot = share / lots
    funded = _draw_funds(state, bucket, instrument, lots, per_lot)
    bankruptcy_value = fill_value + side * per_lot
    deleveraged = _deleverage(state, bucket, position, lots - funded, bankruptcy_value)
    market_lots = lots - deleveraged
    if market_lots:
        state.orders.append(CloseOrder(bucket, symbol, -side * market_lots, fill, True))
    unresolved = lots - funded - deleveraged
    if unresolved:
        state.unresolved[symbol] = state.unresolved.get(symbol, 0) + ceil_exact(
            unresolved * per_lot)
    return exact_at_fill + deleveraged * per_lot


def _draw_funds(
    state: _Round, bucket: str, instrument: Instrument, lots: int, per_lot: Fraction
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


def _deleverage(
    state: _Round, bankrupt: str, position: Position, lots: int, lot_value: Fraction
) -> int:
    """Close up to ``lots`` of profitable opposite positions in the same market at the
    bankruptcy value, highest rank first; returns the lots placed. The ranking is taken once
    per market and side per round, at the mark (BitMEX ranks at a point in time too)."""
    if lots == 0:
        return 0
    symbol = position.symbol
    side = _sign(position.quantity_lots)
    mark_value = state.instruments[symbol].lot_value(state.marks[symbol])
    gap = side * (lot_value - mark_value)  # each lot's cost to the counterparty vs the mark
    key = (symbol, -side)
    if key not in state.rankings:
        state.rankings[key] = _ranking(state, symbol, -side)
        state.ranking_start[key] = 0
    ranking = state.rankings[key]
    placed = 0
    for index in range(state.ranking_start[key], len(ranking)):
        rank, name = ranking[index]
        held = state.lots_left[(name, symbol)]
        equity = state.equity_left[name]
        bearable = abs(held.quantity_lots) if gap <= 0 else floor_exact(equity / gap)
        take = min(lots - placed, abs(held.quantity_lots), bearable)
        if take <= 0:
            continue
        fill_lots = side * take
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


def _ranking(state: _Round, symbol: str, side: int) -> list[tuple[Fraction, str]]:
    """Profitable positions on ``side`` in one market, by profit % x effective leverage
    (BitMEX), highest first, ties by name. Effective leverage is notional over the holding
    bucket's equity; profit % is profit over the position's basis (or notional)."""
    instrument = state.instruments[symbol]
    mark_value = instrument.lot_value(state.marks[symbol])
    ranked = []
    for name in state.holders.get(symbol, ()):
        bucket = state.counterparties[name]
        held = state.lots_left.get((name, symbol)) or next(
            (p for p in bucket.positions if p.symbol == symbol), None)
        if held is None or _sign(held.quantity_lots) != side or held.quantity_lots == 0:
            continue
        if name not in state.equity_left:
            state.equity_left[name] = exact_equity(bucket, state.instruments, state.marks)
        equity = state.equity_left[name]
        value = held.quantity_lots * mark_value
        profit = value - held.basis
        if profit <= 0 or equity <= 0:
            continue
        cost = abs(held.basis) or abs(value)
        ranked.append((profit / cost * abs(value) / equity, name))
        state.lots_left.setdefault((name, symbol), held)
    ranked.sort(key=lambda entry: (-entry[0], entry[1]))
    return ranked


def conservation_gap(plan: LiquidationPlan, symbol: str) -> Fraction:
    """Cash the market's clearing account received in the plan plus the exact value its
    settled positions realised: never negative unless the market is unresolved (rounding
    is in clearing's favour), and below one unit per transfer."""
    clearing = clearing_account(symbol)
    cash = sum(t.amount for t in plan.transfers if t.credit == clearing) - sum(
        t.amount for t in plan.transfers if t.debit == clearing)
    realised = sum((s.exact for s in plan.settled if s.symbol == symbol), Fraction(0))
    return cash + realised
