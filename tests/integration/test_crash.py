"""Durability: a writer killed with SIGKILL at random points loses nothing it acknowledged,
keeps no partial batch, and leaves a store that ``audit verify`` passes.

Method: 24 kills in all, in 3 independent chains of 8 (parametrised, so that test workers
share them). Each chain starts from a copy of one ledger the writer set up once (definitions,
principals, funding). Per kill: start ``crash_writer.py`` on the chain's SQLite file, wait
until it has recovered and says it is writing (on every other kill, also until it has
acknowledged a new batch, so a loaded machine still makes progress), let it write for a random
0.02-0.2 s (batches of 1 to 500 events, with linked pairs, and a checkpoint every third
batch), kill it with
SIGKILL, then check the file from this process: the whole store is audited, and every batch
written since the last check is present whole if acknowledged, and whole or absent if not.
Each restart recovers from the previous kill, so later kills also land after recoveries and
inside checkpoints. Chains are kept short because each check audits the whole store, whose
cost grows with every kill.
"""

from __future__ import annotations

import sys
from pathlib import Path

import pytest
from tests import support_crash

from ringfence.adapters.storage.sqlite import SqliteStore
from ringfence.service.audit import verify_store

sys.path.insert(0, str(Path(__file__).parent))
import crash_writer

chains = 3
kills_per_chain = 8


def _check(path: Path, log: Path, kill: int, since: int) -> int:
    """Audit the whole store, and check batch by batch what was written since batch ``since``
    (earlier batches were checked after earlier kills; the audit covers them since). Returns
    the last acknowledged batch."""
    store = SqliteStore(str(path))
    try:
        report = verify_store(store)
        assert report.ok, (kill, report.problems)
        acknowledged = set(support_crash.acknowledged(log))
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


@pytest.fixture(scope="module")
def set_up_ledger(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The ledger as the writer's first run sets it up, made once for every chain."""
    path = tmp_path_factory.mktemp("crash") / "crash.db"
    service = crash_writer.open_service(str(path))
    crash_writer.set_up(service)
    service.close()
    return path


@pytest.mark.crash
@pytest.mark.parametrize("chain", range(chains))
def test_sigkill_loses_nothing_acknowledged_and_keeps_nothing_partial(
    set_up_ledger: Path, tmp_path: Path, chain: int
) -> None:
    path = tmp_path / "crash.db"
    support_crash.copy_database(set_up_ledger, path)
    log = tmp_path / "acknowledged.log"
    support_crash.kill_repeatedly(
        str(Path(crash_writer.__file__)), path, log, kills=kills_per_chain, seed=2026 + chain,
        check=lambda kill, since: _check(path, log, kill, since),
    )
