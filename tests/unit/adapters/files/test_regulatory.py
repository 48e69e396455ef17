"""adapters/files/regulatory.py: the regulatory files on disk, read whole and bounded, hashed
as read; a file that cannot be read, or is larger than the bound, is a named error."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import pytest

from ringfence.adapters.files.regulatory import LocalRegulatoryFiles
from ringfence.core import limits
from ringfence.core.errors import InputError, Result
from ringfence.core.money import Asset

ASSETS = {"BTC": Asset("BTC", 8, 1, "bitcoin")}


def test_each_file_reads_back_with_the_hash_of_its_bytes(tmp_path: Path) -> None:
    files = LocalRegulatoryFiles()
    haircuts = tmp_path / "haircuts.json"
    text = json.dumps(
        {
            "version": 1,
            "quote": "USD",
            "quote_scale": 2,
            "haircuts": [{"asset": "BTC", "haircut_bps": 1500}],
        }
    ).encode()
    haircuts.write_bytes(text)
    schedule = files.haircut_schedule(str(haircuts), ASSETS)
    assert schedule.identity.sha256 == hashlib.sha256(text).hexdigest()
    assert schedule.haircuts_bps == {"BTC": 1500}
    register = tmp_path / "register.json"
    register.write_text(json.dumps({"version": 1, "sub_custodians": []}))
    assert files.sub_custodian_register(str(register), ()).sub_custodians == ()


def test_missing_and_oversized_files_are_named(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    files = LocalRegulatoryFiles()
    with pytest.raises(InputError) as caught:
        files.insurance_schedule(str(tmp_path / "absent.json"), ())
    assert caught.value.code is Result.file_not_found
    big = tmp_path / "big.json"
    big.write_text(json.dumps({"version": 1, "sub_custodians": []}) + " " * 64)
    monkeypatch.setattr(limits, "regulatory_file_bytes_max", 32)
    with pytest.raises(InputError) as caught:
        files.sub_custodian_register(str(big), ())
    assert caught.value.code is Result.regulatory_file_invalid
