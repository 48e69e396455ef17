"""The ledger service: the one writer that turns requests into durable journal entries.

Gather, decide, apply: it gathers what a batch refers to from the store, lets the core engine
decide every event, and appends the committed records to the store as one hash-chained journal
entry before it returns any result. Nothing is acknowledged before it is durable. If anything
fails while the engine holds changes the store has not made durable (the store refuses or
fails, the engine or an encoder raises, the caller abandons a stream), the engine's in-memory
state is thrown away and rebuilt from the store, so memory never runs ahead of what was
written; if even that fails, the service rebuilds itself before its next use.

Every entry it writes is signed with the journal key (the ``Signer`` port) over its place and
hash (core/ledger/authenticity.py). A new journal's first entry declares the key; a writer whose key
is not the one the journal declares is refused before it writes anything.

Principals (core/principals/records.py) are journaled by the same writer, and replayed in journal
order with the transfers, so each transfer is checked against the keys as they stood when it was
made. Opening a store replays its tail with every rule checked but does not verify again the
signatures it holds (they were verified when committed; the audit verifies every one).
"""

from __future__ import annotations

import gc
import random
from collections import deque
from collections.abc import Callable, Generator, Iterable, Iterator, Sequence
from contextlib import closing, contextmanager, suppress
from dataclasses import dataclass, replace
from typing import Any

