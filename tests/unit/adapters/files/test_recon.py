"""adapters/files/recon.py: the reconciliation's files on disk, read whole and bounded, written
whole; a file that cannot be read or written is a named error, not a traceback."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from ringfence.adapters.files.recon import LocalReconFiles
from ringfence.core.custody.holdings import Observation
from ringfence.core.custody.registry import Chain
from ringfence.core.errors import InputError, Result
from ringfence.core.money import Asset

ASSETS = {"BTC": Asset("BTC", 8, 1, "bitcoin")}
ADDRESS = "bc1qcr8te4kr609gcawutmrza0j4xv80jy8z306fyu"


def test_observations_written_read_back_the_same(tmp_path: Path) -> None:
    files = LocalReconFiles()
    seen = [Observation(Chain.bitcoin, ADDRESS, "BTC", 150_000_000, 871_002, 0, "snapshot-1")]
    path = str(tmp_path / "holdings.jsonl")
    files.write_observations(path, seen)
    assert files.observations(path, ASSETS) == seen


def test_prices_become_a_price_source(tmp_path: Path) -> None:
    path = tmp_path / "prices.json"
    row = {"asset": "BTC", "price": "65000.25", "source": "close", "time_ns": 5}
    path.write_text(json.dumps({"prices": [row]}))
    source = LocalReconFiles().prices(str(path))
    assert source.prices(["BTC"], 4) == {}
    (price,) = source.prices(["BTC"], 5).values()
    assert (price.units, price.scale) == (6_500_025, 2)


def test_a_file_that_cannot_be_read_or_written_is_named(tmp_path: Path) -> None:
    files = LocalReconFiles()
    missing = str(tmp_path / "missing.json")
    with pytest.raises(InputError) as unread:
        files.settings(missing, ASSETS, {})
    assert unread.value.code is Result.file_not_found
    assert unread.value.detail.endswith(missing)
    with pytest.raises(InputError) as unwritten:
        files.write_observations(str(tmp_path / "no" / "such" / "folder.jsonl"), [])
    assert unwritten.value.code is Result.field_required
