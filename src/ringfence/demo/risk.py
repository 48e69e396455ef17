"""A synthetic derivatives venue on the ledger: thousands of buckets in all three modes.

``run_venue_demo(ledger, buckets, seed, progress)`` defines the venue's markets
(``demo/venue.py``), opens buckets (isolated, cross and portfolio) for synthetic clients in two
omnibus margin pools, funds them, matches trades in pairs, settles a cycle at new marks, pays
funding, scans every bucket and runs pre-trade checks. It returns a JSON-able summary for the
demo report, with the crash of ``demo/liquidation.py`` run through the venue. The same seed
builds the same venue. Its book is journaled as it is built (service/venue_journal.py): the
venue lives in the database. ``write_venue`` is ``ringfence risk venue``.
"""

from __future__ import annotations

import random
import time
from fractions import Fraction
from typing import Any

from ringfence.core import limits
from ringfence.core.errors import Result
from ringfence.core.money import format_signed_amount
from ringfence.core.risk.instruments import (
    Bucket,
    Instrument,
    InstrumentKind,
    MarginMode,
)
from ringfence.core.risk.market import MarketData
from ringfence.core.risk.scan import Health
from ringfence.core.risk.settlement import Fill
from ringfence.demo.liquidation import open_leveraged_book, run_crash
from ringfence.demo.venue import (
    Progress,
    btc_usd,
    fund_buckets,
    market_prices,
    pools,
    scan_prices,
    set_up_venue,
    venue_assets,
    venue_instruments,
)
from ringfence.service import risk_book
from ringfence.service.ledger import LedgerService
from ringfence.service.risk import RiskService


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


def run_venue_demo(
    ledger: LedgerService, buckets: int, seed: int, progress: Progress | None
) -> dict[str, Any]:
    """Build and run the venue, then a crash through it; returns the summary for the report."""
    service, market, summary = build_venue(ledger, buckets, seed, progress)
    risk_book.save_book(service, market)
    summary["liquidation"] = run_crash(service, market)
    _report(progress, "venue: crash", 4, 4)
    return summary


# ``ringfence risk venue``: a third of the buckets per margin mode, at least one each.
venue_buckets_min = 3
venue_buckets_max = limits.venue_buckets_max


def write_venue(
    ledger: LedgerService, buckets: int, seed: int, progress: Progress | None
) -> dict[str, Any]:
    """``ringfence risk venue``: build the venue (``build_venue``) and journal the market
    data it was scanned at; returns the summary."""
    service, market, summary = build_venue(ledger, buckets, seed, progress)
    risk_book.save_book(service, market)
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
