"""The segregated ledger engine: deterministic, in memory, no I/O.

``Ledger.execute`` takes one batch of up to 8,189 transfers, the batch's timestamp (from the
shell's clock) and the already-committed transfers the batch refers to (gathered by the shell
from its store), and returns a result per event plus the records to commit. It applies the
batch to its own in-memory state; the shell makes the records durable before acknowledging, and
discards the engine (reopens from the store) if it cannot.

Every event is checked against the guarantees of the design (§3) before it changes anything:
debits equal credits by construction (one debit and one credit of one amount in one asset); no
client account goes below zero with pending debits counted; the segregation rule table allows
the code between the two accounts; and no custody pool ends up holding less than it owes its
clients, whatever happens to the pending transfers still open. A ``linked`` chain commits or
fails as a whole. The same id with the same body is ``exists``; with another body, an error
naming the first field that differs.

A rule that needs the debited client's authorisation (an internal transfer) commits only with
evidence: the transfer names an active principal acting for that client (core/principals/records.py)
and carries its Ed25519 signature over the canonical instruction (core/principals/authorisation.py),
checked here against the key as it stands; the outcome lists each authorised record's
evidence for the journal. Transfers whose rule needs no authorisation never reach the check.

One concept a module: this one decides batches and events (``Ledger``); ``rules.py`` holds
the segregation, authorisation and idempotency checks, ``changes.py`` the state and every
change to it (definitions, postings, pending transfers, breaks, undo), ``checks.py`` the
field checks and ``balances.py`` the balance and coverage checks.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from functools import partial
from typing import cast

from ringfence.core import limits
from ringfence.core.errors import Result
from ringfence.core.ledger.balances import check_balances, check_coverage, check_post_coverage
from ringfence.core.ledger.changes import Expiry, UndoLog
from ringfence.core.ledger.checks import (
    account_result,
    account_type_result,
    amount_result,
    check_pending_matches,
    check_resolving_fields,
    check_timeout,
    id_result,
    pending_id_result,
)
from ringfence.core.ledger.metadata import RecordMetadata, metadata_encoding, no_metadata
from ringfence.core.ledger.model import (
    Authorisation,
    Transfer,
    TransferCode,
    TransferFlags,
    TransferRecord,
    transfer_flags_known,
)
from ringfence.core.ledger.rules import LedgerRules
from ringfence.core.ledger.segregation import (
    rule_index,
    rule_key,
)
from ringfence.core.ledger.state import PendingStatus

__all__ = ["BatchOutcome", "Expiry", "Ledger"]

_ok = Result.ok
_exists = Result.exists
_post = TransferFlags.post_pending
_u128 = limits.amount_units_max
_codes = frozenset(int(code) for code in TransferCode)
_reversal = int(TransferCode.reversal)
_linked_bit = int(TransferFlags.linked)
_pending_bit = int(TransferFlags.pending)
_post_bit = int(TransferFlags.post_pending)
_void_bit = int(TransferFlags.void_pending)
_two_phase_bits = _pending_bit | _post_bit | _void_bit
_unknown_flags = ~int(transfer_flags_known)
# The values of fields left at their default. CPython keeps one ``0`` and one ``""``, so the
# hot path tells a default field by identity (one comparison) and checks anything else in full:
# an int zero that is not this object (impossible in CPython) would only take the slower path.
_zero = 0
_empty = ""
_no_metadata = no_metadata
_no_known_metadata: Mapping[int, bytes] = {}


# Records are built without the named tuple's Python-level ``__new__`` (twice as fast): this is
# the hot path, and the fields are already checked, twelve ints in declaration order.
_new_record = cast(
    "Callable[[tuple[int, ...]], TransferRecord]", partial(tuple.__new__, TransferRecord)
)


@dataclass(frozen=True, slots=True)
class BatchOutcome:
    timestamp: int
    results: list[Result]
    records: list[TransferRecord]
    expiries: list[Expiry]
    authorisations: list[Authorisation] = field(default_factory=list)  # one per authoriser
    metadata: list[RecordMetadata] = field(default_factory=list)  # one per record with some


class Ledger(LedgerRules):
    """All asset ledgers of one firm: executes batches of transfers against their state."""

    # ------------------------------------------------------------------ transfers

    def references(self, events: Iterable[Transfer]) -> set[int]:
        """Ids of committed transfers the batch may need that the engine does not hold: its own
        ids (for idempotency) and the transfers its reversals refer to.

        An id above the largest id ever committed cannot exist, so a client that chooses
        time-ordered ids (as ledgers advise) costs the store no lookup at all.
        """
        id_max = self.id_max
        wanted: set[int] = set()
        for event in events:
            if event.__class__ is not Transfer:
                continue  # refused by execute (event_must_be_a_transfer)
            transfer_id = event.id
            if type(transfer_id) is int and 0 < transfer_id <= id_max:
                wanted.add(transfer_id)
            reference = event.reference
            if event.code == _reversal and type(reference) is int and 0 < reference <= id_max:
                wanted.add(reference)
        return wanted

    def execute(
        self,
        events: Sequence[Transfer],
        timestamp: int,
        known: Mapping[int, TransferRecord],
        *,
        verify_signatures: bool = True,
        known_metadata: Mapping[int, bytes] = _no_known_metadata,
    ) -> BatchOutcome:
        """Execute one batch. ``known`` holds committed transfers with ids in ``references``,
        ``known_metadata`` the canonical metadata of those of them that have some (a retry is
        compared with it).

        ``verify_signatures=False`` is for rebuilding state from the ledger's own journal on
        open: every rule is still checked, authorisations included, but signatures that were
        verified when they were committed are not verified again (the audit does that)."""
        assert 0 < len(events) <= limits.batch_events_max
        assert timestamp > self.timestamp_last
        assert timestamp + len(events) < limits.timestamp_ns_max
        self._verify_signatures = verify_signatures
        self._known_metadata = known_metadata
        expiries = self._expire(timestamp)
        results: list[Result] = [_ok] * len(events)
        records: list[TransferRecord] = []
        self._batch = {}
        self._batch_metadata = {}
        authorisations = self._authorisations = []
        metadata = self._metadata = []
        chain_start = -1
        chain_records = 0
        chain_failed = False
        for index, event in enumerate(events):
            is_transfer = event.__class__ is Transfer
            if is_transfer:
                flags = event.flags
                linked = flags.__class__ is TransferFlags and flags._value_ & _linked_bit != 0
            else:
                linked = False  # not a transfer: it has no flags, and it is refused
            if chain_start < 0 and linked:
                chain_start, chain_failed = index, False
                self._undo = UndoLog()
                chain_records = len(records)
            if chain_failed:
                results[index] = Result.linked_event_failed
            else:
                # Committed events take consecutive timestamps, so a replay of the journal
                # (which holds only committed events) assigns the very same ones.
                result = (
                    self._execute_event(event, timestamp + len(records), known, records)
                    if is_transfer
                    else Result.event_must_be_a_transfer
                )
                results[index] = result
                if chain_start >= 0 and result is not _ok and result is not _exists:
                    self._roll_back(chain_start, index, results, records, chain_records)
                    chain_failed = True
            if chain_start >= 0 and not linked:
                chain_start, chain_failed, self._undo = -1, False, None
        if chain_start >= 0:
            if not chain_failed:
                self._roll_back(chain_start, len(events) - 1, results, records, chain_records)
            results[-1] = Result.linked_event_chain_open
            self._undo = None
        self._end_batch(timestamp + len(events) - 1, records)
        return BatchOutcome(timestamp, results, records, expiries, authorisations, metadata)

    def _end_batch(self, timestamp_last: int, records: list[TransferRecord]) -> None:
        """Forget the batch's own bookkeeping; remember its last timestamp and largest id."""
        self._batch = {}
        self._batch_metadata = {}
        self._authorisations = []
        self._metadata = []
        self._known_metadata = _no_known_metadata
        self.timestamp_last = timestamp_last
        if records:
            self.id_max = max(self.id_max, *(record.id for record in records))

    def _roll_back(
        self,
        start: int,
        failed: int,
        results: list[Result],
        records: list[TransferRecord],
        records_before: int,
    ) -> None:
        undo = self._undo
        assert undo is not None
        for account, balances in undo.accounts.values():
            (
                account.debits_pending,
                account.debits_posted,
                account.credits_pending,
                account.credits_posted,
            ) = balances
        for position, holdings, liabilities, shortfall, outstanding in undo.positions.values():
            position.holdings = holdings
            position.liabilities = liabilities
            position.shortfall_pending = shortfall
            position.breaks_outstanding = outstanding
        self._roll_back_references(undo)
        for transfer_id in undo.created:
            del self._batch[transfer_id]
            self._batch_metadata.pop(transfer_id, None)
        del records[records_before:]
        authorisations = self._authorisations
        while authorisations and authorisations[-1].record_index >= records_before:
            authorisations.pop()
        metadata = self._metadata
        while metadata and metadata[-1].record_index >= records_before:
            metadata.pop()
        for index in range(start, failed):
            results[index] = Result.linked_event_failed
        self._undo = UndoLog()

    def _roll_back_references(self, undo: UndoLog) -> None:
        for pending_id, (pending, status) in undo.pendings.items():
            if pending is None:
                del self.pendings[pending_id]
            else:
                assert status is not None
                pending.status = status
        for break_id, (broken, cured) in undo.breaks.items():
            if broken is None:
                del self.breaks[break_id]
            else:
                broken.cured = cured
        for transfer_id, amount in undo.reversed.items():
            if amount is None:
                del self.reversed[transfer_id]
            else:
                self.reversed[transfer_id] = amount

    # ------------------------------------------------------------------ one event

    def _execute_event(
        self,
        event: Transfer,
        timestamp: int,
        known: Mapping[int, TransferRecord],
        records: list[TransferRecord],
    ) -> Result:
        """Decide one event (a ``Transfer``: ``execute`` refuses anything else). Every field is
        checked for its type and range before it is read: here the ones every path reads, the
        others where each path first reads them; nothing changes until all checks pass."""
        transfer_id = event.id
        if type(transfer_id) is not int or not 0 < transfer_id <= _u128:
            return id_result(transfer_id)
        flags = event.flags
        if type(flags) is not TransferFlags:
            return Result.flag_unknown
        raw = flags._value_
        if raw & _unknown_flags:
            return Result.flag_unknown
        # Metadata is checked before anything else reads the event: a transfer with metadata
        # that is not well formed changes nothing, and a retry compares the canonical bytes.
        encoded = b""
        if event.metadata is not _no_metadata:  # the common case costs this one comparison
            checked = metadata_encoding(event.metadata)
            if checked.__class__ is not bytes:
                assert isinstance(checked, Result)
                return checked
            assert isinstance(checked, bytes)
            encoded = checked
        existing = self._batch.get(transfer_id)
        if existing is None and known:
            existing = known.get(transfer_id)
        if existing is not None:
            result = self._compare_existing(event, existing)
            if result is _exists and encoded != self._metadata_of(transfer_id):
                return Result.exists_with_different_metadata
            return result
        two_phase = raw & _two_phase_bits
        if two_phase and two_phase != _pending_bit:
            if two_phase not in (_post_bit, _void_bit):
                return Result.flags_are_mutually_exclusive
            record = self._resolve_pending(event, timestamp)
        else:
            record = self._execute_transfer(event, raw, timestamp, known)
        if record.__class__ is not TransferRecord:
            assert isinstance(record, Result)
            return record
        assert isinstance(record, TransferRecord)
        self._batch[transfer_id] = record
        if self._undo is not None:
            self._undo.created.append(transfer_id)
        records.append(record)
        authoriser = record[7]  # a principal's number: evidence to journal with the record
        if authoriser:
            self._authorisations.append(
                Authorisation(len(records) - 1, authoriser, event.authorisation)
            )
        if encoded:
            self._metadata.append(RecordMetadata(len(records) - 1, encoded))
            self._batch_metadata[transfer_id] = encoded
        return _ok

    def _metadata_of(self, transfer_id: int) -> bytes:
        """The canonical metadata of a transfer committed before (in this batch or earlier)."""
        if transfer_id in self._batch:
            return self._batch_metadata.get(transfer_id, b"")
        return self._known_metadata.get(transfer_id, b"")

    def _execute_transfer(
        self, event: Transfer, raw: int, timestamp: int, known: Mapping[int, TransferRecord]
    ) -> TransferRecord | Result:
        """A transfer that moves value now (or reserves it, when pending). The common case."""
        amount = event.amount
        if type(amount) is not int or not 0 < amount <= _u128:
            return amount_result(amount)
        code = event.code
        if code.__class__ is not TransferCode and (type(code) is not int or code not in _codes):
            return Result.code_unknown
        if event.pending_id is not _zero:
            return pending_id_result(event.pending_id, Result.pending_id_must_be_zero)
        timeout_s = event.timeout_s
        if timeout_s is not _zero and (refused := check_timeout(timeout_s, raw)) is not None:
            return refused
        reference = event.reference
        if reference is not _zero and (type(reference) is not int or not 0 < reference <= _u128):
            return Result.reference_must_be_u128
        # A list cannot be looked up, and a float or a bool would find the account it equals.
        debit_account, credit_account = event.debit_account, event.credit_account
        if debit_account.__class__ is not int or credit_account.__class__ is not int:
            return account_type_result(debit_account)
        accounts = self.accounts
        debit = accounts.get(debit_account)
        if debit is None:
            return account_result(debit_account, Result.debit_account_not_found)
        credit = accounts.get(credit_account)
        if credit is None:
            return account_result(credit_account, Result.credit_account_not_found)
        if debit is credit:
            return Result.accounts_must_be_different
        if debit.asset != credit.asset:
            return Result.accounts_must_have_same_asset
        asset = event.asset
        if asset is not _empty and (refused := self._check_asset(asset, debit.asset)) is not None:
            return refused
        if code == _reversal:
            rule = None
            refused, authoriser = self._check_reversal(event, debit, credit, known), 0
        else:
            rule = rule_index.get((code << 8) | debit.role_bits_debit | credit.role)
            refused, authoriser = self._check_segregation(rule, event, debit, credit, raw)
        if refused is None:
            refused = check_balances(debit, credit, amount)
        if refused is None and (debit.position is not None or credit.position is not None):
            exempt = rule is not None and rule.coverage_exempt
            refused = check_coverage(debit, credit, amount, bool(raw & _pending_bit), exempt)
        if refused is not None:
            return refused
        record = _new_record(
            (
                event.id,
                debit.id,
                credit.id,
                amount,
                0,
                reference,
                timestamp,
                authoriser,
                timeout_s,
                debit.asset,
                int(code),
                raw,
            )
        )
        if raw & _pending_bit:
            self._apply_pending(record, debit, credit)
        else:
            self._apply_posted(record, debit, credit, amount, rule)
        return record

    # ------------------------------------------------------------------ two-phase

    def _resolve_pending(self, event: Transfer, timestamp: int) -> TransferRecord | Result:
        """Post or void a pending transfer, in full or (posting) in part."""
        refused = check_resolving_fields(event)
        if refused is not None:
            return refused
        pending = self.pendings.get(event.pending_id)
        if pending is None:
            return Result.pending_transfer_not_found
        refused = check_pending_matches(event, pending)
        if refused is not None:
            return refused
        original = pending.record
        if event.asset and self._asset_number(event.asset) != original.asset:
            return Result.asset_does_not_match_accounts
        post = bool(event.flags & _post)
        amount = original.amount if event.amount is None else event.amount
        if not post and amount != original.amount:
            return Result.void_amount_must_match_pending_amount
        if amount > original.amount:
            return Result.exceeds_pending_transfer_amount
        debit = self.accounts[original.debit_account]
        credit = self.accounts[original.credit_account]
        if post:
            refused = check_post_coverage(original, debit, credit, amount, pending)
            if refused is not None:
                return refused
        record = TransferRecord(
            event.id,
            original.debit_account,
            original.credit_account,
            amount,
            original.id,
            0,
            timestamp,
            0,
            0,
            original.asset,
            original.code,
            int(event.flags),
        )
        self._release_pending(pending, PendingStatus.posted if post else PendingStatus.voided)
        if post:
            rule = rule_index.get(rule_key(original.code, debit.role, credit.role))
            self._apply_posted(record, debit, credit, amount, rule)
        return record
