"""For random firms and failures, the simulator never pays out more than there is, never
short-changes a client of a fully covered custody pool, and treats the clients of one pool and
asset alike (to within the one unit that whole-unit shares allow); and the in-kind return
schedule read off the simulation returns in kind, sets off or leaves as a claim on the estate
every unit claimed, and hands back per pool what the pool returns."""

from __future__ import annotations

from collections import defaultdict
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from ringfence.core.insolvency import (
    Book,
    FirmNames,
    Move,
    Outcome,
    Standing,
    compare,
    parse_scenario,
    simulate,
)
from ringfence.core.ledger.model import Pool, PoolKind, Purpose, Terms
from ringfence.core.money import Asset, format_amount, formatted_units
from ringfence.service.in_kind import in_kind_schedule
from ringfence.service.insolvency import simulate_document

ASSETS = {"BTC": Asset("BTC", 8, 1), "ETH": Asset("ETH", 18, 2)}
POOLS = {
    "main": Pool("main", PoolKind.omnibus, Terms.custody),
    "second": Pool("second", PoolKind.omnibus, Terms.custody),
    "margin": Pool("margin", PoolKind.omnibus, Terms.custody, Purpose.margin_collateral),
    "earn": Pool("earn", PoolKind.omnibus, Terms.title_transfer),
}
CLIENTS = tuple(f"c{i}" for i in range(8))
WALLETS = {f"{pool}-hot": pool for pool in POOLS} | {"house-hot": ""}
PETITION_NS = 1_700_000_000 * 10**9

units = st.one_of(st.integers(0, 10), st.integers(0, 10**20))
claims = st.dictionaries(st.sampled_from(CLIENTS), units, max_size=6)
per_key = st.dictionaries(
    st.tuples(st.sampled_from(sorted(POOLS)), st.sampled_from(sorted(ASSETS))), claims, max_size=8
)
holdings = st.dictionaries(
    st.tuples(st.sampled_from(sorted(WALLETS)), st.sampled_from(sorted(ASSETS))), units,
    max_size=10,
)
prices = st.fixed_dictionaries(
    {code: st.integers(0, 10**8).map(lambda cents: f"{cents // 100}.{cents % 100:02d}")
     for code in ASSETS}
)


@st.composite
def firms_and_scenarios(draw: st.DrawFn) -> tuple[Book, dict[str, Any]]:
    wallets = {(w, a): (WALLETS[w], u) for (w, a), u in draw(holdings).items()}
    book_claims = draw(per_key)
    moves = []
    for (pool, asset), by_client in book_claims.items():
        for name, claim in by_client.items():
            if claim and draw(st.booleans()) and POOLS[pool].terms is Terms.custody:
                at = PETITION_NS - draw(st.integers(1, 120)) * 86_400 * 10**9
                moves.append(Move(name, asset, draw(st.integers(1, claim)), "earn", pool, at, 1, 2))
    document: dict[str, Any] = {
        "petition_date": PETITION_NS,
        "prices": draw(prices),
        "admin_costs": draw(st.sampled_from(["0", "100.00", "1000000.00"])),
        "payout": draw(st.sampled_from(["in_kind", "cash"])),
        "preference": {"de_minimis": draw(st.sampled_from(["0", "7500.00"]))},
        "commingled_pools": draw(st.lists(st.sampled_from(sorted(POOLS)), max_size=1)),
        "hacks": [
            {"wallet": wallet, "asset": asset,
             "amount": format_amount(held // 2 or 1, ASSETS[asset])}
            for (wallet, asset), (_, held) in wallets.items()
            if held and draw(st.booleans())
        ][:1],
    }
    return Book(POOLS, book_claims, wallets, tuple(moves)), document


def value_of(outcome: Outcome, atoms: dict[str, int]) -> int:
    returned = sum(line.in_kind * atoms[line.asset] for line in outcome.lines)
    return returned + outcome.estate.paid_value


@settings(max_examples=150, deadline=None)
@given(firms_and_scenarios(), st.booleans())
def test_distribution_is_bounded_fair_and_complete(
    firm: tuple[Book, dict[str, Any]], commingled: bool
) -> None:
    book, document = firm
    names = FirmNames(ASSETS, POOLS, WALLETS, CLIENTS)
    scenario = parse_scenario(document, names, PETITION_NS)
    outcome = simulate(book, scenario, commingled=commingled)
    atoms = dict(scenario.valuation.atoms_per_unit)
    lost = sum(units * atoms[asset] for asset, units in outcome.lost.items())
    assets_value = sum(units * atoms[asset] for (_, asset), (_, units) in book.wallets.items())
    # Total distributed never exceeds total assets (after what the scenario destroyed).
    assert value_of(outcome, atoms) <= assets_value - lost
    # In kind, no pool returns more of an asset than it holds.
    for pool in outcome.pools:
        assert pool.returned + pool.to_estate == pool.holdings
        assert pool.returned <= pool.holdings
    by_pool: dict[tuple[str, str], list[Any]] = defaultdict(list)
    for line in outcome.lines:
        by_pool[(line.pool, line.asset)].append(line)
    for pool in outcome.pools:
        lines = by_pool[(pool.pool, pool.asset)]
        if pool.standing not in (Standing.customer_property, Standing.secured_collateral):
            assert all(line.in_kind == 0 for line in lines)
            continue
        covered = min(pool.holdings, pool.claims)
        assert sum(line.in_kind for line in lines) == pool.returned
        for line in lines:
            eligible = line.claim - line.held_back - line.set_off
            # Every client of a fully covered custody pool gets all of their claim back.
            if pool.holdings >= pool.claims:
                assert line.in_kind == eligible
            # The same rate for everyone in the pool and asset, to within one unit.
            assert abs(line.in_kind * pool.claims - eligible * covered) < max(pool.claims, 1)
    for client in outcome.clients:
        assert client.recovered_value <= client.claim_value


@settings(max_examples=100, deadline=None)
@given(firms_and_scenarios())
def test_the_in_kind_schedule_accounts_for_every_unit_claimed(
    firm: tuple[Book, dict[str, Any]],
) -> None:
    book, document = firm
    scenario = parse_scenario(document, FirmNames(ASSETS, POOLS, WALLETS, CLIENTS), PETITION_NS)
    simulation = simulate_document(compare(book, scenario), scenario, ASSETS)
    schedule = in_kind_schedule(simulation)
    returned: dict[tuple[str, str], int] = defaultdict(int)
    for row in schedule["returns"]:
        claim, held_back, set_off, in_kind, unsecured = (
            formatted_units(row[name])
            for name in ("claim", "held_back", "set_off", "returned_in_kind", "unsecured_claim")
        )
        assert in_kind + set_off + unsecured == claim, row
        assert held_back <= unsecured
        returned[(row["pool"], row["asset"])] += in_kind
    for pool in schedule["pools"]:
        key = (pool["pool"], pool["asset"])
        assert returned.get(key, 0) == formatted_units(pool["returned_in_kind"]), pool
