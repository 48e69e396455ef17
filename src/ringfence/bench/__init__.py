"""Benchmarks behind ``ringfence bench NAME``; figures are recorded in BENCHMARKS.md.

Every benchmark returns one JSON-able document of the shape the design fixes:
``{"bench": NAME, "machine": {...}, "results": [{"case": str, "ops_per_s": float, ...}]}``.
Rates are medians over several runs; the non-money numbers here (rates, seconds) are the only
floats the project produces.

A benchmark NAME lives in the module ``ringfence.bench.NAME`` and defines
``run_bench(quick: bool, progress: Progress | None) -> dict``; ``names()`` finds them.
"""

from __future__ import annotations

import importlib
import pkgutil
from typing import Any

from ringfence.bench.machine import Progress

_helpers = frozenset({"machine"})  # modules here that are not benchmarks


def names() -> list[str]:
    return sorted(
        module.name
        for module in pkgutil.iter_modules(__path__)
        if module.name not in _helpers and not module.name.startswith("_")
    )


def run(
    name: str, quick: bool = False, progress: Progress | None = None, **options: Any
) -> dict[str, Any]:
    """Run benchmark ``name``; ``options`` are its own (``por``: ``accounts``, ``executor``)."""
    if name not in names():
        raise KeyError(name)
    module = importlib.import_module(f"ringfence.bench.{name}")
    document: dict[str, Any] = module.run_bench(quick=quick, progress=progress, **options)
    return document
