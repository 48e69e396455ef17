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

import functools
import hashlib
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from enum import StrEnum, unique
from fractions import Fraction
from typing import Any, NamedTuple, cast

import numpy as np
from numpy.typing import NDArray

from ringfence.core import limits
from ringfence.core.errors import InputError, Result
from ringfence.core.risk.config import Tier, ppm
from ringfence.core.risk.instruments import Instrument, InstrumentKind, Position
from ringfence.core.risk.margin import calculate_margin_maint, cumulative_deductions, tier_index
from ringfence.core.risk.rounding import against_client, ceil_exact, floor_exact
from ringfence.core.risk.scan import Health, ScanResult

liquidations_per_plan_max = limits.liquidations_per_plan_max
# Auto-deleveraging order only: a key never sizes a payment (those are exact below).
RankKey = float  # float-ok: a ranking key, not money


@unique
class LiquidationCode(StrEnum):
    """Why a planned transfer moves value; the next step maps these to ``TransferCode``s."""

    liquidation_settlement = "liquidation_settlement"  # bucket <-> clearing:<market>
    liquidation_fee = "liquidation_fee"  # bucket -> insurance:<market>
    insurance_payout = "insurance_payout"  # insurance:<market> -> clearing:<market>
    global_insurance_payout = "global_insurance_payout"  # global fund -> clearing:<market>


# A close's settlement and fee take the two halves of one digest (``_Ids.close``).
_close_codes = {LiquidationCode.liquidation_settlement: 0, LiquidationCode.liquidation_fee: 1}


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


class PlannedTransfer(NamedTuple):
    """A ledger transfer as plain data: account names, amount in minor units, why. A named
    tuple, as the engine's records are: a crash plans tens of thousands of them."""

    id: int
    debit: str
    credit: str
    amount: int
    code: LiquidationCode
    asset: str
    bucket: str = ""  # the liquidated bucket the transfer is for (a chain never splits one)

    @property
    def market(self) -> str:
        """The one market the transfer belongs to (every transfer names exactly one)."""
        for account in (self.credit, self.debit):
            family, _, symbol = account.partition(":")
            if family in ("clearing", "insurance"):
                return symbol
        raise AssertionError(f"a liquidation transfer names a market: {self}")


class CloseOrder(NamedTuple):
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


class SettledValue(NamedTuple):
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


class _Ids:
    """``transfer_id`` for one round, hashing the round's prefix once (SHA-256 of the same
    text, so the same ids): a crash derives tens of thousands of them."""

    def __init__(self, round_id: int) -> None:
        self.prefix = f"ringfence-liquidation:{round_id}:".encode()

    def __call__(self, *parts: object) -> int:
        return self.of(":".join(str(p) for p in parts))

    def of(self, text: str) -> int:
        """The id of ``code:bucket:market`` text (the parts already joined)."""
        digest = hashlib.sha256(self.prefix + text.encode()).digest()
        return int.from_bytes(digest[:16], "big") or 1

    def close(self, bucket: str, symbol: str) -> tuple[int, int]:
        """The ids of a close's settlement and fee: the two halves of one digest of
        ``close:bucket:market`` (one hash for both; a crash closes thousands of positions)."""
        digest = hashlib.sha256(self.prefix + f"close:{bucket}:{symbol}".encode()).digest()
        return (int.from_bytes(digest[:16], "big") or 1,
                int.from_bytes(digest[16:], "big") or 1)


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
    rankings: dict[tuple[str, int], list[tuple[RankKey, str]]] = field(default_factory=dict)
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
    ids: _Ids = field(init=False)
    values: dict[tuple[str, int], Fraction] = field(default_factory=dict)
    fills: dict[tuple[str, bool], int] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.ids = _Ids(self.round_id)

    def value(self, symbol: str, price_units: int) -> Fraction:
        """``lot_value`` memoised per market and price: a crash liquidates thousands of
        buckets at a handful of prices, and building the rational is most of the cost."""
        key = (symbol, price_units)
        found = self.values.get(key)
        if found is None:
            found = self.values[key] = self.instruments[symbol].lot_value(price_units)
        return found

    def fill(self, symbol: str, long: bool) -> int:
        """The fillable price of a close in one market and direction (memoised)."""
        key = (symbol, long)
        found = self.fills.get(key)
        if found is None:
            found = self.fills[key] = fillable_price(
                self.instruments[symbol], self.marks[symbol], long, self.policy.slippage_ppm)
        return found

    def notional(self, symbol: str, lots: int, price_units: int) -> Fraction:
        return abs(lots * self.value(symbol, price_units))

    def transfer(
        self, debit: str, credit: str, amount: int, code: LiquidationCode, asset: str,
        *key: object,
    ) -> None:
        assert amount > 0
        assert debit != credit
        if code in _close_codes:
            assert len(key) == 2
            transfer = self.ids.close(str(key[0]), str(key[1]))[_close_codes[code]]
        else:
            transfer = self.ids(code, *key)
        self.transfers.append(
            PlannedTransfer(transfer, debit, credit, amount, code, asset, str(key[0]))
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
    vectorised: bool = True,
) -> LiquidationPlan:
    """The liquidation plan for one scan round. ``buckets`` is the whole book (liquidatable
    buckets and possible auto-deleveraging counterparties alike); ``insurance`` maps each
    market to its fund's balance, ``global_funds`` each settlement asset to the global fund's.
    Buckets are planned in name order, so the plan does not depend on input order.

    With ``vectorised`` the solvent single-position buckets of linear markets are decided
    together in int64 arrays (exact: every value is an integer in units of ``1/D``, ``D`` the
    market's lot-value denominator) before the rest is planned one by one; the decisions are
    the same as the one-by-one path's (tested), but their fees reach the market's fund before
    any bankruptcy of the round draws on it."""
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
    rest = _plan_vectorised(state, planned) if vectorised else planned
    for bucket in rest:
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


