"""The ledger as it stood at a past point, answered from the journal (``as_of`` reads).

A point is a journal sequence (the state right after that entry) or a time (the state after
the last entry stamped at or before it: journal timestamps only increase). The state is the
journal replayed from its start up to that entry, through the same engine and the same
replay as opening a store (definitions, principals and transfers in journal order, pending
transfers expiring as they did), so a past balance carries its pending amounts too and is
exactly what a reader would have been answered then.

The cost is a replay from the start per read: exact and simple, and proportional to the
journal's length. The next step for large journals is to start from the nearest checkpoint at
or before the point (checkpoints are written every 64 transfer entries, but only the latest
is kept today).
"""

from __future__ import annotations

from ringfence.core.errors import InputError, Result
from ringfence.core.ledger.engine import Ledger
from ringfence.core.ledger.journal import EntryKind, decode_definitions, ledger_definition_kinds
from ringfence.core.recon.times import parse_time
from ringfence.service.ledger import (
    LedgerService,
    apply_definitions,
    replay_principals,
    replay_transfers,
)

__all__ = ["AsOf", "as_of_point", "ledger_as_of"]

_replayed = (*ledger_definition_kinds, EntryKind.principals, EntryKind.transfers)


class AsOf:
    """A past point of one ledger: its journal sequence and that entry's timestamp."""

    def __init__(self, seq: int, timestamp_ns: int) -> None:
        self.seq = seq
        self.timestamp_ns = timestamp_ns


def as_of_point(
    ledger: LedgerService, as_of: str | None, as_of_seq: str | None
) -> AsOf | None:
    """The point ``as_of`` (a time: ns, ISO-8601 with a zone, or a date meaning its end) or
    ``as_of_seq`` (a journal sequence) names; None when neither is given (now). A sequence
    beyond the head, or a time before the first entry, names no state."""
    if as_of is not None and as_of_seq is not None:
        raise InputError(Result.query_parameter_invalid, "as_of or as_of_seq, not both")
    head = ledger.seq
    if as_of_seq is not None:
        if not (as_of_seq.isascii() and as_of_seq.isdigit()) or len(as_of_seq) > 20:
            raise InputError(Result.event_position_invalid, f"as_of_seq {as_of_seq[:24]!r}")
        seq = int(as_of_seq)
        if not 0 < seq <= head:
            raise InputError(Result.event_position_beyond_journal, f"{seq}: the head is {head}")
        return AsOf(seq, _timestamp_of(ledger, seq))
    at_ns = parse_time(as_of, "as_of", end_of_day=True)
    if at_ns is None:
        return None
    found: AsOf | None = None
    for entry in ledger.store.entries():
        if entry.seq > head or entry.timestamp > at_ns:
            break
        found = AsOf(entry.seq, entry.timestamp)
    if found is None:
        raise InputError(Result.timestamp_invalid, f"as_of {as_of!r} is before the journal")
    return found


def _timestamp_of(ledger: LedgerService, seq: int) -> int:
    entry = next(ledger.store.entries(after_seq=seq - 1))
    assert entry.seq == seq
    return entry.timestamp


def ledger_as_of(ledger: LedgerService, point: AsOf) -> Ledger:
    """A fresh engine with the journal replayed up to and including entry ``point.seq``
    (signatures were verified when committed; the audit verifies every one again)."""
    engine = Ledger()
    for entry in ledger.store.entries(kinds=_replayed):
        if entry.seq > point.seq:
            break
        if entry.kind is EntryKind.transfers:
            replay_transfers(engine, entry.body, ledger.store, verify_signatures=False)
        elif entry.kind is EntryKind.principals:
            replay_principals(engine, entry, verify_signatures=False)
        else:
            header, definitions = decode_definitions(entry.body)
            apply_definitions(engine, header.kind, definitions)
        engine.timestamp_last = max(engine.timestamp_last, entry.timestamp)
    engine.ledger_id = ledger.ledger.ledger_id
    return engine
