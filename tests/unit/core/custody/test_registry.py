"""core/custody/registry.py and codec.py: one pool per wallet and per address, journaled
changes that decode to what was decided, and refusals that change nothing."""

from __future__ import annotations

import copy

import pytest

from ringfence.core.custody.codec import Numbers, decode_registry, encode_registry
from ringfence.core.custody.registry import (
    AddressAssignment,
    Chain,
    ClientAddress,
    Designation,
    Encumbrance,
    EncumbranceKind,
    LedgerView,
    Registry,
    RegistryRecord,
    Release,
    Scheme,
    Wallet,
)
from ringfence.core.errors import InputError, Result
from ringfence.core.ledger.journal import EntryKind
from ringfence.core.ledger.model import Pool, PoolKind, Terms

XPUB = (
    "xpub6CatWdiZiodmUeTDp8LT5or8nmbKNcuyvz7WyksVFkKB4RHwCD3XyuvPEbvqAQY3rAPshWcMLoP2fMFMKHPJ4Ze"
    "ZXYVUhLv1VMrjPC7PW6V"
)
XPUBS = (XPUB, XPUB[:-1] + "W", XPUB[:-1] + "X")  # distinct texts; the registry stores them
POOLS = {
    "main": Pool("main", PoolKind.omnibus, Terms.custody),
    "vault-dave": Pool("vault-dave", PoolKind.individual, Terms.custody, client="dave"),
}
VIEW = LedgerView(POOLS, {"alice", "bob", "dave"}, {"BTC", "ETH"})


def defined(*wallets: Wallet) -> Registry:
    registry = Registry()
    for wallet in wallets:
        assert registry.apply(wallet, VIEW, 1) is Result.ok
    return registry


MAIN_HOT = Wallet("main-hot", Chain.bitcoin, Scheme.bip84, (XPUB,), "main", "hot")
VAULT = Wallet("vault-dave", Chain.bitcoin, Scheme.multisig, XPUBS, "vault-dave", "cold")
HOUSE = Wallet("house-eth", Chain.ethereum, Scheme.address, ("0x" + "ab" * 20,), "", "hot")


def test_a_wallet_is_defined_once_and_a_second_body_is_refused() -> None:
    registry = defined(MAIN_HOT)
    assert registry.apply(MAIN_HOT, VIEW, 2) is Result.exists
    moved = Wallet("main-hot", Chain.bitcoin, Scheme.bip84, (XPUB,), "", "hot")
    assert registry.apply(moved, VIEW, 2) is Result.wallet_exists_with_different_body
    assert registry.wallets["main-hot"].pool == "main"


@pytest.mark.parametrize(
    ("make", "code"),
    [
        (
            lambda: Wallet("w", Chain.ethereum, Scheme.bip84, (XPUB,)),
            Result.wallet_scheme_wrong_chain,
        ),
        (lambda: Wallet("w", Chain.bitcoin, Scheme.multisig, (XPUB,)), Result.wallet_keys_invalid),
        (
            lambda: Wallet("w", Chain.bitcoin, Scheme.multisig, (XPUB, XPUB, XPUB)),
            Result.wallet_keys_invalid,
        ),
        (
            lambda: Wallet("w", Chain.bitcoin, Scheme.bip84, (XPUB,), tier="lukewarm"),
            Result.wallet_tier_invalid,
        ),
        (lambda: Wallet("W!", Chain.bitcoin, Scheme.bip84, (XPUB,)), Result.name_invalid),
        (lambda: Wallet("w", Chain.bitcoin, Scheme.bip84, ("a b",)), Result.wallet_keys_invalid),
        (
            lambda: Wallet("w", Chain.bitcoin, Scheme.bip84, ("x" * 112,)),
            Result.wallet_keys_invalid,
        ),
    ],
)
def test_malformed_wallets_are_named(make: object, code: Result) -> None:
    with pytest.raises(InputError) as raised:
        make()  # type: ignore[operator]
    assert raised.value.code is code


def test_a_wallet_of_an_unknown_pool_is_refused() -> None:
    registry = Registry()
    wallet = Wallet("w", Chain.bitcoin, Scheme.bip84, (XPUB,), "nowhere")
    assert registry.apply(wallet, VIEW, 1) is Result.pool_not_found
    assert registry.wallets == {}


