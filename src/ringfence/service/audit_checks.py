"""What the audit holds a replayed journal to, besides the journal itself: the transfer rows
row by row, the checkpointed state at the checkpoint's entry, the definition tables, and the
invariants of the final state (service/audit.py walks the journal and calls these).
"""


from collections.abc import Collection, Iterator, Mapping
from dataclasses import dataclass, field

from ringfence.core import limits
from ringfence.core.custody.registry import Registry
from ringfence.core.errors import (
    RingfenceError,
)
from ringfence.core.ledger.authenticity import (
    Finding,
    KeyChain,
    published_head_findings,
)
from ringfence.core.ledger.engine import Ledger
from ringfence.core.ledger.journal import (
    Definition,
    EntryKind,
    JournalEntry,
)
from ringfence.core.ledger.model import TransferRecord
from ringfence.core.ledger.state import AccountState, Limit, PendingStatus
from ringfence.core.recon.codec import ReconHistory
from ringfence.core.regulatory.possession_breaks import PossessionBook
from ringfence.service.policy import MovementBooks
from ringfence.service.ports import Checkpoint, LedgerStore
from ringfence.service.venue_audit import VenueAudit

_record_fields = TransferRecord._fields
# The walk starts below every sequence number a database can hold, so that rows stored at 0 or


@dataclass(frozen=True, slots=True)
class Problem:
    kind: str  # journal_entry_edited, transfer_row_deleted, balance_mismatch, ...
    where: str
    detail: str



@dataclass
class AuditRun:
    """One audit in progress: the store, the state replayed so far, what was found."""

    store: LedgerStore
    checkpoint: Checkpoint
    ledger: Ledger = field(default_factory=Ledger)
    registry: Registry = field(default_factory=Registry)
    recon: ReconHistory = field(default_factory=ReconHistory)
    possession: PossessionBook = field(default_factory=PossessionBook)
    movements: MovementBooks = field(default_factory=MovementBooks)  # policies, withdrawals
    problems: list[Problem] = field(default_factory=list)
    replaying: bool = True
    transfers: int = 0
    definitions: dict[EntryKind, list[Definition]] = field(default_factory=dict)
    keys: KeyChain = field(default_factory=KeyChain)
    published_heads: Mapping[int, bytes] = field(default_factory=dict)
    seen_heads: dict[int, bytes] = field(default_factory=dict)
    authenticity: dict[str, list[Finding]] = field(default_factory=dict)
    venue: VenueAudit = field(default_factory=VenueAudit)

    def problem(self, kind: str, where: str, detail: str) -> None:
        if len(self.problems) < limits.audit_problems_max:
            self.problems.append(Problem(kind, where, detail))

    def follow_key(self, entry: JournalEntry) -> None:
        """Check the entry's signature; keep every finding, to report the first of each kind
        and how many followed (a rewrite from entry 5 of a million leaves a million)."""
        finding = self.keys.follow(entry)
        if finding is not None:
            self.authenticity.setdefault(finding.kind, []).append(finding)
        if entry.seq in self.published_heads:
            self.seen_heads[entry.seq] = entry.hash

    def report_authenticity(self, trusted_keys: Collection[bytes], last_seq: int) -> None:
        for findings in self.authenticity.values():
            first = findings[0]
            more = f" ({len(findings) - 1} later entries too)" if len(findings) > 1 else ""
            self.problem(first.kind, f"journal entry {first.seq}", first.detail + more)
        closing = self.keys.finish(trusted_keys)
        closing += published_head_findings(self.published_heads, self.seen_heads, last_seq)
        for finding in closing:
            self.problem(finding.kind, f"journal entry {finding.seq}", finding.detail)


def readable_rows(audit: AuditRun, rows: Iterator[TransferRecord]) -> Iterator[TransferRecord]:
    """The projection's rows; one that no longer decodes is reported, then the walk stops."""
    try:
        yield from rows
    except (RingfenceError, ValueError, TypeError) as error:
        audit.problem("transfer_row_edited", "transfers table", f"a row does not decode: {error}")


def compare_row(
    audit: AuditRun,
    record: TransferRecord,
    rows: Iterator[TransferRecord],
    pending_row: list[TransferRecord | None],
) -> None:
    """Merge-walk the timestamp-ordered rows against the journal's records."""
    row = pending_row[0]
    while row is not None and row.timestamp < record.timestamp:
        audit.problem(
            "transfer_row_inserted",
            f"transfer row at timestamp {row.timestamp}",
            f"transfer {row.id} is in the table but in no journal entry",
        )
        row = next(rows, None)
    if row is None or row.timestamp > record.timestamp:
        audit.problem(
            "transfer_row_deleted",
            f"transfer {record.id}",
            f"the journal has it at timestamp {record.timestamp}; the table does not",
        )
        pending_row[0] = row
        return
    if row != record:
        differing = [name for name in _record_fields if getattr(row, name) != getattr(record, name)]
        audit.problem(
            "transfer_row_edited",
            f"transfer {record.id} (timestamp {record.timestamp})",
            f"{', '.join(differing)} {'differs' if len(differing) == 1 else 'differ'} "
            "from the journal",
        )
    pending_row[0] = next(rows, None)


