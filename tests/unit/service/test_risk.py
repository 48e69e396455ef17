"""service/risk.py: fills, settlement through the clearing account, funding, scans and checks,
all over a LedgerService on the in-memory store."""

from __future__ import annotations

from dataclasses import replace
from fractions import Fraction

import pytest
from tests.support import invariant_problems, journal_signer

from ringfence.adapters.clock import ManualClock
from ringfence.adapters.storage.memory import MemoryStore
from ringfence.core.errors import InputError, Result, StorageError
from ringfence.core.ledger.model import Pool, PoolKind, Purpose, Terms, TransferCode
from ringfence.core.risk.instruments import Bucket, MarginMode
from ringfence.core.risk.market import MarketData
from ringfence.core.risk.scan import Health
from ringfence.core.risk.scenarios import Profile
from ringfence.core.risk.settlement import Fill
from ringfence.demo.venue import fund_buckets, set_up_venue, venue_instruments
from ringfence.service.ledger import LedgerService
from ringfence.service.risk import RiskService
from ringfence.service.risk_ledger import clearing_id, collateral_id, insurance_id

usdc = 10**6
btc = 10**8


@pytest.fixture
def venue() -> RiskService:
    ledger = LedgerService(MemoryStore(), ManualClock(), journal_signer())
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
    outcome = next(o for o in plans if o.symbol == "btc-usdc-perp")
    assert outcome.result is Result.ok
    plan = outcome.plan
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
    plan = next(o.plan for o in plans if o.symbol == "btc-usd-perp")
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
    outcome = venue.pay_funding(1, "btc-usdc-perp", 650_000, Fraction(1, 10_000))
    assert outcome.result is Result.ok
    plan = outcome.plan
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


# ---------------------------------------------------------------------- review fixes


def test_a_btc_cross_bucket_cannot_buy_calls_on_no_collateral(venue: RiskService) -> None:
    # The repro: 2 BTC of collateral, 10M call lots. Long options settle futures-style, so
    # their premium is charged as margin; before, the requirement stayed 0 and it passed.
    bucket = Bucket("carol-x", "carol", MarginMode.cross, "BTC", "BTC")
    venue.open_buckets([(bucket, "venue-btc")])
    fund_buckets(venue.ledger, [bucket], {"BTC": 2 * btc})
    venue.scan(_market(venue, 640_000))
    huge = venue.check("carol-x", [("btc-7d-65k-c", 10_000_000, 500)])
    assert not huge.accepted
    assert huge.initial > 2 * btc
    small = venue.check("carol-x", [("btc-7d-65k-c", 1, 500)])
    assert small.accepted


def test_a_closed_position_counts_its_realised_loss_in_equity(venue: RiskService) -> None:
    # Bought 100 BTC at 65,000, sold at 55,000: a realised loss of 1,000,000 USDC that the
    # next cycle will collect. Before, the scan dropped the zero-lot position and its basis.
    venue.apply_fills([
        Fill(1, "alice-x", "btc-usdc-perp", 100_000, 650_000),
        Fill(2, "bob-iso", "btc-usdc-perp", -100_000, 650_000),
        Fill(3, "alice-x", "btc-usdc-perp", -100_000, 550_000),
        Fill(4, "bob-iso", "btc-usdc-perp", 100_000, 550_000),
    ])
    state = venue.scan(_market(venue, 600_000))
    alice, bob = state.index["alice-x"], state.index["bob-iso"]
    assert int(state.result.equity[alice]) <= (10_000 - 1_000_000) * usdc
    assert int(state.result.equity[alice]) >= (10_000 - 1_000_000) * usdc - 3  # the guard
    assert state.result.health[alice] == Health.liquidatable
    assert int(state.result.maintenance[alice]) == 0
    # The winner's realised gain is owed by the same cycle: it counts, rounded down.
    assert int(state.result.equity[bob]) <= (10_000 + 1_000_000) * usdc


def test_an_underlying_without_a_posted_range_takes_the_default(venue: RiskService) -> None:
    venue.profile = Profile.span
    venue.apply_fills([
        Fill(1, "carol-pm", "btc-usd-perp", 7, 650_005),
        Fill(2, "alice-pm", "btc-usd-perp", -7, 650_005),
    ])
    market = _market(venue, 650_000)
    default = venue.scan(market)
    partial = venue.scan(replace(market, price_ranges_ppm={"eth": 100_000}))
    carol = default.index["carol-pm"]
    assert int(default.result.maintenance[carol]) > 0
    assert int(partial.result.maintenance[carol]) == int(default.result.maintenance[carol])
    with pytest.raises(InputError) as caught:
        replace(market, price_ranges_ppm={"btc": 0})
    assert caught.value.code is Result.risk_config_invalid


def test_a_refused_credit_refuses_the_whole_cycle(venue: RiskService) -> None:
    # The winner's collateral sits in a pool with nothing to cover a credit: the ledger
    # refuses it (pool_coverage_would_break). The market's chain is refused whole: the
    # loser's debit is not posted, clearing stays at zero and the positions stay as they are.
    ledger = venue.ledger
    ledger.define_clients(["dave"])
    ledger.define_pools(
        [Pool("other-usdc", PoolKind.omnibus, Terms.custody, Purpose.margin_collateral)]
    )
    venue.open_buckets([(Bucket("dave-x", "dave", MarginMode.cross, "USDC", "USDC"),
                         "other-usdc")])
    venue.apply_fills([
        Fill(1, "alice-x", "btc-usdc-perp", 1_000, 600_000),
        Fill(2, "dave-x", "btc-usdc-perp", -1_000, 600_000),
    ])
    positions = dict(venue.positions)
    outcomes = venue.settle(1, {**_other_marks(venue), "btc-usdc-perp": 590_000})
    outcome = next(o for o in outcomes if o.symbol == "btc-usdc-perp")
    assert outcome.result is Result.pool_coverage_would_break
    assert balance(venue, collateral_id("alice-x")) == 10_000 * usdc
    assert balance(venue, collateral_id("dave-x")) == 0
    assert balance(venue, clearing_id("btc-usdc-perp")) == 0
    assert venue.positions == positions
    assert invariant_problems(ledger) == []


