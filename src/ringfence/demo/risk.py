"""A synthetic derivatives venue on the ledger: thousands of buckets in all three modes.

``run_venue_demo(ledger, buckets, seed, progress)`` defines the venue's markets (linear
perpetuals settled in USDC, an inverse perpetual, a dated inverse future and coin-settled
options on BTC), opens buckets (isolated, cross and portfolio) for synthetic clients in two
omnibus margin pools, funds them, matches trades in pairs, settles a cycle at new marks, pays
funding, scans every bucket and runs pre-trade checks. It returns a JSON-able summary for the
demo report. The same seed builds the same venue. Assets are defined with the bodies the main
demo uses (BTC, USDC), so both run on one ledger.
"""

from __future__ import annotations

import random
import time
from collections.abc import Callable
from fractions import Fraction
from typing import Any

from ringfence.core.errors import InputError, Result
from ringfence.core.ledger.model import (
    AccountClass,
    AccountDefinition,
    Pool,
    PoolKind,
    Purpose,
    Terms,
    Transfer,
    TransferCode,
)
from ringfence.core.liquidation.plan import LiquidationPolicy
from ringfence.core.money import Asset, format_signed_amount
from ringfence.core.risk.instruments import (
    Bucket,
    Instrument,
    InstrumentKind,
    MarginMode,
    OptionType,
)
from ringfence.core.risk.scan import Health
from ringfence.core.risk.settlement import Fill
from ringfence.service.ledger import LedgerService
from ringfence.service.liquidation import LiquidationOutcome, LiquidationService
from ringfence.service.risk import MarketData, RiskService, collateral_id, derived_id

Progress = Callable[[str, int, int], None]
venue_assets = (
    Asset("BTC", 8, 1, "bitcoin"),
    Asset("USDC", 6, 3, "ethereum", "0xa0b86991c6218b36c1d19d4a2e9eb0ce3606eb48"),
)
pools = {"BTC": "venue-btc", "USDC": "venue-usdc"}
day_ns = 86_400 * 10**9
btc_usd = 65_000


def venue_instruments(now_ns: int) -> list[Instrument]:
    """Linear perps (0.001 BTC, 0.01 ETH lots; tick 0.1 USDC), an inverse perp (100 USD
    contracts), a 90-day inverse future and coin-settled BTC options (0.1 BTC lots)."""
    kind = InstrumentKind
    instruments = [
        Instrument("btc-usdc-perp", kind.perpetual, "btc", "USDC", 6, 1, 1, 1, 3),
        Instrument("eth-usdc-perp", kind.perpetual, "eth", "USDC", 6, 2, 1, 1, 2),
        Instrument("btc-usd-perp", kind.perpetual, "btc", "BTC", 8, 1, 5, 100, inverse=True,
                   tiers="inverse"),
        Instrument("btc-usd-90d", kind.future, "btc", "BTC", 8, 1, 5, 100, inverse=True,
                   tiers="inverse", expiry_ns=now_ns + 90 * day_ns),
    ]
    for days in (7, 30):
        for strike in (55_000, 65_000, 75_000):
            for option_type in OptionType:
                instruments.append(
                    Instrument(
                        f"btc-{days}d-{strike // 1000}k-{option_type.value[0]}", kind.option,
                        "btc", "BTC", 8, 4, 5, 1, 1, expiry_ns=now_ns + days * day_ns,
                        strike_units=strike, option_type=option_type,
                    )
                )
    return instruments


def set_up_venue(ledger: LedgerService, clients: list[str]) -> dict[str, int]:
    """Assets, margin pools with a hot wallet each, house revenue; returns revenue ids."""
    for result in ledger.define_assets(venue_assets):
        _require(result)
    for result in ledger.define_clients(clients):
        _require(result)
    ledger.define_pools(
        [Pool(p, PoolKind.omnibus, Terms.custody, Purpose.margin_collateral)
         for p in pools.values()]
    )
    revenue = {asset: derived_id("venue-revenue", asset) for asset in pools}
    accounts = [
        AccountDefinition(derived_id("venue-wallet", asset), asset, AccountClass.custody,
                          f"{pool}-hot", "hot", pool)
        for asset, pool in pools.items()
    ]
    accounts += [
        AccountDefinition(revenue[asset], asset, AccountClass.house, "house", "revenue")
        for asset in pools
    ]
    accounts += [
        AccountDefinition(available_id(client, asset), asset, AccountClass.client, client,
                          "available", pool)
        for client in clients
        for asset, pool in pools.items()
    ]
    for result in ledger.define_accounts(accounts):
        _require(result)
    return revenue


