"""One plan being built: the round's memoised lot values and fillable prices, and how a
close, its settlement payment and its fee are written into the plan."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from fractions import Fraction

from ringfence.core.liquidation.records import (
    BucketState,
    CloseOrder,
    Deleveraging,
    LiquidationCode,
    LiquidationPolicy,
    PlannedTransfer,
    PortfolioMaintenance,
    RoundIds,
    SettledValue,
    clearing_account,
    close_codes,
    collateral_account,
    insurance_account,
)
from ringfence.core.liquidation.valuation import fillable_price
from ringfence.core.risk.config import Tier, ppm
from ringfence.core.risk.instruments import Instrument, InstrumentKind, Position
from ringfence.core.risk.rounding import ceil_exact

# Auto-deleveraging order only: a key never sizes a payment (those are exact below).
RankKey = float  # float-ok: a ranking key, not money


@dataclass(slots=True)
class PlanningRound:
    """What a plan accumulates; private and mutable only while one plan is built."""

    round_id: int
    instruments: Mapping[str, Instrument]
    marks: Mapping[str, int]
    policy: LiquidationPolicy
    tiers: Mapping[str, tuple[Tier, ...]]
    insurance: dict[str, int]
    global_funds: dict[str, int]
    counterparties: dict[str, BucketState]
    portfolio_maintenance: PortfolioMaintenance | None = None
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
    ids: RoundIds = field(init=False)
    values: dict[tuple[str, int], Fraction] = field(default_factory=dict)
    fills: dict[tuple[str, bool], int] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.ids = RoundIds(self.round_id)

    def find_holders(self) -> None:
        """Who holds each market: the auto-deleveraging ranking reads only these."""
        for bucket in self.counterparties.values():
            for position in bucket.positions:
                if position.quantity_lots:
                    self.holders.setdefault(position.symbol, []).append(bucket.name)

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
        if code in close_codes:
            assert len(key) == 2
            transfer = self.ids.close(str(key[0]), str(key[1]))[close_codes[code]]
        else:
            transfer = self.ids(code, *key)
        self.transfers.append(
            PlannedTransfer(transfer, debit, credit, amount, code, asset, str(key[0]))
        )



def has_option(bucket: BucketState, instruments: Mapping[str, Instrument]) -> bool:
    return any(
        instruments[p.symbol].kind is InstrumentKind.option and p.quantity_lots
        for p in bucket.positions
    )


def sign(lots: int) -> int:
    return 1 if lots > 0 else -1


def liquidation_fee(policy: LiquidationPolicy, notional: Fraction, equity_left: int) -> int:
    return max(min(ceil_exact(notional * policy.fee_ppm / ppm), equity_left), 0)


def post_close(
    state: PlanningRound, bucket: BucketState, position: Position, fill: int, close: int, *,
    payment: int, exact: Fraction,
) -> None:
    """Settle the whole position at the fill, re-base what remains there, order the close."""
    instrument = state.instruments[position.symbol]
    symbol = position.symbol
    side = sign(position.quantity_lots)
    remaining = position.quantity_lots - side * close
    state.orders.append(CloseOrder(bucket.name, symbol, -side * close, fill,
                                   remaining == 0))
    state.settled.append(SettledValue(bucket.name, symbol, exact))
    state.positions.append(
        Position(bucket.name, symbol, remaining, remaining * state.value(symbol, fill))
    )
    post_payment(state, bucket.name, instrument, payment)


def post_payment(state: PlanningRound, bucket: str, instrument: Instrument, payment: int) -> None:
    code = LiquidationCode.liquidation_settlement
    own, clearing = collateral_account(bucket), clearing_account(instrument.symbol)
    if payment < 0:
        state.transfer(own, clearing, -payment, code, instrument.settlement, bucket,
                       instrument.symbol)
    elif payment > 0:
        state.transfer(clearing, own, payment, code, instrument.settlement, bucket,
                       instrument.symbol)


def post_fee(state: PlanningRound, bucket: BucketState, instrument: Instrument, fee: int) -> None:
    if fee <= 0:
        return
    state.transfer(collateral_account(bucket.name), insurance_account(instrument.symbol), fee,
                   LiquidationCode.liquidation_fee, instrument.settlement, bucket.name,
                   instrument.symbol)
    state.insurance[instrument.symbol] = state.insurance.get(instrument.symbol, 0) + fee
