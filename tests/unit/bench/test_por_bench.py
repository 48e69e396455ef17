"""``bench por``'s spilled build (what a cluster run measures) gives the in-memory build's
root for the same synthetic book and seed, and its proofs read back from the spill verify."""

from __future__ import annotations

from pathlib import Path

from ringfence.adapters.executors import InProcessExecutor
from ringfence.adapters.por_spill import SpilledBuild, remove_spill
from ringfence.bench import por as bench
from ringfence.core.por.round import Round


def test_the_spilled_bench_build_is_the_in_memory_one() -> None:
    executor = InProcessExecutor()
    memory, _, _ = bench._build(executor, 5_000, seed=1)
    spilled, _, read_seconds = bench._build_spilled(executor, 5_000, seed=1)
    try:
        assert isinstance(memory, Round)
        assert isinstance(spilled, SpilledBuild)
        assert spilled.round.record == memory.record
        assert read_seconds >= 0
        assert set(spilled.seconds) == {"read", "draw_counts", "count", "draw_blocks", "sort",
                                        "partitions", "sign"}
        seconds, largest, median = bench._verify(spilled, 5_000, 20)
        assert seconds > 0
        assert 0 < median <= largest
        assert bench._folder_bytes(spilled.folder) > 0
    finally:
        remove_spill(spilled.folder)
    assert not Path(spilled.folder).exists()