def available_id(client: str, asset: str) -> int:
    return derived_id("venue-available", client, asset)


def fund_buckets(ledger: LedgerService, buckets: list[Bucket], units: dict[str, int]) -> None:
    """Deposit into each client's available account and post it to the bucket's collateral."""
    events = []
    for bucket in buckets:
        amount = units[bucket.settlement]
        available = available_id(bucket.client, bucket.settlement)
        wallet = derived_id("venue-wallet", bucket.settlement)
        events.append(Transfer(derived_id("venue-deposit", bucket.name), wallet, available,
                               amount, TransferCode.deposit))
        events.append(Transfer(derived_id("venue-post", bucket.name), available,
                               collateral_id(bucket.name), amount, TransferCode.margin_post))
    for result in ledger.submit_all(events):
        _require(result)


def _require(result: Result) -> None:
    if not result.succeeded:
        raise InputError(result, "venue set-up")


def make_buckets(count: int, instruments: list[Instrument], rng: random.Random) -> list[Bucket]:
    """A third of each mode; isolated buckets on the futures markets only."""
    futures = [i for i in instruments if i.kind is not InstrumentKind.option]
    buckets = []
    for k in range(count):
        client = f"v{k // 3:06d}"
        mode = (MarginMode.isolated, MarginMode.cross, MarginMode.portfolio)[k % 3]
        if mode is MarginMode.isolated:
            market = rng.choice(futures)
            buckets.append(Bucket(f"b{k:06d}", client, mode, market.settlement, market.symbol))
        elif mode is MarginMode.cross:
            asset = rng.choice(("USDC", "BTC"))
            buckets.append(Bucket(f"b{k:06d}", client, mode, asset, asset))
        else:
            buckets.append(Bucket(f"b{k:06d}", client, mode, "BTC", "btc"))
    return buckets


def make_fills(
    buckets: list[Bucket], instruments: list[Instrument], prices: dict[str, int],
    rng: random.Random, trades: int,
) -> list[Fill]:
    """Trades in matched pairs (a buyer and a seller bucket at one price)."""
    admitting = {
        i.symbol: [b for b in buckets if b.admits(i) is None] for i in instruments
    }
    tradable = [i for i in instruments if len(admitting[i.symbol]) >= 2]
    fills: list[Fill] = []
    fill_id = 1
    isolated_taken: dict[str, str] = {}
    for _ in range(trades):
        instrument = rng.choice(tradable)
        buyer, seller = rng.sample(admitting[instrument.symbol], 2)
        if any(isolated_taken.get(b.name, instrument.symbol) != instrument.symbol
               for b in (buyer, seller)):
            continue
        lots = rng.randint(1, 50)
        price = prices[instrument.symbol] // instrument.tick_units * instrument.tick_units
        fee = lots * 100
        fills.append(Fill(fill_id, buyer.name, instrument.symbol, lots, price, fee))
        fills.append(Fill(fill_id + 1, seller.name, instrument.symbol, -lots, price, fee))
        fill_id += 2
    return fills


