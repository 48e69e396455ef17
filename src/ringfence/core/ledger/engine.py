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
"""

from __future__ import annotations

import heapq
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from functools import partial
from typing import cast

from ringfence.core import limits
from ringfence.core.errors import Result
from ringfence.core.ledger.model import (
    AccountClass,
    AccountDefinition,
    Authorisation,
    Break,
    Client,
    Pool,
    PoolKind,
    Role,
    Transfer,
    TransferCode,
    TransferFlags,
    TransferRecord,
    transfer_flags_known,
)
from ringfence.core.ledger.segregation import (
    Markets,
    Owners,
    Pools,
    Rule,
    codes_not_reversible,
    market_relation_result,
    missing_rule_result,
    rule_index,
    rule_key,
)
from ringfence.core.ledger.state import AccountState, Limit, PendingState, PendingStatus, Position
from ringfence.core.money import Asset
from ringfence.core.principals.authorisation import (
    instruction_message,
    no_ledger_id,
    signature_verifies,
)
from ringfence.core.principals.records import PrincipalRole, Principals

_ok = Result.ok
_exists = Result.exists
_linked = TransferFlags.linked
_pending = TransferFlags.pending
_post = TransferFlags.post_pending
_void = TransferFlags.void_pending
_two_phase = _pending | _post | _void
_credit_normal = Limit.credit_normal
_debit_normal = Limit.debit_normal
_u128 = limits.amount_units_max
_codes = frozenset(int(code) for code in TransferCode)
_reversal = int(TransferCode.reversal)
_same_pool = Pools.same
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


# Records are built without the named tuple's Python-level ``__new__`` (twice as fast): this is
# the hot path, and the fields are already checked, twelve ints in declaration order.
_new_record = cast(
    "Callable[[tuple[int, ...]], TransferRecord]", partial(tuple.__new__, TransferRecord)
)
_client_roles = frozenset({Role.client_available, Role.client_collateral})


@dataclass(frozen=True, slots=True)
class Expiry:
    """A pending transfer released because its timeout passed before the batch's timestamp."""

    pending_id: int
    timestamp: int


@dataclass(frozen=True, slots=True)
class BatchOutcome:
    timestamp: int
    results: list[Result]
    records: list[TransferRecord]
    expiries: list[Expiry]
    authorisations: list[Authorisation] = field(default_factory=list)  # one per authoriser


class _Undo:
    """What a linked chain changed, so a failing chain leaves no trace."""

    __slots__ = ("accounts", "breaks", "created", "pendings", "positions", "reversed")

    def __init__(self) -> None:
        self.accounts: dict[int, tuple[AccountState, tuple[int, int, int, int]]] = {}
        self.positions: dict[int, tuple[Position, int, int, int, int]] = {}
        self.pendings: dict[int, tuple[PendingState | None, PendingStatus | None]] = {}
        self.breaks: dict[int, tuple[Break | None, int]] = {}
        self.reversed: dict[int, int | None] = {}
        self.created: list[int] = []


