"""The insolvency simulation in client ranges (``core/insolvency/ranges.py``) is the whole
book's, field for field: random firms and failures (preferences held back, loans set off,
commingled pools, hacks), the clients cut into random ranges merged in random order."""

from __future__ import annotations

import random
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st
from tests.property.test_insolvency import (
    ASSETS,
    CLIENTS,
    PETITION_NS,
    POOLS,
    WALLETS,
    firms_and_scenarios,
)

from ringfence.core.insolvency import Book, FirmNames, Outcome, parse_scenario, simulate
from ringfence.core.insolvency.ranges import (
    Claims,
    add_totals,
    merge_pools,
    pool_covers,
    range_lines,
    range_totals,
)
from ringfence.core.insolvency.simulate import finish, prepare
from ringfence.core.money import format_amount


def in_ranges(book: Book, scenario: Any, commingled: bool, cuts: int, seed: int) -> Outcome:
    rng = random.Random(seed)
    owner = {client: rng.randrange(cuts) for client in CLIENTS}
    parts: list[Claims] = [{} for _ in range(cuts)]
    for key, by_client in book.claims.items():
        parts[0].setdefault(key, {})  # a pool with a client account, in some range
        for client, units in by_client.items():
            parts[owner[client]].setdefault(key, {})[client] = units
    ranged = Book(book.pools, {}, book.wallets, book.moves, book.posted_ids)
    setting = prepare(ranged, scenario, commingled)
    covers = pool_covers(ranged, setting, add_totals(range_totals(part) for part in parts))
    lines = [range_lines(part, setting, covers) for part in parts]
    rng.shuffle(lines)
    return finish(ranged, scenario, setting, merge_pools(ranged, setting, covers, lines))


def same(first: Outcome, second: Outcome) -> None:
    assert first.pools == second.pools
    assert first.estate == second.estate
    assert first.dividends == second.dividends
    assert first.preferences == second.preferences
    assert first.clients == second.clients
    assert first.lines == second.lines
    assert first.rate_distribution() == second.rate_distribution()
    assert first.lost == second.lost


@settings(max_examples=200, deadline=None)
@given(firms_and_scenarios(), st.booleans(), st.integers(1, 5), st.integers(0, 10**6),
       st.lists(st.tuples(st.sampled_from(sorted(POOLS)), st.sampled_from(CLIENTS),
                          st.sampled_from(sorted(ASSETS)), st.integers(1, 10**12)),
                max_size=3))
def test_ranges_merge_to_the_whole_books_outcome(
    firm: tuple[Book, dict[str, Any]], commingled: bool, cuts: int, seed: int,
    loans: list[tuple[str, str, str, int]],
) -> None:
    book, document = firm
    document["loans"] = [{"client": client, "pool": pool, "asset": asset,
                          "amount": format_amount(units, ASSETS[asset])}
                         for pool, client, asset, units in loans]
    scenario = parse_scenario(document, FirmNames(ASSETS, POOLS, WALLETS, CLIENTS), PETITION_NS)
    same(in_ranges(book, scenario, commingled, cuts, seed), simulate(book, scenario, commingled))