def _plan_vectorised(state: _Round, planned: list[BucketState]) -> list[BucketState]:
    """Decide the solvent single-position buckets of linear markets together; returns, in name
    order, the buckets left for the one-by-one path (bankrupt, cross, inverse, too large)."""
    groups: dict[str, list[BucketState]] = {}
    rest: list[BucketState] = []
    for bucket in planned:
        positions = bucket.positions
        if len(positions) == 1 and positions[0].quantity_lots:
            instrument = state.instruments[positions[0].symbol]
            if instrument.kind is not InstrumentKind.option and not instrument.inverse:
                groups.setdefault(instrument.symbol, []).append(bucket)
                continue
        rest.append(bucket)
    for symbol, group in groups.items():
        rest += _vector_market(state, symbol, group)
    rest.sort(key=lambda b: b.name)
    return rest


def _vector_market(state: _Round, symbol: str, group: list[BucketState]) -> list[BucketState]:
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
    def build(state: _Round, symbol: str, group: list[BucketState]) -> _VectorInputs | None:
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
    state: _Round, a: _VectorInputs
) -> tuple[NDArray[np.bool_], NDArray[np.int64], NDArray[np.int64], NDArray[np.int64],
           NDArray[np.int64]] | None:
    """Steps 3-5 for every bucket at once: partial if it restores maintenance, else full;
    the fee capped by the equity left. The same integer formulas as ``_try_partial`` and
    ``_liquidate_fully``, multiplied through by the denominator."""
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
    state: _Round, a: _VectorInputs, group: list[BucketState], *, partial: NDArray[np.bool_],
    close: NDArray[np.int64], payment: NDArray[np.int64], fee: NDArray[np.int64],
    exact_d: NDArray[np.int64], skip: NDArray[np.bool_],
) -> None:
    """The decided buckets as orders, settled values, positions and transfers (as
    ``_post_close``, ``_post_payment`` and ``_post_fee`` would write them)."""
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
        add_position(Position(name, symbol, remaining, exact_of(remaining * fill_d)))
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
    state.insurance[symbol] = state.insurance.get(symbol, 0) + fees


# The named tuples' constructors without their Python-level ``__new__`` (fields in order).
_new_order = cast("Callable[[tuple[Any, ...]], CloseOrder]",
                  functools.partial(tuple.__new__, CloseOrder))
_new_settled = cast("Callable[[tuple[Any, ...]], SettledValue]",
                    functools.partial(tuple.__new__, SettledValue))
