"""service/venue_audit.py: ``audit verify`` replays the venue's book and holds every fill to
its fee and every fee out of a bucket to its fill; attempts to separate them are found."""

from __future__ import annotations

import pytest
from tests.support import journal_signer

from ringfence.adapters.clock import ManualClock
from ringfence.adapters.storage.memory import MemoryStore
from ringfence.core.ledger.model import Transfer, TransferCode
from ringfence.core.risk.instruments import Bucket, MarginMode
from ringfence.core.risk.settlement import Fill
from ringfence.demo.venue import fund_buckets, set_up_venue, venue_instruments
from ringfence.service.audit import verify_store
from ringfence.service.ledger import LedgerService
from ringfence.service.risk import RiskService
from ringfence.service.risk_ledger import collateral_id
from ringfence.service.venue_journal import journal_fills

perp = "btc-usdc-perp"
usdc = 10**6


@pytest.fixture
def venue() -> RiskService:
    ledger = LedgerService(MemoryStore(), ManualClock(), journal_signer())
    revenue = set_up_venue(ledger, ["alice", "bob"])
    service = RiskService(ledger, revenue)
    service.define_instruments(venue_instruments(ledger.clock.now_ns()))
    buckets = [Bucket("alice-x", "alice", MarginMode.cross, "USDC", "USDC"),
               Bucket("bob-x", "bob", MarginMode.cross, "USDC", "USDC")]
    service.open_buckets([(b, "venue-usdc") for b in buckets])
    fund_buckets(ledger, buckets, {"USDC": 1_000 * usdc})
    service.apply_fills([Fill(1, "alice-x", perp, 10, 650_000, usdc),
                         Fill(2, "bob-x", perp, -10, 650_000, usdc)])
    return service


def _kinds(venue: RiskService) -> list[str]:
    return [p.kind for p in verify_store(venue.ledger.store).problems]


def test_a_venue_whose_fills_and_fees_commit_together_passes(venue: RiskService) -> None:
    venue.apply_fills([Fill(3, "alice-x", perp, -1, 650_000, 2 * usdc)])
    assert _kinds(venue) == []


def test_a_fee_out_of_a_bucket_with_no_fill_is_found(venue: RiskService) -> None:
    fee = Transfer(99, collateral_id("alice-x"), venue.revenue_accounts["USDC"], usdc,
                   TransferCode.fee)
    assert venue.ledger.submit([fee])[0].succeeded  # the ledger's rules allow a fee
    assert _kinds(venue) == ["venue_fill_missing"]


def test_a_fill_journaled_without_its_fee_is_found(venue: RiskService) -> None:
    journal_fills(venue.ledger, [Fill(4, "alice-x", perp, 1, 650_000, usdc)])
    assert _kinds(venue) == ["venue_fee_missing"]


def test_a_fill_naming_no_bucket_stops_the_replay(venue: RiskService) -> None:
    journal_fills(venue.ledger, [Fill(5, "nobody", perp, 1, 650_000)])
    assert _kinds(venue) == ["replay_failed"]


def test_a_margin_deficit_is_the_clients_own_on_the_segregation_statement(
    venue: RiskService,
) -> None:
    from ringfence.adapters.executors import InProcessExecutor
    from ringfence.core.recon.run import ReconSettings
    from ringfence.core.risk.market import MarketData
    from ringfence.service.custody import CustodyService
    from ringfence.service.recon import ReconService

    def line(executor: InProcessExecutor | None = None) -> object:
        recon = ReconService(CustodyService(venue.ledger), executor, clients_per_range=1)
        statement = recon.segregation_statement(None, None, ReconSettings())
        (found,) = [x for x in statement.segregation_lines if x.pool == "venue-usdc"]
        return found

    before = line()
    assert (before.unsettled_pnl, before.undermargined) == (0, 0)  # no market data yet
    # Alice goes 1 BTC long against bob; BTC falls 13,000 USDC: she loses 13,000 USDC with
    # 999 posted, he gains as much. Her deficit is hers: his gain is owed to him in full.
    venue.apply_fills([Fill(10, "alice-x", perp, 990, 650_000),
                       Fill(11, "bob-x", perp, -990, 650_000)])
    prices, vols = {}, {}
    for symbol, instrument in venue.instruments.items():
        if instrument.option_type is not None:
            prices[symbol], vols[symbol] = 52_000, 600_000
        else:
            prices[symbol] = 340_000 if instrument.underlying == "eth" else 520_000
    venue.record_market(MarketData(venue.ledger.clock.now_ns(), prices, vols))
    after = line()
    assert -2 <= after.unsettled_pnl <= 0  # one's loss is the other's gain, each rounded down
    assert after.clients_in_deficit == 1
    assert 12_001 * usdc <= after.deficits <= 12_001 * usdc + 1  # hers alone (rounded up)
    assert after.requirement >= 999 * usdc + 13_000 * usdc - 1  # bob's collateral and his gain
    assert after.requirement == after.net_balance + after.deficits
    assert after.undermargined > after.deficits  # her maintenance comes on top
    assert after.liabilities == before.liabilities  # the ledger's own figure: balances
    assert line(InProcessExecutor()) == after  # a batch run by client ranges says the same
