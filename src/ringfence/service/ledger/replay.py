"""Loading a ledger from its store, and replaying its journal: definitions, the last
checkpoint (checked before it is served), then the journal's tail of transfers and
principals. The audit replays the whole journal with the same functions, every signature
verified; an open replays only the tail and trusts the signatures it committed.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace

from ringfence.core import limits
from ringfence.core.errors import (
    AuthorisationError,
    InputError,
    IntegrityError,
    Result,
    authorisation_results,
)
from ringfence.core.ledger.authenticity import KeyChain, signature_finding
from ringfence.core.ledger.engine import Ledger
from ringfence.core.ledger.journal import (
    Definition,
    EntryHeader,
    EntryKind,
    JournalEntry,
    decode_definitions,
    decode_evidence,
    decode_principals,
    decode_record_metadata,
    decode_transfers,
    ledger_definition_kinds,
)
from ringfence.core.ledger.metadata import RecordMetadata, decode_metadata, no_metadata
from ringfence.core.ledger.model import (
    AccountDefinition,
    Authorisation,
    Pool,
    Transfer,
    TransferCode,
    TransferFlags,
    TransferRecord,
)
from ringfence.core.ledger.state import PendingState, PendingStatus
from ringfence.core.money import Asset
from ringfence.core.principals.authorisation import no_ledger_id
from ringfence.core.principals.records import (
    Endorsement,
    PrincipalChange,
)
from ringfence.service.checkpoints import (
    check_breaks,
    check_checkpoint_shape,
    check_pending_row,
    check_restored,
)
from ringfence.service.ports import (
    Checkpoint,
    LedgerStore,
    PendingRow,
)


def build_checkpoint(ledger: Ledger, seq: int) -> Checkpoint:
    accounts, pendings, breaks, reversed_ids = ledger.take_dirty()
    # Copies, not the engine's live objects: the checkpoint is written after later batches
    # may already have changed them.
    return Checkpoint(
        seq,
        ledger.timestamp_last,
        balances={i: ledger.accounts[i].balances() for i in accounts},
        pendings={
            i: PendingRow(i, ledger.pendings[i].expires_at, int(ledger.pendings[i].status))
            for i in pendings
            if i in ledger.pendings
        },
        breaks={i: replace(ledger.breaks[i]) for i in breaks if i in ledger.breaks},
        reversed={i: ledger.reversed[i] for i in reversed_ids if i in ledger.reversed},
    )


# ---------------------------------------------------------------------- loading


def apply_definitions(ledger: Ledger, kind: EntryKind, definitions: list[Definition]) -> None:
    for definition in definitions:
        if kind is EntryKind.assets:
            assert isinstance(definition, Asset)
            result = ledger.define_asset(definition)
        elif kind is EntryKind.clients:
            assert isinstance(definition, tuple)
            result, client = ledger.define_client(definition[0])
            if client is None or client.number != definition[1]:
                raise IntegrityError(f"client {definition[0]} has another number on replay")
        elif kind is EntryKind.pools:
            assert isinstance(definition, Pool)
            result = ledger.define_pool(definition)
        else:
            assert isinstance(definition, AccountDefinition)
            result = ledger.define_account(definition)
        if result is not Result.ok:
            raise IntegrityError(f"journal definition {definition} replays as {result.value}")


def events_of(
    ledger: Ledger,
    records: list[TransferRecord],
    authorisations: Sequence[Authorisation] = (),
    metadata: Sequence[RecordMetadata] = (),
) -> list[Transfer]:
    """The events that, executed again, must commit exactly these records: each authorised
    one with the principal the record names and the signature its evidence holds, each with
    the metadata the journal holds for it."""
    evidence = {authorisation.record_index: authorisation for authorisation in authorisations}
    metadata_by_index = {item.record_index: item.encoded for item in metadata}
    events = []
    for index, record in enumerate(records):
        authorised_by, signature = _evidence_of(ledger, record, evidence.get(index))
        events.append(
            Transfer(
                record.id,
                record.debit_account,
                record.credit_account,
                record.amount,
                TransferCode(record.code),
                TransferFlags(record.flags),
                record.pending_id,
                record.timeout_s,
                record.reference,
                authorised_by,
                authorisation=signature,
                metadata=(
                    decode_metadata(metadata_by_index[index])
                    if index in metadata_by_index
                    else no_metadata
                ),
            )
        )
    return events


def _evidence_of(
    ledger: Ledger, record: TransferRecord, evidence: Authorisation | None
) -> tuple[str, bytes]:
    """The authoriser's name and signature for a journaled record (``"", b""`` for none)."""
    principal = evidence.principal if evidence is not None else 0
    if principal != record.authoriser:
        raise AuthorisationError(
            f"transfer {record.id} names authoriser {record.authoriser} but its evidence "
            f"names {principal}"
        )
    if not principal:
        return "", b""
    state = ledger.principals.by_number.get(principal)
    if state is None:
        raise AuthorisationError(
            f"transfer {record.id} is authorised by principal {principal}, which the journal "
            "has not registered at that point"
        )
    assert evidence is not None
    return state.principal.name, evidence.signature


