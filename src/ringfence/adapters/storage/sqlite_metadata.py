"""The SQLite store's projection of transfers' metadata (core/ledger/metadata.py): one row of
``transfer_metadata`` per pair, keyed by the transfer's timestamp as its row in ``transfers`` is,
indexed by (key, value, timestamp) so that a list by pair walks the index, not every transfer.

The pairs are written in the transaction that appends their journal entry; ``audit verify``
compares every row with the journal (service/audit_metadata.py).
"""

from __future__ import annotations

import sqlite3
from collections.abc import Collection, Iterator, Mapping

from ringfence.adapters.storage.sqlite_schema import transfer_columns
from ringfence.core.ledger.metadata import encode_metadata
from ringfence.core.ledger.model import TransferRecord

_u128_max = 2**128 - 1
_ids_per_statement = 8_000  # below SQLite's limit of bound parameters


def insert_metadata(
    db: sqlite3.Connection, pairs: list[tuple[TransferRecord, dict[str, str]]]
) -> None:
    """Each pair of each transfer's metadata, inside the caller's transaction."""
    if pairs:
        db.executemany(
            "INSERT INTO transfer_metadata VALUES (?, ?, ?)",
            [
                (record.timestamp.to_bytes(8, "big"), key, value)
                for record, metadata in pairs
                for key, value in metadata.items()
            ],
        )


def transfer_metadata(db: sqlite3.Connection, ids: Collection[int]) -> dict[int, bytes]:
    """The canonical metadata of the committed transfers among ``ids`` that have some."""
    keys = [i.to_bytes(16, "big") for i in ids if type(i) is int and 0 < i <= _u128_max]
    pairs: dict[int, dict[str, str]] = {}
    for start in range(0, len(keys), _ids_per_statement):
        part = keys[start : start + _ids_per_statement]
        cursor = db.execute(
            "SELECT t.id, m.key, m.value FROM transfers t "
            "JOIN transfer_metadata m ON m.timestamp = t.timestamp "
            f"WHERE t.id IN ({', '.join('?' * len(part))}) ORDER BY m.timestamp, m.key",
            part,
        )
        for transfer_id, key, value in cursor:
            pairs.setdefault(int.from_bytes(transfer_id, "big"), {})[key] = value
    return {transfer_id: encode_metadata(found) for transfer_id, found in pairs.items()}


def transfers_with_metadata(
    db: sqlite3.Connection, metadata: Mapping[str, str], after_timestamp: int
) -> Iterator[tuple[bytes, ...]]:
    """The ``transfers`` rows (in ``transfer_columns`` order) of the transfers stamped after
    ``after_timestamp`` that carry every pair: the first pair walks its index in timestamp
    order; each further pair is a lookup of the transfer's own row by primary key."""
    assert metadata
    (first_key, first_value), *others = metadata.items()
    further = "".join(
        " AND EXISTS (SELECT 1 FROM transfer_metadata o WHERE o.timestamp = m.timestamp"
        " AND o.key = ? AND o.value = ?)"
        for _ in others
    )
    columns = ", ".join(f"t.{column}" for column in transfer_columns.split(", "))
    yield from db.execute(
        f"SELECT {columns} FROM transfer_metadata m "
        "JOIN transfers t ON t.timestamp = m.timestamp "
        f"WHERE m.key = ? AND m.value = ? AND m.timestamp > ?{further} ORDER BY m.timestamp",
        [
            first_key,
            first_value,
            max(after_timestamp, 0).to_bytes(8, "big"),
            *(item for pair in others for item in pair),
        ],
    )


def projected_metadata(db: sqlite3.Connection) -> Iterator[tuple[int, str, str]]:
    """Every row, (timestamp, key, value), in timestamp and key order, for the audit."""
    cursor = db.execute(
        "SELECT timestamp, key, value FROM transfer_metadata ORDER BY timestamp, key"
    )
    for timestamp, key, value in cursor:
        yield int.from_bytes(timestamp, "big"), key, value
