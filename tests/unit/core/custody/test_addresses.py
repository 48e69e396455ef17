"""Watch-only addresses against published vectors and two independent implementations.

Vectors: BIP32 test vectors 1, 2, 3 (public chains) and 5 (invalid keys), BIP84's, EIP-55's,
and the BIP44 Ethereum account of the "abandon … about" mnemonic. Multisig addresses have no
published vector, so embit's and bdk's descriptor implementations must both agree with ours.
Keys used as test inputs are derived from the mnemonic with bip-utils, another library again.
"""

from __future__ import annotations

import itertools
import json
from pathlib import Path

import bdkpython as bdk
import embit.base58
import pytest
from bip_utils import (
    Bip32Secp256k1,
    Bip39SeedGenerator,
    Bip44,
    Bip44Changes,
    Bip44Coins,
    Bip84,
    Bip84Coins,
)
from embit.descriptor import Descriptor
from embit.descriptor.checksum import add_checksum
from embit.networks import NETWORKS
from eth_utils import to_checksum_address
from hypothesis import given, settings
from hypothesis import strategies as st

from ringfence.core import limits
from ringfence.core.custody import addresses
from ringfence.core.custody.addresses import (
    AddressKind,
    Branch,
    Network,
    derive_addresses,
    descriptor_checksum,
    eth_checksum_address,
    parse_extended_public_key,
    segwit_v0_address,
    watch_only_wallet,
)
from ringfence.core.errors import InputError, Result

ABANDON = "abandon " * 11 + "about"
SEED = Bip39SeedGenerator(ABANDON).Generate()
MASTER = Bip32Secp256k1.FromSeed(SEED)


def account_xpub(path: str) -> str:
    return str(MASTER.DerivePath(path).PublicKey().ToExtended())


def reversion(text: str, version_hex: str) -> str:
    """The same key under other version bytes, re-encoded by embit (not by the code tested)."""
    body = embit.base58.decode_check(text)[4:]
    return str(embit.base58.encode_check(bytes.fromhex(version_hex) + body))


def rejected(code: Result, *arguments: object, **keywords: object) -> InputError:
    with pytest.raises(InputError) as caught:
        derive_addresses(*arguments, **keywords)  # type: ignore[arg-type]
    assert caught.value.code is code, caught.value
    return caught.value


# ---------------------------------------------------------------------- BIP32 vectors 1-3

VECTORS = json.loads((Path(__file__).parent / "bip32_vectors.json").read_text("utf-8"))
VECTOR_1: dict[str, str] = VECTORS["vector_1"]
VECTOR_2: dict[str, str] = VECTORS["vector_2"]
VECTOR_3: dict[str, str] = VECTORS["vector_3"]
VECTOR_5 = [(row["key"], Result(row["code"])) for row in VECTORS["vector_5"]]
ALL_VECTORS = [VECTOR_1, VECTOR_2, VECTOR_3]


def _index(step: str) -> int:
    return int(step[:-1]) + 2**31 if step.endswith("H") else int(step)


@pytest.mark.parametrize(
    ("chain", "text"), [item for vector in ALL_VECTORS for item in vector.items()]
)
def test_bip32_vector_keys_parse_and_serialise_unchanged(chain: str, text: str) -> None:
    key = parse_extended_public_key(text)
    steps = chain.split("/")[1:]
    assert key.depth == len(steps)
    assert key.child_number == (_index(steps[-1]) if steps else 0)
    assert key.network is Network.mainnet
    assert key.version_name == "xpub"
    assert key.to_text() == text
    assert key.to_standard_text() == text


def _non_hardened_steps() -> list[tuple[str, str, int]]:
    pairs = []
    for vector in ALL_VECTORS:
        for chain, text in vector.items():
            parent_chain, _, step = chain.rpartition("/")
            if step and not step.endswith("H") and parent_chain in vector:
                pairs.append((vector[parent_chain], text, int(step)))
    return pairs


