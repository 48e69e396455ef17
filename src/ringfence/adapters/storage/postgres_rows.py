"""The PostgreSQL store's statements for the definition and checkpoint tables: definitions
inserted with their journal entry, checkpoints written as deltas and read back whole (every
u128 as ``NUMERIC(39,0)`` text in, Python ``int`` out).
"""

from __future__ import annotations

from collections.abc import Collection, Sequence
from typing import Any

import psycopg

from ringfence.adapters.storage.rows import (
    definition_queries,
    definitions_from_rows,
)
from ringfence.core.ledger.journal import Definition, EntryKind
from ringfence.core.ledger.model import (
    AccountDefinition,
    Break,
    Pool,
)
from ringfence.core.money import Asset
from ringfence.service.ports import Checkpoint, PendingRow

# ---------------------------------------------------------------------- statements


def insert_definitions(
    db: psycopg.Connection[Any], kind: EntryKind, seq: int, definitions: Sequence[Definition]
) -> None:
    with db.cursor() as cursor:
        if kind is EntryKind.assets:
            cursor.executemany(
                "INSERT INTO assets VALUES (%s, %s, %s, %s, %s, %s, %s)",
                [
                    (a.code, a.number, a.scale, a.chain, a.contract, seq, ordinal)
                    for ordinal, a in enumerate(d for d in definitions if isinstance(d, Asset))
                ],
            )
        elif kind is EntryKind.clients:
            cursor.executemany(
                "INSERT INTO clients VALUES (%s, %s, %s)",
                [(d[0], d[1], seq) for d in definitions if isinstance(d, tuple)],
            )
        elif kind is EntryKind.pools:
            pools = [d for d in definitions if isinstance(d, Pool)]
            cursor.executemany(
                "INSERT INTO pools VALUES (%s, %s, %s, %s, %s, %s, %s)",
                [
                    (p.name, p.kind.value, p.terms.value, p.purpose.value, p.client, seq, n)
                    for n, p in enumerate(pools)
                ],
            )
        else:
            accounts = [d for d in definitions if isinstance(d, AccountDefinition)]
            cursor.executemany(
                "INSERT INTO accounts (id, asset, class, owner, kind, pool, seq, ordinal) "
                "VALUES (%s::numeric, %s, %s, %s, %s, %s, %s, %s)",
                [
                    (str(a.id), a.asset, a.account_class.value, a.owner, a.kind, a.pool, seq, n)
                    for n, a in enumerate(accounts)
                ],
            )


def _numbers(values: Collection[int]) -> list[str]:
    """u128 values as decimal text, cast to NUMERIC by the statement: exact at every size."""
    return [str(value) for value in values]


def write_checkpoint(db: psycopg.Connection[Any], checkpoint: Checkpoint) -> None:
    """Write a delta checkpoint, unless a newer one is already stored (see the module's
    docstring). The caller holds the writer lock."""
    row = db.execute("SELECT value FROM meta WHERE key = 'checkpoint_seq'").fetchone()
    if row is not None and int(row[0]) > checkpoint.seq:
        return
    balances = checkpoint.balances
    if balances:
        columns = list(zip(*balances.values(), strict=True))
        db.execute(
            "UPDATE accounts AS a SET debits_pending = u.dp, debits_posted = u.dq, "
            "credits_pending = u.cp, credits_posted = u.cq FROM unnest(%s::numeric[], "
            "%s::numeric[], %s::numeric[], %s::numeric[], %s::numeric[]) AS u(id, dp, dq, cp, cq)"
            " WHERE a.id = u.id",
            [_numbers(balances), *(_numbers(column) for column in columns)],
        )
    pendings = list(checkpoint.pendings.values())
    if pendings:
        db.execute(
            "INSERT INTO pending_transfers SELECT * FROM unnest(%s::numeric[], %s::int8[], "
            "%s::int2[]) ON CONFLICT (id) DO UPDATE SET expires_at = excluded.expires_at, "
            "status = excluded.status",
            [
                _numbers([p.id for p in pendings]),
                [p.expires_at for p in pendings],
                [p.status for p in pendings],
            ],
        )
    _write_breaks(db, list(checkpoint.breaks.values()))
    if checkpoint.reversed:
        db.execute(
            "INSERT INTO reversals SELECT * FROM unnest(%s::numeric[], %s::numeric[]) "
            "ON CONFLICT (id) DO UPDATE SET amount = excluded.amount",
            [_numbers(checkpoint.reversed), _numbers(checkpoint.reversed.values())],
        )
    db.execute(
        "INSERT INTO meta VALUES ('checkpoint_seq', %s), ('checkpoint_timestamp_last', %s) "
        "ON CONFLICT (key) DO UPDATE SET value = excluded.value",
        (str(checkpoint.seq), str(checkpoint.timestamp_last)),
    )


def _write_breaks(db: psycopg.Connection[Any], breaks: list[Break]) -> None:
    if not breaks:
        return
    db.execute(
        "INSERT INTO breaks SELECT * FROM unnest(%s::numeric[], %s::text[], %s::int8[], "
        "%s::numeric[], %s::numeric[], %s::int8[]) ON CONFLICT (id) DO UPDATE SET "
        "pool = excluded.pool, asset = excluded.asset, amount = excluded.amount, "
        "cured = excluded.cured, opened_at = excluded.opened_at",
        [
            _numbers([b.id for b in breaks]),
            [b.pool for b in breaks],
            [b.asset for b in breaks],
            _numbers([b.amount for b in breaks]),
            _numbers([b.cured for b in breaks]),
            [b.opened_at for b in breaks],
        ],
    )


def read_checkpoint(db: psycopg.Connection[Any]) -> Checkpoint:
    meta = dict(db.execute("SELECT key, value FROM meta").fetchall())
    checkpoint = Checkpoint(
        int(meta.get("checkpoint_seq", 0)), int(meta.get("checkpoint_timestamp_last", 0))
    )
    for row in db.execute(
        "SELECT id, debits_pending, debits_posted, credits_pending, credits_posted "
        "FROM accounts WHERE debits_pending > 0 OR debits_posted > 0 OR credits_pending > 0 "
        "OR credits_posted > 0"
    ):
        checkpoint.balances[int(row[0])] = (int(row[1]), int(row[2]), int(row[3]), int(row[4]))
    for row in db.execute("SELECT id, expires_at, status FROM pending_transfers"):
        checkpoint.pendings[int(row[0])] = PendingRow(int(row[0]), int(row[1]), int(row[2]))
    for row in db.execute("SELECT id, pool, asset, amount, cured, opened_at FROM breaks"):
        checkpoint.breaks[int(row[0])] = Break(
            int(row[0]), row[1], int(row[2]), int(row[3]), int(row[4]), int(row[5])
        )
    for row in db.execute("SELECT id, amount FROM reversals"):
        checkpoint.reversed[int(row[0])] = int(row[1])
    return checkpoint


def read_definitions(db: psycopg.Connection[Any]) -> dict[EntryKind, list[Definition]]:
    order = {EntryKind.clients: "number"}
    return definitions_from_rows(
        lambda kind: db.execute(
            f"{definition_queries[kind]} ORDER BY {order.get(kind, 'seq, ordinal')}"
        )
    )
