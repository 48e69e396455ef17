"""``audit verify``: replay the journal from the start and check everything against it.

The journal is the record; everything else in a store (the transfer rows, the definition
tables, the checkpointed balances) is a projection of it. The audit

1. walks the hash chain entry by entry: consecutive sequence numbers, each entry's previous
   hash equal to the hash of the entry before, each body hashing to its stored hash;
2. executes every journaled batch again in a fresh engine, with every check on: each event
   must commit again to the identical record, so no entry holds a transfer the guarantees
   would have refused; every authorisation's signature is verified against the authorising
   principal's key as it stood at that point, and every principal's endorsement against its
   admin's (a failure is ``authorisation_invalid``); every approval of a withdrawal or a
   policy version is checked the same way, its signature against the approver's key at that
   point, and its presence where the governing policy required one (a failure is
   ``approval_signature_invalid``, and the replay goes on: an approval moves no balance);
   every withdrawal's decision is decided again under the policy version in force when it was
   requested (``withdrawal_decision_mismatch``, service/withdrawal_decisions.py);
3. compares the transfer rows, row by row, each transfer's metadata pairs
   (service/audit_metadata.py) and the definition tables with what the journal says, and
   the checkpointed balances, pending transfers and breaks with the replayed state at the
   checkpoint;
4. checks the invariants on the final state: per asset debits equal credits, no client or
   wallet account below zero, no custody pool short by more than its recorded breaks;
5. checks every entry's signature by the journal key in force (core/ledger/authenticity.py), that
   the journal is vouched for by a key the caller trusts (the firm's published journal key),
   and that every head published earlier (a proof-of-reserves round, a resolution pack, a
   head given by hand) is still in it, hash for hash.

It reports the first problem of each place precisely (which entry, which row, which field),
up to ``limits.audit_problems_max`` problems, and never changes the store. A row that is no
journal entry at all (an unknown kind, a body shorter than its header, a hash of another
length, a sequence number below 1) is a finding like any other (``journal_entry_malformed``),
never a crash: the walk names it and goes on after it, and the replay stops there.
"""

from __future__ import annotations

import json
import struct
from collections.abc import Callable, Collection, Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any

from ringfence.core.errors import (
    AuthorisationError,
    InputError,
    MalformedEntryError,
    Result,
    RingfenceError,
)
from ringfence.core.ledger.authenticity import (
    parse_public_key,
    parse_published_head,
)
from ringfence.core.ledger.journal import (
    EntryKind,
    JournalEntry,
    chain,
    decode_definitions,
    decode_header,
    genesis_hash,
    movement_kinds,
    recon_kinds,
    registry_kinds,
    venue_kinds,
)
from ringfence.core.ledger.model import TransferRecord
from ringfence.core.ledger.wire import check_json_depth
from ringfence.core.por.round import round_journal_head
from ringfence.core.recon.codec import replay_recon_entry
from ringfence.core.regulatory.possession_breaks import replay_possession_check
from ringfence.core.regulatory.records import decode_deadline_check, decode_register
from ringfence.service.approvals import approval_problems
from ringfence.service.audit_checks import (
    AuditRun,
    Problem,
    check_invariants,
    compare_checkpoint,
    compare_definitions,
    compare_row,
    readable_rows,
)
from ringfence.service.audit_metadata import MetadataWalk
from ringfence.service.custody import replay_registry_entry
from ringfence.service.ledger import (
    apply_definitions,
    replay_principals,
    replay_transfers,
)
from ringfence.service.policy import replay_movement_entry, transfer_records
from ringfence.service.ports import Checkpoint, LedgerStore
from ringfence.service.withdrawal_decisions import decision_problem

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


def audit(
    open_store: Callable[[], LedgerStore],
    own_key: Callable[[], bytes | None],
    *,
    public_keys: Collection[str] = (),
    expect_heads: Collection[str] = (),
    rounds: Collection[bytes] = (),
    progress: Callable[[int, int], None] | None = None,
) -> AuditReport:
    """``audit verify``: the journal held to the keys given as hex (else to the key of the
    journal's own key file, ``own_key``) and to the heads given (``SEQ:HASH`` texts and round
    files); the store opened last, read without loading the ledger, and closed."""
    trusted = [parse_public_key(text) for text in public_keys]
    if not trusted:
        own = own_key()
        trusted = [] if own is None else [own]
    heads = published_heads(expect_heads, rounds)
    store = open_store()
    try:
        return verify_store(store, progress, trusted, heads)
    finally:
        store.close()


