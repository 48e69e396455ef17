"""core/recon/segregation_statement.py and run.py: requirements that never net one client's deficit
against another's credit, funds net of encumbrances, and the alerts, computed by hand."""

from __future__ import annotations

from ringfence.core.custody.holdings import Observation
from ringfence.core.custody.registry import Chain, Encumbrance, EncumbranceKind
from ringfence.core.ledger.model import Pool, PoolKind, Terms
from ringfence.core.recon.breaks import BreakBook
from ringfence.core.recon.run import ReconInput, ReconSettings, reconcile
from ringfence.core.recon.segregation_statement import (
    Alert,
    StatementLine,
    WalletFacts,
    net_equities,
    requirements,
)

POOLS = {
    "omni": Pool("omni", PoolKind.omnibus, Terms.custody),
    "earn": Pool("earn", PoolKind.omnibus, Terms.title_transfer),
}
WALLETS = [WalletFacts("omni-hot", "omni", "hot"), WalletFacts("earn-hot", "earn", "hot")]
ADDRESSES = {"a-omni": "omni-hot", "a-earn": "earn-hot"}


def seen(address: str, amount: int) -> Observation:
    return Observation(Chain.bitcoin, address, "BTC", amount, 10, 0, "test")


def run(
    client_rows: list[tuple[str, str, str, int]],
    observations: list[Observation],
    encumbrances: tuple[Encumbrance, ...] = (),
    released_at: dict[int, int] | None = None,
    settings: ReconSettings | None = None,
) -> dict[tuple[str, str], StatementLine]:
    facts = ReconInput(
        1_000, POOLS, client_rows, [], WALLETS, ADDRESSES, observations, encumbrances,
        released_at or {}, settings=settings or ReconSettings(),
    )  # fmt: skip
    recon = reconcile(facts, BreakBook())
    return {(line.pool, line.asset): line for line in recon.segregation_lines}


def test_a_deficit_never_offsets_another_clients_credit() -> None:
    rows = [("omni", "BTC", "x", -5), ("omni", "BTC", "y", 50), ("omni", "BTC", "z", 50)]
    (need,) = requirements(net_equities(rows)).values()
    assert need.requirement == 100  # not 95
    assert (need.net_balance, need.deficits, need.clients_in_deficit) == (95, 5, 1)


def test_net_equity_sums_a_clients_accounts_before_the_floor() -> None:
    rows = [("omni", "BTC", "x", -5), ("omni", "BTC", "x", 8), ("omni", "BTC", "y", 10)]
    (need,) = requirements(net_equities(rows)).values()
    assert need.requirement == 13


def test_holding_90_against_100_owed_is_a_deficiency_of_10() -> None:
    lines = run([("omni", "BTC", "y", 50), ("omni", "BTC", "z", 50)], [seen("a-omni", 90)])
    line = lines[("omni", "BTC")]
    assert (line.requirement, line.funds, line.excess) == (100, 90, -10)
    assert line.alert is Alert.undersegregated


def test_encumbered_holdings_are_not_funds() -> None:
    pledge = Encumbrance(1, "omni-hot", "BTC", 30, EncumbranceKind.lock, "court", 0)
    released = Encumbrance(2, "omni-hot", "BTC", 50, EncumbranceKind.pledge, "lender", 0)
    lines = run([("omni", "BTC", "y", 60)], [seen("a-omni", 100)], (pledge, released), {2: 500})
    line = lines[("omni", "BTC")]
    assert (line.encumbered, line.funds, line.excess) == (30, 70, 10)


def test_below_target_and_title_transfer_pools_apart() -> None:
    rows = [("omni", "BTC", "y", 100), ("earn", "BTC", "y", 100)]
    settings = ReconSettings({("omni", "BTC"): 5})
    lines = run(rows, [seen("a-omni", 103), seen("a-earn", 10)], settings=settings)
    omni, earn = lines[("omni", "BTC")], lines[("earn", "BTC")]
    assert (omni.excess, omni.excess_over_target, omni.alert) == (3, -2, Alert.below_target)
    assert not earn.segregated
    assert earn.alert is Alert.none  # shown as what it is