@pytest.mark.parametrize(("parent", "child", "index"), _non_hardened_steps())
def test_bip32_vector_non_hardened_children(parent: str, child: str, index: int) -> None:
    derived = parse_extended_public_key(parent).child(index)
    assert derived.to_text() == child
    assert derived.parent_fingerprint == parse_extended_public_key(parent).fingerprint


def test_the_vectors_hold_six_non_hardened_steps() -> None:
    # m/0H -> /1, /2H -> /2, /2 -> /1000000000 (vector 1); m -> /0, /2147483647H -> /1,
    # /2147483646H -> /2 (vector 2): if the table were mistyped, the test above would shrink.
    assert len(_non_hardened_steps()) == 6


# ---------------------------------------------------------------------- BIP32 vector 5


@pytest.mark.parametrize(("text", "code"), VECTOR_5)
def test_bip32_vector_5_keys_are_rejected_with_a_named_code(text: str, code: Result) -> None:
    with pytest.raises(InputError) as caught:
        parse_extended_public_key(text)
    assert caught.value.code is code


def test_vector_5_strings_are_well_formed_so_each_fails_for_its_own_reason() -> None:
    # Every string but the last carries a valid checksum: a typo in the table would turn its
    # case into a checksum failure and this test would say so.
    assert len(VECTOR_5) == 16
    for text, code in VECTOR_5:
        if code is not Result.xpub_checksum_invalid:
            assert len(embit.base58.decode_check(text)) == 78


# ---------------------------------------------------------------------- BIP84

# BIP84's account key (m/84'/0'/0' of the "abandon … about" mnemonic) and its private form.
ZPUB = (
    "zpub6rFR7y4Q2AijBEqTUquhVz398htDFrtymD9xYYfG1m4wAcvPhXNfE3EfH1r1ADqtfSdVCToUG868RvUUkgDKf31m"
    "GDtKsAYz2oz2AGutZYs"
)
BIP84_XPUB = account_xpub("m/84'/0'/0'")
ZPRV = (
    "zprvAdG4iTXWBoARxkkzNpNh8r6Qag3irQB8PzEMkAFeTRXxHpbF9z4QgEvBRmfvqWvGp42t42nvgGpNgYSJA9iefm1y"
    "YNZKEm7z6qUWCroSQnE"
)


def test_bip84_vector_addresses() -> None:
    assert derive_addresses(AddressKind.bip84, [ZPUB], 0, 2) == [
        "bc1qcr8te4kr609gcawutmrza0j4xv80jy8z306fyu",
        "bc1qnjg0jd8228aq7egyzacy8cys3knf9xvrerkf9g",
    ]
    assert derive_addresses(AddressKind.bip84, [ZPUB], 0, 1, chain=Branch.change) == [
        "bc1q8c6fshw2dlwun7ekn9qwf37cu2rn755upcp6el"
    ]


def test_bip84_vector_public_keys() -> None:
    account = parse_extended_public_key(ZPUB)
    assert account.depth == 3
    assert account.version_name == "zpub"
    assert account.child(0).child(0).public_key.hex() == (
        "0330d54fd0dd420a6e5f8d3624f5f3482cae350f79d5f0753bf5beef9c2d91af3c"
    )
    assert account.child(0).child(1).public_key.hex() == (
        "03e775fd51f0dfb8cd865d9ff1cca2a158cf651fe997fdc9fee9c1d3b5e995ea77"
    )
    assert account.child(1).child(0).public_key.hex() == (
        "03025324888e429ab8e3dbaf1f7802648b9cd01e9b418485c5fa4c1b9b5700e1a6"
    )


def test_bip84_xpub_and_zpub_of_one_key_give_the_same_addresses() -> None:
    xpub = reversion(ZPUB, "0488b21e")
    assert xpub == BIP84_XPUB
    assert derive_addresses(AddressKind.bip84, [xpub], 5, 20) == derive_addresses(
        AddressKind.bip84, [ZPUB], 5, 20
    )


