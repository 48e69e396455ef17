"""A fill and its fee commit together or not at all: a fill writer killed with SIGKILL at random
points never leaves a fee charged without its position change, nor a position change without
its fee, and ``audit verify`` replays the book from the journal.

Method: 24 kills in all, in 3 independent chains of 8 (parametrised, as ``test_crash.py``).
Each chain starts from a copy of one venue the writer set up once. Per kill: start
``fill_writer.py``, wait until it says it is writing, let it apply fills for a random
0.02-0.2 s (groups of 1 to 256 fills, each with a fee; every third group takes the path that
applies fills one by one), kill it with SIGKILL, then check the file from this process: the
whole store is audited (the book replayed, every fill held to its fee and every fee to its
fill), and for every fill of the groups written since the last check, its fee is on the
ledger exactly when the fill is in the book read back from the journal; an acknowledged group
is in the book whole.
"""

from __future__ import annotations

import os
import random
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from ringfence.adapters.storage.sqlite import SqliteStore
from ringfence.core.ledger.journal import venue_kinds
from ringfence.core.venue.book import VenueBook
from ringfence.service.audit import verify_store
from ringfence.service.risk_ledger import derived_id

sys.path.insert(0, str(Path(__file__).parent))
import fill_writer

chains = 3
kills_per_chain = 8


def _acknowledged(log: Path) -> list[int]:
    if not log.exists():
        return []
    return [int(line) for line in log.read_text(encoding="ascii").split()]


def _check(path: Path, log: Path, kill: int, since: int) -> int:
    """Audit the store, read the book back and hold every fill of the groups since ``since``
    to its fee. Returns the last acknowledged group."""
    store = SqliteStore(str(path))
    try:
        report = verify_store(store)
        assert report.ok, (kill, report.problems)
        book = VenueBook()
        for entry in store.entries(kinds=venue_kinds):
            book.apply(entry.body)
        acknowledged = set(_acknowledged(log))
        last = max(acknowledged, default=0)
        for k in range(max(since, 1), last + 2):  # at most one group past the log
            fills = fill_writer.group(k)
            fees = store.transfers([derived_id("fee", fill.id) for fill in fills])
            for fill in fills:
                charged = derived_id("fee", fill.id) in fees
                held = fill.id in book.fills
                assert charged == held, f"kill {kill}: fill {fill.id}: fee {charged}, fill {held}"
                if k in acknowledged and fill.bucket != fill_writer.poor.name:
                    assert held, f"kill {kill}: group {k} acknowledged, fill {fill.id} lost"
                if fill.bucket == fill_writer.poor.name:
                    assert not held, f"kill {kill}: fill {fill.id} applied without its fee"
    finally:
        store.close()
    return last


@pytest.fixture(scope="module")
def set_up_venue(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("crash-fills") / "venue.db"
    ledger = fill_writer.open_ledger(str(path))
    fill_writer.set_up(ledger)
    ledger.close()
    return path


@pytest.mark.crash
@pytest.mark.slowest  # 63 s for the three chains on one worker at load 8 on 2 cores
@pytest.mark.parametrize("chain", range(chains))
def test_sigkill_never_separates_a_fill_from_its_fee(
    set_up_venue: Path, tmp_path: Path, chain: int
) -> None:
    path = tmp_path / "venue.db"
    for suffix in ("", "-wal", "-shm"):
        if Path(f"{set_up_venue}{suffix}").exists():
            shutil.copy(f"{set_up_venue}{suffix}", f"{path}{suffix}")
    log = tmp_path / "acknowledged.log"
    rng = random.Random(2027 + chain)
    writer = [sys.executable, str(Path(fill_writer.__file__)), str(path), str(log)]
    environment = {**os.environ, "PYTHONHASHSEED": "0"}
    checked = 0
    for kill in range(kills_per_chain):
        with subprocess.Popen(
            writer, env=environment, stdout=subprocess.PIPE, stderr=subprocess.PIPE
        ) as process:
            assert process.stdout is not None
            started = process.stdout.readline()
            if started != b"writing\n":
                assert process.stderr is not None
                pytest.fail(f"writer did not start: {process.stderr.read().decode()}")
            time.sleep(rng.uniform(0.02, 0.2))
            if process.poll() is not None:
                assert process.stderr is not None
                pytest.fail(f"writer exited by itself: {process.stderr.read().decode()}")
            process.send_signal(signal.SIGKILL)
            process.wait()
        checked = _check(path, log, kill, checked)
    assert len(_acknowledged(log)) > kills_per_chain  # real progress between kills
