"""service/custody.py: the registry lives in the journal (reopened, audited, tamper-evident),
wallets get their custody accounts, and inflows become deposits exactly once."""

from __future__ import annotations

import hashlib
from collections.abc import Collection, Iterator
from pathlib import Path

import pytest
from bip_utils import Bip84, Bip84Coins
from tests.support import MAIN, VAULT, build_custodian, journal_signer

from ringfence.adapters.clock import ManualClock
from ringfence.adapters.storage.memory import MemoryStore
from ringfence.adapters.storage.sqlite import SqliteStore
from ringfence.bootstrap import open_store
from ringfence.core.custody.addresses import AddressKind, derive_addresses, segwit_v0_address
from ringfence.core.custody.deposits import Unattributed, deposit_transfer_id
from ringfence.core.custody.holdings import Inflow, Observation
from ringfence.core.custody.registry import (
    AddressAssignment,
    Chain,
    ClientAddress,
    Designation,
    Encumbrance,
    EncumbranceKind,
    RegistryRecord,
    Scheme,
    Wallet,
)
from ringfence.core.errors import InputError, Result
from ringfence.core.ledger.model import AccountClass, BreakState
from ringfence.service.audit import verify_store
from ringfence.service.custody import CustodyService, derived_account_id
from ringfence.service.ledger import LedgerService
from ringfence.service.ports import LedgerStore


def account_zpub(seed_byte: int) -> str:
    """A BIP84 account key (m/84'/0'/0') from a test seed."""
    seed = bytes([seed_byte]) * 64
    account = Bip84.FromSeed(seed, Bip84Coins.BITCOIN).Purpose().Coin().Account(0)
    return str(account.PublicKey().ToExtended())


def address(name: str) -> str:
    """A valid mainnet P2WPKH address named for the test."""
    return segwit_v0_address("bc", hashlib.sha256(name.encode()).digest()[:20])


WALLETS = [
    Wallet("omni-btc", Chain.bitcoin, Scheme.bip84, (account_zpub(1),), MAIN, "hot"),
    Wallet("dave-btc", Chain.bitcoin, Scheme.bip84, (account_zpub(2),), VAULT, "cold"),
    Wallet("house-btc", Chain.bitcoin, Scheme.address, (address("house"),), "", "hot"),
]
ADDRESSES = [
    AddressAssignment(address("alice"), "omni-btc", 0, client="alice"),
    AddressAssignment(address("bob"), "omni-btc", 1, client="bob"),
    AddressAssignment(address("omnibus"), "omni-btc", 2),
    AddressAssignment(address("dave"), "dave-btc", 0, client="dave"),
    AddressAssignment(address("dave-pool"), "dave-btc", 1),
    AddressAssignment(address("omni-change"), "omni-btc", 0, change=True),
]


class ListedSource:
    """A holdings source that answers from lists (the chains' own adapters have their own
    integration tests against a real node and real files)."""

    name = "listed"

    def __init__(self, inflows: list[Inflow], holdings: list[Observation] | None = None) -> None:
        self._inflows = inflows
        self._holdings = holdings or []

    def holdings(self, addresses: Collection[str]) -> list[Observation]:
        return [o for o in self._holdings if o.address in addresses]

    def inflows(self, addresses: Collection[str], from_height: int) -> tuple[list[Inflow], int]:
        found = [i for i in self._inflows if i.address in addresses and i.height >= from_height]
        return found, max((i.height for i in self._inflows), default=0)


def inflow(address: str, amount: int, reference: str, sender: str = "") -> Inflow:
    return Inflow(Chain.bitcoin, address, "BTC", amount, reference, sender, 100, 0, "listed")


@pytest.fixture(params=["memory", "sqlite", "postgres"])
def store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[LedgerStore]:
    opened: LedgerStore
    if request.param == "memory":
        opened = MemoryStore()
    elif request.param == "sqlite":
        opened = SqliteStore(tmp_path / "ledger.db")
    else:
        opened = open_store(request.getfixturevalue("postgres_url"))
    yield opened
    opened.close()


def open_custody(store: LedgerStore, clock: ManualClock) -> CustodyService:
    return CustodyService(LedgerService(store, clock, journal_signer()))


@pytest.fixture
def custody(store: LedgerStore) -> CustodyService:
    service = open_custody(store, ManualClock(10**18))
    build_custodian(service.ledger)
    assert service.change(WALLETS) == [Result.ok] * 3
    assert service.change(ADDRESSES) == [Result.ok] * len(ADDRESSES)
    assert service.change([ClientAddress(address("carol-own"), "carol")]) == [Result.ok]
    return service


