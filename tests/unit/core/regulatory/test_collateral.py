"""The weekly crypto-collateral report, computed by hand.

1.5 BTC at 65,000.25 USD is 97,500.375 USD: 9,750,037 cents, rounded down; a 20% haircut
leaves 7,800,029.6, so 7,800,029 cents. 2 ETH at 3,000 with a 25% haircut: 600,000 cents,
450,000 after.
"""

from __future__ import annotations

import pytest
from tests.unit.core.regulatory.support import holding

from ringfence.core.errors import InputError, Result
from ringfence.core.ledger.model import Pool, PoolKind, Purpose, Terms
from ringfence.core.money import Asset
from ringfence.core.recon.history import Price
from ringfence.core.regulatory.collateral import (
    after_haircut,
    collateral_report,
    value_ceil,
    value_floor,
)
from ringfence.core.regulatory.files import Quote

BTC = Asset("BTC", 8, 1, chain="bitcoin")
ETH = Asset("ETH", 18, 2, chain="ethereum")
ASSETS = {"BTC": BTC, "ETH": ETH}
USD = Quote("USD", 2)
PRICES = {
    "BTC": Price("BTC", "USD", 6_500_025, 2, "close-2026-11-27", 7),
    "ETH": Price("ETH", "USD", 3_000, 0, "close-2026-11-27", 7),
}
POOLS = {
    "margin": Pool("margin", PoolKind.omnibus, Terms.custody, Purpose.margin_collateral),
    "earn": Pool("earn", PoolKind.omnibus, Terms.title_transfer),
}


def test_values_by_hand() -> None:
    assert value_floor(150_000_000, BTC, PRICES["BTC"], USD) == 9_750_037
    assert value_ceil(150_000_000, BTC, PRICES["BTC"], USD) == 9_750_038
    assert after_haircut(9_750_037, 2_000) == 7_800_029
    assert after_haircut(5, 10_000) == 0
    assert after_haircut(5, 0) == 5


def test_the_report_by_location_and_segregation() -> None:
    held = [
        holding("m-cold", 100_000_000, pool="margin"),
        holding("m-anchor", 50_000_000, pool="margin", sub_custodian="anchor"),
        holding("e-hot", 2 * 10**18, pool="earn", tier="hot", asset="ETH", encumbered=10**18),
        holding("house", 10**8, pool="", tier="hot"),
    ]
    lines = collateral_report(
        held,
        pools=POOLS,
        assets=ASSETS,
        prices=PRICES,
        haircuts_bps={"BTC": 2_000, "ETH": 2_500},
        quote=USD,
    )
    summary = [
        (x.asset, x.pool, x.location, x.segregated, x.quantity, x.value, x.value_after_haircut)
        for x in lines
    ]
    assert summary == [
        ("BTC", "margin", "sub-custodian:anchor", True, 50_000_000, 3_250_012, 2_600_009),
        ("BTC", "margin", "wallets:cold", True, 100_000_000, 6_500_025, 5_200_020),
        ("ETH", "earn", "wallets:hot", False, 2 * 10**18, 600_000, 450_000),
    ]
    assert lines[2].encumbered == 10**18
    assert lines[0].purpose == "margin_collateral"


def test_a_missing_price_or_haircut_is_named() -> None:
    held = [holding("m", 1, pool="margin", asset="ETH")]
    with pytest.raises(InputError) as caught:
        collateral_report(
            held,
            pools=POOLS,
            assets=ASSETS,
            prices={"BTC": PRICES["BTC"]},
            haircuts_bps={"ETH": 0},
            quote=USD,
        )
    assert caught.value.code is Result.price_missing_for_report
    with pytest.raises(InputError) as caught:
        collateral_report(
            held, pools=POOLS, assets=ASSETS, prices=PRICES, haircuts_bps={}, quote=USD
        )
    assert caught.value.code is Result.haircut_missing
    euro = {"ETH": Price("ETH", "EUR", 1, 0, "x", 0)}
    with pytest.raises(InputError) as caught:
        collateral_report(
            held, pools=POOLS, assets=ASSETS, prices=euro, haircuts_bps={"ETH": 0}, quote=USD
        )
    assert caught.value.code is Result.price_missing_for_report
