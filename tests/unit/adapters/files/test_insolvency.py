"""adapters/files/insolvency.py: scenario files are read whole, bounded first, JSON in UTF-8."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from ringfence.adapters.files.insolvency import JsonScenarioFiles
from ringfence.core import limits
from ringfence.core.errors import InputError, Result


def test_a_scenario_file_is_read_as_its_json(tmp_path: Path) -> None:
    path = tmp_path / "scenario.json"
    path.write_text(json.dumps({"payout": "cash", "prices": {"BTC": "64000.00"}}))
    assert JsonScenarioFiles().read_scenario(str(path)) == {
        "payout": "cash",
        "prices": {"BTC": "64000.00"},
    }


@pytest.mark.parametrize("data", [b"{not json", b"\xff\xfe{}", b""])
def test_a_file_that_is_not_json_in_utf8_is_refused(tmp_path: Path, data: bytes) -> None:
    path = tmp_path / "scenario.json"
    path.write_bytes(data)
    with pytest.raises(InputError) as raised:
        JsonScenarioFiles().read_scenario(str(path))
    assert raised.value.code is Result.scenario_invalid
    assert str(path) in raised.value.detail


def test_a_file_over_the_bound_is_refused_before_it_is_read(tmp_path: Path) -> None:
    path = tmp_path / "scenario.json"
    with path.open("wb") as stream:  # sparse: the bound is checked on the size, not the bytes
        stream.truncate(limits.scenario_file_bytes_max + 1)
    with pytest.raises(InputError) as raised:
        JsonScenarioFiles().read_scenario(str(path))
    assert raised.value.code is Result.scenario_invalid
    assert "too large" in raised.value.detail
