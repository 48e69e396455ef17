"""core/liquidation/bankruptcy.py and the round's order: a bankruptcy draws on a fund that
already holds every solvent liquidation's fee of the round, on both planning paths, and the
fund pays exact amounts, never holding money back while its market halts."""

from __future__ import annotations

from fractions import Fraction

from ringfence.core.liquidation.plan import conservation_gap, plan_liquidations
from ringfence.core.liquidation.records import (
    BucketState,
    LiquidationCode,
    LiquidationPlan,
    LiquidationPolicy,
)
from ringfence.core.risk.config import Tier
from ringfence.core.risk.instruments import Instrument, InstrumentKind, Position
from ringfence.core.risk.margin import calculate_margin_maint
from ringfence.core.risk.rounding import floor_exact

usdt = 10**6
flat_half_percent = (Tier(0, 5_000, 20_000),)
tiers = {"linear": flat_half_percent}
btc = Instrument("btcusdt", InstrumentKind.perpetual, "btc", "USDT", 6, 1, 1, 1, 3)
instruments = {"btcusdt": btc}
gentle = LiquidationPolicy(slippage_ppm=1_000, fee_ppm=1_000)
mark = 180_000  # 18,000.0: a gap; closes fill at 17,982.0


def bucket(name: str, lots: int, entry: int, collateral: int) -> BucketState:
    position = Position(name, "btcusdt", lots, lots * btc.lot_value(entry))
    equity = collateral + lots * btc.lot_value(mark) - position.basis
    maintenance = calculate_margin_maint(btc.notional(lots, mark), flat_half_percent, 6)
    return BucketState(name, "USDT", collateral, floor_exact(equity), maintenance, (position,))


def bankrupt_long() -> BucketState:
    """1 BTC long at 20,000 with 400 USDT: closing at 17,982 leaves 1,618 USDT (1.618 USDT a
    lot) for the fund, the global fund or auto-deleveraging."""
    return bucket("a-long", 1_000, 200_000, 400 * usdt)


def both_paths(book: list[BucketState], fund: int, policy: LiquidationPolicy = gentle,
               global_funds: dict[str, int] | None = None) -> object:
    plans = [plan_liquidations(11, book, instruments, {"btcusdt": mark},
                               insurance={"btcusdt": fund}, tiers=tiers, policy=policy,
                               global_funds=global_funds, vectorised=vectorised)
             for vectorised in (True, False)]
    assert plans[0] == plans[1], "one outcome, whichever path planned it"
    return plans[0]


def test_a_bankruptcy_draws_on_the_fees_of_every_solvent_liquidation_of_the_round() -> None:
    # 100 BTC long at 18,100 with 15,000 USDT: solvent at the fill, closed in full; its fee
    # (0.1% of 1,798,200 USDT) reaches the fund before the bankruptcy, although "a-long"
    # comes first by name: the fund covers the 1,618 USDT, nobody is deleveraged, no halt.
    solvent = bucket("z-solvent", 100_000, 181_000, 15_000 * usdt)
    plan = both_paths([bankrupt_long(), solvent], 0)
    fee = next(t for t in plan.transfers if t.code is LiquidationCode.liquidation_fee)
    assert (fee.bucket, fee.amount) == ("z-solvent", 1_798_200_000)
    payout = next(t for t in plan.transfers if t.code is LiquidationCode.insurance_payout)
    assert (payout.bucket, payout.amount) == ("a-long", 1_618 * usdt)
    assert plan.unresolved == {}
    assert plan.insurance_after == {"btcusdt": 1_798_200_000 - 1_618 * usdt}
    # Solvent closes first, then bankruptcies: the plan's records follow the rule.
    assert [t.bucket for t in plan.transfers] == ["z-solvent", "z-solvent", "a-long", "a-long"]


def test_the_fund_pays_what_it_holds_before_the_market_halts() -> None:
    # 1,000 USDT against 1,618 USDT: in whole lots the fund paid 618 lots (999.924 USDT),
    # kept 0.076 USDT and left 382 lots (618.076 USDT) unresolved. It pays all it holds.
    plan = both_paths([bankrupt_long()], 1_000 * usdt)
    (payout,) = [t for t in plan.transfers if t.code is LiquidationCode.insurance_payout]
    assert payout.amount == 1_000 * usdt
    assert plan.insurance_after == {"btcusdt": 0}
    assert plan.unresolved == {"btcusdt": 618 * usdt}
    assert conservation_gap(plan, "btcusdt") == -618 * usdt


