"""A scan by ranges of buckets, for a batch run: each range is scanned alone (a task on an
executor) and the results are joined in range order.

A bucket's figures depend only on its own positions and collateral (``scan.py`` builds its
products without padding, and sums each bucket's positions in their own order), so the joined
result is the whole book's scan bit for bit, whatever the ranges; the tests check it. Each
range carries the instrument table and the risk arrays built once by the coordinator: the
instruments are revalued once per scan, wherever the buckets are scanned.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
from numpy.typing import NDArray

from ringfence.core import limits
from ringfence.core.risk.config import RiskConfig
from ringfence.core.risk.instruments import MarginMode
from ringfence.core.risk.scan import ScanResult, build_layout, scan
from ringfence.core.risk.scenarios import InstrumentTable, RiskArrays


@dataclass(frozen=True, slots=True)
class BucketRange:
    """Some consecutive buckets of a book and their positions (bucket numbers within the
    range), with what scanning them needs. Picklable: a task in another process scans it."""

    modes: tuple[MarginMode, ...]
    position_bucket: NDArray[np.int64]
    position_row: NDArray[np.int64]
    position_lots: NDArray[Any]
    position_basis: NDArray[Any]
    collateral: NDArray[Any]
    arrays: RiskArrays
    table: InstrumentTable
    config: RiskConfig
    multipliers: NDArray[Any] | None


@dataclass(frozen=True, slots=True)
class Book:
    """A whole book as the scan takes it: per bucket its mode and collateral, per position its
    bucket, instrument row, lots and basis (float for the scan's valuation)."""

    modes: Sequence[MarginMode]
    position_bucket: Sequence[int]
    position_row: Sequence[int]
    position_lots: Sequence[int]
    position_basis: Sequence[Any]  # the scan values in floats: not money
    collateral: NDArray[Any]


def bucket_ranges(
    book: Book, arrays: RiskArrays, table: InstrumentTable, config: RiskConfig,
    multipliers: NDArray[Any] | None, *, buckets_per_range: int,
) -> Iterator[BucketRange]:
    """The book cut into ranges of ``buckets_per_range`` buckets (one range for an empty
    book). Positions keep their order within each bucket, as the whole scan sums them."""
    assert 0 < buckets_per_range <= limits.buckets_max
    count = len(book.modes)
    bucket = np.asarray(book.position_bucket, dtype=np.int64)
    order = np.argsort(bucket, kind="stable")
    bucket = bucket[order]
    row = np.asarray(book.position_row, dtype=np.int64)[order]
    lots = np.asarray(book.position_lots, dtype=np.float64)[order]  # float-ok: as build_layout
    basis = np.asarray(book.position_basis, dtype=np.float64)[order]  # float-ok: as build_layout
    for first in range(0, max(count, 1), buckets_per_range):
        end = min(first + buckets_per_range, count)
        low, high = np.searchsorted(bucket, [first, end]).tolist()
        yield BucketRange(
            tuple(book.modes[first:end]), bucket[low:high] - first, row[low:high],
            lots[low:high], basis[low:high], book.collateral[first:end], arrays, table,
            config, multipliers)


def scan_bucket_range(job: BucketRange) -> ScanResult:
    """A task: the scan of one range of buckets."""
    layout = build_layout(
        job.modes, position_bucket=job.position_bucket, position_row=job.position_row,
        position_lots=job.position_lots, position_basis=job.position_basis,
        zero_row=job.table.count)
    return scan(layout, job.arrays, job.table, collateral=job.collateral, config=job.config,
                underlying_multiplier=job.multipliers)


def joined_scans(parts: Iterable[ScanResult]) -> ScanResult:
    """The ranges' scans, in range order, as the book's."""
    found = list(parts)
    assert found
    return ScanResult(*(np.concatenate([getattr(part, field.name) for part in found])
                        for field in dataclasses.fields(ScanResult)))