@pytest.mark.parametrize("chain", list(Branch))
def test_bip84_agrees_with_bip_utils_and_embit_far_along_the_chain(chain: Branch) -> None:
    start = 1_000_000
    ours = derive_addresses(AddressKind.bip84, [ZPUB], start, 8, chain=chain)
    account = Bip84.FromSeed(SEED, Bip84Coins.BITCOIN).Purpose().Coin().Account(0)
    change = account.Change(Bip44Changes(int(chain)))
    theirs = [change.AddressIndex(start + k).PublicKey().ToAddress() for k in range(8)]
    assert ours == theirs
    descriptor = Descriptor.from_string(f"wpkh({BIP84_XPUB}/{int(chain)}/*)")
    assert ours == [descriptor.derive(start + k).address() for k in range(8)]


def test_bip84_testnet_and_regtest_from_tpub_and_vpub() -> None:
    tpub = reversion(account_xpub("m/84'/1'/0'"), "043587cf")
    vpub = reversion(tpub, "045f1cf6")
    ours = derive_addresses(AddressKind.bip84, [vpub], 0, 3)
    account = Bip84.FromSeed(SEED, Bip84Coins.BITCOIN_TESTNET).Purpose().Coin().Account(0)
    external = account.Change(Bip44Changes.CHAIN_EXT)
    assert ours == [external.AddressIndex(k).PublicKey().ToAddress() for k in range(3)]
    assert ours[0].startswith("tb1q")
    assert derive_addresses(AddressKind.bip84, [tpub], 0, 3, network=Network.testnet) == ours
    regtest = derive_addresses(AddressKind.bip84, [tpub], 0, 3, network=Network.regtest)
    descriptor = Descriptor.from_string(f"wpkh({tpub}/0/*)")
    assert regtest == [descriptor.derive(k).address(NETWORKS["regtest"]) for k in range(3)]
    assert regtest[0].startswith("bcrt1q")


@settings(max_examples=30, deadline=None)
@given(index=st.integers(0, limits.derivation_index_max), chain=st.sampled_from(list(Branch)))
def test_fast_path_equals_one_step_at_a_time(index: int, chain: Branch) -> None:
    account = parse_extended_public_key(ZPUB)
    key = account.child(int(chain)).child(index).public_key
    expected = segwit_v0_address("bc", addresses.hash160(key))
    assert derive_addresses(AddressKind.bip84, [ZPUB], index, 1, chain=chain) == [expected]


def test_the_last_non_hardened_index_is_derivable() -> None:
    last = limits.derivation_index_max
    (ours,) = derive_addresses(AddressKind.bip84, [ZPUB], last, 1)
    account = Bip84.FromSeed(SEED, Bip84Coins.BITCOIN).Purpose().Coin().Account(0)
    assert ours == account.Change(Bip44Changes.CHAIN_EXT).AddressIndex(last).PublicKey().ToAddress()


# ---------------------------------------------------------------------- bech32, EIP-55, BIP380


def test_bech32_matches_bip173_vectors() -> None:
    # BIP173: P2WPKH and P2WSH examples.
    program = bytes.fromhex("751e76e8199196d454941c45d1b3a323f1433bd6")
    assert segwit_v0_address("bc", program) == "bc1qw508d6qejxtdg4y5r3zarvary0c5xw7kv8f3t4"
    script_hash = bytes.fromhex("1863143c14c5166804bd19203356da136c985678cd4d27a1b8c6329604903262")
    assert segwit_v0_address("tb", script_hash) == (
        "tb1qrp33g0q5c5txsp9arysrx4k6zdkfs4nce4xj0gdcccefvpysxf3q0sl5k7"
    )


