"""JSON-lines files read line by line (the ``LineSource`` port): transfers to submit, accounts
to import, principals, fills.

A file is counted before it is read, so that one with too many lines is refused whole before
anything changes. A line is never held past its limit: the rest of an over-long line is read
past and dropped (the line is refused as ``line_too_long``), remembering only whether it named
the ``linked`` flag, which decides which events fail with it. A UTF-8 byte order mark at the
start of the file (as some editors write) is not part of the first line; anywhere else it is,
and the line is malformed.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import IO

from ringfence.core import limits
from ringfence.core.errors import InputError, Result
from ringfence.service.ports import RawLine

_utf8_bom = b"\xef\xbb\xbf"
_linked_marker = b'"linked"'


class JsonlFile:
    """The ``LineSource`` of one file."""

    def __init__(self, path: Path) -> None:
        self.path = path

    def count(self) -> int:
        return count_lines(self.path)

    def lines(self) -> Iterator[RawLine]:
        return read_lines(self.path)


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
    """Each line with its number, never holding more than one line's limit in memory."""
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
    seen = _linked_marker in head
    tail = head[-len(_linked_marker) :]
    while more := stream.readline(1 << 16):
        seen = seen or _linked_marker in tail + more
        tail = more[-len(_linked_marker) :]
        if more.endswith(b"\n"):
            break
    return seen
