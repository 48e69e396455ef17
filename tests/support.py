"""Shared test helpers: a small, realistic custodian, and checks of the ledger's invariants.

``custodian_definitions()`` describes a firm with two assets (BTC, ETH), four pools and six
clients; ``build_custodian(service)`` defines it through a ``LedgerService`` and
``define_in_ledger(ledger, custodian)`` through a bare ``Ledger``. The returned ``Custodian``
names every account, so a test reads as the business it checks::

    custodian = build_custodian(service)
    service.submit([custodian.house_funding(1, 10_000), custodian.deposit(2, "alice", 500)])

The pools:

- ``main``: omnibus, custody terms (segregated), spot; alice, bob, carol, erin, frank.
  Two wallets: ``main-hot`` and ``main-cold``.
- ``margin``: omnibus, custody terms, margin collateral; alice and bob, each with an
  ``available`` and a ``collateral:btc-perp`` account. One wallet, ``margin-hot``.
- ``vault-dave``: dave's individual custody pool. One wallet, ``vault-dave-hot``.
- ``earn``: omnibus, title-transfer terms (the firm owns the assets); carol and erin.
  One wallet, ``earn-hot``.
- the house: wallets ``house-hot`` and ``house-cold``; accounts ``revenue``, ``capital``,
  ``network_fees`` and ``loans``.

Principals: the custodian's ledger has an admin, ``root`` (its trust anchor), and a client
principal per client, named like it, endorsed by ``root``; every key is derived from its name
(``key_seed``), so ``Custodian.internal`` signs each internal transfer as its payer would.

``invariant_problems(ledger)`` recomputes the guarantees of DESIGN.md §3 from the raw balances,
pending transfers and breaks, independently of the engine's own bookkeeping, and names each
one that fails; ``state_snapshot(ledger)`` is everything that must survive a reopen or replay.
"""

from __future__ import annotations

import hashlib
from collections.abc import Collection, Iterator, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import nacl.signing

from ringfence import bootstrap
from ringfence.adapters.signing import MemorySigner
from ringfence.core.errors import Result
from ringfence.core.ledger.engine import Ledger
from ringfence.core.ledger.journal import (
    Definition,
    EntryKind,
    JournalEntry,
    decode_definitions,
    decode_transfers,
    genesis_hash,
    ledger_definition_kinds,
    seal,
)
from ringfence.core.ledger.model import (
    AccountClass,
    AccountDefinition,
    Pool,
    PoolKind,
    Purpose,
    Terms,
    Transfer,
    TransferCode,
    TransferFlags,
    TransferRecord,
)
from ringfence.core.ledger.state import PendingStatus
from ringfence.core.money import Asset
from ringfence.core.principals.authorisation import (
    no_ledger_id,
    public_key_of,
    sign,
    transfer_instruction,
)
from ringfence.core.principals.records import (
    Principal,
    PrincipalChange,
    PrincipalRole,
    endorse,
)
from ringfence.service.ledger import LedgerService, load_ledger
from ringfence.service.ports import Checkpoint, LedgerStore, Signer

BTC = Asset("BTC", 8, 1, chain="bitcoin")
ETH = Asset("ETH", 18, 2, chain="ethereum")
ASSETS = (BTC, ETH)

MAIN = "main"
MARGIN = "margin"
VAULT = "vault-dave"
EARN = "earn"
HOUSE = ""  # the pool name of the house

CLIENTS = ("alice", "bob", "carol", "dave", "erin", "frank")
POOLS = (
    Pool(MAIN, PoolKind.omnibus, Terms.custody),
    Pool(MARGIN, PoolKind.omnibus, Terms.custody, Purpose.margin_collateral),
    Pool(VAULT, PoolKind.individual, Terms.custody, client="dave"),
    Pool(EARN, PoolKind.omnibus, Terms.title_transfer),
)
MEMBERS = {
    MAIN: ("alice", "bob", "carol", "erin", "frank"),
    MARGIN: ("alice", "bob"),
    VAULT: ("dave",),
    EARN: ("carol", "erin"),
}
WALLETS = {
    MAIN: ("main-hot", "main-cold"),
    MARGIN: ("margin-hot",),
    VAULT: ("vault-dave-hot",),
    EARN: ("earn-hot",),
    HOUSE: ("house-hot", "house-cold"),
}
HOUSE_KINDS = ("revenue", "capital", "network_fees", "loans")
COLLATERAL = "collateral:btc-perp"
CUSTODY_POOLS = (MAIN, MARGIN, VAULT)  # the segregated ones
ADMIN = "root"  # the test ledgers' first admin: their trust anchor

