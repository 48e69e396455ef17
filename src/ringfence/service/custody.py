"""The custody service: the wallet registry kept in the journal, holdings, deposit detection.

Gather, decide, apply: the registry (core/custody/registry.py) decides each change; this service
journals the accepted ones through the ledger service (one writer, one chain), defines the
ledger accounts a wallet needs, asks a ``HoldingsSource`` what the chain says, and posts the
deposits core/custody/deposits.py plans. On open it replays the registry's journal entries.
"""

from __future__ import annotations

import hashlib
from collections.abc import Collection, Sequence
from dataclasses import dataclass, field
from typing import Any

from ringfence.core import limits
from ringfence.core.custody.addresses import (
    AddressKind,
    Branch,
    Network,
    WatchOnlyWallet,
    watch_only_wallet,
)
from ringfence.core.custody.codec import Numbers, decode_registry, encode_registry
from ringfence.core.custody.deposits import (
    DepositPlan,
    PlannedDeposit,
    Unattributed,
    deposit_metadata,
    plan_deposits,
)
from ringfence.core.custody.holdings import Inflow, Observation
from ringfence.core.custody.registry import (
    AddressAssignment,
    Chain,
    ClientAddress,
    DepositSource,
    Designation,
    Encumbrance,
    LedgerView,
    Registry,
    RegistryRecord,
    Release,
    Scheme,
    Wallet,
)
from ringfence.core.custody.snapshots import canonical_address_problem
from ringfence.core.errors import InputError, IntegrityError, Result
from ringfence.core.ledger.engine import Ledger
from ringfence.core.ledger.journal import EntryKind, JournalEntry, registry_kinds
from ringfence.core.ledger.model import AccountClass, AccountDefinition, Transfer, TransferCode
from ringfence.service.ledger import LedgerService
from ringfence.service.ports import HoldingsSource

_kind_of: dict[type, EntryKind] = {
    Wallet: EntryKind.wallets,
    Designation: EntryKind.designations,
    AddressAssignment: EntryKind.addresses,
    ClientAddress: EntryKind.addresses,
    Encumbrance: EntryKind.encumbrances,
    Release: EntryKind.encumbrances,
    DepositSource: EntryKind.deposit_sources,
}


def derived_account_id(
    account_class: AccountClass, owner: str, kind: str, pool: str, asset: str
) -> int:
    """A u128 account id named by what the account is, for accounts the service defines
    itself (a wallet's custody account per asset, a depositing client's available account):
    defining it again gives the same id, so it is defined once."""
    key = f"ringfence.account\0{account_class}\0{owner}\0{kind}\0{pool}\0{asset}".encode()
    return int.from_bytes(hashlib.sha256(key).digest()[:16], "big") or 1


@dataclass(slots=True)
class DepositReport:
    """What one scan did: deposits posted now, found posted before, refused by the ledger,
    and inflows that could not be attributed (with why)."""

    height: int = 0
    posted: list[PlannedDeposit] = field(default_factory=list)
    already_posted: list[PlannedDeposit] = field(default_factory=list)
    refused: list[tuple[PlannedDeposit, Result]] = field(default_factory=list)
    unattributed: list[tuple[Inflow, Unattributed]] = field(default_factory=list)

    def to_json(self) -> dict[str, Any]:
        def deposit(d: PlannedDeposit) -> dict[str, Any]:
            return {
                "transfer_id": str(d.transfer_id),
                "reference": d.inflow.reference,
                "address": d.inflow.address,
                "asset": d.inflow.asset,
                "amount": str(d.inflow.amount),
                "client": d.client,
                "pool": d.pool,
                "wallet": d.wallet,
                "misdirected": d.misdirected,
            }

        return {
            "height": self.height,
            "posted": [deposit(d) for d in self.posted],
            "already_posted": [deposit(d) for d in self.already_posted],
            "refused": [{**deposit(d), "result": r.value} for d, r in self.refused],
            "unattributed": [
                {
                    "reference": i.reference,
                    "address": i.address,
                    "asset": i.asset,
                    "amount": str(i.amount),
                    "reason": reason.value,
                }
                for i, reason in self.unattributed
            ],
        }


