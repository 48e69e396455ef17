"""Journaling the regulatory records an operator asks to keep (core/regulatory/records.py): a
residual-interest deadline check, whose breach is then an event, and a version of the
sub-custodian register, which is then evidence of who held clients' assets when; and a
possession check, whose breaks are then carried, with their age, to the next one. Each is one
entry, stamped with the ledger's next timestamp; the caller gets its sequence number. The
reports read the register back from here (``journaled_register``) when a version is journaled.
"""

from __future__ import annotations

from ringfence.core.ledger.journal import EntryKind
from ringfence.core.regulatory.files import SubCustodianRegister
from ringfence.core.regulatory.possession_breaks import (
    CarriedPossessionBreak,
    PossessionBook,
    encode_possession_check,
    replay_possession_check,
)
from ringfence.core.regulatory.records import (
    DeadlineCheck,
    decode_register,
    encode_deadline_check,
    encode_register,
)
from ringfence.service.ledger import LedgerService


def journal_check(ledger: LedgerService, check: DeadlineCheck) -> int:
    """Journal the check (a ``residual_deadlines`` entry); its sequence number."""
    timestamp = ledger.next_timestamp()
    ledger.append_entry(
        EntryKind.residual_deadlines,
        timestamp,
        lambda seq: encode_deadline_check(seq, timestamp, check),
    )
    return ledger.seq


def journal_register(ledger: LedgerService, register: SubCustodianRegister) -> int:
    """Journal the register as read (a ``sub_custodian_registers`` entry); its sequence number."""
    timestamp = ledger.next_timestamp()
    ledger.append_entry(
        EntryKind.sub_custodian_registers,
        timestamp,
        lambda seq: encode_register(seq, timestamp, register),
    )
    return ledger.seq


def journaled_register(
    ledger: LedgerService, at_ns: int
) -> tuple[int, SubCustodianRegister] | None:
    """The latest register journaled at or before ``at_ns`` (its sequence number and the
    register as recorded), or None when none is. A recorded register was checked against the
    registry's wallets when it was read, and wallets are never removed, so it is used as is."""
    head = ledger.seq
    found = None
    for entry in ledger.store.entries(kinds=[EntryKind.sub_custodian_registers]):
        if entry.seq > head or entry.timestamp > at_ns:
            break
        if entry.kind is EntryKind.sub_custodian_registers:
            found = entry
    if found is None:
        return None
    return found.seq, decode_register(found.body)


def possession_book(ledger: LedgerService) -> PossessionBook:
    """Every possession break the recorded checks opened, carried or closed, replayed from the
    journal in order (a check recorded as of any time: as the reconciliation's breaks)."""
    book = PossessionBook()
    for entry in ledger.store.entries(kinds=[EntryKind.possession_checks]):
        if entry.seq > ledger.seq:
            break
        if entry.kind is EntryKind.possession_checks:
            replay_possession_check(book, entry.body)
    return book


def journal_possession_check(
    ledger: LedgerService, as_of_ns: int, snapshots: list[CarriedPossessionBreak]
) -> int:
    """Journal the check (a ``possession_checks`` entry); its sequence number."""
    timestamp = ledger.next_timestamp()
    ledger.append_entry(
        EntryKind.possession_checks,
        timestamp,
        lambda seq: encode_possession_check(seq, timestamp, as_of_ns, snapshots),
    )
    return ledger.seq
