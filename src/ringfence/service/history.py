"""The ledger as it stood at a past point, answered from the journal (``as_of`` reads).

A point is a journal sequence (the state right after that entry) or a time (the state after
the last entry stamped at or before it: journal timestamps only increase). The state is the
journal replayed up to that entry, through the same engine and the same replay as opening a
store (definitions, principals and transfers in journal order, pending transfers expiring as
they did), so a past balance carries its pending amounts too and is exactly what a reader
would have been answered then. The head's state is the service's own engine.

The replay starts from the nearest snapshot of the past at or before the point that the
service keeps (service/ledger/past.py: one every full batch of transfers replayed, bounded in
number and rows), else from the journal's start: the first read of a long journal replays it
once, later reads about one entry each. The snapshots are persisted beside the ledger, signed
with the journal key (service/ledger/past_seal.py), so a restarted service starts from them
too.
"""

from __future__ import annotations

from ringfence.core.errors import InputError, Result
from ringfence.core.ledger.engine import Ledger
from ringfence.core.recon.times import parse_time
from ringfence.service.ledger import LedgerService

__all__ = ["AsOf", "as_of_point", "ledger_as_of"]

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
    """The engine as it stood right after entry ``point.seq``: the service's own at the head
    (read only), else one replayed from the nearest snapshot (signatures were verified when
    committed; the audit verifies every one again)."""
    if point.seq == ledger.seq:
        ledger.positions()  # rebuilds the engine first if a failure left it stale
        return ledger.ledger
    return ledger.past_states.engine_at(
        ledger.store, point.seq, ledger.ledger.ledger_id, ledger.past_state_seal()
    )