def test_the_global_fund_pays_the_exact_rest() -> None:
    policy = LiquidationPolicy(slippage_ppm=1_000, fee_ppm=1_000, global_fund_allowed=True)
    plan = both_paths([bankrupt_long()], 1_000 * usdt, policy, {"USDT": 700 * usdt})
    paid = {t.code: t.amount for t in plan.transfers if t.debit != "collateral:a-long"}
    assert paid == {LiquidationCode.insurance_payout: 1_000 * usdt,
                    LiquidationCode.global_insurance_payout: 618 * usdt}
    assert plan.global_after == {"USDT": 82 * usdt}
    assert plan.unresolved == {}
    assert conservation_gap(plan, "btcusdt") == 0


def test_deleveraging_takes_only_the_whole_lots_the_fund_cannot_cover() -> None:
    # The fund holds 1,000 USDT: 618 USDT are uncovered, 382 lots at 1.618 USDT (618.076
    # USDT). The counterparty takes those 382 lots; the fund pays the 999.924 USDT left.
    roomy = bucket("short", -1_000, 200_000, 10 * usdt)
    plan = both_paths([bankrupt_long(), roomy], 1_000 * usdt)
    (deleveraged,) = plan.deleveraging
    assert deleveraged.quantity_lots == 382
    (payout,) = [t for t in plan.transfers if t.code is LiquidationCode.insurance_payout]
    assert payout.amount == 999_924_000
    assert plan.unresolved == {}
    assert conservation_gap(plan, "btcusdt") == 0
    # A counterparty that bears only part of them: the fund pays all it holds, the rest halts.
    thin = bucket("short", -1_000, 185_000, 1 * usdt)  # bears 313 lots
    plan = both_paths([bankrupt_long(), thin], 1_000 * usdt)
    assert [d.quantity_lots for d in plan.deleveraging] == [313]
    assert plan.insurance_after == {"btcusdt": 0}
    owed = Fraction(1_618 * usdt) - 313 * Fraction(1_618_000)
    assert plan.unresolved == {"btcusdt": owed - 1_000 * usdt}


def closed_loss_plan(collateral: int) -> LiquidationPlan:
    """A cross bucket: 1 BTC long at 20,000 (closing at 17,982: 2,018 USDT lost) and a closed
    position in another market still owing 100 USDT of realised loss; that market's fund
    holds 50 USDT. Planned on both paths (one plan)."""
    held = (Position("a-cross", "btcusdt", 1_000, 1_000 * btc.lot_value(200_000)),
            Position("a-cross", "btcusdt-old", 0, Fraction(100 * usdt)))
    old = Instrument("btcusdt-old", InstrumentKind.perpetual, "btc", "USDT", 6, 1, 1, 1, 3)
    markets = {**instruments, "btcusdt-old": old}
    state = BucketState("a-cross", "USDT", collateral, -1, 90 * usdt, held, cross=True)
    plans = [plan_liquidations(11, [state], markets, {"btcusdt": mark, "btcusdt-old": mark},
                               insurance={"btcusdt": 5_000 * usdt, "btcusdt-old": 50 * usdt},
                               tiers=tiers, policy=gentle, vectorised=vectorised)
             for vectorised in (True, False)]
    assert plans[0] == plans[1]
    return plans[0]


def test_a_closed_positions_realised_loss_is_paid_first_from_the_collateral() -> None:
    # 300 USDT: the 100 of realised loss (nobody can be deleveraged for it) and 200 towards
    # BTC; BTC's fund pays its other 1,818.
    plan = closed_loss_plan(300 * usdt)
    paid = sorted((t.debit, t.credit, t.amount) for t in plan.transfers)
    assert paid == [
        ("collateral:a-cross", "clearing:btcusdt", 200 * usdt),
        ("collateral:a-cross", "clearing:btcusdt-old", 100 * usdt),
        ("insurance:btcusdt", "clearing:btcusdt", 1_818 * usdt),
    ]
    assert plan.unresolved == {}


def test_a_closed_positions_realised_loss_beyond_the_collateral_goes_to_its_fund() -> None:
    # No collateral: the realised loss was settled first and took the collateral below zero
    # (an assertion stopped the whole round). Now its market's fund pays the 50 it holds and
    # the other 50 are unresolved; BTC's fund pays BTC's 2,018.
    plan = closed_loss_plan(0)
    paid = sorted((t.debit, t.credit, t.amount) for t in plan.transfers)
    assert paid == [
        ("insurance:btcusdt", "clearing:btcusdt", 2_018 * usdt),
        ("insurance:btcusdt-old", "clearing:btcusdt-old", 50 * usdt),
    ]
    assert plan.unresolved == {"btcusdt-old": 50 * usdt}
    assert conservation_gap(plan, "btcusdt") == 0
    assert conservation_gap(plan, "btcusdt-old") == -50 * usdt
