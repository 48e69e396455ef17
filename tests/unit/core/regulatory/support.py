"""Small builders for the regulatory core's tests."""

from __future__ import annotations

import json
from typing import Any

from ringfence.core.regulatory.holdings import WalletHolding


def holding(
    wallet: str,
    amount: int,
    *,
    pool: str = "main",
    tier: str = "cold",
    asset: str = "BTC",
    encumbered: int = 0,
    sub_custodian: str = "",
    approved: bool = True,
) -> WalletHolding:
    return WalletHolding(wallet, pool, tier, asset, amount, encumbered, sub_custodian, approved)


def document(**fields: Any) -> bytes:
    return json.dumps({"version": 1, **fields}).encode()
