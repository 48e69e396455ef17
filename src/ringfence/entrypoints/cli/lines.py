"""Per-line results of a JSON-lines file, written as they come (``LineResultsWriter``).

The files themselves are read by an adapter (adapters/files/jsonl.py) behind the service's
``LineSource`` port; ``count_lines`` and ``read_lines`` below reach it through the composition
root for the commands whose workflow has not moved into their service yet (principals, risk
fills).
"""

from __future__ import annotations

import json
import sys
from collections.abc import Iterator, Sequence
from pathlib import Path

from ringfence import bootstrap
from ringfence.core.errors import Result
from ringfence.entrypoints.cli.output import console, finish, new_table, say
from ringfence.service.ledger.lines import LineResult, rejections_shown_max
from ringfence.service.ports import RawLine

__all__ = [
    "LineResult",
    "LineResultsWriter",
    "RawLine",
    "count_lines",
    "count_ok",
    "print_line_results",
    "read_lines",
]


def count_lines(path: Path) -> int:
    """Lines in a file, refusing the whole file (before anything changes) when too many."""
    return bootstrap.jsonl_file(path).count()


def read_lines(path: Path) -> Iterator[RawLine]:
    """Each line with its number, never holding more than one line's limit in memory."""
    return bootstrap.jsonl_file(path).lines()


def count_ok(rows: Sequence[LineResult]) -> int:
    return sum(1 for row in rows if row.result is Result.ok)


def print_line_results(
    json_output: bool, rows: Sequence[LineResult], counts: dict[str, int]
) -> None:
    """Per-line results; exit 1 if any line was rejected."""
    writer = LineResultsWriter(json_output)
    for row in rows:
        writer.write(row)
    writer.finish(counts)


class LineResultsWriter:
    """Per-line results written as they are decided, so that memory does not grow with the
    file: under ``--json`` one document whose ``results`` array is written row by row (and
    flushed after each batch) and whose summary (``ok`` and the counts) follows it; without, a
    summary line and a table of the first rejections."""

    def __init__(self, json_output: bool) -> None:
        self.json_output = json_output
        self.started = False  # the JSON document has begun on stdout
        self.rows = 0
        self.committed = 0
        self.rejected: list[LineResult] = []  # the first ones, for the table
        self.rejected_count = 0

    def write(self, row: LineResult) -> None:
        if row.result is Result.ok:
            self.committed += 1
        elif not row.result.succeeded:
            self.rejected_count += 1
            if len(self.rejected) < rejections_shown_max:
                self.rejected.append(row)
        if self.json_output:
            head = "\n  " if self.rows == 0 else ",\n  "
            if not self.started:
                sys.stdout.write('{"results": [')
                self.started = True
            sys.stdout.write(head + json.dumps(row.to_json()))
        self.rows += 1

    def flush(self) -> None:
        if self.started:
            sys.stdout.flush()

    def _close(self, summary: dict[str, object]) -> None:
        if not self.started:
            sys.stdout.write('{"results": [')
        sys.stdout.write("\n], " if self.rows else "], ")
        sys.stdout.write(json.dumps(summary)[1:] + "\n")
        sys.stdout.flush()

    def fail(self, code: str, detail: str) -> None:
        """Close a document cut short by an error (rows written so far stand)."""
        self._close({"ok": False, "error": code, "detail": detail})

    def finish(self, counts: dict[str, int]) -> None:
        """Write the summary; exit 1 if any line was rejected."""
        ok = self.rejected_count == 0
        if self.json_output:
            self._close({"ok": ok, **counts})
        else:
            summary = ", ".join(f"{key} {value}" for key, value in counts.items())
            say(f"{self.rows} lines: {summary}, rejected {self.rejected_count}")
            if self.rejected:
                table = new_table("line", "id", "result", "detail")
                for row in self.rejected:
                    table.add_row(str(row.line), str(row.id or ""), row.result.value, row.detail)
                console().print(table)
                if self.rejected_count > rejections_shown_max:
                    say(f"... and {self.rejected_count - rejections_shown_max} more")
        finish(ok)
