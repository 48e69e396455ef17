"""``audit verify``: replay the journal from the start and check everything against it.

The journal is the record; everything else in a store (the transfer rows, the definition
tables, the checkpointed balances) is a projection of it. The audit

1. walks the hash chain entry by entry: consecutive sequence numbers, each entry's previous
   hash equal to the hash of the entry before, each body hashing to its stored hash;
2. executes every journaled batch again in a fresh engine, with every check on: each event
   must commit again to the identical record, so no entry holds a transfer the guarantees
   would have refused; every authorisation's signature is verified against the authorising
   principal's key as it stood at that point, and every principal's endorsement against its
   admin's (a failure is ``authorisation_invalid``);
3. compares the transfer rows, row by row, and the definition tables with what the journal
   says, and the checkpointed balances, pending transfers and breaks with the replayed state
   at the checkpoint;
4. checks the invariants on the final state: per asset debits equal credits, no client or
   wallet account below zero, no custody pool short by more than its recorded breaks;
5. checks every entry's signature by the journal key in force (core/ledger/authenticity.py), that
   the journal is vouched for by a key the caller trusts (the firm's published journal key),
   and that every head published earlier (a proof-of-reserves round, a resolution pack, a
   head given by hand) is still in it, hash for hash.

It reports the first problem of each place precisely (which entry, which row, which field),
up to ``problems_max`` problems, and never changes the store. A row that is no journal entry at
all (an unknown kind, a body shorter than its header, a hash of another length, a sequence
number below 1) is a finding like any other (``journal_entry_malformed``), never a crash: the
walk names it and goes on after it, and the replay stops there.
"""

from __future__ import annotations

import json
import struct
from collections.abc import Callable, Collection, Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any

from ringfence.core.custody.registry import Registry
from ringfence.core.errors import (
    AuthorisationError,
    InputError,
    MalformedEntryError,
    Result,
    RingfenceError,
)
from ringfence.core.ledger.authenticity import (
    Finding,
    KeyChain,
    parse_published_head,
    published_head_findings,
)
from ringfence.core.ledger.engine import Ledger
from ringfence.core.ledger.journal import (
    Definition,
    EntryKind,
    JournalEntry,
    chain,
    decode_definitions,
    decode_header,
    genesis_hash,
    recon_kinds,
    registry_kinds,
)
from ringfence.core.ledger.model import TransferRecord
from ringfence.core.ledger.state import AccountState, Limit, PendingStatus
from ringfence.core.por.round import round_journal_head
from ringfence.core.recon.codec import ReconHistory, replay_recon_entry
from ringfence.service.custody import replay_registry_entry
from ringfence.service.ledger import (
    apply_definitions,
    replay_principals,
    replay_transfers,
)
from ringfence.service.ports import Checkpoint, LedgerStore

problems_max = 100
_record_fields = TransferRecord._fields
# The walk starts below every sequence number a database can hold, so that rows stored at 0 or
# below (which no reader of the journal would otherwise see) are named too.
_seq_floor = -(2**63)
# What replaying a stored entry may raise when the entry is not what the engine wrote.
_replay_errors = (
    RingfenceError,
    ValueError,
    KeyError,
    IndexError,
    TypeError,
    AssertionError,
    struct.error,
)


@dataclass(frozen=True, slots=True)
class Problem:
    kind: str  # journal_entry_edited, transfer_row_deleted, balance_mismatch, ...
    where: str
    detail: str


@dataclass(frozen=True, slots=True)
class AuditReport:
    ok: bool
    entries: int
    transfers: int
    accounts: int
    head_seq: int
    head_hash: str
    checkpoint_seq: int
    problems: list[Problem]
    journal_keys: list[tuple[int, str]] = field(default_factory=list)  # (from seq, key hex)
    key_trusted: bool = False  # the journal is vouched for by a key the caller named
    heads_checked: int = 0  # published heads found in the journal, hash for hash

    def to_json(self) -> dict[str, Any]:
        return {
            "ok": self.ok,
            "entries": self.entries,
            "transfers": self.transfers,
            "accounts": self.accounts,
            "head_seq": self.head_seq,
            "head_hash": self.head_hash,
            "checkpoint_seq": self.checkpoint_seq,
            "journal_keys": [
                {"from_seq": seq, "public_key": key} for seq, key in self.journal_keys
            ],
            "key_trusted": self.key_trusted,
            "heads_checked": self.heads_checked,
            "problems": [
                {"kind": p.kind, "where": p.where, "detail": p.detail} for p in self.problems
            ],
        }