def replay_transfers(
    ledger: Ledger, body: bytes, store: LedgerStore, *, verify_signatures: bool = True
) -> tuple[int, list[TransferRecord]]:
    """Execute a journal entry's transfers again; they must commit to the identical records,
    each authorisation with the identical evidence."""
    try:
        header, records, expiries = decode_transfers(body)
        authorisations = decode_evidence(body, header)
        metadata = decode_record_metadata(body, header)
    except ValueError as error:
        raise IntegrityError(f"a journal entry of transfers does not decode: {error}") from error
    try:
        events = events_of(ledger, records, authorisations, metadata)
    except AuthorisationError as error:
        raise AuthorisationError(f"journal entry {header.seq}: {error}") from error
    if header.timestamp <= ledger.timestamp_last or header.timestamp >= limits.timestamp_ns_max:
        raise IntegrityError(
            f"journal entry {header.seq} is stamped {header.timestamp}, not after "
            f"{ledger.timestamp_last}"
        )
    if len(records) > limits.batch_events_max:
        raise IntegrityError(f"journal entry {header.seq} holds {len(records)} transfers")
    wanted = {e.reference for e in events if e.code is TransferCode.reversal}
    known = store.transfers(wanted) if wanted else {}
    if not events:
        replayed_expiries = ledger.advance(header.timestamp)
        if replayed_expiries != expiries:
            raise IntegrityError(f"journal entry {header.seq}: expiries differ on replay")
        return header.seq, []
    outcome = ledger.execute(events, header.timestamp, known, verify_signatures=verify_signatures)
    for event, result in zip(events, outcome.results, strict=True):
        if result is not Result.ok:
            failure = AuthorisationError if result in authorisation_results else IntegrityError
            raise failure(
                f"journal entry {header.seq}: transfer {event.id} replays as {result.value}"
            )
    if outcome.records != records:
        raise IntegrityError(f"journal entry {header.seq}: records differ on replay")
    if outcome.authorisations != authorisations:
        raise AuthorisationError(f"journal entry {header.seq}: evidence differs on replay")
    if outcome.metadata != metadata:
        raise IntegrityError(f"journal entry {header.seq}: metadata differs on replay")
    if outcome.expiries != expiries:
        raise IntegrityError(f"journal entry {header.seq}: expiries differ on replay")
    return header.seq, records


def load_journal_keys(store: LedgerStore, head_seq: int) -> KeyChain:
    """The journal key in force, followed through the journal's key entries, with the head's
    signature checked against it: a writer never builds on a head its key did not sign, and a
    reader never serves one (``audit verify`` checks every entry; this checks the last)."""
    keys = KeyChain()
    for entry in store.entries(kinds=[EntryKind.journal_keys]):
        finding = keys.follow(entry)
        if finding is not None:
            raise IntegrityError(f"journal entry {finding.seq}: {finding.kind}: {finding.detail}")
    if keys.current is not None and head_seq > keys.declarations[-1].seq:
        head = next(store.entries(after_seq=head_seq - 1))
        finding = signature_finding(head, keys.current)
        if finding is not None:
            raise IntegrityError(f"journal entry {finding.seq}: {finding.kind}: {finding.detail}")
    return keys


def replay_principals(
    ledger: Ledger, entry: JournalEntry, *, verify_signatures: bool = True
) -> None:
    """Apply a journaled principals entry again; every record must apply as it did, endorsed
    by the admin its evidence names (the audit and every open run this)."""
    try:
        header, records, endorsements = decode_principals(entry.body)
    except ValueError as error:
        raise IntegrityError(f"journal entry {entry.seq}: {error}") from error
    registry = ledger.principals
    evidence = {endorsement.record_index: endorsement for endorsement in endorsements}
    # Signatures inside the first entry bind no ledger id: it is that entry's own hash.
    ledger_id = ledger.ledger_id if entry.seq > 1 else no_ledger_id
    for index, (number, principal) in enumerate(records):
        where = f"journal entry {entry.seq}: principal {principal.name}"
        endorsement = None
        if index in evidence:
            endorser = registry.by_number.get(evidence[index].principal)
            if endorser is None:
                raise AuthorisationError(f"{where} is endorsed by an unknown principal")
            endorsement = Endorsement(endorser.principal.name, evidence[index].signature)
        result, endorser_number = registry.apply(
            PrincipalChange(principal, endorsement),
            ledger.clients,
            ledger_id,
            header.timestamp,
            verify_signatures=verify_signatures,
        )
        if result is not Result.ok:
            failure = AuthorisationError if result in authorisation_results else IntegrityError
            raise failure(f"{where} replays as {result.value}")
        if registry.by_name[principal.name].number != number:
            raise IntegrityError(f"{where} has another number on replay")
        assert endorsement is None or endorser_number == evidence[index].principal