_C = TransferCode
_F = TransferFlags


@dataclass(frozen=True)
class Custodian:
    """The definitions of the small custodian and the id of each of its accounts."""

    assets: tuple[Asset, ...]
    clients: tuple[str, ...]
    pools: tuple[Pool, ...]
    accounts: tuple[AccountDefinition, ...]
    ids: dict[tuple[str, str, str, str], int]  # (asset, owner, kind, pool) -> account id
    ledger_id: bytes = no_ledger_id  # what its principals' signatures bind

    # ------------------------------------------------------------------ accounts

    def client(
        self, name: str, pool: str = MAIN, asset: str = "BTC", kind: str = "available"
    ) -> int:
        return self.ids[(asset, name, kind, pool)]

    def collateral(self, name: str, asset: str = "BTC") -> int:
        return self.client(name, MARGIN, asset, COLLATERAL)

    def wallet(self, pool: str = MAIN, asset: str = "BTC", which: int = 0) -> int:
        owner = WALLETS[pool][which]
        return self.ids[(asset, owner, _tier_of(owner), pool)]

    def house(self, kind: str, asset: str = "BTC") -> int:
        return self.ids[(asset, "house", kind, HOUSE)]

    def members(self, pool: str) -> tuple[str, ...]:
        return MEMBERS[pool]

    def account_ids(self, asset: str | None = None) -> list[int]:
        return [a.id for a in self.accounts if asset is None or a.asset == asset]

    # ------------------------------------------------------------------ transfers

    def deposit(
        self,
        transfer_id: int,
        name: str,
        amount: int,
        *,
        pool: str = MAIN,
        asset: str = "BTC",
        flags: TransferFlags = _F.none,
        timeout_s: int = 0,
    ) -> Transfer:
        """Funds arrive in the pool's wallet for a client: custody(P) -> client(P)."""
        return Transfer(
            transfer_id,
            self.wallet(pool, asset),
            self.client(name, pool, asset),
            amount,
            _C.deposit,
            flags,
            timeout_s=timeout_s,
        )

    def withdrawal(
        self,
        transfer_id: int,
        name: str,
        amount: int,
        *,
        pool: str = MAIN,
        asset: str = "BTC",
        flags: TransferFlags = _F.none,
        timeout_s: int = 0,
    ) -> Transfer:
        return Transfer(
            transfer_id,
            self.client(name, pool, asset),
            self.wallet(pool, asset),
            amount,
            _C.withdrawal,
            flags,
            timeout_s=timeout_s,
        )

    def fee(
        self,
        transfer_id: int,
        name: str,
        amount: int,
        *,
        pool: str = MAIN,
        asset: str = "BTC",
        flags: TransferFlags = _F.none,
    ) -> Transfer:
        return Transfer(
            transfer_id,
            self.client(name, pool, asset),
            self.house("revenue", asset),
            amount,
            _C.fee,
            flags,
        )

    def internal(
        self,
        transfer_id: int,
        payer: str,
        payee: str,
        amount: int,
        *,
        pool: str = MAIN,
        asset: str = "BTC",
        authorised_by: str | None = None,
        flags: TransferFlags = _F.none,
        signed: bool = True,
    ) -> Transfer:
        """An internal transfer inside one pool, authorised by the payer unless told, and
        signed with the authoriser's test key unless ``signed`` is False."""
        transfer = Transfer(
            transfer_id,
            self.client(payer, pool, asset),
            self.client(payee, pool, asset),
            amount,
            _C.internal_transfer,
            flags,
            authorised_by=payer if authorised_by is None else authorised_by,
        )
        named = type(transfer.authorised_by) is str and transfer.authorised_by
        return self.authorise(transfer) if signed and named else transfer

    def authorise(self, transfer: Transfer, seed: bytes | None = None) -> Transfer:
        """``transfer`` signed by the principal it names, with its test key (or ``seed``)."""
        asset = self.assets_by_code[self.asset_of(transfer.debit_account)].number
        message = transfer_instruction(self.ledger_id, transfer, asset)
        key = key_seed(transfer.authorised_by) if seed is None else seed
        return replace(transfer, authorisation=sign(key, message))

    def asset_of(self, account_id: int) -> str:
        return next(a.asset for a in self.accounts if a.id == account_id)

    @property
    def assets_by_code(self) -> dict[str, Asset]:
        return {asset.code: asset for asset in self.assets}

    def sweep(
        self,
        transfer_id: int,
        amount: int,
        *,
        pool: str = MAIN,
        asset: str = "BTC",
        flags: TransferFlags = _F.none,
        timeout_s: int = 0,
    ) -> Transfer:
        """The pool's residual interest moves out to the house wallet."""
        return Transfer(
            transfer_id,
            self.wallet(HOUSE, asset),
            self.wallet(pool, asset),
            amount,
            _C.sweep,
            flags,
            timeout_s=timeout_s,
        )

    def top_up(
        self, transfer_id: int, amount: int, *, pool: str = MAIN, asset: str = "BTC"
    ) -> Transfer:
        return Transfer(
            transfer_id,
            self.wallet(pool, asset),
            self.wallet(HOUSE, asset),
            amount,
            _C.house_top_up,
        )

    def house_funding(self, transfer_id: int, amount: int, *, asset: str = "BTC") -> Transfer:
        """The firm puts its own capital into its hot wallet."""
        return Transfer(
            transfer_id,
            self.wallet(HOUSE, asset),
            self.house("capital", asset),
            amount,
            _C.house_funding,
        )

    def misdirected(
        self, transfer_id: int, name: str, amount: int, *, pool: str = MAIN, asset: str = "BTC"
    ) -> Transfer:
        """A client's deposit landed in a house wallet; opens a break on the client's pool."""
        return Transfer(
            transfer_id,
            self.wallet(HOUSE, asset),
            self.client(name, pool, asset),
            amount,
            _C.misdirected_deposit,
        )

    def break_cure(
        self, transfer_id: int, break_id: int, amount: int, *, pool: str = MAIN, asset: str = "BTC"
    ) -> Transfer:
        """The house moves the missing amount into the pool's wallet."""
        return Transfer(
            transfer_id,
            self.wallet(pool, asset),
            self.wallet(HOUSE, asset),
            amount,
            _C.break_cure,
            reference=break_id,
        )


