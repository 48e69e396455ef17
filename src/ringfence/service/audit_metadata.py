"""The audit's walk of the metadata projection: every ``(timestamp, key, value)`` row the store
keeps for lists by pair is compared, in order, with the pairs the journal's transfers entries
hold (core/ledger/journal.py, the metadata section). A pair edited, deleted or inserted in the
table is named with the transfer it belongs to; the journal, hashed and signed, is the truth.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence

from ringfence.core.errors import RingfenceError
from ringfence.core.ledger.journal import metadata_pairs_of
from ringfence.core.ledger.model import TransferRecord

Row = tuple[int, str, str]  # the transfer's timestamp, a key, its value
Report = Callable[[str, str, str], None]  # kind, where, detail


class MetadataWalk:
    """The projection's rows in ``(timestamp, key)`` order, merged with the journal's pairs
    entry by entry (``entry``), then whatever rows are left (``finish``)."""

    def __init__(self, rows: Iterator[Row], report: Report) -> None:
        self._rows = _readable(rows, report)
        self._report = report
        self._row = next(self._rows, None)

    def entry(self, body: bytes, records: Sequence[TransferRecord]) -> None:
        """Compare the pairs of one replayed transfers entry (its body and its records)."""
        for record, metadata in metadata_pairs_of(body, records):
            for key, value in metadata.items():
                self._expect(record, key, value)

    def _expect(self, record: TransferRecord, key: str, value: str) -> None:
        wanted = (record.timestamp, key)
        row = self._row
        while row is not None and row[:2] < wanted:
            self._inserted(row)
            row = next(self._rows, None)
        where = f"transfer {record.id} (timestamp {record.timestamp})"
        if row is None or row[:2] > wanted:
            self._report(
                "transfer_metadata_deleted", where, f"the journal has {key}; the table does not"
            )
            self._row = row
            return
        if row[2] != value:
            self._report("transfer_metadata_edited", where, f"{key} differs from the journal")
        self._row = next(self._rows, None)

    def finish(self) -> None:
        while self._row is not None:
            self._inserted(self._row)
            self._row = next(self._rows, None)

    def _inserted(self, row: Row) -> None:
        self._report(
            "transfer_metadata_inserted",
            f"metadata row at timestamp {row[0]}",
            f"{row[1]} is in the table but in no journal entry",
        )


def _readable(rows: Iterator[Row], report: Report) -> Iterator[Row]:
    """The rows; one that no longer decodes is reported, then the walk stops."""
    try:
        yield from rows
    except (RingfenceError, ValueError, TypeError) as error:
        detail = f"a row does not decode: {error}"
        report("transfer_metadata_edited", "transfer_metadata table", detail)
