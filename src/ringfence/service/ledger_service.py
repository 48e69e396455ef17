"""The ledger service: the one writer that turns requests into durable journal entries.

Gather, decide, apply: it gathers what a batch refers to from the store, lets the core engine
decide every event, and appends the committed records to the store as one hash-chained journal
entry before it returns any result. Nothing is acknowledged before it is durable. If the store
refuses or fails, the engine's in-memory state is thrown away and rebuilt from the store, so
memory never runs ahead of what was written.

Principals (core/principals.py) are journaled by the same writer, and replayed in journal order
with the transfers, so each transfer is checked against the keys as they stood when it was
made. Opening a store replays its tail with every rule checked but does not verify again the
signatures it holds (they were verified when committed; the audit verifies every one).
"""

from __future__ import annotations

import gc
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, replace
from typing import Any

from ringfence.core import limits
from ringfence.core.authorisation import no_ledger_id, sign, transfer_instruction
from ringfence.core.errors import (
    AuthorisationError,
    HeadConflictError,
    InputError,
    IntegrityError,
    Result,
    StorageError,
    authorisation_results,
)
from ringfence.core.journal import (
    Definition,
    EntryKind,
    JournalEntry,
    decode_definitions,
    decode_evidence,
    decode_principals,
    decode_transfers,
    encode_definitions,
    encode_principals,
    encode_transfers,
    ledger_definition_kinds,
    seal,
)
from ringfence.core.ledger import Ledger
from ringfence.core.model import (
    AccountDefinition,
    Authorisation,
    Break,
    Pool,
    Transfer,
    TransferCode,
    TransferFlags,
    TransferRecord,
    check_name,
)
from ringfence.core.money import Asset
from ringfence.core.principals import (
    Endorsement,
    Principal,
    PrincipalChange,
    PrincipalState,
    endorse,
)
from ringfence.core.state import AccountState, PendingState, PendingStatus, Position
from ringfence.service.ports import Checkpoint, Clock, LedgerStore, PendingAppend, PendingRow

# A checkpoint is written when this many transfer entries have passed since the last one, and
# on close; opening a store replays at most this many entries past its checkpoint.
checkpoint_interval_batches_default = 64
assert checkpoint_interval_batches_default <= limits.checkpoint_interval_batches_max


@dataclass(frozen=True, slots=True)
class Balance:
    """One account's balances as a reader sees them."""

    account: AccountDefinition
    debits_pending: int
    debits_posted: int
    credits_pending: int
    credits_posted: int
    balance: int  # posted, on the account's normal side


