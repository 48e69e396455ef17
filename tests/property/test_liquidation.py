"""Liquidation properties over random books and price paths with gaps of -50% and +100%:
nothing crosses a bucket or a market, value is conserved, funds never go negative, clients
with no open position are untouched and no bucket ends below zero; and the vectorised planner
and the exact one give equal plans on every book."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Mapping, Sequence
from fractions import Fraction
from unittest import mock

from hypothesis import event, given, settings
from hypothesis import strategies as st

from ringfence.core.liquidation import bankruptcy
from ringfence.core.liquidation.plan import conservation_gap, plan_liquidations
from ringfence.core.liquidation.records import (
    BucketState,
    LiquidationPlan,
    LiquidationPolicy,
    PortfolioMaintenance,
)
from ringfence.core.liquidation.valuation import exact_equity
from ringfence.core.risk.config import Tier
from ringfence.core.risk.instruments import Instrument, InstrumentKind, OptionType, Position
from ringfence.core.risk.margin import calculate_margin_maint
from ringfence.core.risk.rounding import ceil_exact, floor_exact
from ringfence.core.risk.settlement import Fill, apply_fill

markets = {
    "lin": Instrument("lin", InstrumentKind.perpetual, "btc", "USDC", 6, 1, 1, 1, 3),
    "eth": Instrument("eth", InstrumentKind.perpetual, "eth", "USDC", 6, 1, 1, 1, 2),
    "inv": Instrument("inv", InstrumentKind.perpetual, "btc", "BTC", 8, 1, 5, 100,
                      inverse=True, tiers="inverse"),
}
tiers = {
    "linear": (Tier(0, 5_000, 20_000), Tier(500, 10_000, 40_000)),
    "inverse": (Tier(0, 5_000, 20_000), Tier(1, 20_000, 50_000)),
}
# A call on 0.001 BTC struck at 20,000: its "mark" is its premium (2,000.0 USDC to start),
# moved like the others; the planner takes it as the option's premium mark.
markets["opt"] = Instrument("opt", InstrumentKind.option, "btc", "USDC", 6, 1, 1, 1, 3,
                            expiry_ns=10**18, strike_units=200_000,
                            option_type=OptionType.call)
start_marks = {"lin": 200_000, "eth": 20_000, "inv": 200_000, "opt": 20_000}


def premiums(marks: Mapping[str, int]) -> dict[str, int]:
    return {symbol: marks[symbol] for symbol in markets
            if markets[symbol].kind is InstrumentKind.option}
# Moves between scans, in ppm of the mark: crashes and spikes, -50% and +100% included.
moves = st.sampled_from([500_000, 700_000, 900_000, 980_000, 1_000_000, 1_020_000,
                         1_100_000, 1_500_000, 2_000_000])
trade = st.tuples(st.integers(0, 5), st.integers(0, 5), st.sampled_from(sorted(markets)),
                  st.integers(1, 800), st.integers(900_000, 1_100_000))


def build_book(
    trades: Sequence[tuple[int, int, str, int, int]], collateral: Sequence[int]
) -> tuple[dict[str, int], dict[tuple[str, str], Position]]:
    positions: dict[tuple[str, str], Position] = {}
    fill_id = 1
    for buyer, seller, symbol, lots, move in trades:
        if buyer == seller:
            continue
        instrument = markets[symbol]
        price = start_marks[symbol] * move // 1_000_000 // instrument.tick_units
        price = max(price, 1) * instrument.tick_units
        suffix = instrument.settlement.lower()
        for name, signed in ((f"b{buyer}-{suffix}", lots), (f"b{seller}-{suffix}", -lots)):
            key = (name, symbol)
            fill = Fill(fill_id, name, symbol, signed, price)
            positions[key] = apply_fill(positions.get(key), fill, instrument)
            fill_id += 1
    cash = {}
    for k, whole in enumerate(collateral):
        cash[f"b{k % 6}-usdc" if k < 6 else f"b{k % 6}-btc"] = whole * (10**6 if k < 6 else 10**5)
    return cash, positions


def states(
    cash: Mapping[str, int], positions: Mapping[tuple[str, str], Position],
    marks: Mapping[str, int],
) -> list[BucketState]:
    """One cross bucket per client and settlement asset, scanned exactly."""
    result = []
    for name, collateral in sorted(cash.items()):
        held = tuple(p for (owner, _), p in sorted(positions.items()) if owner == name)
        asset = "USDC" if name.endswith("usdc") else "BTC"
        state = BucketState(name, asset, collateral, 0, 0, held)
        maintenance = sum(
            calculate_margin_maint(
                markets[p.symbol].notional(p.quantity_lots, marks[p.symbol]),
                tiers[markets[p.symbol].tiers], markets[p.symbol].settlement_scale,
            )
            for p in held
        )
        equity = floor_exact(exact_equity(state, markets, marks))
        result.append(BucketState(name, asset, collateral, equity, maintenance, held,
                                  cross=True))
    return result


def maintenance_at(positions: Sequence[Position], marks: Mapping[str, int]) -> int:
    return sum(
        calculate_margin_maint(
            markets[p.symbol].notional(p.quantity_lots, marks[p.symbol]),
            tiers[markets[p.symbol].tiers], markets[p.symbol].settlement_scale,
        )
        for p in positions
    )


def check_plan(plan: LiquidationPlan, book: Sequence[BucketState], marks: Mapping[str, int],
               insurance: Mapping[str, int]) -> None:
    by_name = {b.name: b for b in book}
    liquidated = set(plan.liquidated)
    for transfer in plan.transfers:
        assert transfer.amount > 0
        assert type(transfer.amount) is int
        touched = {transfer.debit, transfer.credit}
        market_accounts = {a.split(":", 1)[1] for a in touched
                           if a.startswith(("clearing:", "insurance:"))}
        assert len(market_accounts) == 1, f"one market per transfer: {transfer}"
        (symbol,) = market_accounts
        assert markets[symbol].settlement == transfer.asset
        for account in touched:
            if account.startswith("collateral:"):
                owner = account.removeprefix("collateral:")
                # Only the bucket being liquidated pays or receives, in a market it holds.
                assert owner in liquidated
                assert any(p.symbol == symbol for p in by_name[owner].positions)
        assert transfer.debit.startswith(("collateral:", "insurance:", "clearing:",
                                          "insurance-global:"))
    for entry in plan.deleveraging:
        assert entry.bucket not in liquidated
        bankrupt = by_name[entry.against]
        (held,) = [p for p in bankrupt.positions if p.symbol == entry.symbol]
        assert (held.quantity_lots > 0) == (entry.quantity_lots > 0), "the bankrupt's side"
        (own,) = [p for p in by_name[entry.bucket].positions if p.symbol == entry.symbol]
        assert (own.quantity_lots > 0) != (entry.quantity_lots > 0), "an opposite position"
        assert abs(entry.quantity_lots) <= abs(own.quantity_lots), "only reduced, never flipped"
    assert all(balance >= 0 for balance in plan.insurance_after.values())
    assert all(balance >= 0 for balance in plan.global_after.values())
    check_funds(plan, insurance)
    check_conservation(plan, book, insurance)
    check_after(plan, book, marks)


def check_funds(plan: LiquidationPlan, insurance: Mapping[str, int]) -> None:
    for symbol in markets:
        account = f"insurance:{symbol}"
        flow = sum(t.amount for t in plan.transfers if t.credit == account) - sum(
            t.amount for t in plan.transfers if t.debit == account)
        assert plan.insurance_after.get(symbol, 0) == insurance.get(symbol, 0) + flow


def check_conservation(plan: LiquidationPlan, book: Sequence[BucketState],
                       insurance: Mapping[str, int]) -> None:
    before = {(p.bucket, p.symbol): p for b in book for p in b.positions}
    assets = {b.name: b.settlement for b in book}
    net: dict[str, int] = defaultdict(int)
    for transfer in plan.transfers:
        # Every account a transfer touches holds the transfer's asset: value never changes
        # asset, so each asset's planned flows sum to zero on their own.
        for account, sign in ((transfer.debit, -1), (transfer.credit, 1)):
            kind, _, owner = account.partition(":")
            if kind == "collateral":
                assert assets[owner] == transfer.asset
            elif kind == "insurance-global":
                assert owner == transfer.asset.lower()
            else:
                assert markets[owner].settlement == transfer.asset
            net[transfer.asset] += sign * transfer.amount
    assert all(total == 0 for total in net.values())
    for symbol, instrument in markets.items():
        # Clearing's cash covers the exact value realised, rounding only in its favour,
        # unless the market is reported unresolved (then short by at most that).
        gap = conservation_gap(plan, symbol)
        unresolved = plan.unresolved.get(symbol, 0)
        transfers = sum(1 for t in plan.transfers if symbol in (t.debit + t.credit))
        assert -unresolved <= gap < transfers + 1
        # Positions give up exactly the value settled, the rest going to the venue's fills.
        moved = sum((p.basis - before[(p.bucket, p.symbol)].basis
                     for p in plan.positions if p.symbol == symbol), Fraction(0))
        filled = sum((o.quantity_lots * instrument.lot_value(o.price_units)
                      for o in plan.orders if o.symbol == symbol), Fraction(0))
        settled = sum((s.exact for s in plan.settled if s.symbol == symbol), Fraction(0))
        assert moved - filled == settled


def check_after(plan: LiquidationPlan, book: Sequence[BucketState],
                marks: Mapping[str, int]) -> None:
    changed = {(p.bucket, p.symbol): p for p in plan.positions}
    for bucket in book:
        account = f"collateral:{bucket.name}"
        flow = sum(t.amount for t in plan.transfers if t.credit == account) - sum(
            t.amount for t in plan.transfers if t.debit == account)
        positions = tuple(changed.get((bucket.name, p.symbol), p) for p in bucket.positions)
        if not bucket.open:
            assert flow == 0
            assert positions == bucket.positions
            continue
        after = BucketState(bucket.name, bucket.settlement, bucket.collateral + flow, 0, 0,
                            positions)
        assert after.collateral >= 0
        assert exact_equity(after, markets, marks) >= 0, bucket.name
        if bucket.name in plan.partial:
            # A partial liquidation stops only once the rest is covered at the mark.
            left = [p for p in positions if p.quantity_lots]
            owed = (portfolio_requirement(marks)(bucket.name, left) if bucket.portfolio
                    else maintenance_at(positions, marks))
            assert exact_equity(after, markets, marks) >= owed
            assert left


def apply(plan: LiquidationPlan, cash: dict[str, int],
          positions: dict[tuple[str, str], Position]) -> None:
    """Post the plan to the test's book: collateral by bucket, positions replaced."""
    for transfer in plan.transfers:
        for account, sign in ((transfer.debit, -1), (transfer.credit, 1)):
            if account.startswith("collateral:"):
                cash[account.removeprefix("collateral:")] += sign * transfer.amount
    for position in plan.positions:
        positions[(position.bucket, position.symbol)] = position


