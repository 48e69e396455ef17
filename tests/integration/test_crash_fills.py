"""A fill and its fee commit together or not at all: a fill writer killed with SIGKILL at random
points never leaves a fee charged without its position change, nor a position change without
its fee, and ``audit verify`` replays the book from the journal.

Method: 24 kills in all, in 3 independent chains of 8 (parametrised, as ``test_crash.py``).
Each chain starts from a copy of one venue the writer set up once. Per kill: start
``fill_writer.py`` through ``tests/support_crash.py`` (as ``test_crash.py``), wait until it
says it is writing (on every other kill, until it has acknowledged a new group), let it apply
fills for a random 0.02-0.2 s (groups of 1 to 256 fills, each with a fee; every third group
takes the path that applies fills one by one), kill it with SIGKILL, then check the file from
this process: the whole store is audited (the book replayed, every fill held to its fee and
every fee to its fill), and for every fill of the groups written since the last check, its fee
is on the ledger exactly when the fill is in the book read back from the journal; an
acknowledged group is in the book whole.
"""

from __future__ import annotations

import sys
from pathlib import Path

import pytest
from tests import support_crash

from ringfence.adapters.storage.sqlite import SqliteStore
from ringfence.core.ledger.journal import venue_kinds
from ringfence.core.venue.book import VenueBook
from ringfence.service.audit import verify_store
from ringfence.service.risk_ledger import derived_id

sys.path.insert(0, str(Path(__file__).parent))
import fill_writer

chains = 3
kills_per_chain = 8


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
        acknowledged = set(support_crash.acknowledged(log))
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
    support_crash.copy_database(set_up_venue, path)
    log = tmp_path / "acknowledged.log"
    support_crash.kill_repeatedly(
        str(Path(fill_writer.__file__)), path, log, kills=kills_per_chain, seed=2027 + chain,
        check=lambda kill, since: _check(path, log, kill, since),
    )
