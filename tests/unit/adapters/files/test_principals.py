"""adapters/files/principals.py: key files made once and read back, signed lines written whole."""

from __future__ import annotations

import stat
from collections.abc import Iterator
from pathlib import Path

import pytest

from ringfence.adapters.files.principals import LocalPrincipalFiles
from ringfence.core.errors import InputError, Result, StorageError

SEED = bytes(range(32))


def test_a_key_file_is_made_for_its_owner_only_and_read_back(tmp_path: Path) -> None:
    files = LocalPrincipalFiles()
    path = tmp_path / "alice.key"
    files.create_key(str(path), SEED)
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert path.read_text() == SEED.hex() + "\n"
    assert files.read_key(str(path)) == SEED


def test_a_key_file_is_never_replaced(tmp_path: Path) -> None:
    files = LocalPrincipalFiles()
    path = tmp_path / "alice.key"
    files.create_key(str(path), SEED)
    with pytest.raises(StorageError, match="never replaced"):
        files.create_key(str(path), bytes(32))
    assert files.read_key(str(path)) == SEED


def test_a_key_file_in_a_missing_folder_cannot_be_made(tmp_path: Path) -> None:
    with pytest.raises(StorageError, match="cannot create"):
        LocalPrincipalFiles().create_key(str(tmp_path / "missing" / "alice.key"), SEED)


@pytest.mark.parametrize("data", [b"\xc3\xa9" * 32, b"00" * 31, b"AB" * 32])
def test_what_is_not_a_key_file_is_refused(tmp_path: Path, data: bytes) -> None:
    path = tmp_path / "alice.key"
    path.write_bytes(data)
    with pytest.raises(InputError) as raised:
        LocalPrincipalFiles().read_key(str(path))
    assert raised.value.code is Result.signing_key_invalid


def test_signed_lines_are_written_whole(tmp_path: Path) -> None:
    path = tmp_path / "signed.jsonl"
    LocalPrincipalFiles().write_lines(str(path), iter(["{}", "{}"]))
    assert path.read_text() == "{}\n{}\n"
    assert list(tmp_path.iterdir()) == [path]


def test_a_line_refused_on_the_way_leaves_no_file(tmp_path: Path) -> None:
    path = tmp_path / "signed.jsonl"

    def lines() -> Iterator[str]:
        yield "{}"
        raise InputError(Result.signing_key_invalid, "line 2")

    with pytest.raises(InputError):
        LocalPrincipalFiles().write_lines(str(path), lines())
    assert list(tmp_path.iterdir()) == []