class Ledger:
    """All asset ledgers of one firm, with their definitions and balances."""

    def __init__(self) -> None:
        self.assets: dict[str, Asset] = {}
        self.assets_by_number: dict[int, Asset] = {}
        self.clients: dict[str, Client] = {}
        self.clients_by_number: dict[int, Client] = {}
        self.pools: dict[str, Pool] = {}
        self.accounts: dict[int, AccountState] = {}
        self.positions: dict[tuple[str, int], Position] = {}
        self.pendings: dict[int, PendingState] = {}
        self.breaks: dict[int, Break] = {}
        self.reversed: dict[int, int] = {}  # transfer id -> amount reversed so far
        # Who may authorise, and the ledger id their signatures bind (the hash of the journal's
        # first entry, set by the shell once that entry exists).
        self.principals = Principals()
        self.ledger_id = no_ledger_id
        self.timestamp_last = 0
        self.id_max = 0  # the largest transfer id committed
        self._expiry_queue: list[tuple[int, int]] = []
        self._undo: _Undo | None = None
        self._batch: dict[int, TransferRecord] = {}
        self._authorisations: list[Authorisation] = []
        self._verify_signatures = True
        # Identities of state changed since the last checkpoint, for the store to persist.
        self.dirty_accounts: set[int] = set()
        self.dirty_pendings: set[int] = set()
        self.dirty_breaks: set[int] = set()
        self.dirty_reversed: set[int] = set()

    # ------------------------------------------------------------------ definitions

    def define_asset(self, asset: Asset) -> Result:
        existing = self.assets.get(asset.code) or self.assets_by_number.get(asset.number)
        if existing is not None:
            return _exists if existing == asset else Result.definition_exists_with_different_body
        self.assets[asset.code] = asset
        self.assets_by_number[asset.number] = asset
        return _ok

    def define_client(self, name: str) -> tuple[Result, Client | None]:
        existing = self.clients.get(name)
        if existing is not None:
            return _exists, existing
        client = Client(name, len(self.clients) + 1)
        assert client.number not in self.clients_by_number
        self.clients[name] = client
        self.clients_by_number[client.number] = client
        return _ok, client

    def define_pool(self, pool: Pool) -> Result:
        existing = self.pools.get(pool.name)
        if existing is not None:
            return _exists if existing == pool else Result.definition_exists_with_different_body
        if pool.kind is PoolKind.individual and pool.client not in self.clients:
            return Result.client_not_found
        self.pools[pool.name] = pool
        return _ok

    def define_account(self, definition: AccountDefinition) -> Result:
        existing = self.accounts.get(definition.id)
        if existing is not None:
            same = existing.definition == definition
            return _exists if same else Result.definition_exists_with_different_body
        asset = self.assets.get(definition.asset)
        if asset is None:
            return Result.asset_not_found
        owner = 0
        if definition.account_class is AccountClass.client:
            client = self.clients.get(definition.owner)
            if client is None:
                return Result.client_not_found
            owner = client.number
        position = None
        if definition.pool:
            pool = self.pools.get(definition.pool)
            if pool is None:
                return Result.pool_not_found
            if pool.kind is PoolKind.individual and owner and pool.client != definition.owner:
                return Result.client_not_in_pool
            position = self.positions.get((pool.name, asset.number))
            if position is None:
                position = Position(pool, asset.number)
                self.positions[(pool.name, asset.number)] = position
        self.accounts[definition.id] = AccountState.build(
            definition, asset.number, position, owner
        )
        return _ok

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
    ) -> BatchOutcome:
        """Execute one batch. ``known`` holds committed transfers with ids in ``references``.

        ``verify_signatures=False`` is for rebuilding state from the ledger's own journal on
        open: every rule is still checked, authorisations included, but signatures that were
        verified when they were committed are not verified again (the audit does that)."""
        assert 0 < len(events) <= limits.batch_events_max
        assert timestamp > self.timestamp_last
        assert timestamp + len(events) < limits.timestamp_ns_max
        self._verify_signatures = verify_signatures
        expiries = self._expire(timestamp)
        results: list[Result] = [_ok] * len(events)
        records: list[TransferRecord] = []
        self._batch = {}
        authorisations = self._authorisations = []
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
                self._undo = _Undo()
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
        self._batch = {}
        self._authorisations = []
        self.timestamp_last = timestamp + len(events) - 1
        if records:
            self.id_max = max(self.id_max, *(record.id for record in records))
        return BatchOutcome(timestamp, results, records, expiries, authorisations)

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
        del records[records_before:]
        authorisations = self._authorisations
        while authorisations and authorisations[-1].record_index >= records_before:
            authorisations.pop()
        for index in range(start, failed):
            results[index] = Result.linked_event_failed
        self._undo = _Undo()

    def _roll_back_references(self, undo: _Undo) -> None:
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
            return _id_result(transfer_id)
        flags = event.flags
        if type(flags) is not TransferFlags:
            return Result.flag_unknown
        raw = flags._value_
        if raw & _unknown_flags:
            return Result.flag_unknown
        existing = self._batch.get(transfer_id)
        if existing is None and known:
            existing = known.get(transfer_id)
        if existing is not None:
            return self._compare_existing(event, existing)
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
        return _ok

    def _execute_transfer(
        self, event: Transfer, raw: int, timestamp: int, known: Mapping[int, TransferRecord]
    ) -> TransferRecord | Result:
        """A transfer that moves value now (or reserves it, when pending). The common case."""
        amount = event.amount
        if type(amount) is not int or not 0 < amount <= _u128:
            return _amount_result(amount)
        code = event.code
        if code.__class__ is not TransferCode and (type(code) is not int or code not in _codes):
            return Result.code_unknown
        if event.pending_id is not _zero:
            return _pending_id_result(event.pending_id, Result.pending_id_must_be_zero)
        timeout_s = event.timeout_s
        if timeout_s is not _zero and (refused := _check_timeout(timeout_s, raw)) is not None:
            return refused
        reference = event.reference
        if reference is not _zero and (type(reference) is not int or not 0 < reference <= _u128):
            return Result.reference_must_be_u128
        # A list cannot be looked up, and a float or a bool would find the account it equals.
        debit_account, credit_account = event.debit_account, event.credit_account
        if debit_account.__class__ is not int or credit_account.__class__ is not int:
            return _account_type_result(debit_account)
        accounts = self.accounts
        debit = accounts.get(debit_account)
        if debit is None:
            return _account_result(debit_account, Result.debit_account_not_found)
        credit = accounts.get(credit_account)
        if credit is None:
            return _account_result(credit_account, Result.credit_account_not_found)
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
            refused = _check_balances(debit, credit, amount)
        if refused is None and (debit.position is not None or credit.position is not None):
            exempt = rule is not None and rule.coverage_exempt
            refused = _check_coverage(debit, credit, amount, bool(raw & _pending_bit), exempt)
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

    def _asset_number(self, code: str) -> int:
        asset = self.assets.get(code)
        return 0 if asset is None else asset.number

    def _check_asset(self, code: object, asset_number: int) -> Result | None:
        """The optional ``asset`` field against the asset of the accounts."""
        if code.__class__ is not str:
            return Result.asset_not_found
        assert isinstance(code, str)
        if code and self._asset_number(code) != asset_number:
            return Result.asset_does_not_match_accounts
        return None

    def _check_segregation(
        self,
        rule: Rule | None,
        event: Transfer,
        debit: AccountState,
        credit: AccountState,
        raw: int,
    ) -> tuple[Result | None, int]:
        """The rule table's verdict, and the authorising client's number if one is needed."""
        if rule is None:
            return missing_rule_result(debit.role, credit.role, debit.pool, credit.pool), 0
        if rule.pools is _same_pool and debit.pool != credit.pool:
            return Result.cross_pool_forbidden, 0
        if not rule.simple:
            return self._check_rule(rule, event, debit, credit, raw)
        if event.authorised_by is not _empty or event.authorisation:
            return _authorisation_must_be_empty(event.authorised_by), 0
        return None, 0

    def _check_rule(
        self, rule: Rule, event: Transfer, debit: AccountState, credit: AccountState, raw: int
    ) -> tuple[Result | None, int]:
        """The conditions beyond roles and pools: terms, owners, authorisation, breaks."""
        if rule.terms is not None:
            position = debit.position or credit.position
            assert position is not None
            if position.pool.terms is not rule.terms:
                return Result.pool_terms_forbid_code, 0
        if rule.owners is Owners.same and debit.definition.owner != credit.definition.owner:
            return Result.owners_must_match, 0
        if rule.owners is Owners.different and debit.definition.owner == credit.definition.owner:
            return Result.owners_must_differ, 0
        if rule.markets is not Markets.any:
            crossed = market_relation_result(rule.markets, debit.definition.kind,
                                             credit.definition.kind)
            if crossed is not None:
                return crossed, 0
        authoriser = 0
        authorised_by = event.authorised_by
        if rule.authorisation:
            if authorised_by.__class__ is not str:
                return Result.name_invalid, 0
            refused, authoriser = self._check_authorisation(event, debit, credit, raw)
            if refused is not None:
                return refused, 0
        elif authorised_by is not _empty or event.authorisation:
            return _authorisation_must_be_empty(authorised_by), 0
        if raw & _pending_bit and (rule.opens_break or rule.cures_break):
            return Result.pending_not_allowed_for_code, 0
        if rule.cures_break:
            return self._check_break_cure(event, debit), 0
        return None, authoriser

    def _check_authorisation(
        self, event: Transfer, debit: AccountState, credit: AccountState, raw: int
    ) -> tuple[Result | None, int]:
        """The evidence of the debited client's consent: an active principal acting for that
        client, and its signature over the instruction. Returns the principal's number."""
        name = event.authorised_by
        if not name:
            return Result.authorisation_required, 0
        state = self.principals.by_name.get(name) if type(name) is str else None
        if state is None:
            return Result.authoriser_has_no_key, 0
        principal = state.principal
        if not state.active:
            return Result.authoriser_revoked, 0
        if principal.role is not PrincipalRole.client or principal.client != debit.definition.owner:
            return Result.authorisation_not_by_debit_client, 0
        signature = event.authorisation
        if not signature:
            return Result.authorisation_signature_required, 0
        if type(signature) is not bytes:
            return Result.authorisation_malformed, 0
        reference, timeout_s = event.reference, event.timeout_s
        if type(reference) is not int or not 0 <= reference <= _u128 or type(timeout_s) is not int:
            # No instruction with such fields can be encoded, so none was signed.
            return Result.authorisation_signature_invalid, 0
        if self._verify_signatures:
            amount = event.amount
            assert type(amount) is int  # checked before the rules
            # The instruction of what would be committed: the fields as the record holds them.
            message = instruction_message(
                self.ledger_id,
                principal=name,
                transfer_id=event.id,
                debit_account=debit.id,
                credit_account=credit.id,
                amount=amount,
                pending_id=0,
                reference=reference,
                timeout_s=timeout_s,
                asset=debit.asset,
                code=int(event.code),
                flags=raw,
            )
            if not signature_verifies(principal.public_key, message, signature):
                return Result.authorisation_signature_invalid, 0
        return None, state.number

    def _check_break_cure(self, event: Transfer, debit: AccountState) -> Result | None:
        broken = self.breaks.get(event.reference) if event.reference else None
        if broken is None:
            return Result.break_not_found if event.reference else Result.reference_required
        if broken.pool != debit.definition.pool or broken.asset != debit.asset:
            return Result.break_cure_must_match_break
        assert event.amount is not None
        if event.amount > broken.outstanding:
            return Result.break_cure_exceeds_break_amount
        return None

    def _check_reversal(
        self,
        event: Transfer,
        debit: AccountState,
        credit: AccountState,
        known: Mapping[int, TransferRecord],
    ) -> Result | None:
        if not event.reference:
            return Result.reference_required
        if event.authorised_by is not _empty or event.authorisation:
            return _authorisation_must_be_empty(event.authorised_by)
        original = self._batch.get(event.reference) or known.get(event.reference)
        if original is None:
            return Result.reversed_transfer_not_found
        if original.code in codes_not_reversible:
            return Result.segregation_rule_missing
        if original.flags & (_pending | _void):
            return Result.reversal_of_pending_transfer_forbidden
        if original.debit_account != credit.id:
            return Result.reversal_must_swap_accounts
        if original.credit_account != debit.id:
            return Result.reversal_must_swap_accounts
        assert event.amount is not None
        if event.amount > original.amount - self.reversed.get(original.id, 0):
            return Result.reversal_exceeds_transfer_amount
        if event.flags & _pending:
            return Result.pending_not_allowed_for_code
        return None

    # ------------------------------------------------------------------ two-phase

    def _resolve_pending(self, event: Transfer, timestamp: int) -> TransferRecord | Result:
        """Post or void a pending transfer, in full or (posting) in part."""
        refused = _check_resolving_fields(event)
        if refused is not None:
            return refused
        pending = self.pendings.get(event.pending_id)
        if pending is None:
            return Result.pending_transfer_not_found
        refused = _check_pending_matches(event, pending)
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
            refused = _check_post_coverage(original, debit, credit, amount, pending)
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

    def _apply_pending(
        self, record: TransferRecord, debit: AccountState, credit: AccountState
    ) -> None:
        self._remember_accounts(debit, credit)
        amount = record.amount
        debit.debits_pending += amount
        credit.credits_pending += amount
        shortfalls = _shortfalls(debit, credit, amount)
        for position, shortfall in shortfalls:
            self._remember_position(position)
            position.shortfall_pending += shortfall
        expires_at = 0
        if record.timeout_s:
            expires_at = record.timestamp + record.timeout_s * 1_000_000_000
            heapq.heappush(self._expiry_queue, (expires_at, record.id))
        pending = PendingState(record, expires_at, PendingStatus.pending, shortfalls)
        if self._undo is not None:
            self._undo.pendings.setdefault(record.id, (None, None))
        self.pendings[record.id] = pending
        self.dirty_pendings.add(record.id)

    def _release_pending(self, pending: PendingState, status: PendingStatus) -> None:
        assert pending.status is PendingStatus.pending
        assert status is not PendingStatus.pending
        record = pending.record
        debit = self.accounts[record.debit_account]
        credit = self.accounts[record.credit_account]
        self._remember_accounts(debit, credit)
        debit.debits_pending -= record.amount
        credit.credits_pending -= record.amount
        assert debit.debits_pending >= 0
        assert credit.credits_pending >= 0
        for position, shortfall in pending.shortfalls:
            self._remember_position(position)
            position.shortfall_pending -= shortfall
            assert position.shortfall_pending >= 0
        if self._undo is not None:
            self._undo.pendings.setdefault(record.id, (pending, pending.status))
        pending.status = status
        self.dirty_pendings.add(record.id)

    def advance(self, timestamp: int) -> list[Expiry]:
        """Move time forward with no events: expire what is due (a batch of rejections)."""
        assert timestamp > self.timestamp_last
        expiries = self._expire(timestamp)
        self.timestamp_last = timestamp
        return expiries

    def _expire(self, timestamp: int) -> list[Expiry]:
        expiries: list[Expiry] = []
        queue = self._expiry_queue
        while queue and queue[0][0] <= timestamp:
            expires_at, pending_id = heapq.heappop(queue)
            # The entry may be stale: its transfer resolved, or rolled back with its chain (and
            # the id perhaps reused with another timeout).
            pending = self.pendings.get(pending_id)
            if pending is None or pending.expires_at != expires_at:
                continue
            if pending.status is PendingStatus.pending:
                self._release_pending(pending, PendingStatus.expired)
                expiries.append(Expiry(pending_id, timestamp))
        return expiries

    # ------------------------------------------------------------------ applying

    def _apply_posted(
        self,
        record: TransferRecord,
        debit: AccountState,
        credit: AccountState,
        amount: int,
        rule: Rule | None,
    ) -> None:
        debit_position = debit.position
        credit_position = credit.position
        if self._undo is None:
            self.dirty_accounts.add(debit.id)
            self.dirty_accounts.add(credit.id)
        else:
            self._remember_accounts(debit, credit)
            for position in (debit_position, credit_position):
                if position is not None:
                    self._remember_position(position)
        debit.debits_posted += amount
        credit.credits_posted += amount
        if debit_position is not None:
            if debit.is_custody:
                debit_position.holdings += amount
            else:
                debit_position.liabilities -= amount
        if credit_position is not None:
            if credit.is_custody:
                credit_position.holdings -= amount
            else:
                credit_position.liabilities += amount
        if rule is not None:
            if rule.opens_break or rule.cures_break:
                self._apply_break(record, debit, credit, amount, rule)
        elif record.code == _reversal:
            self._apply_reversal(record, amount)

    def _apply_break(
        self,
        record: TransferRecord,
        debit: AccountState,
        credit: AccountState,
        amount: int,
        rule: Rule,
    ) -> None:
        if rule.opens_break:
            position = credit.position
            assert position is not None
            broken = Break(record.id, position.pool.name, record.asset, amount, 0, record.timestamp)
            if self._undo is not None:
                self._undo.breaks.setdefault(record.id, (None, 0))
            self.breaks[record.id] = broken
            self.dirty_breaks.add(record.id)
            position.breaks_outstanding += amount
        else:
            self._cure_break(record.reference, amount)

    def _cure_break(self, break_id: int, amount: int) -> None:
        broken = self.breaks[break_id]
        assert amount <= broken.outstanding
        if self._undo is not None:
            self._undo.breaks.setdefault(break_id, (broken, broken.cured))
        broken.cured += amount
        position = self.positions[(broken.pool, broken.asset)]
        self._remember_position(position)
        position.breaks_outstanding -= amount
        assert position.breaks_outstanding >= 0
        self.dirty_breaks.add(break_id)

    def _apply_reversal(self, record: TransferRecord, amount: int) -> None:
        original = record.reference
        if self._undo is not None:
            self._undo.reversed.setdefault(original, self.reversed.get(original))
        self.reversed[original] = self.reversed.get(original, 0) + amount
        self.dirty_reversed.add(original)
        broken = self.breaks.get(original)
        if broken is not None:
            self._cure_break(original, min(amount, broken.outstanding))

    def _remember_accounts(self, debit: AccountState, credit: AccountState) -> None:
        undo = self._undo
        if undo is not None:
            for account in (debit, credit):
                if account.id not in undo.accounts:
                    undo.accounts[account.id] = (account, account.balances())
        self.dirty_accounts.add(debit.id)
        self.dirty_accounts.add(credit.id)

    def _remember_position(self, position: Position) -> None:
        undo = self._undo
        if undo is not None and id(position) not in undo.positions:
            undo.positions[id(position)] = (
                position,
                position.holdings,
                position.liabilities,
                position.shortfall_pending,
                position.breaks_outstanding,
            )

    # ------------------------------------------------------------------ idempotency

    def _compare_existing(self, event: Transfer, existing: TransferRecord) -> Result:
        """``exists`` for a retry of the same transfer; else name the first field that differs.

        Post and void events may leave accounts and amount to the pending transfer; a retry that
        leaves them out again matches the resolved values stored.
        """
        refused = _check_optional_fields(event)
        if refused is not None:
            return refused
        if int(event.flags) != existing.flags:
            return Result.exists_with_different_flags
        resolving = bool(existing.flags & (_post | _void))
        debit, credit = event.debit_account, event.credit_account
        if debit != existing.debit_account and not (resolving and debit == 0):
            return Result.exists_with_different_debit_account
        if credit != existing.credit_account and not (resolving and credit == 0):
            return Result.exists_with_different_credit_account
        if event.amount != existing.amount and not (resolving and event.amount is None):
            return Result.exists_with_different_amount
        if event.pending_id != existing.pending_id:
            return Result.exists_with_different_pending_id
        if event.reference != existing.reference:
            return Result.exists_with_different_reference
        if event.timeout_s != existing.timeout_s:
            return Result.exists_with_different_timeout
        if type(event.code) not in (TransferCode, int) or int(event.code) != existing.code:
            return Result.exists_with_different_code
        if event.asset and self._asset_number(event.asset) != existing.asset:
            return Result.exists_with_different_asset
        # The authoriser is part of the body; its signature is evidence, kept in the journal
        # and checked when the transfer committed, so a retry is not checked again.
        if event.authorised_by:
            state = self.principals.by_name.get(event.authorised_by)
            if state is None or state.number != existing.authoriser:
                return Result.exists_with_different_authorisation
        elif existing.authoriser or event.authorisation:
            return Result.exists_with_different_authorisation
        return _exists

    # ------------------------------------------------------------------ checkpoints

    def take_dirty(self) -> tuple[set[int], set[int], set[int], set[int]]:
        """Identities changed since the last call: accounts, pendings, breaks, reversals."""
        dirty = (self.dirty_accounts, self.dirty_pendings, self.dirty_breaks, self.dirty_reversed)
        self.dirty_accounts, self.dirty_pendings = set(), set()
        self.dirty_breaks, self.dirty_reversed = set(), set()
        return dirty

    def restore_pending(self, pending: PendingState) -> None:
        """Reinstate a pending transfer from a checkpoint (balances are restored separately)."""
        assert pending.record.id not in self.pendings
        self.pendings[pending.record.id] = pending
        if pending.status is PendingStatus.pending and pending.expires_at:
            heapq.heappush(self._expiry_queue, (pending.expires_at, pending.record.id))

    def pending_shortfalls(self, record: TransferRecord) -> tuple[tuple[Position, int], ...]:
        debit = self.accounts[record.debit_account]
        credit = self.accounts[record.credit_account]
        return _shortfalls(debit, credit, record.amount)


