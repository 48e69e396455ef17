"""The segregation report of a ledger as a JSON-able document (``build_report``): what the
demo's HTML report shows of the day, and what any ledger's report could show.

Per pool and asset: liabilities to clients, holdings of the pool's wallets, the house's
residual interest, and whether a custody pool is covered in the worst case over its open
pending transfers; totals per asset; the breaks; the committed activity and the two-phase
lifecycle. Amounts are formatted by core/money.py, each also given as an integer string of
minor units.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from ringfence.core.ledger.model import (
    AccountClass,
    Break,
    PoolKind,
    Terms,
    TransferCode,
    TransferFlags,
)
from ringfence.core.ledger.state import PendingStatus, Position
from ringfence.core.money import Asset, format_signed_amount
from ringfence.demo.world import Document
from ringfence.service.ledger import LedgerService


def build_report(
    ledger: LedgerService,
    *,
    seed: int | None = None,
    clients: int | None = None,
    refusals: Sequence[Mapping[str, str]] = (),
    notes: Sequence[str] = (),
) -> Document:
    """The segregation report of a ledger as a JSON-able document.

    Per pool and asset: liabilities to clients, holdings of the pool's wallets, the house's
    residual interest (holdings less liabilities), and whether a custody pool is covered in the
    worst case over its open pending transfers. Title-transfer pools are listed as what they
    are: not segregated. Every amount appears twice: as a decimal string in the major unit and,
    for exactness, as an integer string of minor units (``<name>_units``).
    """
    engine = ledger.ledger
    generated_at_ns = max(ledger.clock.now_ns(), engine.timestamp_last)
    assets = {asset.number: asset for asset in engine.assets.values()}
    census = _census(ledger)
    totals: dict[int, Counter[str]] = {number: Counter() for number in assets}
    pools = [
        _pool_entry(position, assets[position.asset], census, totals[position.asset])
        for position in sorted(ledger.positions(), key=_position_order)
    ]
    activity, two_phase = _activity(ledger)
    return {
        "generated_at_ns": generated_at_ns,
        "seed": seed,
        "clients": len(engine.clients) if clients is None else clients,
        "journal": {"seq": ledger.seq, "head_hash": ledger.hash.hex()},
        "assets": [_asset_entry(assets[number]) for number in sorted(assets)],
        "pools": pools,
        "totals_by_asset": [
            _totals_entry(assets[number], totals[number], census) for number in sorted(assets)
        ],
        "breaks": [
            _break_entry(broken, assets[broken.asset], generated_at_ns)
            for broken in ledger.breaks()
        ],
        "refusals": [dict(refusal) for refusal in refusals],
        "activity": activity,
        "two_phase": two_phase,
        "notes": list(notes),
    }


@dataclass(slots=True)
class _Census:
    """What positions do not carry: accounts per pool, wallet by wallet, and the house's own."""

    client_accounts: Counter[tuple[str, str]] = field(default_factory=Counter)
    wallets: dict[tuple[str, str], list[tuple[str, str, int]]] = field(default_factory=dict)
    house: Counter[tuple[str, str]] = field(default_factory=Counter)


def _census(ledger: LedgerService) -> _Census:
    census = _Census()
    for balance in ledger.balances():
        account = balance.account
        if account.account_class is AccountClass.client:
            census.client_accounts[(account.pool, account.asset)] += 1
        elif account.account_class is AccountClass.custody and account.pool:
            wallets = census.wallets.setdefault((account.pool, account.asset), [])
            wallets.append((account.owner, account.kind, balance.balance))
        elif account.account_class is AccountClass.custody:
            census.house[(account.asset, "wallets")] += balance.balance
        elif account.account_class is AccountClass.house:
            census.house[(account.asset, account.kind.split(":", 1)[0])] += balance.balance
    return census


def _position_order(position: Position) -> tuple[int, bool, bool, str]:
    """Per asset: omnibus custody pools, then individual ones, then title transfer."""
    pool = position.pool
    return (
        position.asset,
        pool.terms is not Terms.custody,
        pool.kind is not PoolKind.omnibus,
        pool.name,
    )


def _amounts(asset: Asset, **units: int) -> dict[str, str]:
    """Each amount as a decimal string in the major unit and as an integer string of units."""
    entry = {}
    for name, value in units.items():
        entry[name] = format_signed_amount(value, asset)
        entry[f"{name}_units"] = str(value)
    return entry


