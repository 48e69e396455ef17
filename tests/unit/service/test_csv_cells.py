"""Cells a spreadsheet would run as formulas are written as text; numbers stay numbers."""

from __future__ import annotations

import csv
import io

import pytest

from ringfence.service.csv_cells import csv_text, spreadsheet_safe


@pytest.mark.parametrize(
    "cell",
    ["=1+1", '=HYPERLINK("https://evil.example")', "+1+1", "-1+1", "@SUM(A1)", "\t=1", "\r=1",
     "-", "+", "=", "-1.5e3", "--1"],
)  # fmt: skip
def test_a_formula_start_gets_an_apostrophe(cell: str) -> None:
    assert spreadsheet_safe(cell) == "'" + cell


@pytest.mark.parametrize("cell", ["-1.50", "-7", "+3", "0.1", "alice", "", "a=b", " =1", 5, None])
def test_numbers_and_other_text_are_unchanged(cell: object) -> None:
    assert spreadsheet_safe(cell) == cell


def test_a_document_neutralises_every_row_but_not_its_header() -> None:
    text = csv_text(["a", "b"], [["=x", "-2"], ["ok", "@y"]])
    assert list(csv.reader(io.StringIO(text))) == [["a", "b"], ["'=x", "-2"], ["ok", "'@y"]]