# ---------------------------------------------------------------------- pure checks


def _check_resolving_fields(event: Transfer) -> Result | None:
    """The fields of a post or void before the pending transfer is looked up: the accounts and
    code may be left out (zero) but must otherwise be of the right type; a post or void has no
    timeout, reference or authorisation of its own."""
    refused = _check_optional_fields(event)
    if refused is not None:
        return refused
    pending_id = event.pending_id
    if not pending_id:
        return Result.pending_id_required
    if pending_id == event.id:
        return Result.pending_id_must_be_different
    if not 0 <= event.debit_account <= _u128:
        return Result.debit_account_must_be_u128
    if not 0 <= event.credit_account <= _u128:
        return Result.credit_account_must_be_u128
    code = event.code
    if code and type(code) is not TransferCode and (type(code) is not int or code not in _codes):
        return Result.code_unknown
    if event.timeout_s:
        return Result.timeout_reserved_for_pending_transfer
    if event.reference or event.authorised_by or event.authorisation:
        return Result.segregation_rule_missing
    return None


def _check_optional_fields(event: Transfer) -> Result | None:
    """The type and range of every field but the id and the flags (checked first), for the
    paths off the hot one: posts, voids and retries. A new transfer checks each where it
    first reads it (``_execute_transfer``)."""
    reference = event.reference
    if type(reference) is not int or not 0 <= reference <= _u128:
        return Result.reference_must_be_u128
    if type(event.debit_account) is not int:
        return Result.debit_account_must_be_u128
    if type(event.credit_account) is not int:
        return Result.credit_account_must_be_u128
    pending_id = event.pending_id
    if pending_id.__class__ is not int or not 0 <= pending_id <= _u128:
        return Result.pending_id_must_be_u128
    timeout_s = event.timeout_s
    if timeout_s is not _zero:
        refused = _timeout_result(timeout_s)
        if refused is not None:
            return refused
    if event.authorised_by.__class__ is not str:
        return Result.name_invalid
    if event.asset.__class__ is not str:
        return Result.asset_not_found
    return None


