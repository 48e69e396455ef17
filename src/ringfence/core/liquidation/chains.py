"""A plan's transfers as ledger chains: a market's cut into chains of at most one batch (never
splitting a bucket's transfers), the check the shell orders markets by (no bucket's collateral
dips below zero between chains), and one result per committed or refused chain."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from ringfence.core import limits
from ringfence.core.errors import Result
from ringfence.core.liquidation.records import PlannedTransfer


def keeps_cash(planned: Sequence[PlannedTransfer], cash: Mapping[str, int]) -> bool:
    """Whether posting ``planned`` in order keeps every account of ``cash`` (its balances by
    account name) at or above zero after each transfer."""
    running = dict(cash)
    for transfer in planned:
        for account, sign in ((transfer.debit, -1), (transfer.credit, 1)):
            if account in running:
                running[account] += sign * transfer.amount
                if running[account] < 0:
                    return False
    return True


def cut_chains(planned: list[PlannedTransfer]) -> list[list[PlannedTransfer]]:
    """A market's transfers as chains of at most one batch, never splitting a bucket's."""
    size = limits.batch_events_max
    chains: list[list[PlannedTransfer]] = [[]]
    for k, transfer in enumerate(planned):
        starts_bucket = k == 0 or planned[k - 1].bucket != transfer.bucket
        if starts_bucket and len(chains[-1]) + _bucket_run(planned, k) > size:
            chains.append([])
        chains[-1].append(transfer)
    assert all(0 < len(chain) <= size for chain in chains), "a bucket's transfers fit a batch"
    return chains


def _bucket_run(planned: list[PlannedTransfer], start: int) -> int:
    end = start
    while end < len(planned) and planned[end].bucket == planned[start].bucket:
        end += 1
    return end - start


def chain_result(results: Sequence[Result]) -> Result:
    """One result for a chain: its refusing event's, or ``liquidation_round_conflict`` when
    the ids exist with another body (a retried round whose plan changed since the first
    attempt committed: nothing is posted twice, and an operator reconciles the book)."""
    refused = [r for r in results if not r.succeeded and r is not Result.linked_event_failed]
    if refused:
        if refused[0].value.startswith("exists_with_different_"):
            return Result.liquidation_round_conflict
        return refused[0]
    if any(not r.succeeded for r in results):
        return Result.linked_event_failed
    if all(r is Result.exists for r in results):
        return Result.exists
    return Result.ok
