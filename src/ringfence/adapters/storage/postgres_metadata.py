"""The PostgreSQL store's projection of transfers' metadata (core/ledger/metadata.py, schema 11:
``0011_transfer_metadata.sql``): one row of ``transfer_metadata`` per pair, keyed by the
transfer's timestamp as its row in ``transfers`` is, indexed by (key, value, timestamp) so that
a list by pair walks the index, not every transfer.

The pairs are written in the transaction that appends their journal entry; ``audit verify``
compares every row with the journal (service/audit_metadata.py).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import psycopg

from ringfence.core import limits
from ringfence.core.ledger.metadata import encode_metadata
from ringfence.core.ledger.model import TransferRecord


def insert_metadata(
    db: psycopg.Connection[Any], pairs: list[tuple[TransferRecord, dict[str, str]]]
) -> None:
    """Each pair of each transfer's metadata, inside the caller's transaction."""
    if pairs:
        with db.cursor() as cursor:
            cursor.executemany(
                "INSERT INTO transfer_metadata (timestamp, key, value) VALUES (%s, %s, %s)",
                [
                    (record.timestamp, key, value)
                    for record, metadata in pairs
                    for key, value in metadata.items()
                ],
            )


def transfer_metadata(db: psycopg.Connection[Any], ids: list[str]) -> dict[int, bytes]:
    """The canonical metadata of the committed transfers among ``ids`` (decimal text)."""
    pairs: dict[int, dict[str, str]] = {}
    for start in range(0, len(ids), limits.store_lookup_ids_max):
        rows = db.execute(
            "SELECT t.id::text, m.key, m.value FROM transfers t "
            "JOIN transfer_metadata m ON m.timestamp = t.timestamp "
            "WHERE t.id = ANY(%s::numeric[]) ORDER BY m.timestamp, m.key",
            (ids[start : start + limits.store_lookup_ids_max],),
        ).fetchall()
        for transfer_id, key, value in rows:
            pairs.setdefault(int(transfer_id), {})[key] = value
    return {transfer_id: encode_metadata(found) for transfer_id, found in pairs.items()}


def pairs_query(metadata: Mapping[str, str], page_rows: int) -> tuple[str, list[str]]:
    """A page of the transfers carrying every pair, after a timestamp (its first parameter),
    as the transfer projection is read (timestamp first, NUMERIC as text): the first pair walks
    its index in timestamp order; each further pair is a lookup of the transfer's own row."""
    assert metadata
    pairs = list(metadata.items())
    further = "".join(
        " AND EXISTS (SELECT 1 FROM transfer_metadata o WHERE o.timestamp = m.timestamp"
        " AND o.key = %s AND o.value = %s)"
        for _ in pairs[1:]
    )
    query = (
        "SELECT m.timestamp, t.id::text, t.debit_account::text, t.credit_account::text, "
        "t.amount::text, t.pending_id::text, t.reference::text, t.authoriser::text, "
        "t.timeout_s, t.asset, t.code, t.flags FROM transfer_metadata m "
        "JOIN transfers t ON t.timestamp = m.timestamp "
        f"WHERE m.timestamp > %s AND m.key = %s AND m.value = %s{further} "
        f"ORDER BY m.timestamp LIMIT {page_rows}"
    )
    return query, [item for pair in pairs for item in pair]


def projected_page(
    db: psycopg.Connection[Any], after: tuple[int, str], page_rows: int
) -> list[tuple[int, str, str]]:
    """The rows after ``after`` (timestamp, key), in timestamp and key order, for the audit."""
    rows = db.execute(
        "SELECT timestamp, key, value FROM transfer_metadata WHERE (timestamp, key) > (%s, %s)"
        f" ORDER BY timestamp, key LIMIT {page_rows}",
        after,
        binary=True,
    ).fetchall()
    return [(int(timestamp), key, value) for timestamp, key, value in rows]
