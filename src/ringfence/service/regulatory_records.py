"""Journaling the regulatory records an operator asks to keep (core/regulatory/records.py): a
residual-interest deadline check, whose breach is then an event, and a version of the
sub-custodian register, which is then evidence of who held clients' assets when. Each is one
entry, stamped with the ledger's next timestamp; the caller gets its sequence number.
"""

from __future__ import annotations

from ringfence.core.ledger.journal import EntryKind
from ringfence.core.regulatory.files import SubCustodianRegister
from ringfence.core.regulatory.records import (
    DeadlineCheck,
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
