"""Rows of the SQL stores' journal and definition tables back into entries and definitions,
shared by SQLite and PostgreSQL so that both read them the same way (the audit compares them
with the journal)."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from typing import Any

from ringfence.core import limits
from ringfence.core.errors import MalformedEntryError
from ringfence.core.ledger.authenticity import signature_bytes
from ringfence.core.ledger.journal import (
    Definition,
    EntryKind,
    JournalEntry,
    header_bytes,
)
from ringfence.core.ledger.model import (
    AccountClass,
    AccountDefinition,
    Pool,
    PoolKind,
    Purpose,
    Terms,
)
from ringfence.core.money import Asset

_entry_kinds = {int(kind): kind for kind in EntryKind}
known_entry_kinds = tuple(_entry_kinds)  # a filtered read also returns every row outside them


def entry_of_row(row: Sequence[object]) -> JournalEntry:
    """A journal row (seq, kind, timestamp, body, previous hash, hash[, signature]) as an
    entry, or ``MalformedEntryError`` naming what makes it none. (The signature is absent from
    schemas older than signing, which only the migration tests open.)

    The database's own constraints say the same, but a store is input to whoever reads it:
    a row written around them must be reported, never crash the reader.
    """
    seq, kind, timestamp, body, previous_hash, entry_hash, *signed = row
    if type(seq) is not int or not 0 < seq <= limits.timestamp_ns_max:
        raise MalformedEntryError(seq, f"sequence number {seq!r} is not a positive integer")
    if type(kind) is not int or kind not in _entry_kinds:
        raise MalformedEntryError(seq, f"kind {kind!r} is no entry kind")
    if type(timestamp) is not int or not 0 <= timestamp <= limits.timestamp_ns_max:
        raise MalformedEntryError(seq, f"timestamp {timestamp!r} is invalid")
    checked = _bytes_of(body)
    if checked is None or len(checked) < header_bytes:
        size = "no bytes" if checked is None else f"{len(checked)} bytes"
        raise MalformedEntryError(seq, f"its body is {size}, shorter than its header")
    hashes = [_bytes_of(previous_hash), _bytes_of(entry_hash)]
    for name, value in zip(("previous hash", "hash"), hashes, strict=True):
        if value is None or len(value) != 32:
            size = "not bytes" if value is None else f"{len(value)} bytes"
            raise MalformedEntryError(seq, f"its {name} is {size}, not 32 bytes")
    previous, own = (value or b"" for value in hashes)
    signature = _bytes_of(signed[0]) if signed else b""
    if signature is None or len(signature) not in (0, signature_bytes):
        raise MalformedEntryError(seq, "its signature is neither empty nor 64 bytes")
    return JournalEntry(seq, _entry_kinds[kind], timestamp, checked, previous, own, signature)


def head_of_row(seq: object, entry_hash: object) -> tuple[int, bytes]:
    """The journal's last row as (seq, hash), or ``MalformedEntryError``."""
    checked = _bytes_of(entry_hash)
    if type(seq) is not int or seq < 1:
        raise MalformedEntryError(seq, f"sequence number {seq!r} is not a positive integer")
    if checked is None or len(checked) != 32:
        raise MalformedEntryError(seq, "its hash is not 32 bytes")
    return seq, checked


def _bytes_of(value: object) -> bytes | None:
    return bytes(value) if isinstance(value, bytes | bytearray | memoryview) else None


# The columns each store selects, in this order; the caller appends its own ORDER BY.
definition_queries = {
    EntryKind.assets: "SELECT code, number, scale, chain, contract FROM assets",
    EntryKind.clients: "SELECT name, number FROM clients",
    EntryKind.pools: "SELECT name, kind, terms, purpose, client FROM pools",
    EntryKind.accounts: "SELECT id, asset, class, owner, kind, pool FROM accounts",
}


def definitions_from_rows(
    query: Callable[[EntryKind], Iterable[tuple[Any, ...]]],
) -> dict[EntryKind, list[Definition]]:
    """Build every definition kind from ``query(kind)``, which runs that kind's SELECT.

    Integers go through ``int()``: SQLite keeps u128 ids above 2^63 as decimal text, and
    PostgreSQL returns NUMERIC as ``int`` or ``Decimal`` depending on the adapter's loaders.
    """
    return {
        EntryKind.assets: [
            Asset(code, int(scale), int(number), chain, contract)
            for code, number, scale, chain, contract in query(EntryKind.assets)
        ],
        EntryKind.clients: [(name, int(number)) for name, number in query(EntryKind.clients)],
        EntryKind.pools: [
            Pool(name, PoolKind(kind), Terms(terms), Purpose(purpose), client)
            for name, kind, terms, purpose, client in query(EntryKind.pools)
        ],
        EntryKind.accounts: [
            AccountDefinition(int(i), asset, AccountClass(account_class), owner, kind, pool)
            for i, asset, account_class, owner, kind, pool in query(EntryKind.accounts)
        ],
    }


def newest_within(sizes: Iterable[tuple[int, int]], bytes_max: int) -> list[int]:
    """The sequences of the snapshots of the past a load reads, from ``(seq, body length)``
    newest first: as many as fit in ``bytes_max`` bytes of body in all (the store's
    ``past_states``, which reads their bodies only then)."""
    chosen: list[int] = []
    total = 0
    for seq, length in sizes:
        total += length
        if total > bytes_max:
            break
        chosen.append(seq)
    return chosen