class LedgerService:
    """The single writer for one store. Not thread-safe: one caller at a time."""

    def __init__(
        self,
        store: LedgerStore,
        clock: Clock,
        checkpoint_interval_batches: int = checkpoint_interval_batches_default,
    ) -> None:
        assert 0 < checkpoint_interval_batches <= limits.checkpoint_interval_batches_max
        self.store = store
        self.clock = clock
        self.checkpoint_interval_batches = checkpoint_interval_batches
        self.head_conflicts = 0  # batches decided again because another writer appended first
        self._load()

    def _load(self) -> None:
        self.ledger, self.checkpoint_seq = load_ledger(self.store)
        self.ledger.id_max = self.store.transfer_id_max()
        self.seq, self.hash = self.store.head()
        self._batches_since_checkpoint = self.seq - self.checkpoint_seq

    # ------------------------------------------------------------------ definitions

    def define_assets(self, assets: Sequence[Asset]) -> list[Result]:
        return self._define(EntryKind.assets, list(assets), self.ledger.define_asset)

    def define_clients(self, names: Sequence[str]) -> list[Result]:
        if len(names) > limits.definitions_per_request_max:
            raise InputError(Result.batch_too_large, f"{len(names)} clients")
        for name in names:
            check_name(name, "client")  # all or nothing: refuse the request before any change
        results: list[Result] = []
        created: list[Definition] = []
        for name in names:
            result, client = self.ledger.define_client(name)
            results.append(result)
            if result is Result.ok:
                assert client is not None
                created.append((client.name, client.number))
        self._commit_definitions(EntryKind.clients, created)
        return results

    def define_pools(self, pools: Sequence[Pool]) -> list[Result]:
        return self._define(EntryKind.pools, list(pools), self.ledger.define_pool)

    def define_accounts(self, accounts: Sequence[AccountDefinition]) -> list[Result]:
        return self._define(EntryKind.accounts, list(accounts), self.ledger.define_account)

    def _define(
        self, kind: EntryKind, definitions: list[Any], define: Callable[[Any], Result]
    ) -> list[Result]:
        if len(definitions) > limits.definitions_per_request_max:
            raise InputError(Result.batch_too_large, f"{len(definitions)} definitions")
        results = [define(definition) for definition in definitions]
        created = [d for d, r in zip(definitions, results, strict=True) if r is Result.ok]
        self._commit_definitions(kind, created)
        return results

    def _commit_definitions(self, kind: EntryKind, created: list[Definition]) -> None:
        if not created:
            return
        timestamp = self._next_timestamp()
        try:
            body = encode_definitions(kind, self.seq + 1, timestamp, created)
        except BaseException:
            self._load()  # the engine took definitions the journal cannot hold: forget them
            raise
        self._append(kind, timestamp, body, created)
        self.ledger.timestamp_last = timestamp

    def next_timestamp(self) -> int:
        """The timestamp the next journal entry will carry (never earlier than the last)."""
        return self._next_timestamp()

    def append_entry(self, kind: EntryKind, timestamp: int, encode: Callable[[int], bytes]) -> None:
        """Journal an entry decided elsewhere in the service (the wallet registry's changes),
        stamped ``timestamp`` (from ``next_timestamp``); ``encode(seq)`` gives its body."""
        assert kind not in ledger_definition_kinds
        assert kind is not EntryKind.transfers
        assert timestamp > self.ledger.timestamp_last
        self._append(kind, timestamp, encode(self.seq + 1))
        self.ledger.timestamp_last = timestamp

    # ------------------------------------------------------------------ transfers

    def submit(self, events: Sequence[Transfer]) -> list[Result]:
        """Execute one batch and return a result per event, after the batch is durable.

        If another process appended first (``HeadConflictError``: nothing of the batch was
        written), the engine has already reloaded the other writer's entries and the batch is
        decided again on the new state. Never on any other failure: after a lost connection
        the outcome is unknown, and the caller resubmits (getting ``exists`` for what landed).
        """
        for attempt in range(limits.head_conflict_retries_max + 1):
            try:
                for results in self.submit_stream([events]):
                    return results
            except HeadConflictError:
                self.head_conflicts += 1
                if attempt == limits.head_conflict_retries_max:
                    raise
        raise AssertionError("a stream of one batch yields one result list")

    def submit_all(self, events: Sequence[Transfer]) -> list[Result]:
        """Submit any number of events in batches of at most 8,189, keeping linked chains whole."""
        results: list[Result] = []
        for batch_results in self.submit_stream(batches_of(events)):
            results.extend(batch_results)
        return results

    def submit_stream(self, batches: Iterable[Sequence[Transfer]]) -> Iterator[list[Result]]:
        """Execute batches in order, each commit overlapping the next batch's execution.

        Yields each batch's results, in order, only once that batch is durable; a batch's
        results never depend on a later one. If a commit fails, nothing after it is
        acknowledged: the engine is rebuilt from the store and ``StorageError`` raised.
        """
        in_flight: _InFlight | None = None
        try:
            for batch in batches:
                _check_batch(batch)
                wanted = self.ledger.references(batch)
                if wanted and in_flight is not None:  # it may hold what the batch refers to
                    yield self._settle(in_flight)
                    in_flight = None
                with collector_paused():
                    results, entry, records, checkpoint = self._execute(batch, wanted)
                if in_flight is not None:
                    yield self._settle(in_flight)
                    in_flight = None
                if entry is None:  # every event refused and nothing expired: nothing to write
                    yield results
                    continue
                pending = self.store.append_begin(entry, records)
                self.seq, self.hash = entry.seq, entry.hash
                in_flight = _InFlight(pending, results, entry.seq, checkpoint)
            if in_flight is not None:
                yield self._settle(in_flight)
        except StorageError:
            self._load()  # memory must not run ahead of the store
            raise

    def _execute(
        self, batch: Sequence[Transfer], wanted: set[int]
    ) -> tuple[list[Result], JournalEntry | None, list[TransferRecord], Checkpoint | None]:
        """Decide a batch and seal its journal entry (``None`` if it changed nothing)."""
        known = self.store.transfers(wanted) if wanted else {}
        outcome = self.ledger.execute(batch, self._next_timestamp(), known)
        if not (outcome.records or outcome.expiries):
            return outcome.results, None, [], None
        seq = self.seq + 1
        body = encode_transfers(
            seq, outcome.timestamp, outcome.records, outcome.expiries, outcome.authorisations
        )
        entry = seal(seq, EntryKind.transfers, outcome.timestamp, body, self.hash)
        self._batches_since_checkpoint += 1
        checkpoint = self._checkpoint_if_due(entry.seq, force=False)
        return outcome.results, entry, outcome.records, checkpoint

    def _settle(self, in_flight: _InFlight) -> list[Result]:
        in_flight.pending.wait()
        if in_flight.checkpoint is not None:
            self.store.write_checkpoint(in_flight.checkpoint)
            self.checkpoint_seq = in_flight.seq
        return in_flight.results

    def _next_timestamp(self) -> int:
        return max(self.clock.now_ns(), self.ledger.timestamp_last + 1)

    def _append(
        self,
        kind: EntryKind,
        timestamp: int,
        body: bytes,
        definitions: Sequence[Definition] = (),
    ) -> None:
        entry = seal(self.seq + 1, kind, timestamp, body, self.hash)
        try:
            self.store.append(entry, (), definitions, None)
        except StorageError:
            self._load()  # memory must not run ahead of the store
            raise
        self.seq, self.hash = entry.seq, entry.hash
        if entry.seq == 1:
            self.ledger.ledger_id = entry.hash

    def _checkpoint_if_due(self, seq: int, force: bool) -> Checkpoint | None:
        """A checkpoint of the state as of entry ``seq``, if one is due; built now, written
        once the entry is durable."""
        due = self._batches_since_checkpoint >= self.checkpoint_interval_batches
        if not (force or due):
            return None
        self._batches_since_checkpoint = 0
        return build_checkpoint(self.ledger, seq)

    def checkpoint(self) -> None:
        """Write the current state as a checkpoint now (on clean close, before a backup)."""
        if self.checkpoint_seq == self.seq:
            return
        checkpoint = build_checkpoint(self.ledger, self.seq)
        self.store.write_checkpoint(checkpoint)
        self.checkpoint_seq = self.seq
        self._batches_since_checkpoint = 0

    def close(self) -> None:
        self.checkpoint()
        self.store.close()

    # ------------------------------------------------------------------ principals

    @property
    def ledger_id(self) -> bytes:
        """What authorisations and endorsements bind to: the hash of the journal's first entry
        (32 zero bytes while the journal is empty)."""
        return self.ledger.ledger_id

    def change_principals(self, changes: Sequence[PrincipalChange]) -> list[Result]:
        """Register, rotate or revoke principals: a result per change; the accepted ones
        become one journal entry, each with its endorsement as evidence."""
        if len(changes) > limits.definitions_per_request_max:
            raise InputError(Result.batch_too_large, f"{len(changes)} principal changes")
        timestamp = self._next_timestamp()
        registry = self.ledger.principals
        results: list[Result] = []
        records: list[tuple[int, Principal]] = []
        endorsements: list[Authorisation] = []
        for change in changes:
            result, endorser = registry.apply(
                change, self.ledger.clients, self.ledger.ledger_id, timestamp
            )
            results.append(result)
            if result is not Result.ok:
                continue
            if change.endorsement is not None:
                signature = change.endorsement.signature
                endorsements.append(Authorisation(len(records), endorser, signature))
            records.append((registry.by_name[change.principal.name].number, change.principal))
        if records:
            try:
                self.append_entry(
                    EntryKind.principals,
                    timestamp,
                    lambda seq: encode_principals(seq, timestamp, records, endorsements),
                )
            except BaseException:
                self._load()  # memory must not run ahead of the store, whatever failed
                raise
        return results

    def endorse(self, principal: Principal, endorser: str, seed: bytes) -> PrincipalChange:
        """``principal`` endorsed by the admin ``endorser`` holding the key of ``seed``, for
        this ledger (the signing side: an admin's tool)."""
        return endorse(self.ledger.ledger_id, endorser, seed, principal)

    def authorise(self, transfer: Transfer, seed: bytes) -> Transfer:
        """``transfer`` with its authorisation: signed, with the key of ``seed``, by the
        principal it names in ``authorised_by`` (the signing side: a client's tool)."""
        if not transfer.authorised_by:
            raise InputError(Result.authorisation_required, f"transfer {transfer.id}")
        if type(transfer.amount) is not int:
            raise InputError(Result.amount_required, f"transfer {transfer.id}")
        account = self.ledger.accounts.get(transfer.debit_account)
        if account is None:
            raise InputError(Result.debit_account_not_found, f"transfer {transfer.id}")
        message = transfer_instruction(self.ledger.ledger_id, transfer, account.asset)
        return replace(transfer, authorisation=sign(seed, message))

    def principals(self) -> list[PrincipalState]:
        return sorted(self.ledger.principals.by_number.values(), key=lambda s: s.number)

    # ------------------------------------------------------------------ reading

    def balance(self, account_id: int) -> Balance:
        account = self.ledger.accounts.get(account_id)
        if account is None:
            raise InputError(Result.debit_account_not_found, f"account {account_id}")
        return _balance_of(account)

    def balances(self, client: str = "", pool: str = "", asset: str = "") -> Iterator[Balance]:
        for account in self.ledger.accounts.values():
            definition = account.definition
            if client and not (definition.owner == client and account.owner_number):
                continue
            if pool and definition.pool != pool:
                continue
            if asset and definition.asset != asset:
                continue
            yield _balance_of(account)

    def positions(self) -> list[Position]:
        return sorted(self.ledger.positions.values(), key=lambda p: (p.pool.name, p.asset))

    def breaks(self) -> list[Break]:
        return sorted(self.ledger.breaks.values(), key=lambda b: b.opened_at)


