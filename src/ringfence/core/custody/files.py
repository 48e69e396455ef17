"""What UTXO snapshots and custodian statements share: the outer shape of a holdings file.

A holdings file is ASCII text: a magic line naming its format and version, metadata lines
``# key: value``, a header naming the columns, then one row per line. LF or CRLF line endings;
the last line may end without one. This module reads that shape and nothing more, strictly:

- the whole file is bounded (``limits.holdings_file_bytes_max`` bytes and
  ``limits.holdings_file_rows_max`` rows), checked before anything else is done with it;
- a byte outside printable ASCII, or a lone CR, is refused (``holdings_file_not_ascii``,
  ``holdings_row_malformed``) with its line number;
- every metadata line names a key the format knows, once; a misspelt ``netwrok:`` is an
  error, not a comment, because a line silently skipped could have changed what the file means;
- the column header and the rows may quote their fields as CSV does (RFC 4180, as spreadsheets
  and exporters write ``"bc1q...","0"``): the standard ``csv`` module reads a quoted file and
  its rows go on unquoted. No field of these formats may hold a comma, a quote or a line break,
  so a quoted one that does is refused, never split another way.

Each file's identity is the SHA-256 of its bytes; observations carry its first 16 hex digits
in their ``source`` so a reconciliation can name the exact file it relied on. Line numbers in
errors count from 1 at the file's first line.
"""

from __future__ import annotations

import csv
import hashlib
import io
import re
from collections.abc import Collection, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Final

from ringfence.core import limits
from ringfence.core.errors import InputError, Result

_timestamp_pattern: Final = re.compile(
    r"([0-9]{4})-([0-9]{2})-([0-9]{2})T([0-9]{2}):([0-9]{2}):([0-9]{2})(?:\.([0-9]{1,9}))?Z\Z"
)
_epoch: Final = datetime(1970, 1, 1, tzinfo=UTC)
_metadata_pattern: Final = re.compile(r"# ([a-z_]{1,32}): ([!-~](?:[ -~]*[!-~])?)\Z")
_printable_ascii: Final = re.compile(rb"[^\x20-\x7e\r\n]")
_allowed_bytes: Final = bytes(range(0x20, 0x7F)) + b"\r\n"
source_digest_hex_digits: Final = 16
# What a float looks like in a CSV amount column: refused by name (``amount_must_not_be_float``)
# rather than as a malformed number, so the sender learns they exported a float.
float_notation: Final = re.compile(
    r"[+-]?(?:[0-9]*\.?[0-9]*[eE][+-]?[0-9]+|inf|infinity|nan)\Z", re.IGNORECASE
)


@dataclass(frozen=True, slots=True)
class HoldingsText:
    """A holdings file split into its parts. ``body`` is the rows as one string, each row
    ended by ``\\n``; its first row is line ``body_first_line`` of the file."""

    digest: str  # the file's SHA-256, first 16 hex digits
    metadata: dict[str, str]
    body: str
    body_first_line: int
    rows: int


def file_digest(data: bytes) -> str:
    """The first 16 hex digits of the SHA-256 of a file's bytes, as ``source`` names it."""
    return hashlib.sha256(data).hexdigest()[:source_digest_hex_digits]


def split_holdings_file(
    data: bytes, magic: str, keys: Collection[str], columns: str
) -> HoldingsText:
    """Check the outer shape of a holdings file and split it into metadata and rows.

    ``magic`` is the exact first line; ``keys`` the metadata keys the format knows;
    ``columns`` the exact column header line. Rows are not looked at beyond their bytes.
    """
    if not isinstance(data, bytes):
        raise InputError(Result.holdings_row_malformed, "a holdings file is bytes")
    if len(data) > limits.holdings_file_bytes_max:
        raise InputError(
            Result.holdings_file_too_large,
            f"{len(data)} bytes, at most {limits.holdings_file_bytes_max}",
        )
    # Deleting every allowed byte leaves nothing in a good file, ten times faster than a
    # search; only a bad file pays for the search that finds where.
    bad = _printable_ascii.search(data) if data.translate(None, _allowed_bytes) else None
    if bad is not None:
        line = data.count(b"\n", 0, bad.start()) + 1
        raise InputError(
            Result.holdings_file_not_ascii, f"line {line}: byte 0x{data[bad.start()]:02x}"
        )
    text = data.decode("ascii")
    if "\r" in text:
        text = text.replace("\r\n", "\n")
        if "\r" in text:
            line = text.count("\n", 0, text.index("\r")) + 1
            raise InputError(Result.holdings_row_malformed, f"line {line}: a CR without LF")
    if text and not text.endswith("\n"):
        text += "\n"
    digest = file_digest(data)
    metadata, header_lines = _read_header(text, magic, keys, columns)
    start = _nth_line_start(text, header_lines)
    body = unquoted(text[start:], header_lines + 1)
    rows = body.count("\n")
    if rows > limits.holdings_file_rows_max:
        raise InputError(
            Result.holdings_file_too_large, f"{rows} rows, at most {limits.holdings_file_rows_max}"
        )
    return HoldingsText(digest, metadata, body, header_lines + 1, rows)