def _tier_of(wallet: str) -> str:
    return wallet.rsplit("-", 1)[1]


def custodian_definitions(id_base: int = 1) -> Custodian:
    """The custodian's definitions with account ids numbered from ``id_base``."""
    accounts: list[AccountDefinition] = []

    def add(asset: str, account_class: AccountClass, owner: str, kind: str, pool: str) -> None:
        accounts.append(
            AccountDefinition(id_base + len(accounts), asset, account_class, owner, kind, pool)
        )

    for asset in ASSETS:
        for pool, wallets in WALLETS.items():
            for wallet in wallets:
                add(asset.code, AccountClass.custody, wallet, _tier_of(wallet), pool)
        for kind in HOUSE_KINDS:
            add(asset.code, AccountClass.house, "house", kind, HOUSE)
        for pool, members in MEMBERS.items():
            for name in members:
                add(asset.code, AccountClass.client, name, "available", pool)
                if pool == MARGIN:
                    add(asset.code, AccountClass.client, name, COLLATERAL, pool)
    ids = {(a.asset, a.owner, a.kind, a.pool): a.id for a in accounts}
    assert len(ids) == len(accounts)
    return Custodian(ASSETS, CLIENTS, POOLS, tuple(accounts), ids)


def build_custodian(
    service: LedgerService, id_base: int = 1, *, principals: bool = True
) -> Custodian:
    """Define the custodian through the service (four journal entries), then, unless told
    not to, its principals (a fifth)."""
    custodian = custodian_definitions(id_base)
    results = [
        *service.define_assets(custodian.assets),
        *service.define_clients(custodian.clients),
        *service.define_pools(custodian.pools),
        *service.define_accounts(custodian.accounts),
    ]
    if principals:
        changes = principal_changes(service.ledger_id, custodian.clients)
        results += service.change_principals(changes)
    assert all(result is Result.ok for result in results), results
    return replace(custodian, ledger_id=service.ledger_id)


