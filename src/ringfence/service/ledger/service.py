"""``LedgerService``: what callers ask of the ledger. Definitions (assets, clients, pools,
accounts), principals (register, rotate, revoke; the signing side's helpers), transfers
(through ``TransferWriter``) and reading (balances, positions, breaks).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, replace
from typing import Any

from ringfence.core import limits
from ringfence.core.errors import (
    InputError,
    Result,
)
from ringfence.core.ledger.journal import (
    Definition,
    EntryKind,
    encode_definitions,
    encode_principals,
)
from ringfence.core.ledger.model import (
    AccountDefinition,
    Authorisation,
    Break,
    Pool,
    Transfer,
    check_name,
)
from ringfence.core.ledger.state import AccountState, Position
from ringfence.core.money import Asset
from ringfence.core.principals.authorisation import sign, transfer_instruction
from ringfence.core.principals.records import (
    Principal,
    PrincipalChange,
    PrincipalState,
    endorse,
)
from ringfence.service.ledger.transfers import TransferWriter


@dataclass(frozen=True, slots=True)
class Balance:
    """One account's balances as a reader sees them."""

    account: AccountDefinition
    debits_pending: int
    debits_posted: int
    credits_pending: int
    credits_posted: int
    balance: int  # posted, on the account's normal side


class LedgerService(TransferWriter):
    """The ledger of one store: the single writer, and what it is asked. Not thread-safe."""

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

    # ------------------------------------------------------------------ principals

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


def _balance_of(account: AccountState) -> Balance:
    return Balance(account.definition, *account.balances(), account.balance)