class CustodyService:
    """Wallets, addresses and encumbrances over one ledger service (and so one journal)."""

    def __init__(self, ledger: LedgerService, until_seq: int | None = None) -> None:
        """The registry as the journal has it, or as it stood at entry ``until_seq`` (for a
        round or a statement as of a past snapshot; such a service must not be changed)."""
        self.ledger = ledger
        self.until_seq = until_seq
        self.registry = Registry()
        self._index: dict[tuple[AccountClass, str, str, str, str], int] = {}
        self._indexed_accounts = -1
        self._load()

    def _numbers(self) -> Numbers:
        return numbers_for(self.registry, self.ledger.ledger)

    def _view(self) -> LedgerView:
        return view_of(self.ledger.ledger)

    def _load(self) -> None:
        self.registry = Registry()
        for entry in self.ledger.store.entries(kinds=registry_kinds):
            if self.until_seq is not None and entry.seq > self.until_seq:
                break
            replay_registry_entry(self.registry, self.ledger.ledger, entry)

    # ------------------------------------------------------------------ changes

    def change(
        self, records: Sequence[RegistryRecord], *, custody_accounts: bool = True
    ) -> list[Result]:
        """Decide and journal registry changes of one kind (all wallets, all addresses, ...):
        a result per record; the accepted ones become one journal entry. A new wallet gets its
        custody accounts unless ``custody_accounts`` is False (a ledger that defined its own)."""
        assert self.until_seq is None, "a registry as of a past snapshot is read-only"
        if len(records) > limits.definitions_per_request_max:
            raise InputError(Result.batch_too_large, f"{len(records)} registry changes")
        kinds = {_kind_of[type(record)] for record in records}
        if len(kinds) > 1:
            raise InputError(Result.field_unknown, "one kind of registry change per request")
        if not records:
            return []
        kind = kinds.pop()
        for record in records:  # all or nothing: refuse the request before any change
            _check_keys_and_address(record, self.registry)
        timestamp = self.ledger.next_timestamp()
        view = self._view()
        results = [self.registry.apply(r, view, timestamp, self._custody_held(r)) for r in records]
        accepted = [r for r, result in zip(records, results, strict=True) if result is Result.ok]
        if accepted:
            numbers = self._numbers()
            try:
                self.ledger.append_entry(
                    kind,
                    timestamp,
                    lambda seq: encode_registry(kind, seq, timestamp, accepted, numbers),
                )
            except BaseException:
                self._load()  # memory must not run ahead of the store, whatever failed
                raise
        for record, result in zip(records, results, strict=True):
            if custody_accounts and isinstance(record, Wallet) and result.succeeded:
                self.ensure_custody_accounts(record.name)
        return results

    def _custody_held(self, record: RegistryRecord) -> int:
        if not isinstance(record, Designation) or record.wallet not in self.registry.wallets:
            return 0
        state = self.registry.wallets[record.wallet]
        return sum(
            self.ledger.ledger.accounts[account_id].debits_posted
            - self.ledger.ledger.accounts[account_id].credits_posted
            + self.ledger.ledger.accounts[account_id].debits_pending
            for account_id in self._custody_account_ids(state.wallet.name, state.pool)
        )

    def _custody_account_ids(self, wallet: str, pool: str) -> list[int]:
        return [
            account.id
            for account in self.ledger.ledger.accounts.values()
            if account.definition.account_class is AccountClass.custody
            and account.definition.owner == wallet
            and account.definition.pool == pool
        ]

    def assign_derived(
        self, wallet: str, start: int, count: int, client: str = "", change: bool = False
    ) -> list[Result]:
        """Derive ``count`` addresses of ``wallet`` from index ``start`` and assign them to
        ``client`` (deposit addresses) or, with no client, to the wallet's pool."""
        state = self.registry.wallets.get(wallet)
        if state is None:
            raise InputError(Result.wallet_not_found, wallet)
        if state.wallet.scheme is Scheme.address:
            raise InputError(Result.wallet_keys_invalid, f"{wallet} has one fixed address")
        branch = Branch.change if change else Branch.receive
        addresses = keys_of(state.wallet).addresses(start, count, branch)
        return self.change(
            [
                AddressAssignment(address, wallet, start + offset, change, client)
                for offset, address in enumerate(addresses)
            ]
        )

    # ------------------------------------------------------------------ ledger accounts

    def _accounts_by_role(self) -> dict[tuple[AccountClass, str, str, str, str], int]:
        """(class, owner, kind, pool, asset) -> account id, kept in step with the ledger:
        accounts are only ever added, so a change in their number means new ones."""
        accounts = self.ledger.ledger.accounts
        if self._indexed_accounts != len(accounts):
            self._index = {}
            for account in accounts.values():
                d = account.definition
                kind = "" if d.account_class is AccountClass.custody else d.kind  # any tier
                self._index.setdefault((d.account_class, d.owner, kind, d.pool, d.asset), d.id)
            self._indexed_accounts = len(accounts)
        return self._index

    def ensure_custody_accounts(self, wallet: str) -> dict[str, int]:
        """The wallet's custody account per asset of its chain in its current pool: the one
        the ledger has (whatever tier it was opened under), else one defined now. Returns
        asset code -> account id."""
        state = self.registry.wallets.get(wallet)
        if state is None:
            raise InputError(Result.wallet_not_found, wallet)
        index = self._accounts_by_role()
        found: dict[str, int] = {}
        missing: list[AccountDefinition] = []
        for asset in self.ledger.ledger.assets.values():
            if asset.chain != state.wallet.chain:
                continue
            existing = index.get((AccountClass.custody, wallet, "", state.pool, asset.code))
            if existing is not None:
                found[asset.code] = existing
                continue
            account_id = derived_account_id(
                AccountClass.custody, wallet, state.tier, state.pool, asset.code
            )
            missing.append(
                AccountDefinition(
                    account_id, asset.code, AccountClass.custody, wallet, state.tier, state.pool
                )
            )
            found[asset.code] = account_id
        self._define_missing(missing)
        return found

    def client_account(self, client: str, pool: str, asset: str) -> int:
        """The client's available account for ``asset`` in ``pool``: the one already defined,
        else one defined now."""
        key = (AccountClass.client, client, "available", pool, asset)
        existing = self._accounts_by_role().get(key)
        if existing is not None:
            return existing
        definition = AccountDefinition(
            derived_account_id(AccountClass.client, client, "available", pool, asset),
            asset,
            AccountClass.client,
            client,
            "available",
            pool,
        )
        self._define_missing([definition])
        return definition.id

    def _define_missing(self, definitions: list[AccountDefinition]) -> None:
        missing = [d for d in definitions if d.id not in self.ledger.ledger.accounts]
        if not missing:
            return
        for result, definition in zip(self.ledger.define_accounts(missing), missing, strict=True):
            if not result.succeeded:
                raise InputError(result, f"account {definition.id} for {definition.owner}")

    # ------------------------------------------------------------------ holdings and deposits

    def watched_addresses(self, chain: Chain | None = None) -> list[str]:
        """Every registered address (of wallets on ``chain``, when given)."""
        registry = self.registry
        return sorted(
            address
            for address, assignment in registry.addresses.items()
            if chain is None or registry.wallets[assignment.wallet].wallet.chain is chain
        )

    def observe(self, source: HoldingsSource, chain: Chain | None = None) -> list[Observation]:
        """What the source says every registered address (on ``chain``) holds now."""
        return source.holdings(self.watched_addresses(chain))

    def scan_deposits(
        self, source: HoldingsSource, from_height: int = 0, chain: Chain | None = None
    ) -> DepositReport:
        """Turn the source's inflows to registered addresses (on ``chain``, which a source of
        one chain needs) into ledger transfers. Safe to repeat over the same heights: each
        inflow's transfer id is fixed by its chain reference, so a second scan finds them
        posted."""
        inflows, height = source.inflows(self.watched_addresses(chain), from_height)
        plan = self.plan(inflows)
        report = DepositReport(height=height, unattributed=list(plan.unattributed))
        events = [self._transfer_for(deposit) for deposit in plan.deposits]
        results = self.ledger.submit_all(events) if events else []
        for deposit, result in zip(plan.deposits, results, strict=True):
            if result is Result.ok:
                report.posted.append(deposit)
            elif result is Result.exists or self._posted_without_metadata(deposit, result):
                report.already_posted.append(deposit)
            else:
                report.refused.append((deposit, result))
        self._record_sources([*report.posted, *report.already_posted])
        return report

    def _posted_without_metadata(self, deposit: PlannedDeposit, result: Result) -> bool:
        """Whether the deposit was credited by a version that gave deposits no metadata: its
        id is its place on chain, so the same id with none is the same deposit, posted."""
        if result is not Result.exists_with_different_metadata:
            return False
        return not self.ledger.store.transfer_metadata([deposit.transfer_id])

    def _record_sources(self, deposits: list[PlannedDeposit]) -> None:
        """Journal where each credited deposit came from on chain, once. After its transfer:
        a deposit credited before its source was recorded (a crash between the two, or a
        ledger older than this record) gets it on the next scan, which finds it posted."""
        known = self.registry.deposit_sources
        missing = [
            DepositSource(d.transfer_id, d.inflow.chain, d.inflow.reference)
            for d in deposits
            if d.transfer_id not in known
        ]
        step = limits.definitions_per_request_max
        for start in range(0, len(missing), step):
            self.change(missing[start : start + step], custody_accounts=False)

    def deposit_sources(self) -> dict[int, DepositSource]:
        """Each credited deposit's chain reference, by its transfer id."""
        return self.registry.deposit_sources

    def plan(self, inflows: list[Inflow]) -> DepositPlan:
        engine = self.ledger.ledger
        client_pools: dict[tuple[str, str], list[str]] = {}
        for account in engine.accounts.values():
            d = account.definition
            if d.account_class is AccountClass.client and d.kind == "available":
                client_pools.setdefault((d.owner, d.asset), []).append(d.pool)
        chains = {code: asset.chain for code, asset in engine.assets.items()}
        return plan_deposits(inflows, self.registry, engine.pools, chains, client_pools)

    def _transfer_for(self, deposit: PlannedDeposit) -> Transfer:
        asset = deposit.inflow.asset
        state = self.registry.wallets[deposit.wallet]
        key = (AccountClass.custody, deposit.wallet, "", state.pool, asset)
        custody = self._accounts_by_role().get(key)
        if custody is None:
            custody = self.ensure_custody_accounts(deposit.wallet)[asset]
        client = self.client_account(deposit.client, deposit.pool, asset)
        code = TransferCode.misdirected_deposit if deposit.misdirected else TransferCode.deposit
        metadata = deposit_metadata(deposit.inflow)
        return Transfer(
            deposit.transfer_id, custody, client, deposit.inflow.amount, code, metadata=metadata
        )

    # ------------------------------------------------------------------ reading

    def wallets(self) -> list[dict[str, Any]]:
        return [
            {
                "name": s.wallet.name,
                "number": s.number,
                "chain": s.wallet.chain.value,
                "scheme": s.wallet.scheme.value,
                "network": s.wallet.network,
                "pool": s.pool,
                "tier": s.tier,
                "keys": list(s.wallet.keys),
                "addresses": sum(
                    1 for a in self.registry.addresses.values() if a.wallet == s.wallet.name
                ),
                "history": [{"timestamp": t, "pool": p, "tier": tier} for t, p, tier in s.history],
            }
            for s in sorted(self.registry.wallets.values(), key=lambda s: s.number)
        ]

    def addresses_of(self, wallet: str) -> Collection[AddressAssignment]:
        return [a for a in self.registry.addresses.values() if a.wallet == wallet]


