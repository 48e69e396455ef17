"""Insurance cover, computed by hand.

BTC at 50,000 USD. Hot wallets: ``hot1`` 2 BTC (100,000.00), ``hot2`` 1 BTC (50,000.00); cold
wallet ``vault`` 4 BTC (200,000.00). Policies, in order:

- ``crime`` covers the hot tier: limit 80,000.00 above a 10,000.00 deductible. hot1 comes first:
  10,000.00 borne, 80,000.00 covered, the limit spent; hot2 gets nothing from it.
- ``specie`` covers the cold tier and names ``hot2``: limit 250,000.00, no deductible: hot2's
  50,000.00, then the vault's 200,000.00, exactly the limit.
- ``expired`` ended before the as-of time and covers nothing.

Hot: 150,000.00 held, 130,000.00 covered, 20,000.00 uncovered: the alert fires.
"""

from __future__ import annotations

from tests.unit.core.regulatory.support import holding

from ringfence.core.money import Asset
from ringfence.core.recon.history import Price
from ringfence.core.regulatory.files import FileIdentity, InsuranceSchedule, Policy, Quote
from ringfence.core.regulatory.insurance import cover_lines, hot_uncovered, insurance_cover

BTC = Asset("BTC", 8, 1, chain="bitcoin")
PRICES = {"BTC": Price("BTC", "USD", 50_000, 0, "close", 0)}
HOLDINGS = [
    holding("vault", 4 * 10**8, tier="cold"),
    holding("hot2", 10**8, tier="hot"),
    holding("hot1", 2 * 10**8, tier="hot", encumbered=10**8),
]
AS_OF = 1_000


def schedule(*policies: Policy) -> InsuranceSchedule:
    return InsuranceSchedule(FileIdentity(1, "0" * 64), Quote("USD", 2), policies)


CRIME = Policy("crime", "syndicate", 8_000_000, 1_000_000, ("hot",), (), 0, 2_000)
SPECIE = Policy("specie", "mutual", 25_000_000, 0, ("cold",), ("hot2",), 0, 2_000)
EXPIRED = Policy("expired", "old", 10**12, 0, ("hot", "warm", "cold"), (), 0, AS_OF)


def test_the_worked_example() -> None:
    covered, uses = insurance_cover(
        HOLDINGS, schedule(CRIME, SPECIE, EXPIRED), {"BTC": BTC}, PRICES, AS_OF
    )
    by_wallet = {c.holding.wallet: (c.value, c.covered, c.by_policy) for c in covered}
    assert by_wallet == {
        "hot1": (10_000_000, 8_000_000, {"crime": 8_000_000}),
        "hot2": (5_000_000, 5_000_000, {"specie": 5_000_000}),
        "vault": (20_000_000, 20_000_000, {"specie": 20_000_000}),
    }
    summary = [
        (u.policy.id, u.active, u.deductible_borne, u.covered, u.limit_remaining) for u in uses
    ]
    assert summary == [
        ("crime", True, 1_000_000, 8_000_000, 0),
        ("specie", True, 0, 25_000_000, 0),
        ("expired", False, 0, 0, 0),
    ]
    lines = cover_lines(covered)
    assert [(x.tier, x.quantity, x.value, x.covered, x.uncovered) for x in lines] == [
        ("hot", 3 * 10**8, 15_000_000, 13_000_000, 2_000_000),
        ("cold", 4 * 10**8, 20_000_000, 20_000_000, 0),
    ]
    assert hot_uncovered(lines) == 2_000_000


def test_a_deductible_borne_by_one_policy_is_covered_by_the_next() -> None:
    layer = Policy("layer", "x", 10**9, 0, ("hot",), (), 0, 2_000)
    covered, _ = insurance_cover(HOLDINGS, schedule(CRIME, layer), {"BTC": BTC}, PRICES, AS_OF)
    assert hot_uncovered(cover_lines(covered)) == 0


def test_no_policy_no_cover() -> None:
    covered, uses = insurance_cover(HOLDINGS, schedule(), {"BTC": BTC}, PRICES, AS_OF)
    assert uses == []
    assert hot_uncovered(cover_lines(covered)) == 15_000_000
