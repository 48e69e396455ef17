"""Step 1, detection: the buckets a scan found below maintenance, and every bucket of the
scan as the planner's ``BucketState`` (liquidatable ones and possible counterparties)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
from numpy.typing import NDArray

from ringfence.core.liquidation.records import BucketState
from ringfence.core.risk.instruments import Position
from ringfence.core.risk.scan import Health, ScanResult


def candidates(scan: ScanResult) -> NDArray[np.int64]:
    """Indices of the buckets the scan found below maintenance."""
    return np.flatnonzero(scan.health == Health.liquidatable).astype(np.int64)


def buckets_from_scan(
    scan: ScanResult,
    names: Sequence[str],
    settlements: Sequence[str],
    collateral: Sequence[int] | NDArray[Any],
    positions: Mapping[str, tuple[Position, ...]],
) -> list[BucketState]:
    """Every bucket of a scan (in bucket order) as ``BucketState``s: the liquidatable ones
    and the possible auto-deleveraging counterparties alike."""
    assert len(names) == len(settlements) == len(collateral) == scan.equity.shape[0]
    return [
        BucketState(
            names[k], settlements[k], int(collateral[k]), int(scan.equity[k]),
            int(scan.maintenance[k]), positions.get(names[k], ()),
        )
        for k in range(len(names))
    ]