def _check_pending_matches(event: Transfer, pending: PendingState) -> Result | None:
    original = pending.record
    if pending.status is not PendingStatus.pending:
        return {
            PendingStatus.posted: Result.pending_transfer_already_posted,
            PendingStatus.voided: Result.pending_transfer_already_voided,
            PendingStatus.expired: Result.pending_transfer_expired,
        }[pending.status]
    if event.debit_account and event.debit_account != original.debit_account:
        return Result.pending_transfer_has_different_debit_account
    if event.credit_account and event.credit_account != original.credit_account:
        return Result.pending_transfer_has_different_credit_account
    if event.code and int(event.code) != original.code:
        return Result.pending_transfer_has_different_code
    amount = event.amount
    if amount is not None:
        if type(amount) is not int:
            if isinstance(amount, float):
                return Result.amount_must_not_be_float
            return Result.amount_must_be_decimal_string
        if amount <= 0:
            return Result.amount_must_not_be_zero if amount == 0 else (
                Result.amount_must_not_be_negative
            )
    return None


def _check_balances(debit: AccountState, credit: AccountState, amount: int) -> Result | None:
    """No limited account may go below zero, pending debits (or credits) counted, and no
    balance field may pass 2^128."""
    debits = debit.debits_posted + debit.debits_pending + amount
    if debit.limit is _credit_normal and debits > debit.credits_posted:
        if debit.role in _client_roles:
            return Result.exceeds_available_balance
        return Result.exceeds_house_balance
    credits = credit.credits_posted + credit.credits_pending + amount
    if credit.limit is _debit_normal and credits > credit.debits_posted:
        if credit.is_custody:
            return Result.exceeds_wallet_holdings
        return Result.exceeds_house_balance
    if debits > _u128 or credits > _u128:
        return Result.overflows_balance
    return None


