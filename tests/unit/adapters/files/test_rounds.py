"""adapters/files/rounds.py: the rounds' directory. Keys are made once, readable by their
owner only, and never replaced; a kept round is never replaced; what is missing is a storage
error and what is not JSON an input error, each naming the file."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from ringfence.adapters.files.rounds import RoundFiles
from ringfence.core.errors import InputError, Result, StorageError


def test_keys_are_made_once_readable_by_their_owner_and_never_replaced(tmp_path: Path) -> None:
    rounds = RoundFiles(tmp_path / "por")
    with pytest.raises(StorageError):
        rounds.master_secret(create=False)
    master = rounds.master_secret(create=True)
    assert len(master) == 32
    assert rounds.master_secret(create=True) == master
    assert rounds.master_secret(create=False) == master
    signing = rounds.signing_seed()
    assert signing != master
    assert rounds.signing_seed() == signing
    for name in ("master.key", "signing.key"):
        assert (tmp_path / "por" / name).stat().st_mode & 0o777 == 0o600
    (tmp_path / "por" / "master.key").write_text("not hex\n")
    with pytest.raises(StorageError):
        rounds.master_secret(create=True)
    (tmp_path / "por" / "master.key").write_text("ab" * 31 + "\n")
    with pytest.raises(StorageError):
        rounds.master_secret(create=False)


def test_rounds_are_numbered_by_their_folders_and_never_replaced(tmp_path: Path) -> None:
    rounds = RoundFiles(tmp_path / "por")
    assert rounds.numbers() == []
    record = {"round_id": "00" * 32, "assets": []}
    where = rounds.save_round(1, record, {}, b"b" * 32, b"{}")
    assert where == str(tmp_path / "por" / "rounds" / "000001" / "round.json")
    assert rounds.numbers() == [1]
    kept = rounds.round(1)
    assert (kept.number, kept.record(), kept.reserves_file()) == (1, record, b"{}")
    assert kept.build_seed() == b"b" * 32
    assert kept.trees({}, record, b"m" * 32) == {}
    with pytest.raises(StorageError):
        rounds.save_round(1, record, {}, b"c" * 32, None)
    assert rounds.round_at(where).number == 1
    elsewhere = tmp_path / "copy" / "round.json"
    assert rounds.round_at(str(elsewhere)).number is None
    with pytest.raises(StorageError):
        rounds.round(2).record()
    assert rounds.round(2).reserves_file() is None


def test_a_missing_pending_round_is_a_storage_error_and_a_broken_one_an_input_error(
    tmp_path: Path,
) -> None:
    rounds = RoundFiles(tmp_path / "por")
    with pytest.raises(StorageError):
        rounds.pending()
    rounds.save_pending({"round": 1, "blocks": {}})
    assert rounds.pending() == {"round": 1, "blocks": {}}
    assert json.loads((tmp_path / "por" / "pending.json").read_text())["round"] == 1
    (tmp_path / "por" / "pending.json").write_text("{")
    with pytest.raises(InputError) as caught:
        rounds.pending()
    assert caught.value.code is Result.line_malformed
