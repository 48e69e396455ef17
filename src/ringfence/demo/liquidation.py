"""A crash through the synthetic venue: a leveraged book on its perpetuals, then every
underlying moved along a path with a gap, a liquidation round after each move and a settlement
cycle after the last; what each round did and each market's fund over the path, with the
geometry of the demo report's charts.
"""

from __future__ import annotations

import random
from typing import Any

from ringfence.core.errors import InputError, Result
from ringfence.core.ledger.model import (
    AccountClass,
    AccountDefinition,
)
from ringfence.core.liquidation.records import LiquidationPolicy
from ringfence.core.money import (
    format_signed_amount,
    mul_div_floor,
    ppm_share_floor,
)
from ringfence.core.risk.config import ppm
from ringfence.core.risk.instruments import (
    Bucket,
    MarginMode,
)
from ringfence.core.risk.market import MarketData
from ringfence.core.risk.settlement import Fill
from ringfence.demo.venue import (
    available_id,
    btc_usd,
    fund_buckets,
    market_prices,
    pools,
    require,
    scan_prices,
    set_up_insurance,
    venue_assets,
)
from ringfence.service.ledger import LedgerService
from ringfence.service.liquidation import LiquidationOutcome, LiquidationService
from ringfence.service.risk import RiskService
from ringfence.service.risk_ledger import derived_id

# margins (ppm of notional), against cross shorts and the market maker. A 5% drop takes the
# thinnest into bankruptcy and the ones just above 5% into partial liquidation; a 35% gap then
# takes every long through its bankruptcy price.
crash_margins_ppm = (20_000, 30_000, 40_000, 53_500, 54_000, 54_500, 60_000, 80_000,
                     100_000, 150_000, 200_000, 300_000)
crash_markets = ("btc-usdc-perp", "eth-usdc-perp", "btc-usd-perp")
# Insurance funds: thin for BTC/USDC (it runs dry: auto-deleveraging), deep for ETH/USDC
# (it covers every gap), in between for the inverse perp.
crash_funds = {"btc-usdc-perp": 5_000 * 10**6, "eth-usdc-perp": 2_000_000 * 10**6,
               "btc-usd-perp": 2 * 10**7}
crash_shorts = ("USDC", "USDC", "USDC", "BTC", "BTC", "BTC")  # settlement of each short
# Buckets the leveraged book adds to the venue: a maker per asset, the shorts, the longs.
crash_buckets_count = len(pools) + len(crash_shorts) + len(crash_markets) * len(
    crash_margins_ppm)
crash_path_ppm = (950_000, 650_000)  # each step's move of every underlying against the last
liquidation_policy = LiquidationPolicy(partial_fraction_ppm=500_000, slippage_ppm=1_000,
                                       fee_ppm=1_000)


def open_leveraged_book(
    ledger: LedgerService, service: RiskService, marks: dict[str, int], rng: random.Random
) -> None:
    """Leveraged longs, their counterparties and the makers who take liquidation orders."""
    clients = ["x-maker"] + [f"x-short-{k:02d}" for k in range(len(crash_shorts))] + [
        f"x-long-{m}-{k:02d}" for m in range(len(crash_markets))
        for k in range(len(crash_margins_ppm))]
    for result in ledger.define_clients(clients):
        require(result)
    for result in ledger.define_accounts([
        AccountDefinition(available_id(client, asset), asset, AccountClass.client, client,
                          "available", pool)
        for client in clients for asset, pool in pools.items()
    ]):
        require(result)
    makers = {asset: Bucket(f"x-maker-{asset.lower()}", "x-maker", MarginMode.cross, asset, asset)
              for asset in pools}
    shorts = [Bucket(f"x-short-{k:02d}", f"x-short-{k:02d}", MarginMode.cross, asset, asset)
              for k, asset in enumerate(crash_shorts)]
    service.open_buckets([(b, pools[b.settlement]) for b in [*makers.values(), *shorts]])
    fund_buckets(ledger, list(makers.values()), {"USDC": 50_000_000 * 10**6, "BTC": 500 * 10**8})
    fund_buckets(ledger, shorts, {"USDC": 60_000 * 10**6, "BTC": 1 * 10**8})
    fills: list[Fill] = []
    for m, symbol in enumerate(crash_markets):
        instrument = service.instruments[symbol]
        longs = [Bucket(f"x-long-{m}-{k:02d}", f"x-long-{m}-{k:02d}", MarginMode.isolated,
                        instrument.settlement, symbol) for k in range(len(crash_margins_ppm))]
        service.open_buckets([(b, pools[b.settlement]) for b in longs])
        price = marks[symbol]
        lots_each = 2_000  # 2 BTC, 20 ETH or 200,000 USD of contracts
        for bucket, margin_ppm in zip(longs, crash_margins_ppm, strict=True):
            lots = lots_each + rng.randint(0, 200)
            notional = instrument.notional(lots, price)
            margin = ppm_share_floor(notional, margin_ppm) + 1
            fund_buckets(ledger, [bucket], {instrument.settlement: margin})
            short = [b for b in shorts if b.settlement == instrument.settlement]
            counterpart = short[rng.randrange(len(short))]
            half = lots // 2
            fill_id = derived_id("crash-fill", bucket.name) % (2**64)
            fills += [
                Fill(fill_id, bucket.name, symbol, lots, price),
                Fill(fill_id + 1, counterpart.name, symbol, -half, price),
                Fill(fill_id + 2, makers[instrument.settlement].name, symbol, half - lots, price),
            ]
        service.set_taker(symbol, makers[instrument.settlement].name)
    for result in service.apply_fills(fills):
        require(result)
    capital = set_up_insurance(ledger, service, crash_funds)
    liquidator = LiquidationService(service, liquidation_policy)
    for symbol, amount in crash_funds.items():
        require(liquidator.fund_insurance(symbol, amount, capital[service.instruments[
            symbol].settlement]))