def define_in_ledger(ledger: Ledger, custodian: Custodian) -> None:
    """Define the custodian in a bare engine, as the service would, with its principals."""
    results = [ledger.define_asset(asset) for asset in custodian.assets]
    results += [ledger.define_client(name)[0] for name in custodian.clients]
    results += [ledger.define_pool(pool) for pool in custodian.pools]
    results += [ledger.define_account(account) for account in custodian.accounts]
    for change in principal_changes(ledger.ledger_id, custodian.clients):
        results.append(ledger.principals.apply(change, ledger.clients, ledger.ledger_id, 1)[0])
    assert all(result is Result.ok for result in results), results
    assert custodian.ledger_id == ledger.ledger_id


# ---------------------------------------------------------------------- principals


def key_seed(name: str) -> bytes:
    """The Ed25519 seed of a test principal, derived from its name: test keys only."""
    return hashlib.sha256(b"ringfence test key\0" + name.encode()).digest()


def principal_for(
    name: str, role: PrincipalRole = PrincipalRole.client, client: str = ""
) -> Principal:
    """A principal with its test key; a client principal acts for the client of its name."""
    if role is PrincipalRole.client and not client:
        client = name
    return Principal(name, role, public_key_of(key_seed(name)), client)


def principal_changes(ledger_id: bytes, clients: Sequence[str]) -> list[PrincipalChange]:
    """The ledger's first admin (unendorsed: the anchor), then a principal per client named
    like it, endorsed by that admin."""
    changes = [PrincipalChange(principal_for(ADMIN, PrincipalRole.admin), None)]
    changes += [endorse(ledger_id, ADMIN, key_seed(ADMIN), principal_for(name)) for name in clients]
    return changes


# ---------------------------------------------------------------------- invariants


def _engine(subject: Ledger | LedgerService) -> Ledger:
    return subject.ledger if isinstance(subject, LedgerService) else subject


def _limit_side(account: AccountDefinition) -> str:
    """Which side may not pass the other, derived from the design, not from the engine."""
    if account.account_class is AccountClass.client:
        return "credit"
    if account.account_class is AccountClass.custody:
        return "debit"
    if account.account_class is AccountClass.house:
        family = account.kind.split(":", 1)[0]
        if family in ("revenue", "capital", "insurance"):
            return "credit"
        if family == "loans":
            return "debit"
    return ""  # network fees and system clearing accounts may run either way


def invariant_problems(subject: Ledger | LedgerService) -> list[str]:
    """Every broken guarantee of the engine's current state, as sentences (empty when sound)."""
    ledger = _engine(subject)
    problems = _balance_problems(ledger)
    problems += _pending_problems(ledger)
    problems += _position_problems(ledger)
    return problems


def assert_invariants(subject: Ledger | LedgerService) -> None:
    problems = invariant_problems(subject)
    assert not problems, "\n".join(problems)


