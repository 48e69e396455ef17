"""core/liquidation/chains.py: a market's transfers cut into chains of one batch at most without
splitting a bucket's, the cash check markets are ordered by, and one result per chain."""

from __future__ import annotations

from ringfence.core import limits
from ringfence.core.errors import Result
from ringfence.core.liquidation.chains import chain_result, cut_chains, keeps_cash
from ringfence.core.liquidation.records import LiquidationCode, PlannedTransfer

settlement = LiquidationCode.liquidation_settlement


def transfers(bucket: str, count: int, start: int = 0) -> list[PlannedTransfer]:
    return [
        PlannedTransfer(start + k + 1, f"collateral:{bucket}", "clearing:m", 1, settlement,
                        "USDC", bucket)
        for k in range(count)
    ]


def test_chains_fill_a_batch_and_never_split_a_bucket() -> None:
    size = limits.batch_events_max
    a = transfers("a", size - 2)
    b = transfers("b", 3, start=size)
    c = transfers("c", 2, start=2 * size)
    chains = cut_chains([*a, *b, *c])
    assert [len(chain) for chain in chains] == [size - 2, 5]
    assert {t.bucket for t in chains[0]} == {"a"}
    assert cut_chains(transfers("a", 3)) == [transfers("a", 3)]


def test_cash_must_not_dip_below_zero_on_the_way() -> None:
    pay_then_receive = [
        PlannedTransfer(1, "collateral:x", "clearing:m", 5, settlement, "USDC", "x"),
        PlannedTransfer(2, "clearing:m", "collateral:x", 5, settlement, "USDC", "x"),
    ]
    assert keeps_cash(pay_then_receive, {"collateral:x": 5})
    assert not keeps_cash(pay_then_receive, {"collateral:x": 4})
    assert keeps_cash(list(reversed(pay_then_receive)), {"collateral:x": 0})


def test_a_chain_has_one_result() -> None:
    assert chain_result([Result.ok, Result.exists]) is Result.ok
    assert chain_result([Result.exists, Result.exists]) is Result.exists
    refused = [Result.linked_event_failed, Result.pool_coverage_would_break]
    assert chain_result(refused) is Result.pool_coverage_would_break
    assert chain_result([Result.linked_event_failed]) is Result.linked_event_failed
    conflict = [Result.exists_with_different_amount, Result.linked_event_failed]
    assert chain_result(conflict) is Result.liquidation_round_conflict
