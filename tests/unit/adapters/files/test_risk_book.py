"""adapters/files/risk_book.py: the risk book as one JSON file, replaced whole; a missing,
malformed or non-object file is refused with its code."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from ringfence.adapters.files.risk_book import RiskBookFile
from ringfence.core.errors import InputError, Result


def test_a_written_book_reads_back_equal_and_leaves_no_temporary_file(tmp_path: Path) -> None:
    path = tmp_path / "risk-book.json"
    books = RiskBookFile(path)
    document: dict[str, object] = {"instruments": [], "positions": [{"lots": 3}], "fills": ["7"]}
    books.write(document)
    assert books.read() == document
    assert json.loads(path.read_text(encoding="utf-8")) == document
    assert sorted(p.name for p in tmp_path.iterdir()) == ["risk-book.json"]
    books.write({"fills": []})
    assert books.read() == {"fills": []}


def test_a_missing_book_is_named(tmp_path: Path) -> None:
    with pytest.raises(InputError) as caught:
        RiskBookFile(tmp_path / "nothing.json").read()
    assert caught.value.code is Result.file_not_found
    assert "nothing.json" in caught.value.detail


@pytest.mark.parametrize("text", ["{not json", "[1, 2]", "\udcff"])
def test_a_book_that_is_not_one_json_object_is_malformed(tmp_path: Path, text: str) -> None:
    path = tmp_path / "risk-book.json"
    path.write_bytes(text.encode("utf-8", "surrogateescape"))
    with pytest.raises(InputError) as caught:
        RiskBookFile(path).read()
    assert caught.value.code is Result.line_malformed