def _balance_problems(ledger: Ledger) -> list[str]:
    problems = []
    totals: dict[int, list[int]] = {}
    for account_id, account in ledger.accounts.items():
        debits_pending, debits_posted, credits_pending, credits_posted = account.balances()
        values = (debits_pending, debits_posted, credits_pending, credits_posted)
        if any(value < 0 or value >= 2**128 for value in values):
            problems.append(f"account {account_id} has a balance outside u128: {values}")
        total = totals.setdefault(account.asset, [0, 0, 0, 0])
        for index, value in enumerate(values):
            total[index] += value
        side = _limit_side(account.definition)
        if side == "credit" and debits_posted + debits_pending > credits_posted:
            problems.append(f"account {account_id} ({account.definition.owner}) below zero")
        if side == "debit" and credits_posted + credits_pending > debits_posted:
            problems.append(f"account {account_id} ({account.definition.owner}) below zero")
    for asset, (debits_pending, debits_posted, credits_pending, credits_posted) in totals.items():
        if debits_posted != credits_posted:
            problems.append(f"asset {asset}: posted debits {debits_posted} != {credits_posted}")
        if debits_pending != credits_pending:
            problems.append(f"asset {asset}: pending debits {debits_pending} != {credits_pending}")
    return problems


def _pending_problems(ledger: Ledger) -> list[str]:
    """The pending balances are exactly the open pending transfers."""
    debits: dict[int, int] = {}
    credits: dict[int, int] = {}
    for pending in ledger.pendings.values():
        if pending.status is PendingStatus.pending:
            record = pending.record
            debits[record.debit_account] = debits.get(record.debit_account, 0) + record.amount
            credits[record.credit_account] = credits.get(record.credit_account, 0) + record.amount
    problems = []
    for account_id, account in ledger.accounts.items():
        debits_pending, _, credits_pending, _ = account.balances()
        if debits_pending != debits.get(account_id, 0):
            problems.append(f"account {account_id}: debits_pending is not its open pendings")
        if credits_pending != credits.get(account_id, 0):
            problems.append(f"account {account_id}: credits_pending is not its open pendings")
    return problems


def expected_positions(ledger: Ledger) -> dict[tuple[str, int], list[int]]:
    """(pool, asset) -> [holdings, liabilities, shortfall pending, breaks outstanding], summed
    from the accounts, the open pending transfers and the breaks."""
    sums = {key: [0, 0, 0, 0] for key in ledger.positions}
    pool_of = {}
    for account_id, account in ledger.accounts.items():
        pool = account.definition.pool
        pool_of[account_id] = (pool, account.asset)
        if not pool:
            continue
        _, debits_posted, _, credits_posted = account.balances()
        if account.definition.account_class is AccountClass.custody:
            sums[(pool, account.asset)][0] += debits_posted - credits_posted
        else:
            sums[(pool, account.asset)][1] += credits_posted - debits_posted
    for pending in ledger.pendings.values():
        record = pending.record
        debit_pool, credit_pool = pool_of[record.debit_account], pool_of[record.credit_account]
        # An open pending transfer that moves value out of a pool holds back its excess.
        if pending.status is PendingStatus.pending and credit_pool[0] and credit_pool != debit_pool:
            sums[credit_pool][2] += record.amount
    for broken in ledger.breaks.values():
        assert 0 <= broken.cured <= broken.amount
        sums[(broken.pool, broken.asset)][3] += broken.amount - broken.cured
    return sums


def _position_problems(ledger: Ledger) -> list[str]:
    problems = []
    for key, (holdings, liabilities, shortfall, breaks) in expected_positions(ledger).items():
        position = ledger.positions[key]
        actual = [
            position.holdings,
            position.liabilities,
            position.shortfall_pending,
            position.breaks_outstanding,
        ]
        if actual != [holdings, liabilities, shortfall, breaks]:
            problems.append(
                f"position {key}: engine has {actual}, "
                f"balances give {[holdings, liabilities, shortfall, breaks]}"
            )
        if position.pool.terms is Terms.custody and holdings - liabilities - shortfall + breaks < 0:
            problems.append(
                f"pool {key} is short beyond its open breaks: holdings {holdings}, "
                f"liabilities {liabilities}, pending shortfall {shortfall}, breaks {breaks}"
            )
    return problems


