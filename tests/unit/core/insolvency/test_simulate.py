"""core/insolvency: scenario outcomes computed by hand (issue 8's "Done when" list).

Prices: BTC at $20,000.00 unless a test says otherwise; 1 BTC = 10^8 sats. The firm of each
test is built directly as a ``Book``: pools, each client's posted claim per pool and asset,
and each wallet's holding.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import pytest

from ringfence.core.errors import InputError, Result
from ringfence.core.insolvency import (
    Book,
    FirmNames,
    Move,
    Outcome,
    Payout,
    Scenario,
    Standing,
    parse_scenario,
    rate_band,
    simulate,
)
from ringfence.core.ledger.model import Pool, PoolKind, Purpose, Terms
from ringfence.core.money import Asset, split_pro_rata

BTC = Asset("BTC", 8, 1)
ETH = Asset("ETH", 18, 2)
COIN = 10**8
DAY_NS = 86_400 * 10**9
PETITION_NS = 1_700_000_000 * 10**9

CUSTODY = Pool("custody", PoolKind.omnibus, Terms.custody)
EARN = Pool("earn", PoolKind.omnibus, Terms.title_transfer)
MARGIN = Pool("margin", PoolKind.omnibus, Terms.custody, Purpose.margin_collateral)
VAULT = Pool("vault-dave", PoolKind.individual, Terms.custody, client="dave")
POOLS = {pool.name: pool for pool in (CUSTODY, EARN, MARGIN, VAULT)}
WALLET_OF = {"custody": "custody-hot", "earn": "earn-hot", "margin": "margin-hot",
             "vault-dave": "vault-dave-cold", "": "house-hot"}
CLIENTS = ("alice", "bob", "carol", "dave", "erin", "frank")


def book(
    claims: Mapping[str, Mapping[str, int]],
    holdings: Mapping[str, int],
    moves: tuple[Move, ...] = (),
    posted_ids: frozenset[int] = frozenset(),
) -> Book:
    """A BTC-only firm: claims per pool per client, holdings per pool ("" the house)."""
    return Book(
        POOLS,
        {(pool, "BTC"): dict(by_client) for pool, by_client in claims.items()},
        {(WALLET_OF[pool], "BTC"): (pool, units) for pool, units in holdings.items()},
        moves,
        posted_ids,
    )


def scenario(**fields: Any) -> Scenario:
    document: dict[str, Any] = {"petition_date": PETITION_NS, "prices": {"BTC": "20000.00"}}
    document.update(fields)
    names = FirmNames({"BTC": BTC}, POOLS, {w: p for p, w in WALLET_OF.items()}, CLIENTS)
    return parse_scenario(document, names, PETITION_NS)


def line(outcome: Outcome, client: str, pool: str) -> tuple[int, int, int, int]:
    """(claim, in kind, unsecured, held back) of a client in a pool."""
    (found,) = [x for x in outcome.lines if x.client == client and x.pool == pool]
    return found.claim, found.in_kind, found.unsecured, found.held_back


def client(outcome: Outcome, name: str) -> Any:
    (found,) = [x for x in outcome.clients if x.client == name]
    return found


def usd(dollars: int) -> int:
    """Dollars as value atoms of the scenario's valuation (BTC's 8 decimals, whole prices)."""
    assert scenario().valuation.value_scale == 8
    return dollars * 10**8


def move(name: str, units: int, days_before: int, to_pool: str = "custody") -> Move:
    at = PETITION_NS - days_before * DAY_NS
    return Move(name, "BTC", units, "earn", to_pool, at, at - 1, at)


# ---------------------------------------------------------------------- the cases


def test_a_pure_custody_client_recovers_everything_in_kind() -> None:
    outcome = simulate(book({"custody": {"bob": COIN}}, {"custody": COIN}), scenario())
    assert line(outcome, "bob", "custody") == (COIN, COIN, 0, 0)
    assert client(outcome, "bob").recovered_value == client(outcome, "bob").claim_value
    assert outcome.rate_distribution()[10] == 1


def test_an_earn_client_ranks_unsecured_and_shares_the_estate_pro_rata() -> None:
    # Earn owes carol 3 BTC and erin 1 BTC but holds 2; the house has nothing else. Admin costs
    # of $4,000 (0.2 BTC) leave $36,000 for $80,000 of claims: 45% each.
    firm = book({"earn": {"carol": 3 * COIN, "erin": COIN}}, {"earn": 2 * COIN})
    outcome = simulate(firm, scenario(admin_costs="4000.00"))
    assert line(outcome, "carol", "earn") == (3 * COIN, 0, 3 * COIN, 0)
    assert {x.standing for x in outcome.lines} == {Standing.estate_title_transfer}
    assert client(outcome, "carol").dividend_units == {"BTC": 135 * COIN // 100}
    assert client(outcome, "erin").dividend_units == {"BTC": 45 * COIN // 100}
    assert outcome.estate.admin_paid == usd(4_000)
    assert outcome.estate.pot == usd(36_000)
    assert outcome.estate.paid_value == usd(36_000)


def test_an_omnibus_pool_holding_90_against_100_returns_90_percent_and_a_10_percent_claim() -> None:
    firm = book({"custody": {"alice": 60 * COIN, "bob": 40 * COIN}}, {"custody": 90 * COIN})
    outcome = simulate(firm, scenario())
    assert line(outcome, "alice", "custody") == (60 * COIN, 54 * COIN, 6 * COIN, 0)
    assert line(outcome, "bob", "custody") == (40 * COIN, 36 * COIN, 4 * COIN, 0)
    (pool,) = outcome.pools
    assert (pool.returned, pool.shortfall, pool.to_estate) == (90 * COIN, 10 * COIN, 0)
    # The estate has nothing: the 10% claims get nothing more.
    assert client(outcome, "alice").dividend_value == 0
    assert rate_band(client(outcome, "alice").recovered_value, usd(60 * 20_000)) == 9


def test_a_move_from_earn_inside_the_window_above_de_minimis_is_held_back() -> None:
    # carol moved 1 BTC ($20,000) 30 days before the petition, dave 0.1 BTC ($2,000), frank
    # 1 BTC 100 days before (outside the 90-day window). De minimis $7,500 (Celsius).
    claims = {"custody": {"carol": COIN, "dave": COIN // 10, "frank": COIN, "alice": COIN}}
    moves = (move("carol", COIN, 30), move("dave", COIN // 10, 30), move("frank", COIN, 100))
    firm = book(claims, {"custody": 31 * COIN // 10}, moves)
    outcome = simulate(firm, scenario(preference={"de_minimis": "7500.00"}))
    assert line(outcome, "carol", "custody") == (COIN, 0, COIN, COIN)
    assert line(outcome, "dave", "custody") == (COIN // 10, COIN // 10, 0, 0)
    assert line(outcome, "frank", "custody") == (COIN, COIN, 0, 0)
    assert line(outcome, "alice", "custody") == (COIN, COIN, 0, 0)
    assert [(f.move.client, f.held_back) for f in outcome.preferences] == [
        ("carol", True),
        ("dave", False),
    ]
    (pool,) = outcome.pools
    assert pool.to_estate == COIN  # the held-back coins are the estate's
    # The estate pays carol's unsecured claim in full from those coins.
    assert client(outcome, "carol").dividend_units == {"BTC": COIN}


def test_the_de_minimis_test_adds_up_a_clients_moves() -> None:
    # Two moves of $5,000 each: together above $7,500, so both are held back.
    moves = (move("dave", COIN // 4, 10), move("dave", COIN // 4, 20))
    firm = book({"custody": {"dave": COIN // 2}}, {"custody": COIN // 2}, moves)
    outcome = simulate(firm, scenario(preference={"de_minimis": "7500.00"}))
    assert line(outcome, "dave", "custody") == (COIN // 2, 0, COIN // 2, COIN // 2)


def test_a_displayed_withdrawal_that_was_never_posted_does_not_count() -> None:
    # carol's app showed her 1 BTC leaving earn for custody; the ledger never posted it.
    firm = book({"earn": {"carol": COIN, "erin": COIN}}, {"earn": COIN})
    shown = [{"id": "77", "client": "carol", "asset": "BTC", "amount": "1"}]
    outcome = simulate(firm, scenario(displayed_transfers=shown))
    plain = simulate(firm, scenario())
    assert [(d.id, posted) for d, posted in outcome.displayed] == [(77, False)]
    assert outcome.lines == plain.lines
    assert outcome.clients == plain.clients
    assert line(outcome, "carol", "earn") == (COIN, 0, COIN, 0)
    posted = simulate(book({"earn": {"carol": COIN}}, {"earn": COIN}, posted_ids=frozenset({77})),
                      scenario(displayed_transfers=shown))
    assert [(d.id, is_posted) for d, is_posted in posted.displayed] == [(77, True)]


def test_a_pool_with_cross_client_funding_falls_into_the_estate() -> None:
    firm = book({"custody": {"alice": COIN, "bob": COIN}, "vault-dave": {"dave": COIN}},
                {"custody": 2 * COIN, "vault-dave": COIN})
    flagged = [{"pool": "custody", "reason": "cross_client_funding"}]
    outcome = simulate(firm, scenario(commingled_pools=flagged, admin_costs="20000.00"))
    assert line(outcome, "alice", "custody") == (COIN, 0, COIN, 0)
    assert {x.standing for x in outcome.lines if x.pool == "custody"} == {
        Standing.estate_tracing_failed
    }
    assert line(outcome, "dave", "vault-dave") == (COIN, COIN, 0, 0)  # untouched
    pool = next(p for p in outcome.pools if p.pool == "custody")
    assert (pool.to_estate, pool.reason) == (2 * COIN, "cross_client_funding")
    # The estate: 2 BTC ($40,000) less $20,000 of costs pays half of each $20,000 claim.
    assert client(outcome, "alice").dividend_units == {"BTC": COIN // 2}


def test_a_cash_payout_uses_petition_date_prices() -> None:
    firm = book({"earn": {"carol": COIN}}, {"earn": COIN // 2})
    outcome = simulate(firm, scenario(payout="cash", prices={"BTC": "16871.00"}))
    assert client(outcome, "carol").dividend_cash == 843_550  # half of $16,871.00, in cents
    assert client(outcome, "carol").dividend_units == {}
    assert outcome.estate.paid_cash == 843_550
    dearer = simulate(firm, scenario(payout="cash", prices={"BTC": "20000.00"}))
    assert client(dearer, "carol").dividend_cash == 1_000_000


# ---------------------------------------------------------------------- more of the pipeline


def test_collateral_is_returned_net_of_the_clients_loan() -> None:
    firm = book({"margin": {"alice": 2 * COIN, "bob": COIN}}, {"margin": 3 * COIN})
    loan = [{"client": "alice", "pool": "margin", "asset": "BTC", "amount": "0.5"}]
    outcome = simulate(firm, scenario(loans=loan))
    alice = next(x for x in outcome.lines if x.client == "alice")
    assert (alice.standing, alice.set_off, alice.in_kind, alice.unsecured) == (
        Standing.secured_collateral, COIN // 2, 3 * COIN // 2, 0,
    )
    assert outcome.pools[0].to_estate == COIN // 2


def test_a_hot_wallet_hack_is_shared_by_the_pools_clients() -> None:
    firm = book({"custody": {"alice": 3 * COIN, "bob": COIN}}, {"custody": 4 * COIN})
    hack = [{"wallet": "custody-hot", "asset": "BTC", "amount": "1"}]
    outcome = simulate(firm, scenario(hacks=hack))
    assert line(outcome, "alice", "custody") == (3 * COIN, 225 * COIN // 100, 75 * COIN // 100, 0)
    assert outcome.lost == {"BTC": COIN}
    with pytest.raises(InputError) as raised:
        simulate(firm, scenario(hacks=[{**hack[0], "amount": "5"}]))
    assert raised.value.code is Result.scenario_loss_exceeds_holdings


def test_a_traced_breach_is_a_shortfall_and_an_untraced_one_fails_tracing() -> None:
    firm = book({"custody": {"alice": 2 * COIN}, "earn": {"erin": 2 * COIN}},
                {"custody": 2 * COIN, "earn": 0})
    breach = {"pool": "custody", "asset": "BTC", "amount": "1"}
    traced = simulate(firm, scenario(breaches=[breach]))
    assert line(traced, "alice", "custody") == (2 * COIN, COIN, COIN, 0)
    # The breached coin is in the estate, shared by alice (1 BTC short) and erin (2 BTC).
    assert client(traced, "alice").dividend_units == {"BTC": COIN // 3}
    untraced = simulate(firm, scenario(breaches=[{**breach, "traced": False}]))
    assert line(untraced, "alice", "custody") == (2 * COIN, 0, 2 * COIN, 0)
    assert client(untraced, "alice").dividend_units == {"BTC": COIN}


def test_the_commingled_twin_puts_every_pool_in_the_estate() -> None:
    firm = book({"custody": {"alice": COIN}, "earn": {"erin": COIN}}, {"custody": COIN, "earn": 0})
    outcome = simulate(firm, scenario(), commingled=True)
    assert {x.standing for x in outcome.lines} == {
        Standing.estate_tracing_failed, Standing.estate_title_transfer
    }
    assert client(outcome, "alice").dividend_units == {"BTC": COIN // 2}
    assert outcome.rate_distribution()[5] == 2


def test_a_surplus_goes_to_the_shareholders() -> None:
    firm = book({"earn": {"erin": COIN}}, {"earn": COIN, "": 3 * COIN})
    outcome = simulate(firm, scenario(payout=Payout.cash.value))
    assert outcome.estate.surplus == usd(60_000)
    assert client(outcome, "erin").dividend_cash == 2_000_000


def test_split_pro_rata_hands_out_every_unit_to_the_largest_remainders() -> None:
    assert split_pro_rata(7, [3, 3, 3]) == [3, 2, 2]
    assert split_pro_rata(2, [1, 1, 1]) == [1, 1, 0]
    assert split_pro_rata(7, [5, 0, 2]) == [5, 0, 2]
    assert split_pro_rata(0, [5, 2]) == [0, 0]
    assert split_pro_rata(5, [3, 3, 4]) == [2, 1, 2]


def test_scenarios_are_refused_with_a_named_reason() -> None:
    cases = [
        ({"prices": {}}, Result.scenario_price_missing),
        ({"prices": {"BTC": 20000.0}}, Result.amount_must_not_be_float),
        ({"hacks": [{"wallet": "nowhere", "asset": "BTC", "amount": "1"}]},
         Result.scenario_wallet_unknown),
        ({"hacks": [{"wallet": "earn-hot", "asset": "BTC", "amount": "0.000000001"}]},
         Result.amount_finer_than_asset_scale),
        ({"commingled_pools": ["nope"]}, Result.scenario_pool_unknown),
        ({"payout": "shares"}, Result.scenario_payout_unknown),
        ({"petition_date": "2026-13-01"}, Result.timestamp_invalid),
        ({"surprise": 1}, Result.field_unknown),
        ({"loans": [{"client": "zed", "pool": "margin", "asset": "BTC", "amount": "1"}]},
         Result.client_not_found),
    ]
    for fields, code in cases:
        with pytest.raises(InputError) as raised:
            scenario(**fields)
        assert raised.value.code is code, fields


def test_petition_dates_parse_to_nanoseconds() -> None:
    assert scenario(petition_date="2022-11-11").petition_ns == 1_668_124_800 * 10**9
    assert scenario(petition_date="2022-11-11T12:00:00+00:00").petition_ns == (
        1_668_124_800 + 43_200
    ) * 10**9


def test_values_are_exact_at_the_smallest_scale_that_holds_every_price() -> None:
    names = FirmNames({"BTC": BTC, "ETH": ETH}, POOLS, {}, CLIENTS)
    document = {"prices": {"BTC": "20000.00", "ETH": "1200.505"}}
    valuation = parse_scenario(document, names, PETITION_NS).valuation
    assert valuation.value_scale == 21  # ETH: 18 decimals of wei + 3 of its price
    assert valuation.value("ETH", 10**18) == 1_200_505 * 10**18  # $1,200.505
    assert valuation.value("ETH", 1) == 1_200_505  # one wei, exactly
    assert valuation.value("BTC", COIN) == 20_000 * 10**21
    assert valuation.cash_units(valuation.value("ETH", 10**18)) == 120_050  # cents, rounded down
