"""service/risk.py: fills, settlement through the clearing account, funding, scans and checks,
all over a LedgerService on the in-memory store."""

from __future__ import annotations

from fractions import Fraction

import pytest
from tests.support import invariant_problems

from ringfence.adapters.clock import ManualClock
from ringfence.adapters.storage.memory import MemoryStore
from ringfence.core.errors import InputError, Result
from ringfence.core.model import TransferCode
from ringfence.core.risk.instruments import Bucket, MarginMode
from ringfence.core.risk.scan import Health
from ringfence.core.risk.settlement import Fill
from ringfence.service.demo_risk import fund_buckets, set_up_venue, venue_instruments
from ringfence.service.ledger_service import LedgerService
from ringfence.service.risk import (
    MarketData,
    RiskService,
    clearing_id,
    collateral_id,
    insurance_id,
)

usdc = 10**6
btc = 10**8


@pytest.fixture
def venue() -> RiskService:
    ledger = LedgerService(MemoryStore(), ManualClock())
    instruments = venue_instruments(ledger.clock.now_ns())
    revenue = set_up_venue(ledger, ["alice", "bob", "carol"])
    service = RiskService(ledger, revenue)
    service.define_instruments(instruments)
    buckets = [
        Bucket("alice-x", "alice", MarginMode.cross, "USDC", "USDC"),
        Bucket("bob-iso", "bob", MarginMode.isolated, "USDC", "btc-usdc-perp"),
        Bucket("carol-pm", "carol", MarginMode.portfolio, "BTC", "btc"),
        Bucket("alice-pm", "alice", MarginMode.portfolio, "BTC", "btc"),
    ]
    pools = {"USDC": "venue-usdc", "BTC": "venue-btc"}
    service.open_buckets([(b, pools[b.settlement]) for b in buckets])
    fund_buckets(ledger, buckets, {"USDC": 10_000 * usdc, "BTC": 2 * btc})
    return service


def balance(service: RiskService, account: int) -> int:
    return service.ledger.balance(account).balance


def test_a_cycle_pays_pnl_through_a_clearing_account_that_nets_to_zero(
    venue: RiskService,
) -> None:
    fills = [
        Fill(1, "alice-x", "btc-usdc-perp", 1_000, 600_000, 3 * usdc),  # 1 BTC at 60,000
        Fill(2, "bob-iso", "btc-usdc-perp", -1_000, 600_000, 3 * usdc),
    ]
    assert venue.apply_fills(fills) == [Result.ok, Result.ok]
    assert balance(venue, venue.revenue_accounts["USDC"]) == 6 * usdc
    plans = venue.settle(1, {**_other_marks(venue), "btc-usdc-perp": 615_000})
    assert balance(venue, collateral_id("alice-x")) == 10_000 * usdc - 3 * usdc + 1_500 * usdc
    assert balance(venue, collateral_id("bob-iso")) == 10_000 * usdc - 3 * usdc - 1_500 * usdc
    assert balance(venue, clearing_id("btc-usdc-perp")) == 0
    plan = next(p for p in plans if p.symbol == "btc-usdc-perp")
    assert plan.paid_in == plan.paid_out == 1_500 * usdc
    assert plan.residual == 0
    # Closing realises the rest at the next cycle; positions with no lots disappear.
    venue.apply_fills([
        Fill(3, "alice-x", "btc-usdc-perp", -1_000, 620_000),
        Fill(4, "bob-iso", "btc-usdc-perp", 1_000, 620_000),
    ])
    venue.settle(2, {**_other_marks(venue), "btc-usdc-perp": 500_000})
    assert balance(venue, collateral_id("alice-x")) == 10_000 * usdc - 3 * usdc + 2_000 * usdc
    assert not venue.positions
    assert invariant_problems(venue.ledger) == []