def published_heads(heads: Collection[str], rounds: Collection[bytes]) -> dict[int, bytes]:
    """Heads to hold the journal to: ``SEQ:HASH`` texts, and the heads signed proof-of-reserves
    rounds were built at (each round's own signature checked first)."""
    found: dict[int, bytes] = {}
    parsed = [parse_published_head(text) for text in heads]
    for text in rounds:
        check_json_depth(text)
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
    audit = AuditRun(store, checkpoint, published_heads=published_heads or {})
    if problem is not None:
        audit.problems.append(problem)
    rows = readable_rows(audit, store.projected_transfers())
    pending_row: list[TransferRecord | None] = [next(rows, None)]
    metadata = MetadataWalk(store.projected_metadata(), audit.problem)
    entries = last_seq = 0
    if audit.checkpoint.seq <= 0:  # before any entry: the state is empty
        compare_checkpoint(audit)
    for entry in _chained_entries(audit, _stored_entries(audit)):
        entries += 1
        last_seq = entry.seq
        _replay_entry(audit, entry, rows, pending_row, metadata)
        if audit.replaying and entry.seq == audit.checkpoint.seq:
            compare_checkpoint(audit)
        if progress is not None:
            progress(entries, head_seq)
    if audit.replaying:
        _rows_left(audit, rows, pending_row, metadata)
    if audit.checkpoint.seq > last_seq:
        audit.problem(
            "journal_entry_deleted",
            f"journal entry {audit.checkpoint.seq}",
            f"the checkpoint is at entry {audit.checkpoint.seq}, the journal ends at {last_seq}",
        )
    if audit.replaying:
        compare_definitions(audit)
        check_invariants(audit)
        audit.venue.finish(audit.problem)
    audit.report_authenticity(trusted_keys, last_seq)
    declared = audit.keys.declarations
    return AuditReport(
        not audit.problems,
        entries,
        audit.transfers,
        len(audit.ledger.accounts),
        head_seq, head_hash.hex(),
        audit.checkpoint.seq,
        audit.problems,
        [(d.seq, d.public_key.hex()) for d in declared],
        bool(set(trusted_keys) & {d.public_key for d in declared}),
        len(audit.seen_heads),
    )


def _rows_left(
    audit: AuditRun,
    rows: Iterator[TransferRecord],
    pending_row: list[TransferRecord | None],
    metadata: MetadataWalk,
) -> None:
    """Name the projection's rows that no journal entry holds, once every entry is replayed."""
    while pending_row[0] is not None:
        extra = pending_row[0]
        audit.problem(
            "transfer_row_inserted",
            f"transfer row at timestamp {extra.timestamp}",
            f"transfer {extra.id} is in the table but in no journal entry",
        )
        pending_row[0] = next(rows, None)
    metadata.finish()


def _stored_entries(audit: AuditRun) -> Iterator[JournalEntry | int]:
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
    audit: AuditRun, entries: Iterator[JournalEntry | int]
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
    audit: AuditRun,
    entry: JournalEntry,
    rows: Iterator[TransferRecord],
    pending_row: list[TransferRecord | None],
    metadata: MetadataWalk,
) -> None:
    if not audit.replaying:
        return
    try:
        if entry.kind is EntryKind.transfers:
            _, records = replay_transfers(audit.ledger, entry.body, audit.store)
            audit.transfers += len(records)
            for record in records:
                compare_row(audit, record, rows, pending_row)
            metadata.entry(entry.body, records)
            audit.venue.transfers(records, entry.seq)
        elif entry.kind in registry_kinds:
            replay_registry_entry(audit.registry, audit.ledger, entry)
        elif entry.kind in recon_kinds:
            replay_recon_entry(audit.recon, entry.body)
        elif entry.kind in movement_kinds:
            events = replay_movement_entry(
                audit.movements, audit.ledger.assets, entry, _decisions_checked(audit, entry)
            )
            for detail in approval_problems(
                audit.movements.policies, audit.movements.withdrawals, audit.ledger.principals,
                audit.ledger.ledger_id, events,
            ):  # fmt: skip
                audit.problem("approval_signature_invalid", f"journal entry {entry.seq}", detail)
        elif entry.kind is EntryKind.journal_keys:
            pass  # followed by the key chain as the hash chain is walked (follow_key)
        elif entry.kind is EntryKind.residual_deadlines:
            decode_deadline_check(entry.body)  # a record of a check: it changes no balance
        elif entry.kind is EntryKind.sub_custodian_registers:
            decode_register(entry.body)  # evidence of who held what: it changes no balance
        elif entry.kind is EntryKind.possession_checks:
            replay_possession_check(audit.possession, entry.body)  # breaks in sequence
        elif entry.kind is EntryKind.principals:
            replay_principals(audit.ledger, entry)
        elif entry.kind in venue_kinds:
            audit.venue.entry(entry, audit.problem)
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




def _decisions_checked(audit: AuditRun, entry: JournalEntry) -> Callable[[Any], None]:
    """What the replay of a ``withdrawals`` entry calls before each event: a decision the
    policy in force would not have made is a finding (service/withdrawal_decisions.py)."""

    def check(event: Any) -> None:
        problem = decision_problem(
            audit.movements, audit.ledger, lambda: transfer_records(audit.store), event
        )
        if problem is not None:
            audit.problem("withdrawal_decision_mismatch", f"journal entry {entry.seq}", problem)

    return check