def unquoted(body: str, first_line: int) -> str:
    """``body`` (rows, each ended by ``\\n``) with CSV quoting removed; a body without quotes
    as it is (the fast path every exporter that does not quote takes)."""
    if '"' not in body:
        return body
    reader = csv.reader(io.StringIO(body), strict=True)
    rows = []
    try:
        for fields in reader:
            if any(("," in f or '"' in f or "\n" in f) for f in fields):
                line = first_line + reader.line_num - 1
                detail = "a quoted field holds a comma, a quote or a line break"
                raise line_error(Result.holdings_row_malformed, line, detail)
            rows.append(",".join(fields))
    except csv.Error as error:
        line = first_line + reader.line_num - 1
        raise line_error(Result.holdings_row_malformed, line, f"CSV quoting: {error}") from None
    return "".join(row + "\n" for row in rows)


def _nth_line_start(text: str, lines: int) -> int:
    start = 0
    for _ in range(lines):
        start = text.index("\n", start) + 1
    return start


def _read_header(
    text: str, magic: str, keys: Collection[str], columns: str
) -> tuple[dict[str, str], int]:
    """The metadata and the number of lines up to and including the column header."""
    if not text:
        raise InputError(Result.holdings_file_empty, "no magic line")
    lines = text[: (limits.holdings_header_lines_max + 2) * limits.holdings_line_bytes_max]
    head = lines.split("\n", limits.holdings_header_lines_max + 2)
    if head[0] != magic:
        raise InputError(
            Result.holdings_file_header_invalid, f"line 1: {head[0][:64]!r}, expected {magic!r}"
        )
    metadata: dict[str, str] = {}
    for number, line in enumerate(head[1:], start=2):
        if len(line) > limits.holdings_line_bytes_max:
            raise InputError(Result.holdings_file_header_invalid, f"line {number}: too long")
        if line == columns or ('"' in line and unquoted(line + "\n", number) == columns + "\n"):
            return metadata, number
        if not line.startswith("#"):
            raise InputError(
                Result.holdings_file_header_invalid,
                f"line {number}: {line[:64]!r}, expected the column header {columns!r}",
            )
        match = _metadata_pattern.match(line)
        if match is None or match[1] not in keys:
            raise InputError(
                Result.holdings_file_header_invalid,
                f"line {number}: {line[:64]!r} is not '# key: value' with a key of "
                + ", ".join(sorted(keys)),
            )
        if match[1] in metadata:
            raise InputError(
                Result.holdings_file_header_invalid, f"line {number}: {match[1]} given twice"
            )
        metadata[match[1]] = match[2]
    raise InputError(
        Result.holdings_file_header_invalid,
        f"no column header {columns!r} within {limits.holdings_header_lines_max} lines",
    )


def parse_timestamp(text: str) -> int:
    """An ISO 8601 UTC timestamp, ``2026-11-21T00:00:00Z`` (up to 9 decimals of a second),
    as nanoseconds since the Unix epoch. Other zones, dates before 1970 and non-dates such as
    ``2026-02-30`` are refused: a statement's as-of time must read one way only."""
    match = _timestamp_pattern.match(text)
    if match is None:
        raise InputError(
            Result.timestamp_invalid, f"{text[:40]!r} is not YYYY-MM-DDTHH:MM:SS[.fffffffff]Z"
        )
    year, month, day, hour, minute, second = (int(match[index]) for index in range(1, 7))
    try:
        moment = datetime(year, month, day, hour, minute, second, tzinfo=UTC)
    except ValueError as error:
        raise InputError(Result.timestamp_invalid, f"{text}: {error}") from None
    delta = moment - _epoch
    seconds = delta.days * 86_400 + delta.seconds
    nanoseconds = int((match[7] or "").ljust(9, "0"))
    value = seconds * 10**9 + nanoseconds
    if not 0 <= value <= limits.timestamp_ns_max:
        raise InputError(Result.timestamp_invalid, f"{text} is before 1970 or after 2262")
    return value


def line_error(code: Result, line: int, detail: str) -> InputError:
    """An ``InputError`` whose detail starts with the line number the problem is on."""
    return InputError(code, f"line {line}: {detail}")


def body_lines(body: str) -> Iterator[str]:
    """The rows of a body (each ended by ``\\n``) without their line ends."""
    start = 0
    while start < len(body):
        end = body.index("\n", start)
        yield body[start:end]
        start = end + 1


def split_columns(body: str, rows: int, width: int) -> list[list[str]]:
    """The fields of a body whose every row is known to hold ``width`` comma-separated fields,
    one list per column. One split of the whole body: no per-row objects."""
    fields = body.replace("\n", ",").split(",")
    assert len(fields) == rows * width + 1
    assert fields[-1] == ""
    return [fields[column : rows * width : width] for column in range(width)]