def _check_keys_and_address(record: RegistryRecord, registry: Registry) -> None:
    """Parse a wallet's keys for its scheme and network; and hold every address to its
    chain's canonical spelling, so that one address can never be registered twice under two
    spellings (named errors; nothing changed)."""
    if isinstance(record, Wallet):
        if record.scheme is not Scheme.address:
            keys_of(record)
            return
        address, chain, network = record.keys[0], record.chain.value, record.network
    elif isinstance(record, AddressAssignment):
        state = registry.wallets.get(record.wallet)
        if state is None:
            return  # refused by the registry as wallet_not_found
        address, chain, network = record.address, state.wallet.chain, state.wallet.network
    elif isinstance(record, ClientAddress):
        address = record.address
        chain, network = ("ethereum" if address.startswith("0x") else "bitcoin"), ""
    else:
        return
    problem = canonical_address_problem(address, chain, network)
    if problem:
        raise InputError(Result.address_not_canonical, problem)


def keys_of(wallet: Wallet) -> WatchOnlyWallet:
    """The wallet's parsed keys, checked for its scheme and network (named errors if not)."""
    assert wallet.scheme is not Scheme.address
    return watch_only_wallet(AddressKind(wallet.scheme.value), wallet.keys, Network(wallet.network))


def numbers_for(registry: Registry, engine: Ledger) -> Numbers:
    return Numbers(
        wallet_number=lambda name: registry.wallets[name].number,
        wallet_name=lambda number: registry.wallets_by_number[number].wallet.name,
        client_number=lambda name: engine.clients[name].number,
        client_name=lambda number: engine.clients_by_number[number].name,
        asset_number=lambda code: engine.assets[code].number,
        asset_code=lambda number: engine.assets_by_number[number].code,
    )


def view_of(engine: Ledger) -> LedgerView:
    return LedgerView(engine.pools, engine.clients, engine.assets)


def replay_registry_entry(registry: Registry, engine: Ledger, entry: JournalEntry) -> None:
    """Apply a journaled registry entry again; every record must apply as it did when written
    (the audit and every open run this)."""
    try:
        header, records = decode_registry(
            entry.body, numbers_for(registry, engine), len(registry.wallets) + 1
        )
    except (ValueError, KeyError) as error:
        raise IntegrityError(f"journal entry {entry.seq}: {error}") from error
    view = view_of(engine)
    for record in records:
        result = registry.apply(record, view, header.timestamp)
        if result is not Result.ok:
            raise IntegrityError(f"journal entry {entry.seq}: {record} replays as {result.value}")
