"""entrypoints/cli/app.py LineResultsWriter: per-line results written as they are decided, and
under --json always exactly one JSON document on stdout, even when an error cuts it short."""

from __future__ import annotations

import json

import pytest
import typer

from ringfence.core.errors import Result
from ringfence.entrypoints.cli.lines import LineResult, LineResultsWriter


def rows() -> list[LineResult]:
    return [
        LineResult(1, 10, Result.ok, ""),
        LineResult(2, None, Result.line_malformed, "Expecting value at column 1"),
        LineResult(3, 12, Result.exists, ""),
    ]


def test_the_summary_follows_the_results_in_one_document(
    capsys: pytest.CaptureFixture[str],
) -> None:
    writer = LineResultsWriter(json_output=True)
    for row in rows():
        writer.write(row)
        writer.flush()
    with pytest.raises(typer.Exit) as exited:
        writer.finish({"submitted": 2, "committed": writer.committed})
    assert exited.value.exit_code == 1  # a line was rejected
    document = json.loads(capsys.readouterr().out)
    assert document == {
        "results": [row.to_json() for row in rows()],
        "ok": False,
        "submitted": 2,
        "committed": 1,
    }


def test_a_document_cut_short_by_an_error_is_still_one_document(
    capsys: pytest.CaptureFixture[str],
) -> None:
    writer = LineResultsWriter(json_output=True)
    writer.write(rows()[0])
    assert writer.started
    writer.fail("storage_error", "append of entry 9 failed")
    document = json.loads(capsys.readouterr().out)
    assert document == {
        "results": [rows()[0].to_json()],
        "ok": False,
        "error": "storage_error",
        "detail": "append of entry 9 failed",
    }


def test_an_empty_file_gives_an_empty_list(capsys: pytest.CaptureFixture[str]) -> None:
    writer = LineResultsWriter(json_output=True)
    writer.finish({"submitted": 0, "committed": 0})  # nothing rejected: no exit status 1
    assert json.loads(capsys.readouterr().out) == {
        "results": [],
        "ok": True,
        "submitted": 0,
        "committed": 0,
    }


def test_the_table_shows_only_the_first_rejections(capsys: pytest.CaptureFixture[str]) -> None:
    writer = LineResultsWriter(json_output=False)
    for number in range(1, 201):
        writer.write(LineResult(number, number, Result.amount_must_not_be_zero, ""))
    assert len(writer.rejected) == 50
    with pytest.raises(typer.Exit):
        writer.finish({"submitted": 200, "committed": 0})
    out = capsys.readouterr().out
    assert "200 lines: submitted 200, committed 0, rejected 200" in out
    assert "... and 150 more" in out
