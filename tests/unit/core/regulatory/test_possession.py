"""Possession and control (R4), computed by hand.

Pool ``main`` owes its clients 100 BTC (alice 70, bob 40, carol -10: carol's deficit never
offsets the others', so the entitlement is 110, not 100). It holds 50 in cold wallets, 20 warm,
10 at an approved sub-custodian, 15 at a pending one, and 12 pledged out of a hot wallet's 20.
Matched best first: cold 50, warm 20, hot 8 (its free part), approved 10, unapproved 15,
encumbered 7 of the 12: 110, no deficit; the shortfall (not in possession or control) is
15 + 7 = 22, and the pool holds 5 more than it owes (the rest of the pledge).
"""

from __future__ import annotations

from tests.unit.core.regulatory.support import holding

from ringfence.core.ledger.model import Pool, PoolKind, Terms
from ringfence.core.recon.segregation_statement import net_equities, requirements
from ringfence.core.regulatory.possession import (
    Locations,
    locations,
    match,
    per_asset,
    possession_and_control,
    possession_breaks,
)

POOLS = {
    "main": Pool("main", PoolKind.omnibus, Terms.custody),
    "earn": Pool("earn", PoolKind.omnibus, Terms.title_transfer),
}
HOLDINGS = [
    holding("main-cold", 50),
    holding("main-warm", 20, tier="warm"),
    holding("main-hot", 20, tier="hot", encumbered=12),
    holding("main-anchor", 10, sub_custodian="anchor"),
    holding("main-pending", 15, sub_custodian="pending", approved=False),
    holding("house-hot", 999, pool="", tier="hot"),
    holding("earn-hot", 30, pool="earn", tier="hot"),
]
CLIENT_ROWS = [
    ("main", "BTC", "alice", 70),
    ("main", "BTC", "bob", 40),
    ("main", "BTC", "carol", -10),
    ("earn", "BTC", "carol", 30),
]


def test_the_worked_example() -> None:
    entitled = requirements(net_equities(CLIENT_ROWS))
    (line,) = possession_and_control(POOLS, entitled, locations(HOLDINGS))
    assert (line.pool, line.asset, line.entitlement) == ("main", "BTC", 110)
    assert line.controlled == {"cold": 50, "warm": 20, "hot": 8}
    assert (line.approved, line.unapproved, line.encumbered, line.deficit) == (10, 15, 7, 0)
    assert (line.in_possession_or_control, line.shortfall) == (88, 22)
    assert (line.held, line.excess) == (115, 5)
    (broken,) = possession_breaks([line])
    assert (broken.pool, broken.amount, broken.cure) == ("main", 22, "house_top_up")
    assert (broken.unapproved, broken.encumbered, broken.deficit) == (15, 7, 0)


def test_a_deficit_when_nothing_covers_the_entitlement() -> None:
    line = match("main", "BTC", 100, Locations({"cold": 60}, approved=10))
    assert (line.controlled_total, line.approved, line.deficit, line.excess) == (60, 10, 30, 0)
    assert possession_breaks([line])[0].amount == 30


def test_no_break_when_all_is_in_possession_or_control() -> None:
    line = match("main", "BTC", 70, Locations({"hot": 30, "cold": 30}, approved=20))
    assert line.controlled == {"cold": 30, "hot": 30}
    assert (line.approved, line.shortfall, line.excess) == (10, 0, 10)
    assert possession_breaks([line]) == []


def test_house_wallets_and_title_transfer_pools_get_no_line() -> None:
    entitled = requirements(net_equities(CLIENT_ROWS))
    lines = possession_and_control(POOLS, entitled, locations(HOLDINGS))
    assert [line.pool for line in lines] == ["main"]


def test_per_asset_totals_keep_the_identity() -> None:
    lines = [
        match("a", "BTC", 100, Locations({"cold": 60}, encumbered=50)),
        match("b", "BTC", 10, Locations({"hot": 4}, unapproved=1)),
    ]
    (total,) = per_asset(lines)
    assert total.controlled == {"cold": 60, "hot": 4}
    assert (total.entitlement, total.encumbered, total.unapproved, total.deficit) == (110, 40, 1, 5)
    assert total.excess == 10