def _excess_changes(
    debit: AccountState, credit: AccountState, amount: int
) -> list[tuple[Position, int, bool]]:
    """Per pool position touched: the change in excess and whether its wallets pay out."""
    changes: list[tuple[Position, int, bool]] = []
    debit_position = debit.position
    credit_position = credit.position
    if debit_position is not None:
        delta = amount if credit_position is not debit_position else 0
        changes.append((debit_position, delta, False))
    if credit_position is not None:
        if credit_position is debit_position:
            position, delta, _ = changes[0]
            outflow = credit.is_custody and not debit.is_custody
            changes[0] = (position, delta, outflow)
        else:
            changes.append((credit_position, -amount, credit.is_custody))
    return changes


def _shortfalls(
    debit: AccountState, credit: AccountState, amount: int
) -> tuple[tuple[Position, int], ...]:
    return tuple(
        (position, -delta)
        for position, delta, _ in _excess_changes(debit, credit, amount)
        if delta < 0
    )


def _check_coverage(
    debit: AccountState, credit: AccountState, amount: int, pending: bool, exempt: bool
) -> Result | None:
    """Refuse what would leave a custody pool owing its clients more than its wallets hold.

    Counted in the worst case over open pending transfers. A pool already short (a recorded
    break) still accepts what does not make it shorter and does not pay out of its wallets.
    """
    if exempt:
        return None
    position = debit.position
    if position is credit.position:
        # Inside one pool: deposits, withdrawals, internal and wallet transfers leave the excess
        # as it is; only a payout from the pool's wallets matters, and only if already short.
        assert position is not None
        outflow = credit.is_custody and not debit.is_custody
        if outflow and position.enforced and position.excess_worst < 0:
            return Result.pool_coverage_would_break
        return None
    for position, delta, outflow in _excess_changes(debit, credit, amount):
        if not position.enforced:
            continue
        worst_delta = delta if delta < 0 else (0 if pending else delta)
        if position.excess_worst + worst_delta < 0 and (worst_delta < 0 or outflow):
            return Result.pool_coverage_would_break
    return None


