"""The kill loop the SIGKILL crash tests share: copy a set-up SQLite file, then start a writer
script on it, let it write a random while and SIGKILL it, again and again, checking the file
after each kill. The writer prints ``writing`` once it has recovered and appends the number
of each batch it has acknowledged to a log, one per line."""

from __future__ import annotations

import os
import random
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import pytest

acknowledgement_wait_s_max = 120.0


def copy_database(source: Path, target: Path) -> None:
    """An SQLite file with its write-ahead log, as a killed writer left it."""
    for suffix in ("", "-wal", "-shm"):
        if Path(f"{source}{suffix}").exists():
            shutil.copy(f"{source}{suffix}", f"{target}{suffix}")


def acknowledged(log: Path) -> list[int]:
    """The batches the writer said were durable (a last line cut short reads as a smaller
    number, one already said)."""
    if not log.exists():
        return []
    return [int(line) for line in log.read_text(encoding="ascii").split()]


def kill_repeatedly(
    script: str, path: Path, log: Path, *, kills: int, seed: int,
    check: Callable[[int, int], int],
) -> None:
    """Run ``script PATH LOG`` and SIGKILL it ``kills`` times, each after a random 0.02-0.2 s
    of writing; ``check(kill, since)`` audits the file after each kill and returns the last
    acknowledged batch. Every other kill first waits for a new acknowledgement, so a loaded
    machine still makes progress; the kill still lands at a random point after it."""
    rng = random.Random(seed)
    writer = [sys.executable, script, str(path), str(log)]
    environment = {**os.environ, "PYTHONHASHSEED": "0"}
    checked = 0
    for kill in range(kills):
        with subprocess.Popen(
            writer, env=environment, stdout=subprocess.PIPE, stderr=subprocess.PIPE
        ) as process:
            assert process.stdout is not None
            assert process.stderr is not None
            if process.stdout.readline() != b"writing\n":
                pytest.fail(f"writer did not start: {process.stderr.read().decode()}")
            if kill % 2:
                _wait_for_acknowledgement_after(log, len(acknowledged(log)), process)
            time.sleep(rng.uniform(0.02, 0.2))
            if process.poll() is not None:
                pytest.fail(f"writer exited by itself: {process.stderr.read().decode()}")
            process.send_signal(signal.SIGKILL)
            process.wait()
        checked = check(kill, checked)
    assert len(acknowledged(log)) >= kills // 2  # real progress between kills


def _wait_for_acknowledgement_after(
    log: Path, count: int, process: subprocess.Popen[bytes]
) -> None:
    deadline = time.monotonic() + acknowledgement_wait_s_max
    while len(acknowledged(log)) <= count:
        if process.poll() is not None:
            pytest.fail("writer exited before acknowledging a batch")
        if time.monotonic() > deadline:
            pytest.fail(f"writer acknowledged nothing in {acknowledgement_wait_s_max} s")
        time.sleep(0.01)
