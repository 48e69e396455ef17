"""JSON-lines files read line by line, and their per-line results written as they come."""

from __future__ import annotations

import json
import sys
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import IO

from ringfence.core import limits
from ringfence.core.errors import InputError, Result
from ringfence.entrypoints.cli.output import console, finish, new_table, say

# Rejected lines listed in the table view; the JSON document always lists every line.
rejections_shown_max = 50
_utf8_bom = b"\xef\xbb\xbf"


@dataclass(slots=True)
class RawLine:
    """One line of a file; ``text`` is None for a line over the limit, which is not kept."""

    number: int
    text: bytes | None
    names_linked: bool = False  # a kept line says it in its text; this is for dropped ones

    @property
    def is_blank(self) -> bool:
        return self.text is not None and not self.text.strip()

    def text_or_raise(self) -> bytes:
        if self.text is None:
            raise InputError(Result.line_too_long, f"more than {limits.jsonl_line_bytes_max} bytes")
        return self.text


@dataclass(slots=True)
class LineResult:
    line: int
    id: int | None
    result: Result
    detail: str

    def to_json(self) -> dict[str, object]:
        document: dict[str, object] = {
            "line": self.line,
            "id": None if self.id is None else str(self.id),
            "result": self.result.value,
        }
        if self.detail:
            document["detail"] = self.detail
        return document


def count_lines(path: Path) -> int:
    """Lines in a file, refusing the whole file (before anything changes) when too many."""
    count = 0
    last = b"\n"
    with path.open("rb") as stream:
        while chunk := stream.read(1 << 20):
            count += chunk.count(b"\n")
            last = chunk[-1:]
    count += last != b"\n"
    if count > limits.jsonl_lines_max:
        raise InputError(Result.batch_too_large, f"{count} lines, at most {limits.jsonl_lines_max}")
    return count


def read_lines(path: Path) -> Iterator[RawLine]:
    """Each line with its number, never holding more than one line's limit in memory.

    A UTF-8 byte order mark at the start of the file (as some editors write) is not part of
    the first line; anywhere else it is, and the line is malformed."""
    size_max = limits.jsonl_line_bytes_max + 2  # room for the "\r\n" terminator
    number = 0
    with path.open("rb") as stream:
        if stream.read(len(_utf8_bom)) != _utf8_bom:
            stream.seek(0)
        while chunk := stream.readline(size_max):
            number += 1
            if chunk.endswith(b"\n") or len(chunk) < size_max:
                yield RawLine(number, chunk)
            else:
                yield RawLine(number, None, skip_rest_of_line(stream, chunk))


def skip_rest_of_line(stream: IO[bytes], head: bytes) -> bool:
    """Read past the rest of an over-long line; say whether it named the linked flag."""
    marker = b'"linked"'
    seen = marker in head
    tail = head[-len(marker) :]
    while more := stream.readline(1 << 16):
        seen = seen or marker in tail + more
        tail = more[-len(marker) :]
        if more.endswith(b"\n"):
            break
    return seen


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