def _check_post_coverage(
    original: TransferRecord,
    debit: AccountState,
    credit: AccountState,
    amount: int,
    pending: PendingState,
) -> Result | None:
    """Posting releases the pending shortfall and applies the posted part; check the result."""
    held = {id(position): shortfall for position, shortfall in pending.shortfalls}
    for position, delta, outflow in _excess_changes(debit, credit, amount):
        if not position.enforced:
            continue
        excess_after = position.excess_worst + held.get(id(position), 0) + delta
        if excess_after < 0 and (delta < 0 or outflow):
            rule = rule_index.get(rule_key(original.code, debit.role, credit.role))
            if rule is not None and rule.coverage_exempt:
                continue
            return Result.pool_coverage_would_break
    return None


def _id_result(transfer_id: object) -> Result:
    if type(transfer_id) is not int:
        return Result.id_must_be_integer
    if transfer_id == 0:
        return Result.id_must_not_be_zero
    return Result.id_must_not_be_negative if transfer_id < 0 else Result.id_must_be_below_2_128


def _amount_result(amount: object) -> Result:
    if amount is None:
        return Result.amount_required
    if isinstance(amount, float):
        return Result.amount_must_not_be_float
    if type(amount) is not int:
        return Result.amount_must_be_decimal_string
    if amount == 0:
        return Result.amount_must_not_be_zero
    return Result.amount_must_not_be_negative if amount < 0 else Result.amount_must_be_below_2_128


