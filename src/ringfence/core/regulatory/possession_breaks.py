"""Possession breaks carried from check to check, with an age, and their journal records.

A possession report (core/regulatory/possession.py) derives its breaks afresh: a pool and
asset short of possession or control. A *recorded* check (``regulatory possession --record``)
carries them: a break seen again keeps its id and first-seen time and ages; a break no longer
seen is closed at the check's as-of time; a shortfall on a pool and asset with no open break
opens a new one. A closed break is never reopened: a later shortfall opens a new break. This is
the reconciliation's lifecycle without its operators' steps (a possession break closes when the
shortfall is gone, however it went), so the book of breaks and the age are the
reconciliation's own (core/recon/breaks.py ``BreakBook``, ``age_s``), keyed by pool and asset.

A check is journaled as an entry of kind 24 (``possession_checks``), framed as every entry of
plain records (core/ledger/framing.py), with the snapshots of every break it opened, carried or
closed, so that replaying the entries in order through ``BreakBook.apply`` rebuilds every
break. Records, by their first byte:

    1 check   as-of time, breaks that follow
    2 break   id, pool, asset, first seen, last seen, closed at (0: open), unapproved,
              encumbered, deficit
"""

from __future__ import annotations

import struct
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Final

from ringfence.core import limits
from ringfence.core.ledger.framing import framed, record_bytes, u128_bytes, u128_of, unframed
from ringfence.core.ledger.journal import EntryKind, name_bytes, text_of
from ringfence.core.recon.breaks import BreakBook, age_s
from ringfence.core.regulatory.possession import PossessionBreak

_check: Final = struct.Struct(">BQI115x")
_break: Final = struct.Struct(">BI32s12sQQQ16s16s16s7x")
assert _check.size == _break.size == record_bytes
_record_check: Final = 1
_record_break: Final = 2
asset_code_bytes: Final = 12


@dataclass(frozen=True, slots=True)
class CarriedPossessionBreak:
    """One possession break as a check leaves it: its latest figures and where it stands."""

    id: int
    pool: str
    asset: str
    first_seen_ns: int
    last_seen_ns: int
    closed_at_ns: int  # 0 while open
    unapproved: int
    encumbered: int
    deficit: int

    @property
    def key(self) -> tuple[str, str]:
        return (self.pool, self.asset)

    @property
    def closed(self) -> bool:
        return self.closed_at_ns != 0

    @property
    def shortfall(self) -> int:
        return self.unapproved + self.encumbered + self.deficit

    def age_s(self, as_of_ns: int) -> int:
        """Whole seconds from first seen to ``as_of_ns``, or to its close."""
        return age_s(self.first_seen_ns, self.closed_at_ns, as_of_ns)


PossessionBook = BreakBook[CarriedPossessionBreak]


def carried_breaks(
    book: PossessionBook, breaks: Iterable[PossessionBreak], as_of_ns: int
) -> list[CarriedPossessionBreak]:
    """The snapshots a check as of ``as_of_ns`` leaves: each open break still short, with its
    latest figures; each open break no longer short, closed at ``as_of_ns``; a new break for
    each shortfall with none open. ``book`` is not changed; apply the result. (A close is
    never stamped 0, which means open: a check as of time 0 closes at 1 ns.)"""
    found = {(b.pool, b.asset): b for b in breaks}
    changed = []
    for key, break_id in sorted(book.active.items(), key=lambda item: item[1]):
        before = book.breaks[break_id]
        seen = found.get(key)
        last_seen = max(as_of_ns, before.last_seen_ns)
        if seen is None:
            closed = CarriedPossessionBreak(
                before.id, before.pool, before.asset, before.first_seen_ns, before.last_seen_ns,
                max(as_of_ns, before.first_seen_ns, 1), before.unapproved, before.encumbered,
                before.deficit,
            )  # fmt: skip
            changed.append(closed)
            continue
        changed.append(
            CarriedPossessionBreak(
                before.id, before.pool, before.asset, before.first_seen_ns, last_seen, 0,
                seen.unapproved, seen.encumbered, seen.deficit,
            )
        )  # fmt: skip
    next_id = book.id_next
    for key, seen in sorted(found.items()):
        if key in book.active:
            continue
        changed.append(
            CarriedPossessionBreak(
                next_id, seen.pool, seen.asset, as_of_ns, as_of_ns, 0, seen.unapproved,
                seen.encumbered, seen.deficit,
            )
        )  # fmt: skip
        next_id += 1
    return changed


def encode_possession_check(
    seq: int, timestamp: int, as_of_ns: int, snapshots: list[CarriedPossessionBreak]
) -> bytes:
    """A ``possession_checks`` entry's body: the check record, then one record per break."""
    assert 0 <= as_of_ns <= limits.timestamp_ns_max
    assert len(snapshots) < limits.journal_records_per_batch_max
    records = [_check.pack(_record_check, as_of_ns, len(snapshots))]
    for b in snapshots:
        code = b.asset.encode("ascii")
        assert 0 < len(code) <= asset_code_bytes
        records.append(
            _break.pack(
                _record_break, b.id, name_bytes(b.pool), code, b.first_seen_ns, b.last_seen_ns,
                b.closed_at_ns, u128_bytes(b.unapproved), u128_bytes(b.encumbered),
                u128_bytes(b.deficit),
            )
        )  # fmt: skip
    return framed(EntryKind.possession_checks, seq, timestamp, records)


def decode_possession_check(body: bytes) -> tuple[int, list[CarriedPossessionBreak]]:
    """The as-of time and break snapshots of a ``possession_checks`` entry; ``ValueError`` on
    a body this code would not have written (a record out of place, a count that does not
    match, a bad name)."""
    header, raws = unframed(body, (EntryKind.possession_checks,), "a possession_checks entry")
    if not raws or raws[0][0] != _record_check:
        raise ValueError(f"journal entry {header.seq}: no check record first")
    _, as_of_ns, count = _check.unpack(raws[0])
    if count != len(raws) - 1:
        raise ValueError(f"journal entry {header.seq}: {count} breaks announced, {len(raws) - 1}")
    snapshots = []
    for index, raw in enumerate(raws[1:], start=1):
        if raw[0] != _record_break:
            raise ValueError(f"journal entry {header.seq}: record {index} is not a break")
        _, number, pool, code, first, last, closed, unapproved, encumbered, deficit = _break.unpack(
            raw
        )
        try:
            names = (text_of(pool), text_of(code))
        except UnicodeDecodeError as error:
            raise ValueError(f"journal entry {header.seq}: record {index}: {error}") from None
        snapshots.append(
            CarriedPossessionBreak(
                number, *names, first, last, closed, u128_of(unapproved), u128_of(encumbered),
                u128_of(deficit),
            )
        )  # fmt: skip
    return as_of_ns, snapshots


def replay_possession_check(book: PossessionBook, body: bytes) -> None:
    """Apply one recorded check's snapshots to ``book``; ``ValueError`` if the entry or a
    snapshot is not what this code wrote (``BreakBook.apply``)."""
    for snapshot in decode_possession_check(body)[1]:
        book.apply(snapshot)