def option_premium_units(instrument: Instrument, btc: int) -> int:
    """A plausible coin premium (0.0005 BTC steps) for the demo's trades."""
    assert instrument.option_type is not None
    money = btc - instrument.strike_units
    intrinsic = max(money if instrument.option_type is OptionType.call else -money, 0)
    coin = Fraction(intrinsic, btc) + Fraction(2, 100)
    units = int(coin * 10**instrument.price_scale)
    return max(units // instrument.tick_units, 1) * instrument.tick_units


def market_prices(instruments: list[Instrument], btc: int) -> dict[str, int]:
    """Trade prices in each instrument's own units (options: premium in coin)."""
    prices = {}
    for instrument in instruments:
        if instrument.option_type is not None:
            prices[instrument.symbol] = option_premium_units(instrument, btc)
        elif instrument.underlying == "eth":
            prices[instrument.symbol] = 3_400 * 10**instrument.price_scale
        else:
            prices[instrument.symbol] = btc * 10**instrument.price_scale
    return prices


def scan_prices(instruments: list[Instrument], btc: int) -> dict[str, int]:
    """Scan inputs: futures at their price, options at the forward of BTC (strike units)."""
    prices = market_prices(instruments, btc)
    for instrument in instruments:
        if instrument.option_type is not None:
            prices[instrument.symbol] = btc * 10**instrument.strike_scale
    return prices


def run_venue_demo(
    ledger: LedgerService, buckets: int, seed: int, progress: Progress | None
) -> dict[str, Any]:
    """Build and run the venue, then a crash through it; returns the summary for the report."""
    service, market, summary = build_venue(ledger, buckets, seed, progress)
    summary["liquidation"] = run_crash(service, market)
    _report(progress, "venue: crash", 4, 4)
    return summary


def build_venue(
    ledger: LedgerService, buckets: int, seed: int, progress: Progress | None
) -> tuple[RiskService, MarketData, dict[str, Any]]:
    """As ``run_venue_demo``, also returning the service and the scan's market data."""
    rng = random.Random(seed)
    now_ns = ledger.clock.now_ns()
    instruments = venue_instruments(now_ns)
    book = make_buckets(buckets, instruments, rng)
    clients = sorted({b.client for b in book})
    revenue = set_up_venue(ledger, clients)
    service = RiskService(ledger, revenue)
    service.define_instruments(instruments)
    pool_of = {"BTC": pools["BTC"], "USDC": pools["USDC"]}
    service.open_buckets([(b, pool_of[b.settlement]) for b in book])
    _report(progress, "venue: buckets", 1, 4)
    fund_buckets(ledger, book, {"BTC": 5 * 10**8, "USDC": 400_000 * 10**6})
    prices = market_prices(instruments, btc_usd)
    fills = make_fills(book, instruments, prices, rng, trades=buckets * 3)
    results = service.apply_fills(fills)
    _report(progress, "venue: fills", 2, 4)
    marks = market_prices(instruments, btc_usd - 1_300)
    plans = service.settle(1, marks)
    funding = service.pay_funding(1, "btc-usdc-perp", marks["btc-usdc-perp"], Fraction(1, 10_000))
    _report(progress, "venue: settlement", 3, 4)
    open_leveraged_book(ledger, service, marks, rng)
    vols = {i.symbol: 600_000 for i in instruments if i.option_type is not None}
    market = MarketData(now_ns, scan_prices(instruments, btc_usd - 1_300), vols)
    started = time.perf_counter()
    state = service.scan(market)
    scan_ms = (time.perf_counter() - started) * 1000
    checks = _checks(service, book, instruments, prices, rng)
    _report(progress, "venue: scan", 4, 4)
    summary = _summary(
        state, plans=plans, funding=funding, results=results, scan_ms=scan_ms, checks=checks
    )
    return service, market, summary


def _checks(
    service: RiskService, book: list[Bucket], instruments: list[Instrument],
    prices: dict[str, int], rng: random.Random,
) -> dict[str, int]:
    accepted = refused = 0
    for bucket in rng.sample(book, min(200, len(book))):
        admitted = [i for i in instruments if bucket.admits(i) is None]
        instrument = rng.choice(admitted)
        lots = rng.choice((-1, 1)) * rng.randint(1, 2_000)
        check = service.check(bucket.name, [(instrument.symbol, lots, prices[instrument.symbol])])
        accepted += check.accepted
        refused += not check.accepted
    return {"accepted": accepted, "refused": refused}


def _summary(
    state: Any,
    *,
    plans: list[Any],
    funding: Any,
    results: list[Result],
    scan_ms: float,
    checks: dict[str, int],
) -> dict[str, Any]:
    result = state.result
    assets = {asset.code: asset for asset in venue_assets}
    by_mode: dict[str, dict[str, int]] = {}
    for k, bucket in enumerate(state.buckets):
        row = by_mode.setdefault(bucket.mode.value, {h.name: 0 for h in Health})
        row[Health(int(result.health[k])).name] += 1
    worst = sorted(range(len(state.buckets)), key=lambda k: int(result.equity[k])
                   - int(result.maintenance[k]))[:10]
    return {
        "buckets": len(state.buckets),
        "fills": {"ok": results.count(Result.ok), "refused": len(results) - results.count(
            Result.ok)},
        "health_by_mode": by_mode,
        "settlement": [
            {"market": o.symbol, "result": o.result.value, "payments": len(o.plan.payments),
             "paid_in": o.plan.paid_in, "paid_out": o.plan.paid_out,
             "residual_to_insurance": o.plan.residual}
            for o in plans
        ],
        "funding": {"market": funding.symbol, "result": funding.result.value,
                    "paid_in": funding.plan.paid_in, "paid_out": funding.plan.paid_out,
                    "residual": funding.plan.residual},
        "scan_ms": round(scan_ms, 2),
        "pre_trade_checks": checks,
        "weakest": [
            {
                "bucket": state.buckets[k].name,
                "mode": state.buckets[k].mode.value,
                "equity": format_signed_amount(int(result.equity[k]),
                                               assets[state.buckets[k].settlement]),
                "maintenance": format_signed_amount(int(result.maintenance[k]),
                                                    assets[state.buckets[k].settlement]),
                "health": Health(int(result.health[k])).name,
            }
            for k in worst
        ],
    }


def _report(progress: Progress | None, stage: str, done: int, total: int) -> None:
    if progress is not None:
        progress(stage, done, total)


def set_up_insurance(
    ledger: LedgerService, service: RiskService, funds: dict[str, int]
) -> dict[str, int]:
    """The house's side of the venue: per settlement asset a house wallet and a capital
    account, capital moved into the margin pool's wallet as residual interest (so funds paid
    out to clients stay covered by the pool's wallets), and each market's insurance fund
    capitalised from it (``funds``: minor units per market). Returns the capital ids."""
    capital = {asset: derived_id("venue-capital", asset) for asset in pools}
    accounts = []
    for asset in pools:
        accounts.append(AccountDefinition(derived_id("venue-house-wallet", asset), asset,
                                          AccountClass.custody, f"venue-house-{asset.lower()}",
                                          "cold"))
        accounts.append(AccountDefinition(capital[asset], asset, AccountClass.house, "house",
                                          "capital"))
    for result in ledger.define_accounts(accounts):
        _require(result)
    per_asset: dict[str, int] = {}
    for symbol, amount in funds.items():
        asset = service.instruments[symbol].settlement
        per_asset[asset] = per_asset.get(asset, 0) + amount
    events = []
    for asset, amount in sorted(per_asset.items()):
        house_wallet = derived_id("venue-house-wallet", asset)
        events.append(Transfer(derived_id("venue-house-funding", asset), house_wallet,
                               capital[asset], amount, TransferCode.house_funding))
        events.append(Transfer(derived_id("venue-house-top-up", asset),
                               derived_id("venue-wallet", asset), house_wallet, amount,
                               TransferCode.house_top_up))
    for result in ledger.submit_all(events):
        _require(result)
    return capital


# ---------------------------------------------------------------------- the crash

# Leveraged traders on the three linear and inverse perpetuals: isolated longs at these
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
        _require(result)
    for result in ledger.define_accounts([
        AccountDefinition(available_id(client, asset), asset, AccountClass.client, client,
                          "available", pool)
        for client in clients for asset, pool in pools.items()
    ]):
        _require(result)
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
            fund_buckets(ledger, [bucket], {instrument.settlement: int(notional * margin_ppm
                                                                       / 1_000_000) + 1})
            short = [b for b in shorts if b.settlement == instrument.settlement]
            counterpart = short[rng.randrange(len(short))]
            half = lots // 2
            fill_id = derived_id("crash-fill", bucket.name) % (2**64)
            fills += [
                Fill(fill_id, bucket.name, symbol, lots, price),
                Fill(fill_id + 1, counterpart.name, symbol, -half, price),
                Fill(fill_id + 2, makers[instrument.settlement].name, symbol, half - lots, price),
            ]
        service.takers[symbol] = makers[instrument.settlement].name
    for result in service.apply_fills(fills):
        _require(result)
    capital = set_up_insurance(ledger, service, crash_funds)
    liquidator = LiquidationService(service, liquidation_policy)
    for symbol, amount in crash_funds.items():
        _require(liquidator.fund_insurance(symbol, amount, capital[service.instruments[
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
        btc = btc * move_ppm // 1_000_000
        eth_units = eth_units * move_ppm // 1_000_000
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
