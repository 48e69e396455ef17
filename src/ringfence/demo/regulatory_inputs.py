"""The operator's files the demo's regulatory reports read, written as an operator would file
them (the formats of docs/regulatory.md), from the demo's own registry and balances so that any
seed and size tells the same story:

- **prices**: the failure scene's petition-date prices (demo/insolvency.py), in USD, dated
  just before the reports' as-of time;
- **haircuts**: 20% on BTC, 25% on ETH, 5% on USDC, 50% on anything else the firm holds;
- **a sub-custodian register**: ``anchor-trust``, approved 200 days back with a SOC 2 report
  received 60 days back, holds the cold wallets of ``omni-2``; ``newco-custody``, still
  pending approval, already holds ``omni-1``'s warm ETH wallet, which the register report
  finds and possession and control counts as not in the firm's control;
- **insurance policies**: a crime policy over hot wallets whose limit is half of what the hot
  wallets hold at those prices (so hot holdings exceed their cover and the alert fires), and
  a specie policy over cold and warm wallets whose limit covers all they hold.

``regulatory_files`` returns the documents by name, as a request would hand them in
(adapters/files/uploaded.py), so the reports read them through the same port and name each by
the SHA-256 of its bytes.
"""

from __future__ import annotations

import json
from typing import Final

from ringfence.core.ledger.model import AccountClass
from ringfence.core.money import format_signed_units, formatted_units, mul_div_ceil
from ringfence.demo.insolvency import PRICES
from ringfence.service.custody import CustodyService
from ringfence.service.ledger import LedgerService

_day_ns: Final = 86_400 * 10**9
quote: Final = "USD"
quote_scale: Final = 2
haircuts_bps: Final = {"BTC": 2000, "ETH": 2500, "USDC": 500}
haircut_bps_other: Final = 5000
approved_name: Final = "anchor-trust"
approved_pool: Final = "omni-2"  # its cold wallets are held by the approved sub-custodian
unapproved_name: Final = "newco-custody"
unapproved_wallet: Final = "omni-1-eth-warm"  # held by a sub-custodian not yet approved
hot_cover_percent: Final = 50  # the crime policy's limit, of the hot wallets' value
deductible_hot: Final = "250000.00"
deductible_cold: Final = "1000000.00"


def regulatory_files(ledger: LedgerService) -> dict[str, bytes]:
    """The documents (module docstring) by the names the reports are given."""
    now_ns = ledger.next_timestamp()
    wallets = CustodyService(ledger).registry.wallets
    documents = {
        "prices": _prices(ledger, now_ns),
        "haircuts": _haircuts(ledger),
        "register": _register(sorted(wallets), now_ns),
        "policies": _policies(ledger, now_ns),
    }
    return {name: json.dumps(document, indent=1).encode() for name, document in documents.items()}


def _price_cents(code: str) -> int:
    return formatted_units(PRICES.get(code, "1.00"))


def _prices(ledger: LedgerService, now_ns: int) -> dict[str, object]:
    rows = [
        {"asset": code, "quote": quote, "price": PRICES.get(code, "1.00"),
         "source": "demo-close", "time_ns": now_ns - 60 * 10**9}
        for code in sorted(ledger.ledger.assets)
    ]  # fmt: skip
    return {"prices": rows}


def _haircuts(ledger: LedgerService) -> dict[str, object]:
    rows = [
        {"asset": code, "haircut_bps": haircuts_bps.get(code, haircut_bps_other)}
        for code in sorted(ledger.ledger.assets)
    ]
    return {"version": 1, "quote": quote, "quote_scale": quote_scale, "haircuts": rows}


def _register(wallets: list[str], now_ns: int) -> dict[str, object]:
    held = [name for name in wallets if name.startswith(f"{approved_pool}-")]
    cold = [name for name in held if name.endswith("-cold")]
    pending = [name for name in wallets if name == unapproved_wallet]
    report = {"kind": "soc2_type2", "period_end": str(now_ns - 100 * _day_ns),
              "received_on": str(now_ns - 60 * _day_ns)}  # fmt: skip
    return {
        "version": 1,
        "sub_custodians": [
            {"name": approved_name, "status": "approved",
             "approved_on": str(now_ns - 200 * _day_ns), "due_diligence": [report],
             "wallets": cold},
            {"name": unapproved_name, "status": "pending", "wallets": pending},
        ],
    }  # fmt: skip


def _tier_values(ledger: LedgerService) -> dict[str, int]:
    """What the custody accounts hold per tier (their kind), in cents, rounded up."""
    engine = ledger.ledger
    values: dict[str, int] = {}
    for account in engine.accounts.values():
        d = account.definition
        if d.account_class is not AccountClass.custody or account.balance <= 0:
            continue
        asset = engine.assets[d.asset]
        cents = mul_div_ceil(account.balance, _price_cents(d.asset), 10**asset.scale)
        values[d.kind] = values.get(d.kind, 0) + cents
    return values


def _policies(ledger: LedgerService, now_ns: int) -> dict[str, object]:
    values = _tier_values(ledger)
    hot_limit = values.get("hot", 0) * hot_cover_percent // 100 // 100 * 100  # whole dollars
    cold_limit = values.get("cold", 0) + values.get("warm", 0) + formatted_units(deductible_cold)
    start, end = str(now_ns - 180 * _day_ns), str(now_ns + 185 * _day_ns)
    return {
        "version": 1, "quote": quote, "quote_scale": quote_scale,
        "policies": [
            {"id": "crime-hot", "insurer": "demo-syndicate",
             "limit": format_signed_units(max(hot_limit, 100), quote_scale),
             "deductible": deductible_hot, "tiers": ["hot"], "wallets": [],
             "start": start, "end": end},
            {"id": "specie-cold", "insurer": "demo-specie",
             "limit": format_signed_units(cold_limit, quote_scale),
             "deductible": deductible_cold, "tiers": ["cold", "warm"], "wallets": [],
             "start": start, "end": end},
        ],
    }  # fmt: skip