@dataclass
class _Audit:
    store: LedgerStore
    checkpoint: Checkpoint
    ledger: Ledger = field(default_factory=Ledger)
    registry: Registry = field(default_factory=Registry)
    recon: ReconHistory = field(default_factory=ReconHistory)
    problems: list[Problem] = field(default_factory=list)
    replaying: bool = True
    transfers: int = 0
    definitions: dict[EntryKind, list[Definition]] = field(default_factory=dict)
    keys: KeyChain = field(default_factory=KeyChain)
    published_heads: Mapping[int, bytes] = field(default_factory=dict)
    seen_heads: dict[int, bytes] = field(default_factory=dict)
    authenticity: dict[str, list[Finding]] = field(default_factory=dict)

    def problem(self, kind: str, where: str, detail: str) -> None:
        if len(self.problems) < problems_max:
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


def published_heads(heads: Collection[str], rounds: Collection[bytes]) -> dict[int, bytes]:
    """Heads to hold the journal to: ``SEQ:HASH`` texts, and the heads signed proof-of-reserves
    rounds were built at (each round's own signature checked first)."""
    found: dict[int, bytes] = {}
    parsed = [parse_published_head(text) for text in heads]
    for text in rounds:
        try:
            record = json.loads(text)
        except (UnicodeDecodeError, json.JSONDecodeError) as error:
            raise InputError(Result.published_head_invalid, f"a round file: {error}") from None
        if not isinstance(record, dict):
            raise InputError(Result.published_head_invalid, "a round file is not a JSON object")
        parsed.append(round_journal_head(record))
    for seq, head_hash in parsed:
        if found.setdefault(seq, head_hash) != head_hash:
            raise InputError(Result.published_head_invalid, f"two hashes given for entry {seq}")
    return found


def verify_store(
    store: LedgerStore,
    progress: Callable[[int, int], None] | None = None,
    trusted_keys: Collection[bytes] = (),
    published_heads: Mapping[int, bytes] | None = None,
) -> AuditReport:
    """Verify a store against its own journal; see the module docstring.

    ``trusted_keys``: the journal public keys the firm published; without one, the audit
    checks that the journal is signed consistently, not by whom. ``published_heads``: heads
    (seq -> hash) published before, each of which the journal must still hold.
    """
    try:
        head_seq, head_hash = store.head()
    except MalformedEntryError as error:  # named when the walk reaches it
        head_seq, head_hash = error.seq if type(error.seq) is int else 0, b""
    problem: Problem | None = None
    try:
        checkpoint = store.checkpoint()
    except (RingfenceError, ValueError, TypeError) as error:
        checkpoint = Checkpoint(0, 0)
        problem = Problem("balance_mismatch", "checkpoint", f"unreadable: {error}")
    audit = _Audit(store, checkpoint, published_heads=published_heads or {})
    if problem is not None:
        audit.problems.append(problem)
    rows = _readable_rows(audit, store.projected_transfers())
    pending_row: list[TransferRecord | None] = [next(rows, None)]
    entries = last_seq = 0
    if audit.checkpoint.seq <= 0:  # before any entry: the state is empty
        _compare_checkpoint(audit)
    for entry in _chained_entries(audit, _stored_entries(audit)):
        entries += 1
        last_seq = entry.seq
        _replay_entry(audit, entry, rows, pending_row)
        if audit.replaying and entry.seq == audit.checkpoint.seq:
            _compare_checkpoint(audit)
        if progress is not None:
            progress(entries, head_seq)
    while audit.replaying and pending_row[0] is not None:
        extra = pending_row[0]
        audit.problem(
            "transfer_row_inserted",
            f"transfer row at timestamp {extra.timestamp}",
            f"transfer {extra.id} is in the table but in no journal entry",
        )
        pending_row[0] = next(rows, None)
    if audit.checkpoint.seq > last_seq:
        audit.problem(
            "journal_entry_deleted",
            f"journal entry {audit.checkpoint.seq}",
            f"the checkpoint is at entry {audit.checkpoint.seq}, the journal ends at {last_seq}",
        )
    if audit.replaying:
        _compare_definitions(audit)
        _check_invariants(audit)
    audit.report_authenticity(trusted_keys, last_seq)
    declared = audit.keys.declarations
    return AuditReport(
        not audit.problems,
        entries,
        audit.transfers,
        len(audit.ledger.accounts),
        head_seq,
        head_hash.hex(),
        audit.checkpoint.seq,
        audit.problems,
        [(d.seq, d.public_key.hex()) for d in declared],
        bool(set(trusted_keys) & {d.public_key for d in declared}),
        len(audit.seen_heads),
    )


def _stored_entries(audit: _Audit) -> Iterator[JournalEntry | int]:
    """Every stored row in order: an entry, or the seq of a row that is none (named here)."""
    after = _seq_floor
    while True:
        try:
            for entry in audit.store.entries(after_seq=after):
                after = entry.seq
                yield entry
            return
        except MalformedEntryError as error:
            audit.problem("journal_entry_malformed", f"journal entry {error.seq}", error.detail)
            audit.replaying = False
            if type(error.seq) is not int or error.seq <= after:
                return  # no order to go on in: the walk ends here
            after = error.seq
            yield after


