"""Benchmarks behind ``ringfence bench NAME``; figures are recorded in BENCHMARKS.md.

Every benchmark returns one JSON-able document of the shape the design fixes:
``{"bench": NAME, "machine": {...}, "results": [{"case": str, "ops_per_s": float, ...}]}``.
Rates are medians over several runs; the non-money numbers here (rates, seconds) are the only
floats the project produces.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

Progress = Callable[[str, int, int], None]


def names() -> list[str]:
    return ["ledger"]


def run(name: str, quick: bool = False, progress: Progress | None = None) -> dict[str, Any]:
    if name == "ledger":
        from ringfence.bench.ledger import run_ledger

        return run_ledger(quick=quick, progress=progress)
    raise KeyError(name)