@settings(max_examples=120, deadline=None)
@given(
    trades=st.lists(trade, min_size=1, max_size=12),
    collateral=st.lists(st.integers(0, 3_000), min_size=12, max_size=12),
    path=st.lists(st.tuples(moves, moves, moves, moves), min_size=1, max_size=3),
    insurance=st.dictionaries(st.sampled_from(sorted(markets)), st.integers(0, 2_000 * 10**6)),
    global_allowed=st.booleans(),
    slippage_ppm=st.integers(0, 20_000),
)
def test_liquidation_never_crosses_a_boundary(  # type: ignore[no-untyped-def]
    *, trades, collateral, path, insurance, global_allowed, slippage_ppm
) -> None:
    cash, positions = build_book(trades, collateral)
    policy = LiquidationPolicy(slippage_ppm=slippage_ppm, fee_ppm=2_000,
                               global_fund_allowed=global_allowed)
    marks = dict(start_marks)
    funds = dict(insurance)
    global_funds = {"USDC": 100 * 10**6, "BTC": 10**6}
    for round_id, factors in enumerate(path, start=1):
        for symbol, factor in zip(sorted(markets), factors, strict=True):
            tick = markets[symbol].tick_units
            marks[symbol] = max(marks[symbol] * factor // 1_000_000 // tick, 1) * tick
        book = states(cash, positions, marks)
        plan = plan_liquidations(round_id, book, markets, marks, insurance=funds,
                                 tiers=tiers, policy=policy, global_funds=global_funds,
                                 option_marks=premiums(marks))
        check_plan(plan, book, marks, funds)
        again = plan_liquidations(round_id, list(reversed(book)), markets, marks,
                                  insurance=funds, tiers=tiers, policy=policy,
                                  global_funds=global_funds,
                                  option_marks=premiums(marks))
        assert again == plan, "a plan is a value: same inputs, same ids, same everything"
        exact = plan_liquidations(round_id, book, markets, marks, insurance=funds,
                                  tiers=tiers, policy=policy, global_funds=global_funds,
                                  option_marks=premiums(marks), vectorised=False)
        assert exact == plan, "the vectorised and the exact paths give one outcome"
        event("an option closed" if any(o.symbol == "opt" for o in plan.orders)
              else "no option closed")
        apply(plan, cash, positions)
        funds = dict(plan.insurance_after)
        global_funds = dict(plan.global_after)


def isolated_book(
    trades: Sequence[tuple[int, int, str, int, int]], collateral: Sequence[int],
    marks: Mapping[str, int],
) -> list[BucketState]:
    """One isolated bucket per trade side: single-position buckets, the vectorised path's
    case, in every market (the inverse one goes the one-by-one way)."""
    book = []
    for k, (_, _, symbol, lots, move) in enumerate(trades):
        instrument = markets[symbol]
        price = max(start_marks[symbol] * move // 1_000_000 // instrument.tick_units, 1)
        price *= instrument.tick_units
        scale = 10**5 if instrument.settlement == "BTC" else 10**6
        for side, name in ((1, f"i{k:02d}-long"), (-1, f"i{k:02d}-short")):
            fill = Fill(1, name, symbol, side * lots, price)
            position = apply_fill(None, fill, instrument)
            cash = collateral[(2 * k + (side < 0)) % len(collateral)] * scale // 10
            state = BucketState(name, instrument.settlement, cash, 0, 0, (position,))
            maintenance = calculate_margin_maint(
                instrument.notional(lots, marks[symbol]), tiers[instrument.tiers],
                instrument.settlement_scale)
            equity = floor_exact(exact_equity(state, markets, marks))
            book.append(BucketState(name, instrument.settlement, cash, equity, maintenance,
                                    (position,)))
    return book


@settings(max_examples=150, deadline=None)
@given(
    trades=st.lists(trade, min_size=1, max_size=14),
    collateral=st.lists(st.integers(0, 3_000), min_size=6, max_size=6),
    factors=st.tuples(moves, moves, moves, moves),
    partial_ppm=st.integers(1, 999_999),
    slippage_ppm=st.integers(0, 20_000),
    fee_ppm=st.integers(0, 20_000),
    fund=st.one_of(st.sampled_from([0, 10**6, 10**18]), st.integers(0, 5_000 * 10**6)),
)
def test_the_vectorised_path_plans_as_the_exact_one(  # type: ignore[no-untyped-def]
    *, trades, collateral, factors, partial_ppm, slippage_ppm, fee_ppm, fund
) -> None:
    marks = {}
    for symbol, factor in zip(sorted(markets), factors, strict=True):
        tick = markets[symbol].tick_units
        marks[symbol] = max(start_marks[symbol] * factor // 1_000_000 // tick, 1) * tick
    book = isolated_book(trades, collateral, marks)
    policy = LiquidationPolicy(partial_ppm, slippage_ppm, fee_ppm)
    insurance = dict.fromkeys(markets, fund)
    fast = plan_liquidations(9, book, markets, marks, insurance=insurance, tiers=tiers,
                             policy=policy, option_marks=premiums(marks))
    check_plan(fast, book, marks, insurance)
    exact = plan_liquidations(9, book, markets, marks, insurance=insurance, tiers=tiers,
                              policy=policy, option_marks=premiums(marks), vectorised=False)
    # One outcome: every record, the deleveraging list, the funds, the unresolved losses
    # (the markets halted), the partial closes, in the same order. No exclusion.
    assert fast == exact
    # Bankruptcies a market's fund covers whole are planned in integers; the general steps
    # (Fractions, the waterfall) give the same plan.
    with mock.patch.object(bankruptcy, "paid_by_market_fund", return_value=False):
        general = plan_liquidations(9, book, markets, marks, insurance=insurance, tiers=tiers,
                                    policy=policy, option_marks=premiums(marks))
    assert general == fast


@settings(max_examples=150, deadline=None)
@given(
    held=st.lists(st.tuples(st.sampled_from(["lin", "eth"]), st.integers(-800, 800).filter(bool),
                            st.integers(900_000, 1_100_000)),
                  min_size=2, max_size=2, unique_by=lambda h: h[0]),
    below_ppm=st.one_of(st.integers(0, 999_999), st.integers(950_000, 999_999)),
    slippage_ppm=st.integers(0, 2_000),
    fee_ppm=st.integers(0, 2_000),
)
def test_a_cross_bucket_in_part_closes_its_largest_requirements_first(  # type: ignore[no-untyped-def]
    *, held, below_ppm, slippage_ppm, fee_ppm
) -> None:
    """Cross buckets just below maintenance: a partial liquidation reduces positions, the
    largest maintenance first, by the partial fraction or wholly, and stops once the rest is
    covered at the mark."""
    marks = dict(start_marks)
    positions = tuple(
        Position("x-usdc", symbol, lots, lots * markets[symbol].lot_value(
            max(start_marks[symbol] * move // 1_000_000, 1)))
        for symbol, lots, move in held
    )
    maintenance = maintenance_at(positions, marks)
    unrealised = exact_equity(BucketState("x-usdc", "USDC", 0, 0, 0, positions), markets, marks)
    target = maintenance * below_ppm // 1_000_000  # equity just below maintenance
    collateral = max(floor_exact(target - unrealised), 0)
    state = BucketState("x-usdc", "USDC", collateral, 0, 0, positions)
    equity = floor_exact(exact_equity(state, markets, marks))
    book = [BucketState("x-usdc", "USDC", collateral, equity, maintenance, positions,
                        cross=True)]
    policy = LiquidationPolicy(slippage_ppm=slippage_ppm, fee_ppm=fee_ppm)
    plan = plan_liquidations(5, book, markets, marks, insurance={}, tiers=tiers, policy=policy)
    check_plan(plan, book, marks, {})
    assert plan == plan_liquidations(5, book, markets, marks, insurance={}, tiers=tiers,
                                     policy=policy, vectorised=False)
    event("in part" if plan.partial else "in full" if plan.orders else "not liquidated")
    if plan.partial:
        closed = [o.symbol for o in plan.orders]
        # Whole positions, then at most one reduced by the partial fraction, the last.
        assert all(o.full for o in plan.orders[:-1])
        ranked = sorted(positions, key=lambda p: (-maintenance_at((p,), marks), p.symbol))
        assert closed == [p.symbol for p in ranked[: len(closed)]]
        assert len(closed) < len(positions)
        event("last reduced" if not plan.orders[-1].full else "whole positions")


def portfolio_requirement(marks: Mapping[str, int]) -> PortfolioMaintenance:
    """A stand-in for the scan's portfolio requirement: 5% of the net value at the marks plus
    0.5% of the gross, so that opposite positions offset."""

    def owed(_bucket: str, positions: Sequence[Position]) -> int:
        values = [p.quantity_lots * markets[p.symbol].lot_value(marks[p.symbol])
                  for p in positions]
        net = abs(sum(values, Fraction(0)))
        return ceil_exact(net / 20 + sum((abs(v) for v in values), Fraction(0)) / 200)

    return owed


@settings(max_examples=150, deadline=None)
@given(
    lots=st.tuples(st.integers(-800, 800).filter(bool), st.integers(-800, 800).filter(bool)),
    entries=st.tuples(st.integers(900_000, 1_100_000), st.integers(500_000, 2_000_000)),
    factors=st.tuples(moves, moves),
    below_ppm=st.one_of(st.integers(0, 999_999), st.integers(950_000, 999_999)),
    slippage_ppm=st.integers(0, 20_000),
    fee_ppm=st.integers(0, 20_000),
)
def test_a_portfolio_bucket_in_part_keeps_every_property(  # type: ignore[no-untyped-def]
    *, lots, entries, factors, below_ppm, slippage_ppm, fee_ppm
) -> None:
    """A portfolio bucket (the perpetual and the call on BTC) just below its requirement:
    a partial liquidation reduces (by the partial fraction, else wholly) the position whose
    close frees the most of it and stops only once the rest is covered; conservation and the
    other properties hold, on both paths."""
    marks = dict(start_marks)
    symbols = ("lin", "opt")
    for symbol, factor in zip(symbols, factors, strict=True):
        marks[symbol] = max(start_marks[symbol] * factor // 1_000_000, 1)
    positions = tuple(
        Position("p-usdc", symbol, held, held * markets[symbol].lot_value(
            max(start_marks[symbol] * move // 1_000_000, 1)))
        for symbol, held, move in zip(symbols, lots, entries, strict=True))
    requirement = portfolio_requirement(marks)
    owed = requirement("p-usdc", positions)
    unrealised = exact_equity(BucketState("p-usdc", "USDC", 0, 0, 0, positions), markets, marks)
    collateral = max(floor_exact(owed * below_ppm // 1_000_000 - unrealised), 0)
    state = BucketState("p-usdc", "USDC", collateral, 0, 0, positions)
    equity = floor_exact(exact_equity(state, markets, marks))
    book = [BucketState("p-usdc", "USDC", collateral, equity, owed, positions, portfolio=True)]
    policy = LiquidationPolicy(slippage_ppm=slippage_ppm, fee_ppm=fee_ppm)
    plans = [plan_liquidations(5, book, markets, marks, insurance={}, tiers=tiers, policy=policy,
                               option_marks=premiums(marks), portfolio_maintenance=requirement,
                               vectorised=vectorised) for vectorised in (True, False)]
    assert plans[0] == plans[1]
    plan = plans[0]
    check_plan(plan, book, marks, {})
    event("in full" if plan.orders and not plan.partial else "not liquidated"
          if not plan.orders else "one position reduced" if not plan.orders[0].full
          else "one position closed")
    if plan.partial:
        (order,) = plan.orders
        (kept,) = [p for p in positions if p.symbol != order.symbol]
        (closed,) = [p for p in positions if p.symbol == order.symbol]
        # Closing it freed at least as much as closing the kept one would have.
        assert owed - requirement("p-usdc", [kept]) >= owed - requirement("p-usdc", [closed])