_new_transfer = cast("Callable[[tuple[Any, ...]], PlannedTransfer]",
                     functools.partial(tuple.__new__, PlannedTransfer))


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
    fill = state.fill(position.symbol, position.quantity_lots > 0)
    fill_value = state.value(position.symbol, fill)
    exact = position.quantity_lots * fill_value - position.basis
    payment = against_client(exact)
    if bucket.collateral + payment < 0:
        return False  # bankrupt at the fill: nothing partial about it
    close = _partial_lots(state, instrument, mark, size)
    if close >= size:
        return False
    fee = _fee(state.policy, state.notional(position.symbol, close, fill),
               bucket.collateral + payment)
    remaining = position.quantity_lots - _sign(position.quantity_lots) * close
    cash = bucket.collateral + payment - fee
    equity = cash + remaining * (state.value(position.symbol, mark) - fill_value)
    schedule = state.tiers[instrument.tiers]
    maintenance = calculate_margin_maint(state.notional(position.symbol, remaining, mark),
                                         schedule, instrument.settlement_scale)
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
    per_lot = state.notional(instrument.symbol, 1, mark)
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
        Position(bucket.name, symbol, remaining, remaining * state.value(symbol, fill))
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
            fill = state.fill(position.symbol, position.quantity_lots > 0)
        else:
            fill = state.marks[position.symbol]  # realised P&L only: settled at the mark
        exact = position.quantity_lots * state.value(position.symbol, fill) - position.basis
        closes.append((position, fill, exact))
    # Payments round against the client per market, so solvency is judged on the rounded
    # payments: a bucket a few units short after rounding is resolved as bankrupt.
    if bucket.collateral + sum(against_client(c[2]) for c in closes) < 0:
        _resolve_bankruptcy(state, bucket, closes)
        return
    cash = bucket.collateral
    # Gains first: posted in this order, the collateral never dips below zero on the way.
    for position, fill, exact in sorted(closes, key=lambda close: -close[2]):
        payment = against_client(exact)
        _post_close(state, bucket, position, fill, abs(position.quantity_lots),
                    payment=payment, exact=exact)
        cash += payment
    assert cash >= 0
    for position, fill, _ in closes:
        instrument = state.instruments[position.symbol]
        fee = _fee(state.policy, state.notional(position.symbol, position.quantity_lots, fill),
                   cash)
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
    fill_value = state.value(symbol, fill)
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


def _ranking(state: _Round, symbol: str, side: int) -> list[tuple[RankKey, str]]:
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
        if held is None or _sign(held.quantity_lots) != side or held.quantity_lots == 0:
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


def _exact_rank(state: _Round, name: str, held: Position) -> Fraction:
    """The BitMEX score of a counterparty exactly (recorded with its deleveraging)."""
    value = held.quantity_lots * state.value(held.symbol, state.marks[held.symbol])
    cost = abs(held.basis) or abs(value)
    equity = state.equity_left[name]
    if equity <= 0 or cost == 0:
        return Fraction(0)
    return (value - held.basis) / cost * abs(value) / equity


def _equity_of(state: _Round, name: str) -> Fraction:
    """A counterparty's equity left this round, valued exactly on first use: at the marks, or
    by its scan if it holds options (options are priced there, not at a mark)."""
    equity = state.equity_left.get(name)
    if equity is None:
        bucket = state.counterparties[name]
        equity = state.equity_left[name] = (
            Fraction(bucket.equity) if _has_option(bucket, state.instruments)
            else exact_equity(bucket, state.instruments, state.marks)
        )
    return equity


def conservation_gap(plan: LiquidationPlan, symbol: str) -> Fraction:
    """Cash the market's clearing account received in the plan plus the exact value its
    settled positions realised: never negative unless the market is unresolved (rounding
    is in clearing's favour), and below one unit per transfer."""
    clearing = clearing_account(symbol)
    cash = sum(t.amount for t in plan.transfers if t.credit == clearing) - sum(
        t.amount for t in plan.transfers if t.debit == clearing)
    realised = sum((s.exact for s in plan.settled if s.symbol == symbol), Fraction(0))
    return cash + realised