@dataclass(frozen=True, slots=True)
class _InFlight:
    """A batch executed and being committed; its results wait for the commit."""

    pending: PendingAppend
    results: list[Result]
    seq: int
    checkpoint: Checkpoint | None


@contextmanager
def collector_paused() -> Iterator[None]:
    """Pause Python's cycle collector while a batch is decided and encoded (and while a plan,
    a tree or a report of the same kind is built).

    A batch allocates a record per event and no reference cycles, yet the collector would run
    a dozen times over it and walk every live account each time (a fifth of the engine's time,
    measured). Garbage is still freed by reference counting; collection resumes before any
    result is handed back.
    """
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if enabled:
            gc.enable()


def _check_batch(events: Sequence[Transfer]) -> None:
    if not events:
        raise InputError(Result.batch_empty)
    if len(events) > limits.batch_events_max:
        raise InputError(Result.batch_too_large, f"{len(events)} events")


def _balance_of(account: AccountState) -> Balance:
    return Balance(account.definition, *account.balances(), account.balance)


def batches_of(events: Sequence[Transfer]) -> Iterator[Sequence[Transfer]]:
    """Cut a stream into batches of at most the limit without splitting a linked chain.

    A chain longer than a batch cannot commit; it is cut at the limit and fails as an open
    chain, which is the honest result.
    """
    start = 0
    size_max = limits.batch_events_max
    while start < len(events):
        end = min(start + size_max, len(events))
        if end < len(events):
            cut = end
            while cut > start and events[cut - 1].flags & TransferFlags.linked:
                cut -= 1
            end = cut if cut > start else end
        yield events[start:end]
        start = end


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
    ledger: Ledger, records: list[TransferRecord], authorisations: Sequence[Authorisation] = ()
) -> list[Transfer]:
    """The events that, executed again, must commit exactly these records: each authorised
    one with the principal the record names and the signature its evidence holds."""
    evidence = {authorisation.record_index: authorisation for authorisation in authorisations}
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
    header, records, expiries = decode_transfers(body)
    authorisations = decode_evidence(body, header)
    try:
        events = events_of(ledger, records, authorisations)
    except AuthorisationError as error:
        raise AuthorisationError(f"journal entry {header.seq}: {error}") from error
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
    if outcome.expiries != expiries:
        raise IntegrityError(f"journal entry {header.seq}: expiries differ on replay")
    return header.seq, records


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
    (transfers and principals in journal order, signatures not verified again)."""
    ledger = Ledger()
    timestamp_last = 0
    for entry in store.entries(kinds=ledger_definition_kinds):
        header, definitions = decode_definitions(entry.body)
        apply_definitions(ledger, header.kind, definitions)
        timestamp_last = entry.timestamp
        if entry.seq == 1:
            ledger.ledger_id = entry.hash
    checkpoint = store.checkpoint()
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


def _first_entry_hash(store: LedgerStore) -> bytes:
    """The ledger id when the first entry is neither a definition nor a principal (a store
    whose first entry is some other kind): that entry's hash, or zeros for an empty one."""
    for entry in store.entries():
        return entry.hash if entry.seq == 1 else no_ledger_id
    return no_ledger_id


def restore_checkpoint(ledger: Ledger, checkpoint: Checkpoint, store: LedgerStore) -> None:
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
        status = PendingStatus(row.status)
        shortfalls = ledger.pending_shortfalls(record) if status is PendingStatus.pending else ()
        ledger.restore_pending(PendingState(record, row.expires_at, status, shortfalls))
    ledger.breaks.update(checkpoint.breaks)
    ledger.reversed.update(checkpoint.reversed)
    ledger.timestamp_last = checkpoint.timestamp_last
    recompute_positions(ledger)


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
