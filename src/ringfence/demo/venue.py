"""The synthetic venue's fixed parts: its assets, markets, margin pools and house accounts,
how buckets are funded, and the prices its trades and scans use.

Markets: linear perpetuals settled in USDC, an inverse perpetual, a dated inverse future and
coin-settled options on BTC. Assets are defined with the bodies the main demo uses (BTC, USDC),
so both run on one ledger.
"""

from __future__ import annotations

from collections.abc import Callable
from fractions import Fraction

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
from ringfence.core.money import (
    Asset,
    units_floor,
)
from ringfence.core.risk.instruments import (
    Bucket,
    Instrument,
    InstrumentKind,
    OptionType,
)
from ringfence.service.ledger import LedgerService
from ringfence.service.risk import RiskService
from ringfence.service.risk_ledger import collateral_id, derived_id

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
        require(result)
    for result in ledger.define_clients(clients):
        require(result)
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
        require(result)
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
        require(result)


def require(result: Result) -> None:
    if not result.succeeded:
        raise InputError(result, "venue set-up")


def option_premium_units(instrument: Instrument, btc: int) -> int:
    """A plausible coin premium (0.0005 BTC steps) for the demo's trades."""
    assert instrument.option_type is not None
    money = btc - instrument.strike_units
    intrinsic = max(money if instrument.option_type is OptionType.call else -money, 0)
    coin = Fraction(intrinsic, btc) + Fraction(2, 100)
    units = units_floor(coin * 10**instrument.price_scale)
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
        require(result)
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
        require(result)
    return capital
