"""Every CSV the project writes (statements, registers, console and portal exports, the
resolution pack, the in-kind return schedule) goes through here, so that no cell opens as a
formula when a spreadsheet reads it.

A cell whose text starts with ``=``, ``+``, ``-``, ``@``, a tab or a carriage return is a formula
to Excel, LibreOffice and Google Sheets (``=HYPERLINK(...)`` in a memo becomes a link; ``=cmd|``
once ran programs). Much of what a CSV carries is written by others: metadata, memos, client and
wallet names, reasons. Such a cell is written with a leading apostrophe, which spreadsheets take
as "text" and hide (the OWASP advice). A number is left as it is: a signed amount such as
``-1.50`` is a number, not a formula, and a reader of the file must parse it as one.
"""

from __future__ import annotations

import csv
import io
import re
from collections.abc import Iterable, Sequence
from typing import Final

_formula_starts: Final = ("=", "+", "-", "@", "\t", "\r")
_number: Final = re.compile(r"[+-]?[0-9]+(?:\.[0-9]+)?\Z")


def spreadsheet_safe(cell: object) -> object:
    """``cell`` as a spreadsheet will read it as text: a string that would start a formula gets
    a leading apostrophe; numbers, and every other value, are unchanged."""
    if isinstance(cell, str) and cell.startswith(_formula_starts) and not _number.match(cell):
        return "'" + cell
    return cell


def spreadsheet_safe_row(row: Iterable[object]) -> list[object]:
    return [spreadsheet_safe(cell) for cell in row]


def csv_text(header: Sequence[str], rows: Iterable[Iterable[object]]) -> str:
    """A whole CSV document: the header, then each row made spreadsheet-safe."""
    text = io.StringIO()
    writer = csv.writer(text, lineterminator="\n")
    writer.writerow(header)
    writer.writerows(spreadsheet_safe_row(row) for row in rows)
    return text.getvalue()
