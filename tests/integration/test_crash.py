"""Durability: a writer killed with SIGKILL at random points loses nothing it acknowledged,
keeps no partial batch, and leaves a store that ``audit verify`` passes.

Method: 50 times, start ``crash_writer.py`` on one SQLite file, wait until it has recovered
and says it is writing, let it write for a random 0.02-0.2 s (batches of 1 to 500 events,
with linked pairs, and a checkpoint every third batch), kill it with SIGKILL, then check the
file from this process. Each restart
recovers from the previous kill, so later kills also land inside recovery and checkpoints.
"""

from __future__ import annotations

import os
import random
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from ringfence.adapters.storage.sqlite import SqliteStore
from ringfence.service.audit import verify_store

sys.path.insert(0, str(Path(__file__).parent))
import crash_writer

kills = 50


def _acknowledged(log: Path) -> list[int]:
    if not log.exists():
        return []
    return [int(line) for line in log.read_text(encoding="ascii").split()]


def _check(path: Path, log: Path, kill: int, since: int) -> int:
    """Audit the whole store, and check batch by batch what was written since batch ``since``
    (earlier batches were checked after earlier kills; the audit covers them since). Returns
    the last acknowledged batch."""
    store = SqliteStore(str(path))
    try:
        report = verify_store(store)
        assert report.ok, (kill, report.problems)
        acknowledged = set(_acknowledged(log))
        last = max(acknowledged, default=0)
        for k in range(max(since, 1), last + 2):  # at most one batch past the log
            ids = [event.id for event in crash_writer.batch(k)]
            present = store.transfers(ids)
            if k in acknowledged:
                assert len(present) == len(ids), f"kill {kill}: batch {k} acknowledged, lost"
            else:
                assert len(present) in (0, len(ids)), f"kill {kill}: batch {k} is partial"
    finally:
        store.close()
    return last


@pytest.mark.crash
def test_sigkill_loses_nothing_acknowledged_and_keeps_nothing_partial(tmp_path: Path) -> None:
    path = tmp_path / "crash.db"
    log = tmp_path / "acknowledged.log"
    rng = random.Random(2026)
    writer = [sys.executable, str(Path(crash_writer.__file__)), str(path), str(log)]
    environment = {**os.environ, "PYTHONHASHSEED": "0"}
    checked = 0
    for kill in range(kills):
        with subprocess.Popen(
            writer, env=environment, stdout=subprocess.PIPE, stderr=subprocess.PIPE
        ) as process:
            assert process.stdout is not None
            assert process.stdout.readline() == b"writing\n", "writer did not start"
            time.sleep(rng.uniform(0.02, 0.2))
            if process.poll() is not None:
                assert process.stderr is not None
                pytest.fail(f"writer exited by itself: {process.stderr.read().decode()}")
            process.send_signal(signal.SIGKILL)
            process.wait()
        checked = _check(path, log, kill, checked)
    assert len(_acknowledged(log)) > kills  # the writer made real progress between kills
