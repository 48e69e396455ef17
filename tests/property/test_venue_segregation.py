"""On a venue the segregation requirement is still Σ over clients of max(net equity, 0), with
each client's net equity counting the unsettled P&L of their buckets: a margin deficit is the
client's alone, never offset by another client's credit (core/recon/segregation_statement.py
``with_unsettled``), whether the requirement was summed in one go or by client ranges."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from ringfence.core.recon.segregation_statement import (
    add_requirements,
    net_equities,
    requirements,
    with_unsettled,
)

clients = st.sampled_from([f"c{k}" for k in range(8)])
pools = st.sampled_from(["venue-usdc", "venue-btc", "spot"])
assets = st.sampled_from(["USDC", "BTC"])
balances = st.lists(st.tuples(pools, assets, clients, st.integers(0, 10**20)), max_size=40)
pnls = st.dictionaries(st.tuples(pools, assets, clients), st.integers(-(10**21), 10**21),
                       max_size=12)


@given(balances, pnls, st.integers(1, 4))
@settings(max_examples=200, deadline=None)
def test_the_requirement_counts_each_clients_deficit_apart(
    rows: list[tuple[str, str, str, int]], unsettled: dict[tuple[str, str, str], int],
    ranges: int,
) -> None:
    equities = net_equities(rows)
    # By client ranges, as a batch run sums them (each client in exactly one range).
    parts = [
        requirements({k: v for k, v in equities.items() if int(k[2][1:]) % ranges == r})
        for r in range(ranges)
    ]
    adjusted = with_unsettled(add_requirements(parts), equities, unsettled)
    after: dict[tuple[str, str, str], int] = dict(equities)
    for key, pnl in unsettled.items():
        after[key] = after.get(key, 0) + pnl
    for (pool, asset), need in adjusted.items():
        mine = {k: v for k, v in after.items() if k[:2] == (pool, asset)}
        assert need.requirement == sum(max(v, 0) for v in mine.values())
        assert need.deficits == sum(max(-v, 0) for v in mine.values())
        assert need.net_balance == sum(mine.values())
        assert need.requirement == need.net_balance + need.deficits
        assert need.clients == len(mine)
        assert need.clients_in_deficit == sum(1 for v in mine.values() if v < 0)
    assert adjusted == requirements(after)