def test_a_refused_fee_changes_no_position(venue: RiskService) -> None:
    # Before, the position and fill id were recorded first: the fee's refusal raised, and a
    # retry answered ``exists`` so the fee was never charged.
    revenue = venue.revenue_accounts["USDC"]
    costly = Fill(1, "alice-x", "btc-usdc-perp", 10, 650_000, 20_000 * usdc)
    fine = Fill(2, "bob-iso", "btc-usdc-perp", -10, 650_000, usdc)
    results = venue.apply_fills([costly, fine])
    assert results[0] is Result.exceeds_available_balance
    assert results[1] is Result.ok
    assert ("alice-x", "btc-usdc-perp") not in venue.positions
    assert ("bob-iso", "btc-usdc-perp") in venue.positions
    assert balance(venue, revenue) == usdc
    assert venue.apply_fills([costly]) == [Result.exceeds_available_balance]


def test_a_fill_whose_acknowledgement_was_lost_is_applied_once(
    venue: RiskService, monkeypatch: pytest.MonkeyPatch
) -> None:
    revenue = venue.revenue_accounts["USDC"]
    fills = [Fill(1, "alice-x", "btc-usdc-perp", 10, 650_000, 5 * usdc),
             Fill(2, "bob-iso", "btc-usdc-perp", -10, 650_000, 5 * usdc)]
    submit = venue.ledger.submit_joined

    def committed_then_failed(events, companion):  # type: ignore[no-untyped-def]
        submit(events, companion)
        raise StorageError("the acknowledgement was lost")

    monkeypatch.setattr(venue.ledger, "submit_joined", committed_then_failed)
    with pytest.raises(StorageError):
        venue.apply_fills(fills)
    monkeypatch.setattr(venue.ledger, "submit_joined", submit)
    # The fees and the fills committed together: the book, read again, holds both fills.
    assert set(venue.positions) == {("alice-x", "btc-usdc-perp"), ("bob-iso", "btc-usdc-perp")}
    assert venue.apply_fills(fills) == [Result.exists, Result.exists]
    assert balance(venue, revenue) == 10 * usdc
    assert venue.apply_fills(fills) == [Result.exists, Result.exists]
    assert balance(venue, revenue) == 10 * usdc
    # Alone, the first fill's fee (committed inside a linked chain) is recognised as charged.
    assert venue.apply_fills([Fill(3, "alice-x", "btc-usdc-perp", 1, 650_000, usdc)]) == [
        Result.ok
    ]


def test_market_data_refuses_missing_volatilities_and_floats(venue: RiskService) -> None:
    market = _market(venue, 650_000)
    vols = dict(market.volatilities_ppm)
    del vols["btc-7d-65k-c"]
    with pytest.raises(InputError) as caught:
        venue.scan(replace(market, volatilities_ppm=vols))
    assert caught.value.code is Result.field_required
    with pytest.raises(InputError) as caught:
        MarketData(0, {"btc-usdc-perp": 650_000.0})  # type: ignore[dict-item]
    assert caught.value.code is Result.price_invalid


@pytest.mark.parametrize("group", [True, False])
def test_a_book_behind_the_journal_never_journals_a_fill_twice(group: bool) -> None:
    # Two readers of one journal (two processes, or a request's book loaded earlier): the
    # stale one applies a fill the other already applied. Its fee answers `exists`, so the
    # fill was journaled with it: journaling it again made the book unreadable.
    from ringfence.service.audit import verify_store
    from ringfence.service.venue_journal import read_book

    usdc = 10**6
    ledger = LedgerService(MemoryStore(), ManualClock(), journal_signer())
    service = RiskService(ledger, set_up_venue(ledger, ["alice", "bob"]))
    service.define_instruments(venue_instruments(ledger.clock.now_ns()))
    buckets = [Bucket("alice-x", "alice", MarginMode.cross, "USDC", "USDC"),
               Bucket("bob-x", "bob", MarginMode.cross, "USDC", "USDC")]
    service.open_buckets([(b, "venue-usdc") for b in buckets])
    fund_buckets(ledger, buckets, {"USDC": 1_000 * usdc})
    stale, _ = RiskService.from_journal(ledger)
    fresh, _ = RiskService.from_journal(ledger)
    first = Fill(1, "alice-x", "btc-usdc-perp", 1, 650_000, usdc)
    second = Fill(2, "bob-x", "btc-usdc-perp", -1, 650_000, usdc)
    assert fresh.apply_fills([first]) == [Result.ok]
    fills = [first, second] if group else [first]
    assert stale.apply_fills(fills) == [Result.exists, Result.ok][: len(fills)]
    book = read_book(ledger)  # raised "fill 1 applied twice" before
    assert sorted(book.fills) == [1, 2][: len(fills)]
    assert verify_store(ledger.store).problems == []
    assert stale.positions[("alice-x", "btc-usdc-perp")].quantity_lots == 1