def test_wallets_get_a_custody_account_per_asset_of_their_chain(custody: CustodyService) -> None:
    accounts = custody.ledger.ledger.accounts
    custody_id = derived_account_id(AccountClass.custody, "omni-btc", "hot", MAIN, "BTC")
    assert accounts[custody_id].definition.pool == MAIN
    house_id = derived_account_id(AccountClass.custody, "house-btc", "hot", "", "BTC")
    assert accounts[house_id].definition.pool == ""
    eth_id = derived_account_id(AccountClass.custody, "omni-btc", "hot", MAIN, "ETH")
    assert eth_id not in accounts  # a Bitcoin wallet holds no ether


def test_inflows_become_deposits_exactly_once(custody: CustodyService) -> None:
    inflows = [
        inflow(address("alice"), 5_000, "aa" * 32 + ":0"),
        inflow(address("bob"), 7_000, "aa" * 32 + ":1"),
        inflow(address("dave"), 9_000, "bb" * 32 + ":0"),
    ]
    first = custody.scan_deposits(ListedSource(inflows))
    assert [d.client for d in first.posted] == ["alice", "bob", "dave"]
    assert [d.pool for d in first.posted] == [MAIN, MAIN, VAULT]
    again = custody.scan_deposits(ListedSource(inflows))
    assert again.posted == []
    assert len(again.already_posted) == 3
    alice = custody.client_account("alice", MAIN, "BTC")
    assert custody.ledger.balance(alice).balance == 5_000
    record = custody.ledger.store.transfers([deposit_transfer_id(inflows[0])])
    assert len(record) == 1


def test_deposits_survive_a_restart_and_are_not_posted_again(store: LedgerStore) -> None:
    clock = ManualClock(10**18)
    service = open_custody(store, clock)
    build_custodian(service.ledger)
    service.change(WALLETS)
    service.change(ADDRESSES)
    inflows = [inflow(address("alice"), 5_000, "cc" * 32 + ":3")]
    assert len(service.scan_deposits(ListedSource(inflows)).posted) == 1
    service.ledger.checkpoint()
    reopened = open_custody(store, clock)
    assert reopened.registry.addresses.keys() == service.registry.addresses.keys()
    report = reopened.scan_deposits(ListedSource(inflows))
    assert (report.posted, len(report.already_posted)) == ([], 1)


def test_what_cannot_be_attributed_is_reported_not_guessed(custody: CustodyService) -> None:
    inflows = [
        inflow(address("stranger"), 1, "d1" * 32 + ":0"),
        inflow(address("omnibus"), 2, "d2" * 32 + ":0"),
        inflow(address("house"), 3, "d3" * 32 + ":0", sender=address("someone")),
        Inflow(Chain.bitcoin, address("alice"), "DOGE", 4, "d4" * 32 + ":0", "", 1, 0, "listed"),
        Inflow(Chain.bitcoin, address("alice"), "ETH", 5, "d5" * 32 + ":0", "", 1, 0, "listed"),
    ]
    report = custody.scan_deposits(ListedSource(inflows))
    assert report.posted == []
    assert len(report.unattributed) == 4  # the source watches only registered addresses
    plan = custody.plan(inflows)
    assert plan.deposits == []
    assert [reason for _, reason in plan.unattributed] == [
        Unattributed.address_unknown,
        Unattributed.pool_address_has_no_client,
        Unattributed.house_inflow_from_unknown_sender,
        Unattributed.asset_unknown,
        Unattributed.asset_wrong_chain,
    ]
    assert custody.ledger.ledger.breaks == {}


def test_a_client_paying_a_house_wallet_opens_a_break(custody: CustodyService) -> None:
    misdirected = inflow(address("house"), 8_000, "ee" * 32 + ":0", sender=address("carol-own"))
    report = custody.scan_deposits(ListedSource([misdirected]))
    assert [(d.client, d.pool, d.misdirected) for d in report.posted] == [("carol", MAIN, True)]
    (opened,) = custody.ledger.breaks()
    assert (opened.pool, opened.amount, opened.state) == (MAIN, 8_000, BreakState.open)