def test_an_address_serves_one_pool_only() -> None:
    registry = defined(MAIN_HOT, VAULT)
    first = AddressAssignment("bc1qone", "main-hot", 0, client="alice")
    assert registry.apply(first, VIEW, 2) is Result.ok
    assert registry.apply(first, VIEW, 3) is Result.exists
    for other in (
        AddressAssignment("bc1qone", "vault-dave", 0),
        AddressAssignment("bc1qone", "main-hot", 0, client="bob"),
        ClientAddress("bc1qone", "bob"),
    ):
        assert registry.apply(other, VIEW, 3) is Result.address_designated_twice
    assert registry.addresses["bc1qone"] == first
    assert registry.client_addresses == {}


def test_a_fixed_address_wallet_takes_its_address_and_no_other_wallet_can() -> None:
    registry = defined(HOUSE)
    again = Wallet("other", Chain.ethereum, Scheme.address, HOUSE.keys, "main")
    assert registry.apply(again, VIEW, 2) is Result.address_designated_twice
    owner = registry.owner_of(HOUSE.keys[0], POOLS)
    assert owner is not None
    assert (owner[0].wallet.name, owner[1]) == ("house-eth", "")


def test_client_addresses_follow_the_pool() -> None:
    registry = defined(MAIN_HOT, VAULT, HOUSE)
    assert registry.apply(AddressAssignment("a1", "vault-dave", client="alice"), VIEW, 2) is (
        Result.client_not_in_pool
    )
    assert registry.apply(AddressAssignment("a2", "main-hot", client="zed"), VIEW, 2) is (
        Result.client_not_found
    )
    pool_address = AddressAssignment("a3", "vault-dave", 1)
    assert registry.apply(pool_address, VIEW, 2) is Result.ok
    owner = registry.owner_of("a3", POOLS)
    assert owner is not None
    assert owner[1] == "dave"  # every address of an individual pool is its client's
    assert registry.owner_of("a4", POOLS) is None


def test_designation_changes_are_recorded_and_never_move_a_loaded_wallet() -> None:
    registry = defined(MAIN_HOT)
    cold = Designation("main-hot", "main", "cold")
    assert registry.designate(cold, POOLS, custody_held=5, timestamp=7) is Result.ok
    to_house = Designation("main-hot", "", "cold")
    assert registry.designate(to_house, POOLS, custody_held=5, timestamp=8) is (
        Result.wallet_not_empty
    )
    assert registry.apply(AddressAssignment("a", "main-hot", client="alice"), VIEW, 9) is Result.ok
    assert registry.designate(to_house, POOLS, 0, 10) is Result.wallet_has_client_addresses
    state = registry.wallets["main-hot"]
    assert (state.pool, state.tier) == ("main", "cold")
    assert state.history == [(1, "main", "hot"), (7, "main", "cold")]
    assert registry.designate(Designation("ghost", "", "hot"), POOLS, 0, 11) is (
        Result.wallet_not_found
    )


def test_encumbrances_count_while_active_and_stop_when_released() -> None:
    registry = defined(MAIN_HOT)
    pledge = Encumbrance(9, "main-hot", "BTC", 300, EncumbranceKind.pledge, "lender-a", 100, 200)
    lock = Encumbrance(10, "main-hot", "BTC", 50, EncumbranceKind.lock, "venue-x", 100)
    assert registry.apply(pledge, VIEW, 1) is Result.ok
    assert registry.apply(lock, VIEW, 1) is Result.ok
    assert registry.encumbered("main-hot", "BTC", 99) == 0
    assert registry.encumbered("main-hot", "BTC", 150) == 350
    assert registry.encumbered("main-hot", "BTC", 200) == 50
    assert registry.apply(Release(10), VIEW, 160) is Result.ok
    assert registry.encumbered("main-hot", "BTC", 150) == 350  # released only at 160
    assert registry.encumbered("main-hot", "BTC", 170) == 300
    assert registry.encumbered("main-hot", "BTC", 210) == 0
    assert registry.apply(Release(11), VIEW, 170) is Result.encumbrance_not_found
    other = Encumbrance(9, "main-hot", "BTC", 301, EncumbranceKind.pledge, "lender-a", 100, 200)
    assert registry.apply(other, VIEW, 1) is Result.encumbrance_exists_with_different_body
    unknown = Encumbrance(12, "main-hot", "DOGE", 1, EncumbranceKind.lock, "x", 0)
    assert registry.apply(unknown, VIEW, 1) is Result.asset_not_found