def _pool_entry(
    position: Position, asset: Asset, census: _Census, totals: Counter[str]
) -> dict[str, Any]:
    pool = position.pool
    segregated = pool.terms is Terms.custody
    shortfall = max(0, -position.excess_worst)
    key = (pool.name, asset.code)
    entry: dict[str, Any] = {
        "pool": pool.name,
        "kind": pool.kind.value,
        "terms": pool.terms.value,
        "purpose": pool.purpose.value,
        "asset": asset.code,
        "client_accounts": census.client_accounts[key],
        "segregated": segregated,
        "covered": shortfall == 0,
        "wallets": [
            {"wallet": wallet, "tier": tier, **_amounts(asset, holdings=holdings)}
            for wallet, tier, holdings in census.wallets.get(key, [])
        ],
    }
    figures = {
        "liabilities": position.liabilities,
        "holdings": position.holdings,
        "residual_interest": position.residual_interest,
        "shortfall_pending": position.shortfall_pending,
        "breaks_outstanding": position.breaks_outstanding,
        "shortfall": shortfall,
    }
    entry.update(_amounts(asset, **figures))
    side = "segregated" if segregated else "title_transfer"
    totals.update(
        pools=1,
        client_accounts=census.client_accounts[key],
        liabilities=position.liabilities,
        holdings=position.holdings,
        **{f"{side}_pools": 1, f"{side}_liabilities": position.liabilities},
        **{f"{side}_holdings": position.holdings},
    )
    if segregated:
        totals.update(segregated_pools_covered=int(shortfall == 0), shortfall=shortfall)
        totals.update(breaks_outstanding=position.breaks_outstanding)
    return entry


def _totals_entry(asset: Asset, totals: Counter[str], census: _Census) -> dict[str, Any]:
    counts = ("pools", "client_accounts", "segregated_pools", "segregated_pools_covered")
    entry: dict[str, Any] = {"asset": asset.code, **{name: totals[name] for name in counts}}
    entry["title_transfer_pools"] = totals["title_transfer_pools"]
    figures = {
        name: totals[name]
        for name in (
            "liabilities",
            "holdings",
            "segregated_liabilities",
            "segregated_holdings",
            "title_transfer_liabilities",
            "title_transfer_holdings",
            "shortfall",
            "breaks_outstanding",
        )
    }
    figures["residual_interest"] = totals["holdings"] - totals["liabilities"]
    for family in ("wallets", "revenue", "capital", "loans", "network_fees"):
        figures[f"house_{family}"] = census.house[(asset.code, family)]
    entry.update(_amounts(asset, **figures))
    return entry


def _asset_entry(asset: Asset) -> dict[str, Any]:
    return {
        "code": asset.code,
        "scale": asset.scale,
        "number": asset.number,
        "chain": asset.chain,
        "contract": asset.contract,
    }


def _break_entry(broken: Break, asset: Asset, generated_at_ns: int) -> dict[str, Any]:
    return {
        "id": str(broken.id),
        "pool": broken.pool,
        "asset": asset.code,
        "state": broken.state.value,
        "opened_at_ns": broken.opened_at,
        "age_s": max(0, generated_at_ns - broken.opened_at) // 10**9,
        **_amounts(asset, amount=broken.amount, cured=broken.cured, outstanding=broken.outstanding),
    }


def _activity(ledger: LedgerService) -> tuple[dict[str, int], dict[str, int]]:
    """Committed transfers per code, from the store's projection (a two-phase transfer counts
    once, when it is opened), and the two-phase lifecycle."""
    codes: Counter[str] = Counter()
    resolving = TransferFlags.post_pending | TransferFlags.void_pending
    two_phase: Counter[str] = Counter()
    for record in ledger.store.projected_transfers():
        flags = record.flags
        if flags & TransferFlags.pending:
            two_phase["pending"] += 1
        elif flags & TransferFlags.post_pending:
            two_phase["posted"] += 1
        elif flags & TransferFlags.void_pending:
            two_phase["voided"] += 1
        if not flags & resolving:
            codes[TransferCode(record.code).name] += 1
    statuses = Counter(pending.status for pending in ledger.ledger.pendings.values())
    two_phase["expired"] = statuses[PendingStatus.expired]
    two_phase["open"] = statuses[PendingStatus.pending]
    lifecycle = ("pending", "posted", "voided", "expired", "open")
    return dict(sorted(codes.items())), {name: two_phase[name] for name in lifecycle}