def compare_checkpoint(audit: AuditRun) -> None:
    """The stored checkpoint against the replayed state at its entry (at entry 0, or before,
    against the empty state: a checkpoint there must hold nothing)."""
    checkpoint = audit.checkpoint
    ledger = audit.ledger
    if checkpoint.seq < 0:
        audit.problem("checkpoint_invalid", "checkpoint", f"at entry {checkpoint.seq}")
    if checkpoint.seq <= 0 and checkpoint.timestamp_last:
        audit.problem(
            "checkpoint_invalid",
            "checkpoint",
            f"at entry {checkpoint.seq} it is stamped {checkpoint.timestamp_last}, not 0",
        )
    for account_id, account in ledger.accounts.items():
        stored = checkpoint.balances.get(account_id, (0, 0, 0, 0))
        if stored != account.balances():
            audit.problem(
                "balance_mismatch",
                f"account {account_id}",
                f"stored (debits pending, debits posted, credits pending, credits posted) "
                f"{stored} but the journal gives {account.balances()}",
            )
    for account_id in checkpoint.balances.keys() - ledger.accounts.keys():
        audit.problem("balance_mismatch", f"account {account_id}", "stored for no account")
    for pending_id, row in checkpoint.pendings.items():
        pending = ledger.pendings.get(pending_id)
        if pending is None or int(pending.status) != row.status:
            replayed = "absent" if pending is None else PendingStatus(pending.status).name
            audit.problem(
                "pending_mismatch",
                f"pending transfer {pending_id}",
                f"stored status {row.status}, the journal gives {replayed}",
            )
    if len(checkpoint.pendings) != len(ledger.pendings):
        audit.problem(
            "pending_mismatch",
            "pending transfers",
            f"{len(checkpoint.pendings)} stored, the journal gives {len(ledger.pendings)}",
        )
    for break_id, broken in ledger.breaks.items():
        if checkpoint.breaks.get(break_id) != broken:
            audit.problem("break_mismatch", f"break {break_id}", "differs from the journal")
    for break_id in checkpoint.breaks.keys() - ledger.breaks.keys():
        audit.problem("break_mismatch", f"break {break_id}", "stored, but the journal has none")
    if checkpoint.reversed != ledger.reversed:
        audit.problem("reversal_mismatch", "reversals", "amounts differ from the journal")


def compare_definitions(audit: AuditRun) -> None:
    try:
        stored = audit.store.projected_definitions()
    except (RingfenceError, ValueError, TypeError) as error:
        audit.problem("definition_row_edited", "definition tables", f"unreadable: {error}")
        return
    for kind in (EntryKind.assets, EntryKind.clients, EntryKind.pools, EntryKind.accounts):
        journaled = audit.definitions.get(kind, [])
        rows = stored.get(kind, [])
        for index, (row, definition) in enumerate(zip(rows, journaled, strict=False)):
            if row != definition:
                audit.problem(
                    "definition_row_edited",
                    f"{kind.name} row {index + 1}",
                    f"table has {row!r}, the journal has {definition!r}",
                )
        if len(rows) < len(journaled):
            audit.problem(
                "definition_row_deleted", kind.name, f"{len(journaled) - len(rows)} rows missing"
            )
        elif len(rows) > len(journaled):
            audit.problem(
                "definition_row_inserted", kind.name, f"{len(rows) - len(journaled)} extra rows"
            )


def check_invariants(audit: AuditRun) -> None:
    ledger = audit.ledger
    totals: dict[int, list[int]] = {}
    for account in ledger.accounts.values():
        total = totals.setdefault(account.asset, [0, 0, 0, 0])
        for index, value in enumerate(account.balances()):
            total[index] += value
        _check_limit(audit, account)
    for asset, (debits_pending, debits_posted, credits_pending, credits_posted) in totals.items():
        if debits_posted != credits_posted or debits_pending != credits_pending:
            audit.problem("invariant_broken", f"asset {asset}", "debits do not equal credits")
    for position in ledger.positions.values():
        if position.enforced and position.excess_worst + position.breaks_outstanding < 0:
            audit.problem(
                "invariant_broken",
                f"pool {position.pool.name} asset {position.asset}",
                "holds less than it owes its clients beyond its recorded breaks",
            )


def _check_limit(audit: AuditRun, account: AccountState) -> None:
    debits_pending, debits_posted, credits_pending, credits_posted = account.balances()
    if account.limit is Limit.credit_normal and debits_posted + debits_pending > credits_posted:
        audit.problem("invariant_broken", f"account {account.id}", "below zero")
    if account.limit is Limit.debit_normal and credits_posted + credits_pending > debits_posted:
        audit.problem("invariant_broken", f"account {account.id}", "below zero")