def load_ledger(store: LedgerStore) -> tuple[Ledger, int]:
    """Definitions from the journal, state from the last checkpoint, then the journal's tail
    (transfers and principals in journal order, signatures not verified again).

    The checkpoint is checked before it is served (``service/checkpoints.py``); a store that
    contradicts itself is refused with ``IntegrityError``, never half loaded."""
    ledger = Ledger()
    timestamp_last = 0
    for entry in store.entries(kinds=ledger_definition_kinds):
        header, definitions = _definitions_of(entry)
        apply_definitions(ledger, header.kind, definitions)
        timestamp_last = entry.timestamp
        if entry.seq == 1:
            ledger.ledger_id = entry.hash
    head_seq, _ = store.head()
    try:
        checkpoint = store.checkpoint()
    except (ValueError, TypeError) as error:
        raise IntegrityError(f"the checkpoint does not read: {error}") from error
    check_checkpoint_shape(checkpoint, head_seq)
    restore_checkpoint(ledger, checkpoint, store)
    for entry in store.entries(kinds=[EntryKind.principals]):
        if entry.seq > checkpoint.seq:
            break
        replay_principals(ledger, entry, verify_signatures=False)
        timestamp_last = max(timestamp_last, entry.timestamp)
        if entry.seq == 1:
            ledger.ledger_id = entry.hash
    if ledger.ledger_id == no_ledger_id:
        ledger.ledger_id = _first_entry_hash(store)
    tail = [EntryKind.transfers, EntryKind.principals]
    for entry in store.entries(after_seq=checkpoint.seq, kinds=tail):
        if entry.kind is EntryKind.principals:
            replay_principals(ledger, entry, verify_signatures=False)
            timestamp_last = max(timestamp_last, entry.timestamp)
        else:
            replay_transfers(ledger, entry.body, store, verify_signatures=False)
    # Journal timestamps only increase, definitions and principals entries included.
    ledger.timestamp_last = max(ledger.timestamp_last, timestamp_last)
    return ledger, checkpoint.seq


def _definitions_of(entry: JournalEntry) -> tuple[EntryHeader, list[Definition]]:
    try:
        return decode_definitions(entry.body)
    except (ValueError, InputError) as error:
        raise IntegrityError(f"journal entry {entry.seq} does not decode: {error}") from error


def _first_entry_hash(store: LedgerStore) -> bytes:
    """The ledger id when the first entry is neither a definition nor a principal (a store
    whose first entry is some other kind): that entry's hash, or zeros for an empty one."""
    for entry in store.entries():
        return entry.hash if entry.seq == 1 else no_ledger_id
    return no_ledger_id


def restore_checkpoint(ledger: Ledger, checkpoint: Checkpoint, store: LedgerStore) -> None:
    """Set the engine's state to the checkpoint's (checked by ``check_checkpoint_shape``
    first), refusing what contradicts the definitions, the stored transfers or the
    guarantees."""
    for account_id, balances in checkpoint.balances.items():
        account = ledger.accounts.get(account_id)
        if account is None:
            raise IntegrityError(f"checkpoint has a balance for unknown account {account_id}")
        (
            account.debits_pending,
            account.debits_posted,
            account.credits_pending,
            account.credits_posted,
        ) = balances
    records = store.transfers(list(checkpoint.pendings)) if checkpoint.pendings else {}
    for pending_id, row in checkpoint.pendings.items():
        record = records.get(pending_id)
        if record is None:
            raise IntegrityError(f"checkpoint names pending transfer {pending_id} not stored")
        check_pending_row(record, row.expires_at)
        status = PendingStatus(row.status)
        shortfalls = ledger.pending_shortfalls(record) if status is PendingStatus.pending else ()
        ledger.restore_pending(PendingState(record, row.expires_at, status, shortfalls))
    check_breaks(ledger, checkpoint.breaks)
    # Copies: the engine cures breaks in place, and a checkpoint may be kept and restored again
    # (the past states' snapshots, service/ledger/past.py).
    ledger.breaks.update({i: replace(broken) for i, broken in checkpoint.breaks.items()})
    ledger.reversed.update(checkpoint.reversed)
    ledger.timestamp_last = checkpoint.timestamp_last
    recompute_positions(ledger)
    check_restored(ledger)


def recompute_positions(ledger: Ledger) -> None:
    """Pool positions are sums; rebuild them from balances, pending transfers and breaks."""
    for position in ledger.positions.values():
        position.holdings = position.liabilities = 0
        position.shortfall_pending = position.breaks_outstanding = 0
    for account in ledger.accounts.values():
        held = account.position
        if held is None:
            continue
        if account.is_custody:
            held.holdings += account.debits_posted - account.credits_posted
        else:
            held.liabilities += account.credits_posted - account.debits_posted
    for pending in ledger.pendings.values():
        if pending.status is PendingStatus.pending:
            for position, shortfall in pending.shortfalls:
                position.shortfall_pending += shortfall
    for broken in ledger.breaks.values():
        ledger.positions[(broken.pool, broken.asset)].breaks_outstanding += broken.outstanding