def run_crash(service: RiskService, market: MarketData) -> dict[str, Any]:
    """Move every underlying along ``crash_path_ppm`` (the second step a gap of 35%), run a
    liquidation round after each move and a settlement cycle after the last; returns what each
    round did and each market's fund balance over the path, with the chart's geometry."""
    liquidator = LiquidationService(service, liquidation_policy)
    instruments = list(service.instruments.values())
    btc = btc_usd - 1_300
    eth_units = market.prices["eth-usdc-perp"]
    funds = {symbol: [liquidator.insurance_balances()[symbol]] for symbol in crash_markets}
    steps = []
    for step, move_ppm in enumerate(crash_path_ppm, start=1):
        btc = mul_div_floor(btc, move_ppm, ppm)
        eth_units = mul_div_floor(eth_units, move_ppm, ppm)
        prices = scan_prices(instruments, btc)
        prices["eth-usdc-perp"] = eth_units
        market = MarketData(market.now_ns + step, prices, dict(market.volatilities_ppm))
        outcome = liquidator.liquidate(market)
        if not outcome.ok:
            raise InputError(Result.market_halted, f"crash step {step}: {outcome.chains}")
        steps.append(_step_summary(step, btc, outcome))
        balances = liquidator.insurance_balances()
        for symbol in crash_markets:
            funds[symbol].append(balances[symbol])
    settle_prices = market_prices(instruments, btc)
    settle_prices["eth-usdc-perp"] = eth_units
    cycles = service.settle(2, settle_prices, crash_markets)
    return {
        "steps": steps,
        "funds": {symbol: [str(v) for v in values] for symbol, values in funds.items()},
        "settlement_after": [{"market": o.symbol, "result": o.result.value} for o in cycles],
        "halted": sorted(service.halted),
        "charts": [_fund_chart(service, symbol, values, steps)
                   for symbol, values in funds.items()],
    }


def _step_summary(step: int, btc: int, outcome: LiquidationOutcome) -> dict[str, Any]:
    """Per market: buckets liquidated in part, in full, through bankruptcy; lots deleveraged;
    the fund's fees in and payouts out (minor units)."""
    plan = outcome.plan
    partial = set(plan.partial)
    bankrupt = {t.bucket for t in plan.transfers if t.code.value.endswith("insurance_payout")}
    bankrupt |= {d.against for d in plan.deleveraging}
    markets: dict[str, dict[str, int]] = {}
    for settled in plan.settled:
        row = markets.setdefault(settled.symbol, dict.fromkeys(
            ("partial", "full", "bankrupt", "deleveraged_lots", "fees_in", "paid_out",
             "unresolved"), 0))
        if settled.bucket in partial:
            row["partial"] += 1
        elif settled.bucket in bankrupt:
            row["bankrupt"] += 1
        else:
            row["full"] += 1
    for entry in plan.deleveraging:
        markets[entry.symbol]["deleveraged_lots"] += abs(entry.quantity_lots)
    for transfer in plan.transfers:
        row = markets[transfer.market]
        if transfer.code.value == "liquidation_fee":
            row["fees_in"] += transfer.amount
        elif transfer.code.value == "insurance_payout":
            row["paid_out"] += transfer.amount
    for symbol, amount in plan.unresolved.items():
        markets[symbol]["unresolved"] = amount
    return {"step": step, "btc_usd": btc, "candidates": outcome.candidates,
            "liquidated": len(plan.liquidated), "partial": len(plan.partial),
            "deleveraged": len(plan.deleveraging), "transfers": len(plan.transfers),
            "markets": markets}


def _fund_chart(
    service: RiskService, symbol: str, values: list[int], steps: list[dict[str, Any]]
) -> dict[str, Any]:
    """Geometry of one market's inline SVG: the fund's balance before the crash and after each
    step (a polyline), with the step's liquidations as labels. Pixels only, no money."""
    asset = next(a for a in venue_assets if a.code == service.instruments[symbol].settlement)
    width, height, left, top, plot_height = 420, 170, 60, 24, 100
    high = max(*values, 1)
    step_x = (width - left - 20) // max(len(values) - 1, 1)
    points = [(left + k * step_x, top + plot_height - plot_height * v // high)
              for k, v in enumerate(values)]
    labels = []
    for k, step in enumerate(steps, start=1):
        row = step["markets"].get(symbol, {})
        labels.append({
            "x": points[k][0], "title": f"step {k}: BTC {step['btc_usd']:,}",
            "text": f"{row.get('partial', 0)}p {row.get('full', 0)}f "
                    f"{row.get('bankrupt', 0)}b ADL {row.get('deleveraged_lots', 0)}",
        })
    return {
        "market": symbol, "asset": asset.code, "width": width, "height": height,
        "baseline": top + plot_height, "left": left,
        "points": " ".join(f"{x},{y}" for x, y in points),
        "dots": [{"x": x, "y": y, "balance": format_signed_amount(v, asset)}
                 for (x, y), v in zip(points, values, strict=True)],
        "labels": labels, "high": format_signed_amount(high, asset),
    }
