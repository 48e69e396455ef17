"""adapters/files/jsonl.py: JSON-lines files read line by line, within their limits."""

from __future__ import annotations

from pathlib import Path

import pytest

from ringfence.adapters.files.jsonl import JsonlFile, count_lines, read_lines
from ringfence.core import limits
from ringfence.core.errors import InputError, Result


def test_lines_are_numbered_from_one_and_the_last_needs_no_newline(tmp_path: Path) -> None:
    path = tmp_path / "t.jsonl"
    path.write_bytes(b'{"a": 1}\n\n{"b": 2}')
    lines = list(read_lines(path))
    assert [(line.number, line.text) for line in lines] == [
        (1, b'{"a": 1}\n'),
        (2, b"\n"),
        (3, b'{"b": 2}'),
    ]
    assert [line.is_blank for line in lines] == [False, True, False]
    assert count_lines(path) == 3


def test_a_byte_order_mark_opens_the_file_but_belongs_to_no_line(tmp_path: Path) -> None:
    path = tmp_path / "t.jsonl"
    path.write_bytes(b"\xef\xbb\xbf{}\n\xef\xbb\xbf{}\n")
    assert [line.text for line in read_lines(path)] == [b"{}\n", b"\xef\xbb\xbf{}\n"]


def test_an_over_long_line_is_dropped_and_remembers_the_linked_flag(tmp_path: Path) -> None:
    path = tmp_path / "t.jsonl"
    filler = b"x" * (limits.jsonl_line_bytes_max + 10)
    path.write_bytes(b'{"flags": ["linked"], "pad": "' + filler + b'"}\n' + filler + b"\n{}\n")
    first, second, third = read_lines(path)
    assert (first.text, first.names_linked) == (None, True)
    assert (second.text, second.names_linked) == (None, False)
    assert third.text == b"{}\n"
    with pytest.raises(InputError) as refused:
        first.text_or_raise()
    assert refused.value.code is Result.line_too_long


def test_a_file_of_too_many_lines_is_refused_before_it_is_read(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = tmp_path / "t.jsonl"
    path.write_bytes(b"{}\n" * 4)
    monkeypatch.setattr(limits, "jsonl_lines_max", 3)
    with pytest.raises(InputError) as refused:
        JsonlFile(path).count()
    assert refused.value.code is Result.batch_too_large


def test_the_line_source_reads_the_file_afresh_each_time(tmp_path: Path) -> None:
    path = tmp_path / "t.jsonl"
    path.write_bytes(b"{}\n{}\n")
    source = JsonlFile(path)
    assert source.count() == 2
    assert len(list(source.lines())) == len(list(source.lines())) == 2
