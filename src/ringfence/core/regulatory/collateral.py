"""The weekly crypto-collateral report (CFTC tokenised-collateral pilot, Dec 2025) and the
valuation both it and the insurance cover use.

Per asset, pool and location (a sub-custodian, or the firm's own wallets of a tier): the
quantity held, the price with its source and time, the haircut, the value and the value after
the haircut, and whether the pool is segregated (custody terms) or not (title transfer). House
wallets are not customer collateral and are left out. Values are in the schedule's quote
currency's minor units; collateral is valued down (never more than it is worth), both at the
price and at the haircut.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from ringfence.core.errors import InputError, Result
from ringfence.core.ledger.model import Pool, Terms
from ringfence.core.money import Asset, mul_div_ceil, mul_div_floor
from ringfence.core.recon.history import Price
from ringfence.core.regulatory.files import Quote
from ringfence.core.regulatory.holdings import WalletHolding

_bps_whole = 10_000


def value_floor(amount: int, asset: Asset, price: Price, quote: Quote) -> int:
    """``amount`` minor units of ``asset`` in the quote's minor units, rounded down."""
    return mul_div_floor(amount * price.units, 10**quote.scale, 10 ** (asset.scale + price.scale))


def value_ceil(amount: int, asset: Asset, price: Price, quote: Quote) -> int:
    """As ``value_floor``, rounded up: an exposure is never understated."""
    return mul_div_ceil(amount * price.units, 10**quote.scale, 10 ** (asset.scale + price.scale))


def after_haircut(value: int, haircut_bps: int) -> int:
    """The value less the haircut, rounded down (against the client's collateral)."""
    assert 0 <= haircut_bps <= _bps_whole
    return mul_div_floor(value, _bps_whole - haircut_bps, _bps_whole)


def prices_for(
    holdings: Iterable[WalletHolding], prices: Mapping[str, Price], quote: Quote
) -> dict[str, Price]:
    """The price of every asset held, in the quote; ``price_missing_for_report`` names the
    first asset without one (nothing is valued at a guessed price)."""
    found = {}
    for asset in sorted({holding.asset for holding in holdings}):
        price = prices.get(asset)
        if price is None or price.quote != quote.code:
            raise InputError(Result.price_missing_for_report, f"{asset} in {quote.code}")
        found[asset] = price
    return found


@dataclass(frozen=True, slots=True)
class CollateralLine:
    asset: str
    pool: str
    purpose: str
    segregated: bool
    location: str  # "sub-custodian:<name>" or "wallets:<tier>"
    quantity: int
    encumbered: int
    price: Price
    haircut_bps: int
    value: int
    value_after_haircut: int


def location_of(holding: WalletHolding) -> str:
    if holding.sub_custodian:
        return f"sub-custodian:{holding.sub_custodian}"
    return f"wallets:{holding.tier}"


def collateral_report(
    holdings: Iterable[WalletHolding],
    *,
    pools: Mapping[str, Pool],
    assets: Mapping[str, Asset],
    prices: Mapping[str, Price],
    haircuts_bps: Mapping[str, int],
    quote: Quote,
) -> list[CollateralLine]:
    """One line per asset, pool and location; ``haircut_missing`` names an asset held without
    a haircut in the schedule."""
    quantities: dict[tuple[str, str, str], list[int]] = {}
    client_held = [holding for holding in holdings if holding.pool]
    priced = prices_for(client_held, prices, quote)
    for holding in client_held:
        if holding.asset not in haircuts_bps:
            raise InputError(Result.haircut_missing, holding.asset)
        entry = quantities.setdefault((holding.asset, holding.pool, location_of(holding)), [0, 0])
        entry[0] += holding.amount
        entry[1] += holding.encumbered
    lines = []
    for (asset, pool_name, location), (quantity, encumbered) in sorted(quantities.items()):
        pool = pools[pool_name]
        value = value_floor(quantity, assets[asset], priced[asset], quote)
        haircut = haircuts_bps[asset]
        lines.append(
            CollateralLine(
                asset,
                pool_name,
                pool.purpose.value,
                pool.terms is Terms.custody,
                location,
                quantity,
                encumbered,
                priced[asset],
                haircut,
                value,
                after_haircut(value, haircut),
            )
        )
    return lines