def test_registry_changes_are_journaled_and_replayed(store: LedgerStore) -> None:
    clock = ManualClock(10**18)
    service = open_custody(store, clock)
    build_custodian(service.ledger)
    service.change(WALLETS)
    clock.advance(10**9)
    assert service.change([Designation("omni-btc", MAIN, "warm")]) == [Result.ok]
    pledge = Encumbrance(1, "omni-btc", "BTC", 100, EncumbranceKind.pledge, "lender", 0)
    assert service.change([pledge]) == [Result.ok]
    reopened = open_custody(store, clock)
    state = reopened.registry.wallets["omni-btc"]
    assert (state.pool, state.tier) == (MAIN, "warm")
    assert [(p, t) for _, p, t in state.history] == [(MAIN, "hot"), (MAIN, "warm")]
    assert reopened.registry.encumbered("omni-btc", "BTC", 5) == 100
    report = verify_store(store)
    assert report.ok, report.problems


def test_a_refused_change_writes_nothing(custody: CustodyService) -> None:
    head = custody.ledger.store.head()
    results = custody.change(
        [
            AddressAssignment(address("alice"), "dave-btc", 5),
            AddressAssignment(address("x"), "ghost", 0),
        ]
    )
    assert results == [Result.address_designated_twice, Result.wallet_not_found]
    assert custody.ledger.store.head() == head


def test_a_wallet_holding_client_assets_cannot_be_moved_to_the_house(
    custody: CustodyService,
) -> None:
    custody.scan_deposits(ListedSource([inflow(address("dave"), 9_000, "ff" * 32 + ":0")]))
    result = custody.change([Designation("dave-btc", "", "cold")])
    assert result == [Result.wallet_not_empty]
    assert custody.registry.wallets["dave-btc"].pool == VAULT


def test_derived_addresses_are_assigned_and_watched(custody: CustodyService) -> None:
    results = custody.assign_derived("omni-btc", 10, 3, client="erin")
    assert results == [Result.ok] * 3
    expected = derive_addresses(AddressKind.bip84, WALLETS[0].keys, 10, 3)
    assert [custody.registry.addresses[a].client for a in expected] == ["erin"] * 3
    assert set(expected) <= set(custody.watched_addresses())
    assert custody.assign_derived("omni-btc", 10, 3, client="erin") == [Result.exists] * 3
    assert custody.assign_derived("omni-btc", 10, 1, client="bob") == [
        Result.address_designated_twice
    ]


@pytest.mark.parametrize(
    ("keys", "network", "code"),
    [
        (("zpub-not-base58-0OIl",), "mainnet", Result.xpub_malformed),
        ((account_zpub(3)[:-1] + "x",), "mainnet", Result.xpub_checksum_invalid),
        ((account_zpub(3),), "testnet", Result.xpub_wrong_network),
    ],
)
def test_a_wallet_with_bad_keys_is_refused_and_nothing_is_written(
    custody: CustodyService, keys: tuple[str, ...], network: str, code: Result
) -> None:
    head = custody.ledger.store.head()
    wallet = Wallet("bad", Chain.bitcoin, Scheme.bip84, keys, MAIN, "hot", network)
    with pytest.raises(InputError) as raised:
        custody.change([wallet])
    assert raised.value.code is code
    assert "bad" not in custody.registry.wallets
    assert custody.ledger.store.head() == head


def test_the_firms_own_moves_are_never_deposits(custody: CustodyService) -> None:
    moves = [
        inflow(address("dave-pool"), 1_000, "a1" * 32 + ":0"),  # a sweep into the vault
        inflow(address("omni-change"), 2_000, "a2" * 32 + ":1"),  # change of a withdrawal
        inflow(
            address("alice"), 3_000, "a3" * 32 + ":0", sender=address("bob")
        ),  # between own wallets
    ]
    report = custody.scan_deposits(ListedSource(moves))
    assert report.posted == []
    assert [reason for _, reason in report.unattributed] == [
        Unattributed.pool_address_has_no_client,
        Unattributed.change_output,
        Unattributed.own_wallet_move,
    ]


@pytest.mark.parametrize(
    "record",
    [
        ClientAddress("0x" + "ab" * 20, "bob"),  # not EIP-55
        ClientAddress("BC1QW508D6QEJXTDG4Y5R3ZARVARY0C5XW7KV8F3T4", "bob"),  # upper case
        AddressAssignment("bc1qnot-an-address", "omni-btc", 9, client="bob"),
        Wallet(
            "house-2",
            Chain.bitcoin,
            Scheme.address,
            ("tb1qw508d6qejxtdg4y5r3zarvary0c5xw7kxpjzsx",),
        ),
    ],
)
def test_an_address_in_another_spelling_or_network_is_refused(
    custody: CustodyService, record: RegistryRecord
) -> None:
    head = custody.ledger.store.head()
    with pytest.raises(InputError) as raised:
        custody.change([record])
    assert raised.value.code is Result.address_not_canonical
    assert custody.ledger.store.head() == head