EIP55 = [
    "0x5aAeb6053F3E94C9b9A09f33669435E7Ef1BeAed",
    "0xfB6916095ca1df60bB79Ce92cE3Ea74c37c5d359",
    "0xdbF03B407c01E7cD3CBea99509d93f8DDDC8C6FB",
    "0xD1220A0cf47c7B9Be7A2E6BA89F429762e7b9aDb",
    "0x52908400098527886E0F7030069857D2E4169EE7",
    "0x8617E340B3D01FA5F11F306F4090FD50E238070D",
    "0xde709f2102306220921060314715629080e2fb77",
    "0x27b1fdb04752bbc536007a920d24acb045561c26",
]


@pytest.mark.parametrize("expected", EIP55)
def test_eip55_vectors(expected: str) -> None:
    assert eth_checksum_address(bytes.fromhex(expected[2:])) == expected


def test_descriptor_checksum_matches_bip380_and_embit() -> None:
    assert descriptor_checksum("raw(deadbeef)") == "89f8spxm"
    body = f"wpkh({BIP84_XPUB}/0/*)"
    assert f"{body}#{descriptor_checksum(body)}" == add_checksum(body)


# ---------------------------------------------------------------------- Ethereum


def test_eth_account_of_the_abandon_mnemonic() -> None:
    account = Bip44.FromSeed(SEED, Bip44Coins.ETHEREUM).Purpose().Coin().Account(0)
    xpub = account.PublicKey().ToExtended()
    ours = derive_addresses(AddressKind.eth, [xpub], 0, 5)
    assert ours[0] == "0x9858EfFD232B4033E47d90003D41EC34EcaEda94"
    external = account.Change(Bip44Changes.CHAIN_EXT)
    assert ours == [external.AddressIndex(k).PublicKey().ToAddress() for k in range(5)]
    assert ours == [to_checksum_address(address) for address in ours]
    assert watch_only_wallet(AddressKind.eth, [xpub]).descriptor() is None


# ---------------------------------------------------------------------- multisig

VAULT = [account_xpub(f"m/48'/0'/{k}'/2'") for k in range(3)]
VAULT_TESTNET = [reversion(account_xpub(f"m/48'/1'/{k}'/2'"), "043587cf") for k in range(3)]


def _reference_descriptor(xpubs: list[str], chain: Branch) -> str:
    keys = ",".join(f"{xpub}/{int(chain)}/*" for xpub in xpubs)
    return f"wsh(sortedmulti(2,{keys}))"


@pytest.mark.parametrize("chain", list(Branch))
def test_multisig_agrees_with_embit_and_bdk(chain: Branch) -> None:
    indexes = [0, 1, 2, 7, 1_000, 2**31 - 1]
    ours = [derive_addresses(AddressKind.multisig, VAULT, i, 1, chain=chain)[0] for i in indexes]
    text = _reference_descriptor(VAULT, chain)
    by_embit = Descriptor.from_string(text)
    by_bdk = bdk.Descriptor(text, bdk.NetworkKind.MAIN)
    assert ours == [by_embit.derive(i).address() for i in indexes]
    assert ours == [str(by_bdk.derive_address(i, bdk.Network.BITCOIN)) for i in indexes]
    assert len(set(ours)) == len(ours)
    assert all(address.startswith("bc1q") and len(address) == 62 for address in ours)


def test_multisig_range_equals_single_indexes_and_testnet_agrees() -> None:
    ranged = derive_addresses(AddressKind.multisig, VAULT_TESTNET, 10, 5, network=Network.testnet)
    text = _reference_descriptor(VAULT_TESTNET, Branch.receive)
    by_embit = Descriptor.from_string(text)
    by_bdk = bdk.Descriptor(text, bdk.NetworkKind.TEST)
    assert ranged == [by_embit.derive(i).address(NETWORKS["test"]) for i in range(10, 15)]
    assert ranged == [str(by_bdk.derive_address(i, bdk.Network.TESTNET)) for i in range(10, 15)]
    regtest = derive_addresses(AddressKind.multisig, VAULT_TESTNET, 10, 5, network=Network.regtest)
    assert regtest == [str(by_bdk.derive_address(i, bdk.Network.REGTEST)) for i in range(10, 15)]