def _check_timeout(timeout_s: object, raw: int) -> Result | None:
    refused = _timeout_result(timeout_s)
    if refused is None and not raw & _pending_bit:
        return Result.timeout_reserved_for_pending_transfer
    return refused


def _timeout_result(timeout_s: object) -> Result | None:
    """Whole seconds in a u32, or the code that says why not."""
    if type(timeout_s) is not int:
        return Result.timeout_must_be_integer
    if timeout_s < 0:
        return Result.timeout_must_not_be_negative
    if timeout_s > limits.timeout_seconds_max:
        return Result.timeout_too_large
    return None


def _pending_id_result(pending_id: object, in_range: Result) -> Result:
    """The code for a pending id that is not zero: ``in_range`` when it is a u128."""
    if type(pending_id) is not int or not 0 <= pending_id <= _u128:
        return Result.pending_id_must_be_u128
    return in_range


def _account_result(account_id: int, in_range: Result) -> Result:
    """The code for an account id (an int) that names no account: ``in_range`` when it is a
    u128 (``*_not_found``), else the field's range code."""
    if 0 <= account_id <= _u128:
        return in_range
    if in_range is Result.debit_account_not_found:
        return Result.debit_account_must_be_u128
    return Result.credit_account_must_be_u128


def _account_type_result(debit_account: object) -> Result:
    """The code for a transfer whose debit or credit account is not an int."""
    if type(debit_account) is not int:
        return Result.debit_account_must_be_u128
    return Result.credit_account_must_be_u128


def _authorisation_must_be_empty(authorised_by: object) -> Result:
    """An authorising client given where none belongs (or, if not a name, that first)."""
    return Result.authorisation_must_be_empty if type(authorised_by) is str else Result.name_invalid
