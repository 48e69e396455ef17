"""Fixed-width journal records for reconciliation runs and break actions.

Runs and actions are journal entries framed like any other of plain records
(core/ledger/framing.py: the journal's header, then 128-byte big-endian records, chained by
SHA-256), so no break can be closed, aged or forgotten without leaving a link in the chain.
Records, by their first byte:

    1 run        run number, as-of time, funds basis, whether every coverage line is kept,
                 observations counted, breaks open / opened / cured, alerts and findings
    2 coverage   pool, asset, requirement, funds, encumbered, target, segregated, alert
    3 break      a break's snapshot: id, wallet, asset, book, observed, largest shortfall,
                 first and last seen, resolved at, state, cause, corrected and made-good flags
    4 action     break id, what was done (explain, correct, make good), when, the make-good
                 transfer id and the text (the action decided, or the correction's reference)

A ``reconciliations`` entry holds one run record, its coverage lines and the break snapshots it
changed; a ``break_actions`` entry holds one action and the snapshot it left. Replaying the
entries in order through ``BreakBook.apply`` rebuilds every break exactly.
"""

from __future__ import annotations

import struct
from collections.abc import Iterable
from dataclasses import dataclass, field, replace
from enum import IntEnum, unique
from typing import Final

from ringfence.core import limits
from ringfence.core.ledger.framing import framed, record_bytes, u128_bytes, u128_of, unframed
from ringfence.core.ledger.journal import EntryKind, key_of, name_bytes, recon_kinds, text_of
from ringfence.core.recon.breaks import BreakBook, BreakState, Cause, ReconBreak
from ringfence.core.recon.segregation_statement import Alert, FundsBasis

_run: Final = struct.Struct(">BQQBBQIIIIII77x")
_coverage: Final = struct.Struct(">B32s12s16s16s16s16sBB17x")
_break: Final = struct.Struct(">BQ32s12s16s16s16sQQQBBB")
_action: Final = struct.Struct(">BQBQ16s94s")
assert _run.size == _coverage.size == _break.size == _action.size == record_bytes
assert _action.size - struct.calcsize(">BQBQ16s") == limits.break_action_text_bytes_max

_record_run: Final = 1
_record_coverage: Final = 2
_record_break: Final = 3
_record_action: Final = 4
_states: Final = {BreakState.open: 1, BreakState.explained: 2, BreakState.cured: 3}
_causes: Final = {cause: number for number, cause in enumerate(Cause, start=1)}
_alerts: Final = {Alert.none: 0, Alert.below_target: 1, Alert.undersegregated: 2}
_bases: Final = {FundsBasis.observed: 1, FundsBasis.book: 2}
_flag_corrected: Final = 1
_flag_made_good: Final = 2


@unique
class ActionKind(IntEnum):
    explain = 1
    correct = 2
    make_good = 3


@dataclass(frozen=True, slots=True)
class RunSummary:
    run: int
    as_of_ns: int
    basis: FundsBasis
    lines_complete: bool
    observations: int
    breaks_open: int
    breaks_opened: int
    breaks_cured: int
    undersegregated: int
    below_target: int
    findings: int


@dataclass(frozen=True, slots=True)
class Coverage:
    pool: str
    asset: str
    requirement: int
    funds: int
    encumbered: int
    target: int
    segregated: bool
    alert: Alert

    @property
    def excess(self) -> int:
        return self.funds - self.requirement


@dataclass(frozen=True, slots=True)
class Action:
    break_id: int
    kind: ActionKind
    at_ns: int
    make_good_transfer: int = 0
    text: str = ""


def check_action_text(text: str) -> bool:
    """Printable ASCII that fits its record (operators type it; the journal keeps it)."""
    return len(text) <= limits.break_action_text_bytes_max and text.isascii() and text.isprintable()


def _encode_break(snapshot: ReconBreak) -> bytes:
    flags = (_flag_corrected if snapshot.corrected else 0) | (
        _flag_made_good if snapshot.made_good else 0
    )
    return _break.pack(
        _record_break, snapshot.id, name_bytes(snapshot.wallet), snapshot.asset.encode("ascii"),
        u128_bytes(snapshot.book), u128_bytes(snapshot.observed),
        u128_bytes(snapshot.shortfall_max),
        snapshot.first_seen_ns, snapshot.last_seen_ns, snapshot.resolved_at_ns,
        _states[snapshot.state], _causes[snapshot.cause], flags,
    )  # fmt: skip


def encode_run(
    seq: int,
    timestamp: int,
    summary: RunSummary,
    coverage: Iterable[Coverage],
    snapshots: Iterable[ReconBreak],
) -> bytes:
    s = summary
    records = [
        _run.pack(
            _record_run,
            s.run,
            s.as_of_ns,
            _bases[s.basis],
            int(s.lines_complete),
            s.observations,
            s.breaks_open,
            s.breaks_opened,
            s.breaks_cured,
            s.undersegregated,
            s.below_target,
            s.findings,
        )
    ]
    records.extend(
        _coverage.pack(
            _record_coverage,
            name_bytes(c.pool),
            c.asset.encode("ascii"),
            u128_bytes(c.requirement),
            u128_bytes(c.funds),
            u128_bytes(c.encumbered),
            u128_bytes(c.target),
            int(c.segregated),
            _alerts[c.alert],
        )
        for c in coverage
    )
    records.extend(_encode_break(snapshot) for snapshot in snapshots)
    return framed(EntryKind.reconciliations, seq, timestamp, records)