def test_multisig_key_order_and_zpub_encoding_do_not_change_the_address() -> None:
    expected = derive_addresses(AddressKind.multisig, VAULT, 0, 4)
    for order in itertools.permutations(VAULT):
        assert derive_addresses(AddressKind.multisig, list(order), 0, 4) == expected
    as_zpub = [reversion(xpub, "02aa7ed3") for xpub in VAULT]
    assert derive_addresses(AddressKind.multisig, as_zpub, 0, 4) == expected


def test_multisig_descriptor_is_accepted_by_bdk_with_our_checksum() -> None:
    wallet = watch_only_wallet(AddressKind.multisig, VAULT)
    descriptor = wallet.descriptor(Branch.change)
    assert descriptor is not None
    assert descriptor == add_checksum(_reference_descriptor(VAULT, Branch.change))
    parsed = bdk.Descriptor(descriptor, bdk.NetworkKind.MAIN)
    assert (
        str(parsed.derive_address(3, bdk.Network.BITCOIN))
        == wallet.addresses(3, 1, Branch.change)[0]
    )


# ---------------------------------------------------------------------- bad input


def checksummed(version_hex: str, body: bytes) -> str:
    return str(embit.base58.encode_check(bytes.fromhex(version_hex) + body))


@pytest.mark.parametrize(
    "text",
    [
        "",
        "   ",
        "xpub0OIl",  # characters outside Base58
        "abc",  # too short to be a key
        ZPUB + "1",  # one byte too many
        "z" * 200,  # far too long: refused before decoding
    ],
)
def test_malformed_keys(text: str) -> None:
    rejected(Result.xpub_malformed, AddressKind.bip84, [text], 0, 1)


def test_non_text_key_is_malformed() -> None:
    rejected(Result.xpub_malformed, AddressKind.bip84, [b"zpub"], 0, 1)


def test_checksum_typo_is_caught() -> None:
    typo = ZPUB[:-1] + ("t" if ZPUB[-1] != "t" else "u")
    rejected(Result.xpub_checksum_invalid, AddressKind.bip84, [typo], 0, 1)
    swapped = ZPUB[:20] + ZPUB[21] + ZPUB[20] + ZPUB[22:]
    rejected(Result.xpub_checksum_invalid, AddressKind.bip84, [swapped], 0, 1)


def test_wrong_network() -> None:
    rejected(Result.xpub_wrong_network, AddressKind.bip84, [ZPUB], 0, 1, network=Network.testnet)
    rejected(Result.xpub_wrong_network, AddressKind.bip84, [ZPUB], 0, 1, network=Network.regtest)
    tpub = VAULT_TESTNET[0]
    rejected(Result.xpub_wrong_network, AddressKind.bip84, [tpub], 0, 1, network=Network.mainnet)
    mixed = [VAULT[0], VAULT[1], VAULT_TESTNET[2]]
    error = rejected(Result.xpub_wrong_network, AddressKind.multisig, mixed, 0, 1)
    assert "key 3" in error.detail


def test_litecoin_key_is_named_as_another_network() -> None:
    body = embit.base58.decode_check(ZPUB)[4:]
    error = rejected(
        Result.xpub_wrong_network, AddressKind.bip84, [checksummed("019da462", body)], 0, 1
    )
    assert "Litecoin" in error.detail
    rejected(Result.xpub_version_unknown, AddressKind.bip84, [checksummed("01020304", body)], 0, 1)


def test_private_keys_are_refused() -> None:
    rejected(Result.xpub_not_public, AddressKind.bip84, [ZPRV], 0, 1)
    xprv = str(MASTER.DerivePath("m/44'/60'/0'").PrivateKey().ToExtended())
    rejected(Result.xpub_not_public, AddressKind.eth, [xprv], 0, 1)