@pytest.mark.parametrize(
    ("amount", "code"),
    [
        (0, Result.amount_must_not_be_zero),
        (-1, Result.amount_must_not_be_negative),
        (1.5, Result.amount_must_not_be_float),
        (2**128, Result.amount_must_be_below_2_128),
    ],
)
def test_encumbrance_amounts_are_checked(amount: object, code: Result) -> None:
    with pytest.raises(InputError) as raised:
        Encumbrance(1, "w", "BTC", amount, EncumbranceKind.lock, "x", 0)  # type: ignore[arg-type]
    assert raised.value.code is code


def test_an_encumbrance_cannot_end_before_it_starts() -> None:
    with pytest.raises(InputError) as raised:
        Encumbrance(1, "w", "BTC", 1, EncumbranceKind.lock, "x", 10, 10)
    assert raised.value.code is Result.encumbrance_period_invalid


def test_a_refused_change_leaves_the_registry_as_it_was() -> None:
    registry = defined(MAIN_HOT, VAULT)
    registry.apply(AddressAssignment("a", "main-hot", client="alice"), VIEW, 2)
    before = copy.deepcopy(registry.__dict__)
    refusals: list[RegistryRecord] = [
        AddressAssignment("a", "vault-dave"),
        Designation("main-hot", "", "hot"),
        ClientAddress("a", "bob"),
        Wallet("main-hot", Chain.bitcoin, Scheme.bip84, (XPUB,), "", "hot"),
        Release(404),
    ]
    for record in refusals:
        assert not registry.apply(record, VIEW, 3).succeeded
    assert registry.__dict__ == before


# ---------------------------------------------------------------------- codec


def numbers(registry: Registry) -> Numbers:
    clients = {"alice": 1, "bob": 2, "dave": 4}
    assets = {"BTC": 1, "ETH": 2}
    return Numbers(
        wallet_number=lambda name: registry.wallets[name].number,
        wallet_name=lambda number: registry.wallets_by_number[number].wallet.name,
        client_number=clients.__getitem__,
        client_name={v: k for k, v in clients.items()}.__getitem__,
        asset_number=assets.__getitem__,
        asset_code={v: k for k, v in assets.items()}.__getitem__,
    )


def test_every_record_kind_decodes_to_what_was_encoded() -> None:
    registry = defined(MAIN_HOT, VAULT, HOUSE)
    entries: list[tuple[EntryKind, list[RegistryRecord]]] = [
        (EntryKind.wallets, [MAIN_HOT, VAULT, HOUSE]),
        (EntryKind.designations, [Designation("vault-dave", "vault-dave", "warm")]),
        (
            EntryKind.addresses,
            [
                AddressAssignment("bc1q" + "x" * 58, "main-hot", 2**31 - 1, True, "alice"),
                AddressAssignment("bc1qpool", "main-hot", 3),
                ClientAddress("0x" + "cd" * 20, "bob"),
            ],
        ),
        (
            EntryKind.encumbrances,
            [
                Encumbrance(
                    2**128 - 1, "house-eth", "ETH", 2**128 - 1, EncumbranceKind.lock, "v", 1
                ),
                Release(5),
            ],
        ),
    ]
    for seq, (kind, records) in enumerate(entries, start=1):
        body = encode_registry(kind, seq, 1000 + seq, records, numbers(registry))
        assert len(body) % 128 == 32
        first_new = 1 if kind is EntryKind.wallets else len(registry.wallets) + 1
        header, decoded = decode_registry(body, numbers(registry), first_new)
        assert (header.kind, header.seq, header.timestamp) == (kind, seq, 1000 + seq)
        assert decoded == records


def test_a_torn_or_misnumbered_wallet_entry_does_not_decode() -> None:
    registry = defined(MAIN_HOT, VAULT)
    body = encode_registry(EntryKind.wallets, 1, 1, [MAIN_HOT, VAULT], numbers(registry))
    with pytest.raises(ValueError, match="torn"):
        decode_registry(body[:-1], numbers(registry), 1)
    with pytest.raises(ValueError, match="out of order"):
        decode_registry(body, numbers(registry), 2)
    short = body[: 32 + 128 * 3]  # the vault's record without its keys, header unchanged
    with pytest.raises(ValueError):
        decode_registry(short, numbers(registry), 1)
