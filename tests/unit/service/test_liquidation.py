"""service/liquidation.py: a crash liquidates through the ledger (codes 21-24, one chain per
market), the insurance fund pays a gap, an empty fund deleverages in the same market, a replay
changes nothing, and settlement afterwards still nets clearing to zero."""

from __future__ import annotations

from dataclasses import replace

import pytest
from tests.support import invariant_problems, journal_signer

from ringfence.adapters.clock import ManualClock
from ringfence.adapters.storage.memory import MemoryStore
from ringfence.core.errors import InputError, Result
from ringfence.core.ledger.model import Transfer, TransferCode
from ringfence.core.liquidation.records import CloseOrder, LiquidationPolicy
from ringfence.core.risk.instruments import Bucket, MarginMode
from ringfence.core.risk.market import MarketData
from ringfence.core.risk.settlement import Fill
from ringfence.demo.venue import (
    fund_buckets,
    scan_prices,
    set_up_insurance,
    set_up_venue,
    venue_instruments,
)
from ringfence.service import liquidation
from ringfence.service.ledger import LedgerService
from ringfence.service.liquidation import LiquidationService, outcome_document
from ringfence.service.risk import RiskService
from ringfence.service.risk_book import load_book, save_book
from ringfence.service.risk_ledger import clearing_id, collateral_id, global_fund_id, insurance_id

usdc = 10**6
perp = "btc-usdc-perp"


def venue(fund_units: int) -> tuple[LiquidationService, dict[str, int]]:
    """bob (isolated long, thin), carol and dave (profitable shorts), mm (the taker), erin
    (no position), on a ledger with ``fund_units`` in the perp's insurance fund."""
    ledger = LedgerService(MemoryStore(), ManualClock(), journal_signer())
    instruments = venue_instruments(ledger.clock.now_ns())
    revenue = set_up_venue(ledger, ["bob", "carol", "dave", "mm", "erin"])
    risk = RiskService(ledger, revenue)
    risk.define_instruments(instruments)
    buckets = {
        "bob-iso": (Bucket("bob-iso", "bob", MarginMode.isolated, "USDC", perp), 3_000),
        "carol-x": (Bucket("carol-x", "carol", MarginMode.cross, "USDC", "USDC"), 4_000),
        "dave-x": (Bucket("dave-x", "dave", MarginMode.cross, "USDC", "USDC"), 20_000),
        "mm-x": (Bucket("mm-x", "mm", MarginMode.cross, "USDC", "USDC"), 1_000_000),
        "erin-x": (Bucket("erin-x", "erin", MarginMode.cross, "USDC", "USDC"), 500),
    }
    risk.open_buckets([(b, "venue-usdc") for b, _ in buckets.values()])
    for bucket, whole in buckets.values():
        fund_buckets(ledger, [bucket], {"USDC": whole * usdc})
    capital = set_up_insurance(ledger, risk, {perp: 10_000 * usdc})
    risk.set_taker(perp, "mm-x")
    service = LiquidationService(risk, LiquidationPolicy(fee_ppm=5_000, slippage_ppm=2_000))
    if fund_units:
        assert service.fund_insurance(perp, fund_units, capital["USDC"]) is Result.ok
    # bob buys 1 BTC at 60,000 from carol (0.4) and dave (0.6): 20x.
    fills = [
        Fill(1, "bob-iso", perp, 1_000, 600_000),
        Fill(2, "carol-x", perp, -400, 600_000),
        Fill(3, "dave-x", perp, -600, 600_000),
    ]
    assert risk.apply_fills(fills) == [Result.ok] * 3
    return service, capital


def crash(service: LiquidationService, btc: int) -> MarketData:
    instruments = list(service.risk.instruments.values())
    vols = {i.symbol: 600_000 for i in instruments if i.option_type is not None}
    return MarketData(service.risk.ledger.clock.now_ns(), scan_prices(instruments, btc), vols)


def balance(service: LiquidationService, account: int) -> int:
    return service.risk.ledger.balance(account).balance


