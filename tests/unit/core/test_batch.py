"""A batch run's result does not depend on how its clients were cut into ranges."""

from __future__ import annotations

import itertools

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from ringfence.core.batch import ClientAccountRow, RowsCut, client_ranges, sorted_rows
from ringfence.core.errors import IntegrityError
from ringfence.core.money import Asset
from ringfence.core.por.liabilities import merge_liabilities, partial_liabilities
from ringfence.core.recon.segregation_statement import (
    add_requirements,
    net_equities,
    requirements,
)

ASSETS = {"BTC": Asset("BTC", 8, 1), "ETH": Asset("ETH", 18, 2)}

rows_strategy = st.lists(
    st.builds(
        lambda client, asset, pool, balance: ClientAccountRow(
            client, f"c{client}", asset, pool, balance),
        st.integers(1, 60), st.sampled_from(sorted(ASSETS)), st.sampled_from(["main", "earn"]),
        st.integers(0, 2**128 - 1)),
    max_size=80)


def by_ranges(rows: list[ClientAccountRow], clients_per_range: int) -> list[list[ClientAccountRow]]:
    cut = RowsCut(1, sorted_rows(rows))
    return [cut.reader(clients).read()
            for clients in client_ranges(cut.client_number_max, clients_per_range)]


@settings(max_examples=60, deadline=None)
@given(rows=rows_strategy, clients_per_range=st.integers(1, 70))
def test_liabilities_merged_from_ranges_are_those_of_the_whole(
    rows: list[ClientAccountRow], clients_per_range: int
) -> None:
    parts = [partial_liabilities(part) for part in by_ranges(rows, clients_per_range)]
    merged = merge_liabilities(ASSETS, parts)
    whole = merge_liabilities(ASSETS, [partial_liabilities(sorted_rows(rows))])
    assert [(a.code, list(owed.items())) for a, owed in merged] == \
        [(a.code, list(owed.items())) for a, owed in whole]
    for asset, owed in merged:
        numbers = [int(name[1:]) for name in owed]
        assert numbers == sorted(numbers)  # client number order, whatever the ranges
        for name, units in owed.items():
            assert units == sum(r.balance for r in rows
                                if r.name == name and r.asset == asset.code)


@settings(max_examples=60, deadline=None)
@given(rows=rows_strategy, negatives=st.lists(st.integers(0, 79), max_size=10),
       clients_per_range=st.integers(1, 70))
def test_requirements_added_over_ranges_are_those_of_the_whole(
    rows: list[ClientAccountRow], negatives: list[int], clients_per_range: int
) -> None:
    # A segregation statement counts deficits apart: some net equities below zero.
    rows = [r._replace(balance=-r.balance) if n in negatives else r for n, r in enumerate(rows)]
    parts = [requirements(net_equities((r.pool, r.asset, r.name, r.balance) for r in part))
             for part in by_ranges(rows, clients_per_range)]
    whole = requirements(net_equities((r.pool, r.asset, r.name, r.balance) for r in rows))
    assert add_requirements(parts) == whole


@given(client_number_max=st.integers(0, 10**4), clients_per_range=st.integers(1, 2**20))
def test_ranges_cover_every_client_number_once(
    client_number_max: int, clients_per_range: int
) -> None:
    ranges = client_ranges(client_number_max, clients_per_range)
    assert ranges[0].first == 0
    assert ranges[-1].end > client_number_max
    assert ranges[-1].first <= client_number_max
    for before, after in itertools.pairwise(ranges):
        assert before.end == after.first


def test_a_client_account_below_zero_in_a_cut_is_an_integrity_error() -> None:
    with pytest.raises(IntegrityError):
        partial_liabilities([ClientAccountRow(1, "alice", "BTC", "main", -1)])


def test_an_account_in_an_asset_not_defined_is_an_integrity_error() -> None:
    part = partial_liabilities([ClientAccountRow(1, "alice", "DOGE", "main", 5)])
    with pytest.raises(IntegrityError):
        merge_liabilities(ASSETS, [part])
