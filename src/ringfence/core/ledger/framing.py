"""The framing every journal entry of plain 128-byte records shares: the journal's 32-byte
header counting the records (core/ledger/journal.py), then the records themselves, with no
expiries and no evidence after them.

Policy versions, withdrawals, reconciliation runs and break actions, and the wallet registry's
changes are framed this way; each domain's codec packs and reads its own records and leaves
the header, the record width and the checks of a stored body to this module, so that no two
domains can frame or accept an entry differently. Amounts and ids inside records are u128,
big-endian, 16 bytes.
"""

from __future__ import annotations

from collections.abc import Collection, Sequence
from typing import Final

from ringfence.core.ledger.journal import (
    EntryHeader,
    EntryKind,
    decode_header,
    header_bytes,
    header_for,
)

record_bytes: Final = 128


def framed(kind: EntryKind, seq: int, timestamp: int, records: Sequence[bytes]) -> bytes:
    """An entry's body: its header, then ``records`` (each exactly ``record_bytes``)."""
    assert records
    assert all(len(record) == record_bytes for record in records)
    return header_for(kind, seq, timestamp, len(records), 0) + b"".join(records)


def unframed(
    body: bytes, kinds: Collection[EntryKind], what: str
) -> tuple[EntryHeader, list[bytes]]:
    """A stored body's header and records; ``ValueError`` naming the entry for a body this
    framing would not have written: another kind (``what`` says which was expected, as in
    "a policies entry"), expiries or evidence, or a length that is not its records'."""
    header = decode_header(body)
    if header.kind not in kinds or header.expiries or header.evidence:
        raise ValueError(f"journal entry {header.seq} is not {what}")
    if len(body) != header_bytes + header.records * record_bytes:
        raise ValueError(f"journal entry {header.seq} has a torn body")
    offsets = range(header_bytes, len(body), record_bytes)
    return header, [body[offset : offset + record_bytes] for offset in offsets]


def u128_bytes(value: int) -> bytes:
    assert 0 <= value < 2**128
    return value.to_bytes(16, "big")


def u128_of(raw: bytes) -> int:
    assert len(raw) == 16
    return int.from_bytes(raw, "big")