def test_inverse_rounding_residue_goes_to_the_insurance_fund(venue: RiskService) -> None:
    venue.apply_fills([
        Fill(1, "carol-pm", "btc-usd-perp", 7, 650_005),
        Fill(2, "alice-pm", "btc-usd-perp", -7, 650_005),
    ])
    plans = venue.settle(1, {**_other_marks(venue), "btc-usd-perp": 640_015})
    plan = next(p for p in plans if p.symbol == "btc-usd-perp")
    assert plan.residual >= 0
    assert plan.paid_in == plan.paid_out + plan.residual
    assert balance(venue, clearing_id("btc-usd-perp")) == 0
    assert balance(venue, insurance_id("btc-usd-perp")) == plan.residual
    # The exact P&L: 700 USD long from 65,000.5 to 64,001.5, in satoshis, rounded against.
    exact = 700 * (Fraction(1, Fraction(1_300_010, 20)) - Fraction(1, Fraction(1_280_030, 20)))
    assert balance(venue, collateral_id("carol-pm")) - 2 * btc == int(exact * btc // 1)


def test_funding_longs_pay_shorts_and_clearing_nets(venue: RiskService) -> None:
    venue.apply_fills([
        Fill(1, "alice-x", "btc-usdc-perp", 2_000, 650_000),
        Fill(2, "bob-iso", "btc-usdc-perp", -2_000, 650_000),
    ])
    plan = venue.pay_funding(1, "btc-usdc-perp", 650_000, Fraction(1, 10_000))
    assert plan.paid_in == 13 * usdc  # 2 BTC x 65,000 x 0.01%
    assert balance(venue, collateral_id("bob-iso")) == 10_013 * usdc
    assert balance(venue, clearing_id("btc-usdc-perp")) == 0


def test_fills_are_idempotent_and_refused_with_reasons(venue: RiskService) -> None:
    fill = Fill(1, "alice-x", "btc-usdc-perp", 10, 650_000, 1)
    assert venue.apply_fills([fill]) == [Result.ok]
    assert venue.apply_fills([fill]) == [Result.exists]
    assert venue.apply_fills([Fill(1, "alice-x", "btc-usdc-perp", 11, 650_000)]) == [
        Result.fill_exists_with_different_body
    ]
    refused = venue.apply_fills([
        Fill(5, "nobody", "btc-usdc-perp", 1, 650_000),
        Fill(6, "alice-x", "nope", 1, 650_000),
        Fill(7, "alice-x", "btc-usd-perp", 1, 650_000),  # BTC-settled, not in a USDC bucket
        Fill(8, "bob-iso", "eth-usdc-perp", 1, 340_000),  # isolated on another market
    ])
    assert refused == [
        Result.bucket_not_found,
        Result.instrument_not_found,
        Result.instrument_not_allowed_in_bucket,
        Result.instrument_not_allowed_in_bucket,
    ]
    assert balance(venue, venue.revenue_accounts["USDC"]) == 1


def test_one_sided_markets_cannot_settle(venue: RiskService) -> None:
    venue.apply_fills([Fill(1, "alice-x", "btc-usdc-perp", 10, 650_000)])
    with pytest.raises(InputError) as caught:
        venue.settle(1, {**_other_marks(venue), "btc-usdc-perp": 650_000})
    assert caught.value.code is Result.market_positions_not_balanced


def test_a_loss_beyond_collateral_is_left_to_liquidation(venue: RiskService) -> None:
    venue.apply_fills([
        Fill(1, "alice-x", "btc-usdc-perp", 100_000, 650_000),  # 100 BTC on 10,000 USDC
        Fill(2, "bob-iso", "btc-usdc-perp", -100_000, 650_000),
    ])
    with pytest.raises(InputError) as caught:
        venue.settle(1, {**_other_marks(venue), "btc-usdc-perp": 600_000})
    assert caught.value.code is Result.settlement_exceeds_collateral
    assert balance(venue, clearing_id("btc-usdc-perp")) == 0


def test_scan_reads_collateral_from_the_ledger_and_check_reuses_it(venue: RiskService) -> None:
    venue.apply_fills([
        Fill(1, "alice-x", "btc-usdc-perp", 1_000, 650_000),
        Fill(2, "bob-iso", "btc-usdc-perp", -1_000, 650_000),
    ])
    state = venue.scan(_market(venue, 640_000))
    alice = state.index["alice-x"]
    assert int(state.result.equity[alice]) == pytest.approx(9_000 * usdc, abs=1)
    assert state.result.health[alice] == Health.healthy
    assert state.result.delta[alice] == pytest.approx(1.0)
    small = venue.check("alice-x", [("btc-usdc-perp", 100, 640_000)])
    assert small.accepted
    huge = venue.check("alice-x", [("btc-usdc-perp", 1_000_000, 640_000)])
    assert not huge.accepted
    with pytest.raises(InputError):
        venue.check("alice-x", [("btc-usd-perp", 1, 640_000)])


def test_margin_codes_stay_between_collateral_and_clearing(venue: RiskService) -> None:
    venue.apply_fills([
        Fill(1, "alice-x", "btc-usdc-perp", 1_000, 650_000),
        Fill(2, "bob-iso", "btc-usdc-perp", -1_000, 650_000),
    ])
    venue.settle(1, {**_other_marks(venue), "btc-usdc-perp": 640_000})
    ledger = venue.ledger.ledger
    clearing = clearing_id("btc-usdc-perp")
    codes = {int(TransferCode.pnl_settlement), int(TransferCode.funding)}
    records = [r for r in venue.ledger.store.projected_transfers() if r.code in codes]
    assert records
    for record in records:
        sides = {record.debit_account, record.credit_account}
        assert clearing in sides
        other = (sides - {clearing}).pop()
        assert ledger.accounts[other].definition.kind.startswith("collateral:")


def _other_marks(service: RiskService) -> dict[str, int]:
    marks = {}
    for symbol, instrument in service.instruments.items():
        marks[symbol] = 650_000 if instrument.option_type is None else 500
    return marks


def _market(service: RiskService, btc_units: int) -> MarketData:
    prices = {}
    vols = {}
    for symbol, instrument in service.instruments.items():
        if instrument.option_type is not None:
            prices[symbol] = btc_units // 10
            vols[symbol] = 600_000
        elif instrument.underlying == "eth":
            prices[symbol] = 340_000
        else:
            prices[symbol] = btc_units
    return MarketData(service.ledger.clock.now_ns(), prices, vols)