def test_version_must_fit_the_script_type() -> None:
    ypub = reversion(ZPUB, "049d7cb2")
    rejected(Result.xpub_wrong_script_type, AddressKind.bip84, [ypub], 0, 1)
    zpubs = [reversion(xpub, "04b24746") for xpub in VAULT]
    rejected(Result.xpub_wrong_script_type, AddressKind.multisig, zpubs, 0, 1)
    rejected(Result.xpub_wrong_script_type, AddressKind.eth, [ZPUB], 0, 1)


def test_single_signature_keys_must_be_account_keys() -> None:
    master = VECTOR_1["m"]
    rejected(Result.xpub_depth_unexpected, AddressKind.bip84, [master], 0, 1)
    chain_key = VECTOR_1["m/0H/1/2H/2"]  # depth 4, as an account's /0 chain would be
    rejected(Result.xpub_depth_unexpected, AddressKind.eth, [chain_key], 0, 1)


@pytest.mark.parametrize(
    ("start", "count", "code"),
    [
        (-1, 1, Result.derivation_index_invalid),
        (2**31, 1, Result.derivation_index_invalid),
        (True, 1, Result.derivation_index_invalid),
        ("0", 1, Result.derivation_index_invalid),
        (2**31 - 2, 3, Result.derivation_index_invalid),
        (0, 0, Result.derivation_count_invalid),
        (0, -5, Result.derivation_count_invalid),
        (0, limits.derivation_count_max + 1, Result.derivation_count_invalid),
        (0, 1.0, Result.derivation_count_invalid),
    ],
)
def test_index_and_count_out_of_range(start: object, count: object, code: Result) -> None:
    rejected(code, AddressKind.bip84, [ZPUB], start, count)


def test_child_index_must_be_non_hardened() -> None:
    with pytest.raises(InputError) as caught:
        parse_extended_public_key(ZPUB).child(2**31)
    assert caught.value.code is Result.derivation_index_invalid


@pytest.mark.parametrize("keys", [VAULT[:2], [*VAULT, VECTOR_1["m"]], []])
def test_multisig_needs_exactly_three_keys(keys: list[str]) -> None:
    rejected(Result.multisig_requires_three_xpubs, AddressKind.multisig, keys, 0, 1)


def test_single_signature_needs_exactly_one_key() -> None:
    rejected(Result.single_signature_requires_one_xpub, AddressKind.bip84, [ZPUB, ZPUB], 0, 1)
    rejected(Result.single_signature_requires_one_xpub, AddressKind.eth, [], 0, 1)


def test_multisig_keys_must_differ() -> None:
    rejected(Result.multisig_xpubs_must_differ, AddressKind.multisig, [*VAULT[:2], VAULT[0]], 0, 1)
    # The same key in two encodings is still the same key.
    twice = [VAULT[0], VAULT[1], reversion(VAULT[0], "02aa7ed3")]
    rejected(Result.multisig_xpubs_must_differ, AddressKind.multisig, twice, 0, 1)


def test_unknown_kind_and_network() -> None:
    rejected(Result.address_kind_unknown, "p2tr", [ZPUB], 0, 1)
    rejected(Result.network_unknown, AddressKind.bip84, [ZPUB], 0, 1, network="signet")


def test_an_index_without_a_key_is_reported_not_skipped(monkeypatch: pytest.MonkeyPatch) -> None:
    # BIP32 gives no key when I_L >= n or the child is the point at infinity (odds below
    # 2^-127, so no real vector exists); libsecp256k1 then refuses the tweak. Simulate that.
    def refuse(secret: bytes, context: object = None) -> object:
        raise ValueError("Invalid secret.")

    monkeypatch.setattr(addresses.PublicKey, "from_valid_secret", refuse)
    error = rejected(Result.derivation_index_invalid, AddressKind.bip84, [ZPUB], 0, 1)
    assert "has no key" in error.detail