def test_a_gap_through_bankruptcy_is_paid_by_the_market_fund_through_the_ledger() -> None:
    service, _ = venue(5_000 * usdc)
    # 60,000 -> 56,000: bob's 3,000 USDC covered 3,000 of a 4,000 + slippage loss.
    outcome = service.liquidate(crash(service, 56_000))
    assert outcome.ok and outcome.applied
    assert outcome.plan.liquidated == ("bob-iso",)
    assert {c.symbol for c in outcome.chains} == {perp}
    assert balance(service, collateral_id("bob-iso")) == 0
    payout = next(t for t in outcome.plan.transfers if t.code.value == "insurance_payout")
    assert balance(service, insurance_id(perp)) == 5_000 * usdc - payout.amount
    assert outcome.insurance[perp] == 5_000 * usdc - payout.amount >= 0
    assert not outcome.plan.deleveraging
    # The taker took bob's lot at the fillable price; the book's lots still sum to zero.
    assert sum(p.quantity_lots for p in service.risk.positions.values()) == 0
    assert ("bob-iso", perp) not in service.risk.positions
    assert service.risk.positions[("mm-x", perp)].quantity_lots == 1_000
    records = service.risk.ledger.store.transfers([t.id for t in outcome.plan.transfers])
    assert {r.code for r in records.values()} <= {21, 22, 23, 24}
    assert not invariant_problems(service.risk.ledger)


def test_an_empty_fund_deleverages_the_best_ranked_short_in_the_same_market() -> None:
    service, _ = venue(0)
    outcome = service.liquidate(crash(service, 56_000))
    assert outcome.ok
    adl = outcome.plan.deleveraging
    assert adl, "no fund: the loss goes to profitable shorts of the same market"
    # carol (4,000 USDC behind 0.4 BTC) is more leveraged than dave: she is ranked first.
    assert adl[0].bucket == "carol-x"
    assert all(entry.symbol == perp and entry.against == "bob-iso" for entry in adl)
    debited = {t.debit for t in outcome.plan.transfers if t.debit.startswith("collateral:")}
    assert debited == {"collateral:bob-iso"}, "only the liquidated bucket pays"
    assert balance(service, collateral_id("erin-x")) == 500 * usdc, "no position, no loss"
    assert sum(p.quantity_lots for p in service.risk.positions.values()) == 0


def test_the_same_plan_applied_twice_changes_nothing_the_second_time() -> None:
    service, _ = venue(5_000 * usdc)
    _, plan = service.plan(crash(service, 56_000))
    first = service.apply(plan)
    assert first.applied and {c.result for c in first.chains} == {Result.ok}
    positions = dict(service.risk.positions)
    collateral = balance(service, collateral_id("bob-iso"))
    fund = balance(service, insurance_id(perp))
    second = service.apply(plan)
    assert not second.applied
    assert {c.result for c in second.chains} == {Result.exists}
    assert service.risk.positions == positions
    assert balance(service, collateral_id("bob-iso")) == collateral
    assert balance(service, insurance_id(perp)) == fund
    # A new round on the liquidated book finds nothing more to do.
    again = service.liquidate(crash(service, 56_000))
    assert again.plan.transfers == () and again.candidates == 0


def test_settlement_after_a_liquidation_still_nets_clearing_to_zero() -> None:
    service, _ = venue(5_000 * usdc)
    market = crash(service, 56_000)
    service.liquidate(market)
    assert balance(service, clearing_id(perp)) > 0, "the early settlements wait in clearing"
    outcomes = service.risk.settle(7, dict(market.prices))
    assert all(o.result.succeeded for o in outcomes)
    assert balance(service, clearing_id(perp)) == 0
    assert all(
        p.basis == p.quantity_lots * service.risk.instruments[perp].lot_value(560_000)
        for (_, symbol), p in service.risk.positions.items()
        if symbol == perp
    )


def test_partial_liquidation_closes_part_and_keeps_the_bucket() -> None:
    service, _ = venue(5_000 * usdc)
    service.policy = LiquidationPolicy(fee_ppm=1_000, slippage_ppm=1_000)
    # 60,000 -> 57,200: bob has 200 USDC against a 236 USDC maintenance (tier 1, 0.5%); half
    # the position closes (costing 0.1% slippage and a 0.1% fee on it), and the rest, in tier 0
    # (0.4%), is covered again.
    outcome = service.liquidate(crash(service, 57_200))
    assert outcome.plan.partial == ("bob-iso",)
    held = service.risk.positions[("bob-iso", perp)]
    assert 0 < held.quantity_lots < 1_000
    state = service.risk.scan(crash(service, 57_200))
    k = state.index["bob-iso"]
    assert int(state.result.equity[k]) >= int(state.result.maintenance[k])


