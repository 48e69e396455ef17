"""How the venue sits on the ledger: account ids derived from names (so a retried cycle or
fee posts nothing twice: the ledger answers ``exists``), the accounts' definitions, and the
transfers of a settlement or funding cycle as one linked chain.

Buckets are ``client`` accounts of kind ``collateral:<bucket>`` in the client's margin pool;
each market (instrument) has a ``system`` clearing account and a ``house`` insurance account;
each settlement asset has a global insurance fund (``insurance:global``).
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from dataclasses import replace

from ringfence.core import limits
from ringfence.core.ledger.model import (
    AccountClass,
    AccountDefinition,
    Transfer,
    TransferCode,
    TransferFlags,
)
from ringfence.core.ledger.segregation import global_fund_qualifier
from ringfence.core.risk.instruments import Bucket, Instrument
from ringfence.core.risk.settlement import CyclePlan


def derived_id(*parts: object) -> int:
    """A u128 id from a name: stable across runs, so retries are idempotent."""
    digest = hashlib.sha256(":".join(str(p) for p in ("ringfence-risk", *parts)).encode())
    return int.from_bytes(digest.digest()[:16], "big") or 1


def fee_id(fill_id: int) -> int:
    """``derived_id("fee", fill_id)``, with the name formatted directly: one per fill, on the
    venue's hot path (the same bytes are hashed, so the same id)."""
    digest = hashlib.sha256(b"ringfence-risk:fee:%d" % fill_id)
    return int.from_bytes(digest.digest()[:16], "big") or 1


def market_accounts(instrument: Instrument) -> list[AccountDefinition]:
    symbol = instrument.symbol
    return [
        AccountDefinition(
            clearing_id(symbol), instrument.settlement, AccountClass.system, symbol,
            f"clearing:{symbol}",
        ),
        AccountDefinition(
            insurance_id(symbol), instrument.settlement, AccountClass.house, "house",
            f"insurance:{symbol}",
        ),
    ]


def collateral_account(bucket: Bucket, pool: str) -> AccountDefinition:
    return AccountDefinition(
        collateral_id(bucket.name), bucket.settlement, AccountClass.client, bucket.client,
        bucket.account_kind, pool,
    )


def global_fund_id(asset: str) -> int:
    return derived_id("insurance", global_fund_qualifier, asset)


def global_fund_definition(asset: str) -> AccountDefinition:
    """The global insurance fund of one settlement asset: a house account of no market."""
    return AccountDefinition(global_fund_id(asset), asset, AccountClass.house, "house",
                             f"insurance:{global_fund_qualifier}")


def collateral_id(bucket: str) -> int:
    return derived_id("collateral", bucket)


def clearing_id(symbol: str) -> int:
    return derived_id("clearing", symbol)


def insurance_id(symbol: str) -> int:
    return derived_id("insurance", symbol)


def cycle_events(
    cycle: int, kind: str, plan: CyclePlan, code: TransferCode, carried: int = 0
) -> list[Transfer]:
    """A market's payments through its clearing account: losses first (an omnibus pool's
    coverage never dips), then gains, then the rounding residue to the insurance fund.
    ``carried`` is what clearing already holds from a liquidation's early settlements."""
    clearing = clearing_id(plan.symbol)
    events = []
    for payment in sorted(plan.payments, key=lambda p: (p.amount > 0, p.bucket)):
        account = collateral_id(payment.bucket)
        transfer_id = derived_id(kind, cycle, plan.symbol, payment.bucket)
        if payment.amount < 0:
            events.append(Transfer(transfer_id, account, clearing, -payment.amount, code))
        else:
            events.append(Transfer(transfer_id, clearing, account, payment.amount, code))
    if plan.residual:
        events.append(
            Transfer(
                derived_id(kind, cycle, plan.symbol, "residual"),
                clearing,
                insurance_id(plan.symbol),
                plan.residual,
                TransferCode.clearing_residual,
            )
        )
    assert sum(e.amount or 0 for e in events if e.debit_account == clearing) == carried + sum(
        e.amount or 0 for e in events if e.credit_account == clearing
    ), "a cycle nets to zero through clearing"
    return events


def chained(events: Sequence[Transfer]) -> list[Transfer]:
    """One linked chain: ``linked`` on every event but the last, so the ledger commits the
    chain whole or refuses it whole. A chain must fit in one batch."""
    assert 0 < len(events) <= limits.batch_events_max
    linked = [replace(event, flags=event.flags | TransferFlags.linked) for event in events[:-1]]
    return [*linked, events[-1]]