def state_snapshot(subject: Ledger | LedgerService) -> dict[str, Any]:
    """Everything a reopen or a replay must reproduce (not the engine's clock)."""
    ledger = _engine(subject)
    return {
        "balances": {i: a.balances() for i, a in ledger.accounts.items()},
        "positions": {
            key: (p.holdings, p.liabilities, p.shortfall_pending, p.breaks_outstanding)
            for key, p in ledger.positions.items()
        },
        "pendings": {
            i: (p.record, p.expires_at, int(p.status)) for i, p in ledger.pendings.items()
        },
        "breaks": {
            i: (b.pool, b.asset, b.amount, b.cured, b.opened_at) for i, b in ledger.breaks.items()
        },
        "reversed": dict(ledger.reversed),
    }


def balances_snapshot(subject: Ledger | LedgerService) -> dict[int, tuple[int, int, int, int]]:
    return {i: a.balances() for i, a in _engine(subject).accounts.items()}


# ---------------------------------------------------------------------- replay


class WithoutCheckpoint:
    """A view of a store that hides its checkpoint, so loading it replays the whole journal."""

    def __init__(self, store: LedgerStore) -> None:
        self._store = store

    def checkpoint(self) -> Checkpoint:
        return Checkpoint(0, 0)

    def entries(
        self, after_seq: int = 0, kinds: Collection[EntryKind] | None = None
    ) -> Iterator[JournalEntry]:
        return self._store.entries(after_seq, kinds)

    def transfers(self, ids: Collection[int]) -> dict[int, TransferRecord]:
        return self._store.transfers(ids)

    def head(self) -> tuple[int, bytes]:
        return self._store.head()

    def projected_definitions(self) -> dict[EntryKind, list[Definition]]:
        return self._store.projected_definitions()


def replay_from_genesis(store: LedgerStore) -> Ledger:
    """A fresh engine built from the journal alone, ignoring every checkpoint."""
    ledger, checkpoint_seq = load_ledger(WithoutCheckpoint(store))  # type: ignore[arg-type]
    assert checkpoint_seq == 0
    return ledger


# Every test ledger is signed with this journal key, so a store reopened by another service
# (or checked by the audit with the key trusted) finds the key it was written with.
journal_seed = bytes(range(32))
journal_public_key = bytes(nacl.signing.SigningKey(journal_seed).verify_key)


def journal_signer() -> MemorySigner:
    return MemorySigner(journal_seed)


def key_file_signer(database: Path | str) -> Signer:
    """The signer the command line uses for the SQLite file ``database`` (its key file beside
    it), for tests that write through both the Python API and the CLI."""
    return bootstrap.journal_signer(f"sqlite:///{database}")


def unsigned_journal(
    store: LedgerStore,
) -> list[tuple[JournalEntry, list[TransferRecord], list[Definition]]]:
    """The store's journal as a ringfence older than journal signing wrote it: no key entry
    and no signatures, every entry renumbered and chained again; with each entry the rows an
    ``append`` needs."""
    written = []
    previous = genesis_hash
    for entry in store.entries():
        if entry.kind is EntryKind.journal_keys:
            continue
        seq = len(written) + 1
        body = entry.body[:8] + seq.to_bytes(8, "big") + entry.body[16:]  # the header's seq
        sealed = seal(seq, entry.kind, entry.timestamp, body, previous)
        records = decode_transfers(body)[1] if entry.kind is EntryKind.transfers else []
        definitions = decode_definitions(body)[1] if entry.kind in ledger_definition_kinds else []
        written.append((sealed, records, definitions))
        previous = sealed.hash
    return written


def results_of(results: Sequence[Result]) -> list[str]:
    """Results as plain strings, for readable assertion messages."""
    return [result.value for result in results]


def btc_address(name: str) -> str:
    """A valid mainnet P2WPKH address named for a test (the registry takes only canonical
    spellings)."""
    from ringfence.core.custody.addresses import segwit_v0_address

    return segwit_v0_address("bc", hashlib.sha256(name.encode()).digest()[:20])