def test_the_book_keeps_the_rounds_takers_and_fund_history() -> None:
    service, _ = venue(5_000 * usdc)
    service.liquidate(crash(service, 56_000))
    loaded, _ = load_book(service.risk.ledger)  # read back from the journal
    assert loaded.liquidation_rounds == service.risk.liquidation_rounds
    assert loaded.takers == {perp: "mm-x"}
    assert loaded.positions == service.risk.positions
    assert loaded.insurance_history == service.risk.insurance_history
    history = loaded.insurance_history
    assert [row["market"] for row in history] == [perp, perp]
    assert history[-1]["balance"] == balance(service, insurance_id(perp))
    assets = {
        s: service.risk.ledger.ledger.assets[i.settlement]
        for s, i in service.risk.instruments.items()
    }
    assert outcome_document(service.liquidate(crash(service, 56_000)), assets)["ok"] is True


def test_a_market_without_a_taker_is_refused_before_anything_moves() -> None:
    service, _ = venue(5_000 * usdc)
    service.risk.takers.clear()
    with pytest.raises(InputError) as raised:
        service.liquidate(crash(service, 56_000))
    assert raised.value.code is Result.bucket_not_found
    assert balance(service, collateral_id("bob-iso")) == 3_000 * usdc


def test_the_ledger_refuses_liquidation_codes_across_markets_or_buckets() -> None:
    service, capital = venue(5_000 * usdc)
    ledger = service.risk.ledger
    other = "eth-usdc-perp"
    refused = [
        # One market's fund paying another market's clearing.
        Transfer(901, insurance_id(perp), clearing_id(other), 1, TransferCode.insurance_payout),
        # A market fund posing as the global fund.
        Transfer(
            902, insurance_id(perp), clearing_id(perp), 1, TransferCode.global_insurance_payout
        ),
        # A liquidation fee to the global fund instead of the market's.
        Transfer(
            903, collateral_id("bob-iso"), global_fund_id("USDC"), 1, TransferCode.liquidation_fee
        ),
        # A settlement from a bucket's collateral straight to another bucket.
        Transfer(
            904,
            collateral_id("carol-x"),
            collateral_id("bob-iso"),
            1,
            TransferCode.liquidation_settlement,
        ),
        # A fund paying a client directly.
        Transfer(
            905, insurance_id(perp), collateral_id("bob-iso"), 1, TransferCode.insurance_payout
        ),
    ]
    results = [ledger.submit([event])[0] for event in refused]
    assert results == [
        Result.cross_market_forbidden,
        Result.cross_market_forbidden,
        Result.cross_market_forbidden,
        Result.segregation_rule_missing,
        Result.house_to_client_forbidden,
    ]
    allowed = Transfer(906, insurance_id(perp), clearing_id(perp), 1, TransferCode.insurance_payout)
    assert ledger.submit([allowed])[0] is Result.ok
    assert capital["USDC"]


def test_a_cross_bucket_gains_in_one_market_before_it_pays_in_another() -> None:
    service, _ = venue(5_000 * usdc)
    risk = service.risk
    risk.set_taker("eth-usdc-perp", "mm-x")
    # erin (500 USDC): long 0.2 BTC at 60,000, short 1.4 ETH at 3,400, against the maker.
    fills = [
        Fill(11, "erin-x", perp, 200, 600_000),
        Fill(12, "mm-x", perp, -200, 600_000),
        Fill(13, "erin-x", "eth-usdc-perp", -140, 340_000),
        Fill(14, "mm-x", "eth-usdc-perp", 140, 340_000),
    ]
    assert risk.apply_fills(fills) == [Result.ok] * 4
    market = crash(service, 55_000)  # BTC -1,000 USDC for erin
    prices = dict(market.prices)
    prices["eth-usdc-perp"] = 300_000  # ETH +560 USDC for erin
    market = MarketData(market.now_ns, prices, dict(market.volatilities_ppm))
    outcome = service.liquidate(market)
    assert "erin-x" in outcome.plan.liquidated
    assert outcome.ok, outcome.chains
    # In name order BTC's chain (erin pays ~1,000 from 500) would come first and be refused.
    markets = [chain.symbol for chain in outcome.chains]
    assert markets.index("eth-usdc-perp") < markets.index(perp)
    assert balance(service, collateral_id("erin-x")) >= 0
    assert not invariant_problems(service.risk.ledger)


