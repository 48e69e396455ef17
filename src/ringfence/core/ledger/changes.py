"""The engine's state and every change made to it: definitions, postings, pending transfers
(reserved, released, expired), breaks and reversals, each remembered in the undo log of the
linked chain in progress (so a failing chain leaves no trace) and marked dirty for the next
checkpoint. The decisions (may this change be made?) live in ``rules.py`` and ``engine.py``.
"""

from __future__ import annotations

import heapq
from collections.abc import Mapping
from dataclasses import dataclass

from ringfence.core.errors import Result
from ringfence.core.ledger.balances import shortfalls_of
from ringfence.core.ledger.metadata import RecordMetadata
from ringfence.core.ledger.model import (
    AccountClass,
    AccountDefinition,
    Authorisation,
    Break,
    Client,
    Pool,
    PoolKind,
    TransferCode,
    TransferRecord,
)
from ringfence.core.ledger.segregation import Rule
from ringfence.core.ledger.state import AccountState, PendingState, PendingStatus, Position
from ringfence.core.money import Asset
from ringfence.core.principals.authorisation import no_ledger_id
from ringfence.core.principals.records import Principals

_ok = Result.ok
_exists = Result.exists
_reversal = int(TransferCode.reversal)


@dataclass(frozen=True, slots=True)
class Expiry:
    """A pending transfer released because its timeout passed before the batch's timestamp."""

    pending_id: int
    timestamp: int


class UndoLog:
    """What a linked chain changed, so a failing chain leaves no trace."""

    __slots__ = ("accounts", "breaks", "created", "pendings", "positions", "reversed")

    def __init__(self) -> None:
        self.accounts: dict[int, tuple[AccountState, tuple[int, int, int, int]]] = {}
        self.positions: dict[int, tuple[Position, int, int, int, int]] = {}
        self.pendings: dict[int, tuple[PendingState | None, PendingStatus | None]] = {}
        self.breaks: dict[int, tuple[Break | None, int]] = {}
        self.reversed: dict[int, int | None] = {}
        self.created: list[int] = []


class LedgerState:
    """All asset ledgers of one firm, with their definitions and balances, and the changes
    that keep them consistent (the engine, ``Ledger``, decides which to make)."""

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
        self._undo: UndoLog | None = None
        self._batch: dict[int, TransferRecord] = {}
        self._authorisations: list[Authorisation] = []
        # Each committed record's metadata in the batch in progress, by transfer id and in
        # record order, and that of the committed transfers the batch refers to.
        self._batch_metadata: dict[int, bytes] = {}
        self._metadata: list[RecordMetadata] = []
        self._known_metadata: Mapping[int, bytes] = {}
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
        self.accounts[definition.id] = AccountState.build(definition, asset.number, position, owner)
        return _ok

    # ------------------------------------------------------------------ two-phase

    def _apply_pending(
        self, record: TransferRecord, debit: AccountState, credit: AccountState
    ) -> None:
        self._remember_accounts(debit, credit)
        amount = record.amount
        debit.debits_pending += amount
        credit.credits_pending += amount
        shortfalls = shortfalls_of(debit, credit, amount)
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
        return shortfalls_of(debit, credit, record.amount)
