"""Step 1, detection: the buckets a scan found below maintenance, every bucket of the scan as
the planner's ``BucketState`` (liquidatable ones and possible counterparties), and the scan's
portfolio requirement for what a partial close would leave."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
from numpy.typing import NDArray

from ringfence.core.liquidation.records import BucketState, PortfolioMaintenance
from ringfence.core.risk.config import RiskConfig
from ringfence.core.risk.instruments import Position
from ringfence.core.risk.scan import Health, ScanResult, portfolio_maintenance
from ringfence.core.risk.scenarios import InstrumentTable, RiskArrays


def candidates(scan: ScanResult) -> NDArray[np.int64]:
    """Indices of the buckets the scan found below maintenance."""
    return np.flatnonzero(scan.health == Health.liquidatable).astype(np.int64)


def buckets_from_scan(
    scan: ScanResult,
    names: Sequence[str],
    settlements: Sequence[str],
    collateral: Sequence[int] | NDArray[Any],
    positions: Mapping[str, tuple[Position, ...]],
    *,
    cross: Sequence[bool] | None = None,
    portfolio: Sequence[bool] | None = None,
) -> list[BucketState]:
    """Every bucket of a scan (in bucket order) as ``BucketState``s: the liquidatable ones
    and the possible auto-deleveraging counterparties alike. ``cross`` says which buckets
    are cross-margined and ``portfolio`` which are portfolio-margined (both may be liquidated
    in part)."""
    assert len(names) == len(settlements) == len(collateral) == scan.equity.shape[0]
    assert cross is None or len(cross) == len(names)
    assert portfolio is None or len(portfolio) == len(names)
    return [
        BucketState(
            names[k], settlements[k], int(collateral[k]), int(scan.equity[k]),
            int(scan.maintenance[k]), positions.get(names[k], ()),
            bool(cross[k]) if cross is not None else False,
            bool(portfolio[k]) if portfolio is not None else False,
        )
        for k in range(len(names))
    ]


def scan_maintenance(
    table: InstrumentTable, arrays: RiskArrays, config: RiskConfig
) -> PortfolioMaintenance:
    """A portfolio bucket's requirement for any of its positions, from the scan's own risk
    arrays (the bucket's name is not needed: a requirement depends on positions alone)."""

    def owed(_bucket: str, positions: Sequence[Position]) -> int:
        return portfolio_maintenance([table.index[p.symbol] for p in positions],
                                     [p.quantity_lots for p in positions], arrays, table,
                                     config=config)

    return owed