def test_a_cross_bucket_closes_its_largest_requirement_and_keeps_the_rest() -> None:
    service, _ = venue(5_000 * usdc)
    service.policy = LiquidationPolicy(fee_ppm=1_000, slippage_ppm=1_000)
    risk = service.risk
    risk.set_taker("eth-usdc-perp", "mm-x")
    # erin (500 USDC, cross): long 0.2 BTC at 60,000 and 0.1 ETH at 3,400. At 57,700 she has
    # 40 USDC against 46.16 + 1.36 of maintenance. BTC (the larger requirement) is reduced
    # first: half of it sold at 57,642.3 settles the position (471.54 paid) with a 5.76 fee on
    # the half, and the 0.1 BTC kept (23.08 of maintenance) and ETH are covered again.
    fills = [
        Fill(11, "erin-x", perp, 200, 600_000),
        Fill(12, "mm-x", perp, -200, 600_000),
        Fill(13, "erin-x", "eth-usdc-perp", 10, 340_000),
        Fill(14, "mm-x", "eth-usdc-perp", -10, 340_000),
    ]
    assert risk.apply_fills(fills) == [Result.ok] * 4
    market = crash(service, 57_700)
    outcome = service.liquidate(market)
    assert outcome.ok, outcome.chains
    assert "erin-x" in outcome.plan.partial
    assert [(o.symbol, o.quantity_lots) for o in outcome.plan.orders
            if o.bucket == "erin-x"] == [(perp, -100)]
    assert risk.positions[("erin-x", "eth-usdc-perp")].quantity_lots == 10
    assert risk.positions[("erin-x", perp)].quantity_lots == 100
    state = risk.scan(market)
    k = state.index["erin-x"]
    assert 0 <= int(state.result.maintenance[k]) <= int(state.result.equity[k])
    assert not invariant_problems(risk.ledger)


def test_a_retried_round_whose_plan_changed_is_refused_as_a_conflict() -> None:
    service, _ = venue(5_000 * usdc)
    _, plan = service.plan(crash(service, 56_000))
    assert service.apply(plan).applied
    # A crash after the ledger committed but before the book was saved: the book forgets the
    # round, and the retry plans the same ids with other amounts.
    service.risk.liquidation_rounds.clear()
    first, *rest = plan.transfers
    changed = replace(plan, transfers=(first._replace(amount=first.amount + 1), *rest))
    fund = balance(service, insurance_id(perp))
    outcome = service.apply(changed)
    assert not outcome.applied
    assert [c.result for c in outcome.chains] == [Result.liquidation_round_conflict]
    assert balance(service, insurance_id(perp)) == fund


def test_a_market_whose_chain_is_refused_leaves_the_committed_markets_applied() -> None:
    """Chains of different markets commit on their own: the book follows each market's money,
    so a position whose collateral moved is closed and is never liquidated twice."""
    service, capital = venue(5_000 * usdc)
    risk = service.risk
    risk.set_taker("eth-usdc-perp", "mm-x")
    fills = [Fill(11, "erin-x", "eth-usdc-perp", -140, 340_000),
             Fill(12, "mm-x", "eth-usdc-perp", 140, 340_000)]  # fmt: skip
    assert all(result.succeeded for result in risk.apply_fills(fills))
    market = crash(service, 55_000)
    prices = {**market.prices, "eth-usdc-perp": 420_000}  # erin loses on ETH too
    market = MarketData(market.now_ns, prices, dict(market.volatilities_ppm))
    _, plan = service.plan(market)
    eth = [t for t in plan.transfers if t.market == "eth-usdc-perp"]
    assert eth and any(t.market == perp for t in plan.transfers)
    # Another transfer already holds an id of the ETH chain: the ledger refuses that chain.
    squat = Transfer(eth[0].id, capital["USDC"], insurance_id(perp), 1,
                     TransferCode.insurance_funding)  # fmt: skip
    assert risk.ledger.submit([squat]) == [Result.ok]
    outcome = service.apply(plan)
    assert {c.symbol: c.result.succeeded for c in outcome.chains}["eth-usdc-perp"] is False
    assert not outcome.applied  # not the whole plan
    assert ("bob-iso", perp) not in risk.positions  # BTC committed: bob's long is closed
    assert ("erin-x", "eth-usdc-perp") in risk.positions  # ETH refused: erin's short stays
    bob = balance(service, collateral_id("bob-iso"))
    later = MarketData(market.now_ns + 1, {**prices, perp: prices[perp] - 1},
                       dict(market.volatilities_ppm))  # fmt: skip
    _, again = service.plan(later)
    assert "bob-iso" not in again.liquidated
    service.apply(again)
    assert balance(service, collateral_id("bob-iso")) == bob
    assert invariant_problems(risk.ledger) == []