from ringfence.core import limits
from ringfence.core.errors import (
    AuthorisationError,
    HeadConflictError,
    InputError,
    IntegrityError,
    Result,
    RingfenceError,
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
    decode_transfers,
    encode_definitions,
    encode_journal_key,
    encode_principals,
    encode_transfers,
    head_message,
    key_possession_message,
    ledger_definition_kinds,
    seal,
)
from ringfence.core.ledger.model import (
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
from ringfence.core.ledger.state import AccountState, PendingState, PendingStatus, Position
from ringfence.core.money import Asset
from ringfence.core.principals.authorisation import no_ledger_id, sign, transfer_instruction
from ringfence.core.principals.records import (
    Endorsement,
    Principal,
    PrincipalChange,
    PrincipalState,
    endorse,
)
from ringfence.service.checkpoints import (
    check_breaks,
    check_checkpoint_shape,
    check_pending_row,
    check_restored,
)
from ringfence.service.ports import (
    Checkpoint,
    Clock,
    LedgerStore,
    PendingAppend,
    PendingRow,
    Signer,
)
from ringfence.service.streams import Refused, Stretch, stretches

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
        signer: Signer,
        checkpoint_interval_batches: int = checkpoint_interval_batches_default,
    ) -> None:
        assert 0 < checkpoint_interval_batches <= limits.checkpoint_interval_batches_max
        self.store = store
        self.clock = clock
        self.signer = signer
        self.checkpoint_interval_batches = checkpoint_interval_batches
        self.head_conflicts = 0  # batches decided again because another writer appended first
        self._jitter = random.Random()  # spreads the pauses of writers that collided
        # True while the engine may hold what the store has not made durable, and after a
        # failed rebuild: the next operation rebuilds it from the store first.
        self._stale = True
        self._wrote = False  # whether this service appended an entry (close checkpoints then)
        self._load()

    def _load(self) -> None:
        self.ledger, self.checkpoint_seq = load_ledger(self.store)
        self.ledger.id_max = self.store.transfer_id_max()
        self.seq, self.hash = self.store.head()
        self._batches_since_checkpoint = self.seq - self.checkpoint_seq
        self.journal_keys = load_journal_keys(self.store, self.seq)
        self._signing_checked = False
        self._stale = False

    # ------------------------------------------------------------------ the journal key

    @property
    def journal_key(self) -> bytes | None:
        """The public key the journal declares in force at its head (None before the first)."""
        return self.journal_keys.current

    def _check_signer(self) -> None:
        """Before the first write: the signer must hold the key the journal declares. A new
        journal (or one older than signing) gets the signer's key declared first, made if the
        signer has none yet."""
        if self._signing_checked:
            return
        declared = self.journal_keys.current
        held = self.signer.public_key()
        if declared is None:
            self._declare_key(None)
        elif held is None:
            raise InputError(
                Result.journal_key_missing,
                f"the journal is signed by {declared.hex()}; give its key file",
            )
        elif held != declared:
            raise InputError(
                Result.journal_key_mismatch,
                f"the journal is signed by {declared.hex()}, this key is {held.hex()}",
            )
        self._signing_checked = True

    def _declare_key(self, old: Signer | None, new: Signer | None = None) -> None:
        """Append a ``journal_keys`` entry: the first key (``old`` None: the signer's own,
        made now if needed) or a rotation from ``old`` to ``new``.

        It carries the timestamp of the entry before it (0 in a new journal) and takes none of
        its own, so a caller that already holds ``next_timestamp()`` for its entry keeps it.
        """
        incoming = self.signer if new is None else new
        public_key = incoming.public_key() or incoming.create()
        timestamp = self.ledger.timestamp_last
        seq = self.seq + 1
        possession = incoming.sign(key_possession_message(seq, self.hash, public_key))
        body = encode_journal_key(seq, timestamp, public_key, possession)
        entry = seal(seq, EntryKind.journal_keys, timestamp, body, self.hash)
        entry = replace(entry, signature=(old or incoming).sign(head_message(seq, entry.hash)))
        self._write(entry)
        self.journal_keys.follow(entry)

    def rotate_journal_key(self, new: Signer) -> bytes:
        """Hand the journal on to ``new``'s key (made now if it has none): the rotation entry
        is signed by the current key and carries the new key's signature over its place.
        Later entries are signed by the new key only; returns its public key."""
        self._fresh()
        self._check_signer()
        if new.public_key() == self.journal_keys.current:
            raise InputError(Result.journal_key_exists, "that key is already in force")
        self._declare_key(self.signer, new)
        self.signer = new
        public_key = self.journal_keys.current
        assert public_key is not None
        return public_key

    def signed_head(self) -> tuple[int, bytes, bytes]:
        """The head to publish (seq, hash, the journal key's signature over them); the
        journal holds it as its last entry's signature. (0, genesis, b"") when empty."""
        if self.seq == 0:
            return 0, self.hash, b""
        last = next(self.store.entries(after_seq=self.seq - 1))
        return last.seq, last.hash, last.signature

    def _fresh(self) -> None:
        """Rebuild the engine from the store if a failure left it stale."""
        if self._stale:
            self._load()

    def _recover(self) -> None:
        """After a failure while the engine was ahead of the store: rebuild it from the store.
        If the store cannot be read now either, the service stays stale and rebuilds before
        its next operation (the caller sees the original failure)."""
        self._stale = True
        with suppress(RingfenceError):
            self._load()

    @contextmanager
    def _undone_on_failure(self) -> Iterator[None]:
        """Run a change to the engine and its commit; on any failure, forget the change."""
        self._fresh()
        self._stale = True
        try:
            yield
        except BaseException:
            self._recover()
            raise
        self._stale = False

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
        with self._undone_on_failure():
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
        with self._undone_on_failure():
            results = [define(definition) for definition in definitions]
            created = [d for d, r in zip(definitions, results, strict=True) if r is Result.ok]
            self._commit_definitions(kind, created)
        return results

    def _commit_definitions(self, kind: EntryKind, created: list[Definition]) -> None:
        """Journal what the engine just defined (the caller undoes it all on any failure)."""
        if not created:
            return
        self._check_signer()
        timestamp = self._next_timestamp()
        body = encode_definitions(kind, self.seq + 1, timestamp, created)
        self._append(kind, timestamp, body, created)
        self.ledger.timestamp_last = timestamp

    def next_timestamp(self) -> int:
        """The timestamp the next journal entry will carry (never earlier than the last)."""
        self._fresh()
        return self._next_timestamp()

    def append_entry(self, kind: EntryKind, timestamp: int, encode: Callable[[int], bytes]) -> None:
        """Journal an entry decided elsewhere in the service (the wallet registry's changes),
        stamped ``timestamp`` (from ``next_timestamp``); ``encode(seq)`` gives its body."""
        assert kind not in ledger_definition_kinds
        assert kind is not EntryKind.transfers
        assert timestamp > self.ledger.timestamp_last
        with self._undone_on_failure():
            self._check_signer()
            self._append(kind, timestamp, encode(self.seq + 1))
            self.ledger.timestamp_last = timestamp

    # ------------------------------------------------------------------ transfers

    def submit(self, events: Sequence[Transfer]) -> list[Result]:
        """Execute one batch and return a result per event, after the batch is durable.

        If another process appended first (``HeadConflictError``: nothing of the batch was
        written), the engine reloads the other writers' entries and the batch is decided
        again on the new state, after a pause through the clock that grows with each
        conflict (``limits.head_conflict_backoff_ns_*``, jittered). So a batch commits or is
        refused on its merits; ``HeadConflictError`` reaches the caller only after conflicts
        for ``limits.head_conflict_wait_ns_max``. Never retried on any other failure: after a
        lost connection the outcome is unknown, and the caller resubmits (getting ``exists``
        for what landed).
        """
        deadline = self.clock.now_ns() + limits.head_conflict_wait_ns_max
        pause_max = limits.head_conflict_backoff_ns_min
        while True:
            try:
                for results in self.submit_stream([events]):
                    return results
                raise AssertionError("a stream of one batch yields one result list")
            except HeadConflictError:
                self.head_conflicts += 1
                if self.clock.now_ns() >= deadline:
                    raise
            self.clock.sleep_ns(self._jitter.randint(pause_max // 2, pause_max))
            pause_max = min(2 * pause_max, limits.head_conflict_backoff_ns_max)

    def submit_all(self, events: Sequence[Transfer]) -> list[Result]:
        """Submit any number of events in batches of at most 8,189; a linked chain commits
        whole or is refused whole (``linked_chain_too_long`` when longer than a batch)."""
        results: list[Result] = []
        for part in self.submit_events(events):
            results.extend(part)
        return results

    def submit_events(self, items: Iterable[Transfer | Refused]) -> Iterator[list[Result]]:
        """Submit a stream of any length, cut into batches by ``streams.stretches`` (the one
        owner of linked chains across batches), pipelined as ``submit_stream``.

        Yields the results of consecutive items, in stream order, as soon as they are
        durable (results decided without the engine go out with the batch after them); the
        stream is read as batches are needed, so memory stays bounded whatever its length.
        """
        planned = stretches(items)
        held: deque[Stretch] = deque()
        exhausted = False

        def batches() -> Iterator[list[Transfer]]:
            nonlocal exhausted
            for stretch in planned:
                held.append(stretch)
                if not stretch.events:
                    return  # only results: end the round so that they go out now
                yield stretch.events
            exhausted = True

        while not exhausted:
            with closing(self.submit_stream(batches())) as stream:
                for results in stream:
                    while not held[0].events:
                        yield held.popleft().merged([])
                    yield held.popleft().merged(results)
            while held:
                yield held.popleft().merged([])

    def submit_stream(
        self, batches: Iterable[Sequence[Transfer]]
    ) -> Generator[list[Result], None, None]:
        """Execute batches in order, each commit overlapping the next batch's execution.

        Yields each batch's results, in order, only once that batch is durable; a batch's
        results never depend on a later one. If anything fails (a commit, a checkpoint, the
        engine, the batches' own iterator), nothing after the last yield is acknowledged: the
        engine is rebuilt from the store and the failure raised. A caller that stops early
        leaves what it was given durable and nothing else in memory.
        """
        self._fresh()
        in_flight: _InFlight | None = None
        self._check_signer()
        try:
            for batch in batches:
                _check_batch(batch)
                wanted = self.ledger.references(batch)
                if wanted and in_flight is not None:  # it may hold what the batch refers to
                    settled, in_flight = self._settle(in_flight), None
                    yield settled
                self._stale = True  # until the batch is handed to the store
                with collector_paused():
                    results, entry, records, checkpoint = self._execute(batch, wanted)
                earlier = None if in_flight is None else self._settle(in_flight)
                in_flight = None
                if entry is not None:
                    pending = self.store.append_begin(entry, records)
                    self.seq, self.hash, self._wrote = entry.seq, entry.hash, True
                    in_flight = _InFlight(pending, results, entry.seq, checkpoint)
                self._stale = False
                if earlier is not None:
                    yield earlier
                if entry is None:  # every event refused and nothing expired: nothing to write
                    yield results
            if in_flight is not None:
                settled, in_flight = self._settle(in_flight), None
                yield settled
        except GeneratorExit:
            if in_flight is not None:  # written, though nobody waits for its results
                self._settle_abandoned(in_flight)
            raise
        except BaseException:
            if self._stale or in_flight is not None:
                self._recover()  # memory must not run ahead of the store
            raise

    def _settle_abandoned(self, in_flight: _InFlight) -> None:
        try:
            self._settle(in_flight)
        except BaseException:
            self._recover()

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
        entry = self._sealed(EntryKind.transfers, outcome.timestamp, body)
        self._batches_since_checkpoint += 1
        checkpoint = self._checkpoint_if_due(entry.seq, force=False)
        return outcome.results, entry, outcome.records, checkpoint

    def _settle(self, in_flight: _InFlight) -> list[Result]:
        """Wait until a batch is durable, then write the checkpoint built with it, if any."""
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
        self._write(self._sealed(kind, timestamp, body), definitions)

    def _sealed(self, kind: EntryKind, timestamp: int, body: bytes) -> JournalEntry:
        """The next entry, chained to the head and signed with the journal key."""
        entry = seal(self.seq + 1, kind, timestamp, body, self.hash)
        return replace(entry, signature=self.signer.sign(head_message(entry.seq, entry.hash)))

    def _write(self, entry: JournalEntry, definitions: Sequence[Definition] = ()) -> None:
        """Append a sealed, signed entry (the caller undoes the engine's change on failure)."""
        self.store.append(entry, (), definitions, None)
        self.seq, self.hash, self._wrote = entry.seq, entry.hash, True
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
        """Write the current state as a checkpoint now (before a backup; on close after
        writing). A failed write forgets what changed since the last one, so it rebuilds."""
        self._fresh()
        if self.checkpoint_seq == self.seq:
            return
        with self._undone_on_failure():
            checkpoint = build_checkpoint(self.ledger, self.seq)
            self.store.write_checkpoint(checkpoint)
        self.checkpoint_seq = self.seq
        self._batches_since_checkpoint = 0

    def close(self) -> None:
        """Checkpoint what this service wrote, and close the store. A service that only read
        writes nothing: a reader never changes a store, whatever it holds."""
        try:
            if self._wrote and not self._stale:
                self.checkpoint()
        finally:
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
        self._fresh()
        account = self.ledger.accounts.get(account_id)
        if account is None:
            raise InputError(Result.debit_account_not_found, f"account {account_id}")
        return _balance_of(account)

    def balances(self, client: str = "", pool: str = "", asset: str = "") -> Iterator[Balance]:
        self._fresh()
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
        self._fresh()
        return sorted(self.ledger.positions.values(), key=lambda p: (p.pool.name, p.asset))

    def breaks(self) -> list[Break]:
        self._fresh()
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
    try:
        header, records, expiries = decode_transfers(body)
        authorisations = decode_evidence(body, header)
    except ValueError as error:
        raise IntegrityError(f"a journal entry of transfers does not decode: {error}") from error
    try:
        events = events_of(ledger, records, authorisations)
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
    ledger.breaks.update(checkpoint.breaks)
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
