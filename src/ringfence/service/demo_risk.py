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
from ringfence.core.model import (
    AccountClass,
    AccountDefinition,
    Pool,
    PoolKind,
    Purpose,
    Terms,
    Transfer,
    TransferCode,
)
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
from ringfence.service.ledger_service import LedgerService
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
    """Build and run the venue; returns the summary for the report."""
    return build_venue(ledger, buckets, seed, progress)[2]


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