def test_a_round_over_the_journaled_book_refuses_bad_input_by_name() -> None:
    service, _ = venue(5_000 * usdc)
    ledger = service.risk.ledger
    save_book(service.risk, crash(service, 60_000))
    refusals = [
        ({"prices": ["btc-7d-65k-c=0.01"]}, Result.instrument_invalid),
        ({"prices": ["nothing=1"]}, Result.instrument_not_found),
        ({"prices": [f"{perp}=56000.05"]}, Result.price_finer_than_tick),
        ({"takers": [perp]}, Result.line_malformed),
        ({"takers": ["nothing=mm-x"]}, Result.instrument_not_found),
        ({"partial_ppm": 0}, Result.risk_config_invalid),
    ]
    for options, code in refusals:
        with pytest.raises(InputError) as raised:
            liquidation.run_round(ledger, **options)  # type: ignore[arg-type]
        assert raised.value.code is code, options
    document = liquidation.run_round(ledger, prices=[f"{perp}=56000"],
                                     takers=[f"{perp}=mm-x"])
    assert document["ok"] is True
    assert document["applied"] is True
    assert document["liquidated"] == 1
    kept, market = load_book(ledger)
    assert [str(r) for r in kept.liquidation_rounds] == [document["round"]]
    assert market is not None
    assert market.prices[perp] == 560_000
    funds = liquidation.funds(ledger)
    assert funds["funds"][perp] == document["insurance"][perp]
    assert funds["history"][-1]["round"] == document["round"]
    again = liquidation.run_round(ledger)
    assert (again["ok"], again["liquidated"], again["transfers"]) == (True, 0, 0)