def _chained_entries(
    audit: _Audit, entries: Iterator[JournalEntry | int]
) -> Iterator[JournalEntry]:
    """Yield entries whose place in the chain is checked; name every break in it."""
    expected_seq = 1
    previous: bytes | None = genesis_hash  # None: after a malformed row, unknown
    seen: dict[bytes, int] = {}
    for entry in entries:
        seq = entry if isinstance(entry, int) else entry.seq
        if seq > expected_seq:
            audit.problem(
                "journal_entry_deleted",
                f"journal entry {expected_seq}",
                f"entries {expected_seq}..{seq - 1} are missing",
            )
        if isinstance(entry, int):  # a malformed row, already named
            if seq >= expected_seq:  # in the chain: the link after it cannot be checked
                expected_seq, previous = seq + 1, None
            continue
        where = f"journal entry {entry.seq}"
        if previous is not None and entry.previous_hash != previous and entry.seq == expected_seq:
            if entry.previous_hash in seen:
                detail = f"it follows entry {seen[entry.previous_hash]}, not entry {entry.seq - 1}"
                audit.problem("journal_entries_reordered", where, detail)
            else:
                detail = "its previous hash matches no earlier entry: one was replaced or inserted"
                audit.problem("journal_chain_broken", where, detail)
        if chain(entry.previous_hash, entry.body) != entry.hash:
            audit.problem("journal_entry_edited", where, "its body does not hash to its hash")
        try:
            header = decode_header(entry.body)
        except ValueError as error:
            audit.problem("journal_entry_edited", where, f"its body does not decode: {error}")
            audit.replaying = False
        else:
            if (header.seq, header.kind, header.timestamp) != (
                entry.seq,
                entry.kind,
                entry.timestamp,
            ):
                audit.problem("journal_entry_edited", where, "its columns contradict its body")
        audit.follow_key(entry)
        seen[entry.hash] = entry.seq
        previous = entry.hash
        expected_seq = entry.seq + 1
        yield entry


def _replay_entry(
    audit: _Audit,
    entry: JournalEntry,
    rows: Iterator[TransferRecord],
    pending_row: list[TransferRecord | None],
) -> None:
    if not audit.replaying:
        return
    try:
        if entry.kind is EntryKind.transfers:
            _, records = replay_transfers(audit.ledger, entry.body, audit.store)
            audit.transfers += len(records)
            for record in records:
                _compare_row(audit, record, rows, pending_row)
        elif entry.kind in registry_kinds:
            replay_registry_entry(audit.registry, audit.ledger, entry)
        elif entry.kind in recon_kinds:
            replay_recon_entry(audit.recon, entry.body)
        elif entry.kind is EntryKind.journal_keys:
            pass  # followed by the key chain as the hash chain is walked (follow_key)
        elif entry.kind is EntryKind.principals:
            replay_principals(audit.ledger, entry)
        else:
            header, definitions = decode_definitions(entry.body)
            apply_definitions(audit.ledger, header.kind, definitions)
            audit.definitions.setdefault(header.kind, []).extend(definitions)
        if entry.seq == 1:  # what signatures bind from here on (core/principals/authorisation.py)
            audit.ledger.ledger_id = entry.hash
    except AuthorisationError as error:
        audit.problem("authorisation_invalid", f"journal entry {entry.seq}", str(error))
        audit.replaying = False
    except _replay_errors as error:
        audit.problem("replay_failed", f"journal entry {entry.seq}", str(error) or repr(error))
        audit.replaying = False


def _readable_rows(audit: _Audit, rows: Iterator[TransferRecord]) -> Iterator[TransferRecord]:
    """The projection's rows; one that no longer decodes is reported, then the walk stops."""
    try:
        yield from rows
    except (RingfenceError, ValueError, TypeError) as error:
        audit.problem("transfer_row_edited", "transfers table", f"a row does not decode: {error}")


def _compare_row(
    audit: _Audit,
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


def _compare_checkpoint(audit: _Audit) -> None:
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


def _compare_definitions(audit: _Audit) -> None:
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


def _check_invariants(audit: _Audit) -> None:
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


def _check_limit(audit: _Audit, account: AccountState) -> None:
    debits_pending, debits_posted, credits_pending, credits_posted = account.balances()
    if account.limit is Limit.credit_normal and debits_posted + debits_pending > credits_posted:
        audit.problem("invariant_broken", f"account {account.id}", "below zero")
    if account.limit is Limit.debit_normal and credits_posted + credits_pending > debits_posted:
        audit.problem("invariant_broken", f"account {account.id}", "below zero")