def encode_action(seq: int, timestamp: int, action: Action, snapshot: ReconBreak) -> bytes:
    assert check_action_text(action.text)
    record = _action.pack(
        _record_action, action.break_id, int(action.kind), action.at_ns,
        u128_bytes(action.make_good_transfer), action.text.encode("ascii"),
    )  # fmt: skip
    return framed(EntryKind.break_actions, seq, timestamp, [record, _encode_break(snapshot)])


@dataclass(slots=True)
class ReconHistory:
    """Everything the reconciliation journal holds: the breaks, every run's summary and
    coverage lines (for charts over time), and every action."""

    book: BreakBook[ReconBreak] = field(default_factory=BreakBook)
    runs: list[tuple[RunSummary, list[Coverage]]] = field(default_factory=list)
    actions: list[Action] = field(default_factory=list)


@dataclass(frozen=True, slots=True)
class ReconRecords:
    """The records of one journaled run or action, as written (texts not yet carried)."""

    kind: EntryKind
    summary: RunSummary | None
    coverage: list[Coverage]
    action: Action | None
    snapshots: list[ReconBreak]


def decode_recon_entry(body: bytes) -> ReconRecords:
    """The records of one run or action entry, without the history they apply to. Raises
    ``ValueError`` on a body this code would not have written (a torn record, an unknown type,
    a record out of place)."""
    header, raws = unframed(body, recon_kinds, "a reconciliation entry")
    summary: RunSummary | None = None
    coverage: list[Coverage] = []
    action: Action | None = None
    snapshots: list[ReconBreak] = []
    for raw in raws:
        kind = raw[0]
        if kind == _record_run and summary is None:
            summary = _decode_run(raw)
        elif kind == _record_coverage and summary is not None:
            coverage.append(_decode_coverage(raw))
        elif kind == _record_break:
            snapshots.append(_decode_break(raw))
        elif kind == _record_action and action is None and not snapshots:
            action = _decode_action(raw)
        else:
            raise ValueError(f"journal entry {header.seq}: record type {kind} out of place")
    if header.kind is EntryKind.reconciliations and summary is None:
        raise ValueError(f"journal entry {header.seq} has no run record")
    return ReconRecords(header.kind, summary, coverage, action, snapshots)


def replay_recon_entry(history: ReconHistory, body: bytes) -> None:
    """Apply one journaled run or action. Raises ``ValueError`` on a body this code would not
    have written (a torn record, an unknown type, a break that breaks its lifecycle)."""
    records = decode_recon_entry(body)
    action = records.action
    if action is not None:
        history.actions.append(action)
    for snapshot in records.snapshots:
        if action is not None:
            carried = _with_action_text(history.book, snapshot, action)
        else:
            carried = carry_texts(history.book, snapshot)
        history.book.apply(carried)
    if records.kind is EntryKind.reconciliations:
        assert records.summary is not None  # decode_recon_entry refuses a run without one
        history.runs.append((records.summary, records.coverage))


def _with_action_text(
    book: BreakBook[ReconBreak], snapshot: ReconBreak, action: Action
) -> ReconBreak:
    """The texts and the make-good id live in action records; carry them onto the break."""
    before = book.breaks.get(snapshot.id)
    if before is None or action.break_id != snapshot.id:
        raise ValueError(f"action on break {action.break_id} names another break")
    texts = replace(
        snapshot,
        action=before.action,
        correction=before.correction,
        make_good_transfer=before.make_good_transfer,
    )
    if action.kind is ActionKind.explain:
        return replace(texts, action=action.text)
    if action.kind is ActionKind.correct:
        return replace(texts, correction=action.text)
    return replace(texts, make_good_transfer=action.make_good_transfer)


def carry_texts(book: BreakBook[ReconBreak], snapshot: ReconBreak) -> ReconBreak:
    """A run's snapshot keeps the texts its break already had (runs journal no texts)."""
    before = book.breaks.get(snapshot.id)
    if before is None:
        return snapshot
    return replace(
        snapshot,
        action=before.action,
        correction=before.correction,
        make_good_transfer=before.make_good_transfer,
    )


def _decode_run(raw: bytes) -> RunSummary:
    fields = _run.unpack(raw)
    return RunSummary(fields[1], fields[2], key_of(_bases, fields[3]), bool(fields[4]), *fields[5:])


def _decode_coverage(raw: bytes) -> Coverage:
    _, pool, asset, requirement, funds, encumbered, target, segregated, alert = _coverage.unpack(
        raw
    )
    return Coverage(
        text_of(pool), text_of(asset), u128_of(requirement), u128_of(funds),
        u128_of(encumbered), u128_of(target), bool(segregated), key_of(_alerts, alert),
    )  # fmt: skip


def _decode_break(raw: bytes) -> ReconBreak:
    (_, break_id, wallet, asset, book, observed, shortfall, first, last, resolved, state,
     cause, flags) = _break.unpack(raw)  # fmt: skip
    return ReconBreak(
        break_id, text_of(wallet), text_of(asset), u128_of(book), u128_of(observed), first,
        last, u128_of(shortfall), key_of(_states, state), key_of(_causes, cause),
        bool(flags & _flag_corrected), bool(flags & _flag_made_good), resolved,
    )  # fmt: skip


def _decode_action(raw: bytes) -> Action:
    _, break_id, kind, at_ns, make_good, text = _action.unpack(raw)
    return Action(break_id, ActionKind(kind), at_ns, u128_of(make_good), text_of(text))