def test_a_short_call_bucket_is_closed_at_its_premium_mark_when_the_market_has_a_taker() -> None:
    service, _ = venue(0)
    risk = service.risk
    call = "btc-7d-65k-c"
    btc = 10**8
    buckets = [Bucket("carol-btc", "carol", MarginMode.cross, "BTC", "BTC"),
               Bucket("mm-btc", "mm", MarginMode.cross, "BTC", "BTC")]
    risk.open_buckets([(b, "venue-btc") for b in buckets])
    fund_buckets(service.risk.ledger, buckets[:1], {"BTC": btc // 10})
    fund_buckets(service.risk.ledger, buckets[1:], {"BTC": 100 * btc})
    # carol sells 1 BTC of calls (10 lots of 0.1 BTC) at 0.0200 BTC each to mm.
    fills = [Fill(10, "carol-btc", call, -10, 200), Fill(11, "mm-btc", call, 10, 200)]
    assert risk.apply_fills(fills) == [Result.ok] * 2
    # BTC rises from 65,000 to 70,000: the calls are worth about 0.08 BTC, so carol's 0.1 BTC
    # is below the 7.5% short-option maintenance, but solvent at the fillable premium.
    market = crash(service, 70_000)
    state, plan = service.plan(market)
    assert plan.deferred == ("carol-btc",)  # no taker for the option: not planned
    assert plan.orders == ()
    risk.takers[call] = "mm-btc"
    state, plan = service.plan(market)
    row = state.table.index[call]
    value_per_lot = state.arrays.columns[row, state.arrays.scenarios.count]  # satoshi
    mark = round(value_per_lot / (btc // 10) * 10**4 / 5) * 5  # 0.1 BTC lots, tick 5
    fill = -(-(mark * 1_002) // 5_000) * 5  # bought back 0.2% above, on the tick
    assert "carol-btc" in plan.liquidated
    assert plan.deferred == ()
    assert [o for o in plan.orders if o.bucket == "carol-btc"] == [
        CloseOrder("carol-btc", call, 10, fill, True)]
    outcome = service.apply(plan)
    assert outcome.ok
    assert ("carol-btc", call) not in risk.positions  # closed and settled
    assert risk.positions[("mm-btc", call)].quantity_lots == 0  # the taker sold them back
    assert invariant_problems(risk.ledger) == []


def test_a_portfolio_bucket_closes_its_short_calls_and_keeps_its_hedge() -> None:
    # frank's portfolio bucket on BTC (0.1 BTC): 1 BTC of 7-day 65k calls sold at 0.02 BTC,
    # long 650 perpetual contracts and short 650 of the 90-day future (a hedge). BTC rises to
    # 70,000: the calls put the bucket below the scan's requirement. Closing them frees the
    # most of it; the hedge, which owes almost nothing on its own, is kept.
    service, _ = venue(0)
    risk = service.risk
    call, perp, future = "btc-7d-65k-c", "btc-usd-perp", "btc-usd-90d"
    buckets = [Bucket("frank-pm", "carol", MarginMode.portfolio, "BTC", "btc"),
               Bucket("mm-btc", "mm", MarginMode.cross, "BTC", "BTC")]
    risk.open_buckets([(b, "venue-btc") for b in buckets])
    fund_buckets(risk.ledger, buckets[:1], {"BTC": 10**7})
    fund_buckets(risk.ledger, buckets[1:], {"BTC": 100 * 10**8})
    fills = [Fill(10, "frank-pm", call, -10, 200), Fill(11, "mm-btc", call, 10, 200),
             Fill(12, "frank-pm", perp, 650, 650_000), Fill(13, "mm-btc", perp, -650, 650_000),
             Fill(14, "frank-pm", future, -650, 650_000),
             Fill(15, "mm-btc", future, 650, 650_000)]
    assert risk.apply_fills(fills) == [Result.ok] * 6
    for symbol in (call, perp, future):
        risk.takers[symbol] = "mm-btc"
    market = crash(service, 70_000)
    outcome = service.liquidate(market)
    assert outcome.ok
    assert "frank-pm" in outcome.plan.partial
    assert [(o.symbol, o.quantity_lots) for o in outcome.plan.orders
            if o.bucket == "frank-pm"] == [(call, 10)]
    assert ("frank-pm", call) not in risk.positions
    assert risk.positions[("frank-pm", perp)].quantity_lots == 650
    assert risk.positions[("frank-pm", future)].quantity_lots == -650
    state = risk.scan(market)
    k = state.index["frank-pm"]
    assert 0 < int(state.result.maintenance[k]) <= int(state.result.equity[k])


def test_a_round_in_one_batch_commits_with_its_book_changes_or_not_at_all() -> None:
    from ringfence.core.errors import StorageError
    from ringfence.core.ledger.journal import EntryKind
    from ringfence.service.audit import verify_store

    service, _ = venue(5_000 * usdc)
    ledger = service.risk.ledger
    store = ledger.store
    assert isinstance(store, MemoryStore)
    positions = dict(service.risk.positions)
    seq = ledger.seq
    store.fail_next_append = True
    with pytest.raises(StorageError):
        service.liquidate(crash(service, 56_000))
    assert ledger.seq == seq  # neither the transfers nor the book's changes
    assert service.risk.positions == positions
    assert not service.risk.liquidation_rounds
    outcome = service.liquidate(crash(service, 56_000))
    assert outcome.applied
    kinds = [entry.kind for entry in store.entries(after_seq=seq)]
    assert kinds == [EntryKind.transfers, EntryKind.positions]  # one store transaction
    read, _ = load_book(ledger)
    assert read.positions == service.risk.positions
    assert read.liquidation_rounds == {outcome.round_id}
    assert verify_store(store).ok
