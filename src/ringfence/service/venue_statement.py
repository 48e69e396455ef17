"""The venue's part of the segregation statement: each bucket's unsettled P&L and how far it
is undermargined, at the market data last journaled (core/recon/segregation_statement.py says
how they enter the statement).

A scan of the book in the journal gives every bucket's equity (collateral plus unsettled P&L,
rounded against the client) and maintenance requirement; the P&L is the equity less the
collateral the ledger holds, summed per client, pool and asset (a client's buckets net with
their other accounts there, as the CFTC nets a customer's accounts; never across clients).
A journal with no venue, or no market data, adds nothing.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from ringfence.core.ledger.model import AccountClass
from ringfence.service.ledger import LedgerService

Key = tuple[str, str, str]  # pool, asset, client


@dataclass(slots=True)
class VenueFigures:
    unsettled: dict[Key, int] = field(default_factory=dict)
    equities: dict[Key, int] = field(default_factory=dict)  # those clients' ledger balances
    undermargined: dict[tuple[str, str], int] = field(default_factory=dict)


def venue_figures(ledger: LedgerService) -> VenueFigures:
    """The venue's unsettled P&L and Σ undermargined, now."""
    from ringfence.service.risk import RiskService  # numpy: only for a ledger with a venue
    from ringfence.service.risk_ledger import collateral_id

    figures = VenueFigures()
    risk, market = RiskService.from_journal(ledger)
    if market is None or not risk.buckets:
        return figures
    state = risk.scan(market)
    accounts = ledger.ledger.accounts
    for k, bucket in enumerate(state.buckets):
        account = accounts[collateral_id(bucket.name)]
        pool, asset = account.definition.pool, account.definition.asset
        equity = int(state.result.equity[k])
        pnl = equity - account.balance
        if pnl:
            key = (pool, asset, bucket.client)
            figures.unsettled[key] = figures.unsettled.get(key, 0) + pnl
        short = max(int(state.result.maintenance[k]) - equity, 0)
        if short:
            line = figures.undermargined
            line[(pool, asset)] = line.get((pool, asset), 0) + short
    for account in accounts.values():
        d = account.definition
        key = (d.pool, d.asset, d.owner)
        if d.account_class is AccountClass.client and key in figures.unsettled:
            figures.equities[key] = figures.equities.get(key, 0) + account.balance
    return figures
