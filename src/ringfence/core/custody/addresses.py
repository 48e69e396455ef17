"""Watch-only addresses: deposit addresses derived from extended public keys, never from secrets.

A custodian designates wallets to pools (DESIGN.md §4). A wallet that receives on many addresses
is described by extended public keys (BIP32) and a script type; this module turns them into the
addresses themselves, so that deposits can be attributed and holdings observed without a single
private key in the process. Three kinds:

- ``bip84``: single-signature P2WPKH (``bc1q…``) from an account key at m/84'/coin'/account'
  (``xpub`` or ``zpub``; ``tpub`` or ``vpub`` on test networks), chain ``/0/i`` or ``/1/i``.
- ``multisig``: a 2-of-3 P2WSH vault, the address of the output descriptor
  ``wsh(sortedmulti(2,X1/0/*,X2/0/*,X3/0/*))`` at index i; the three public keys are sorted
  (BIP67), so the order in which the keys are given does not change the address. Keys are
  ``xpub`` or ``Zpub`` (``tpub`` or ``Vpub``), at any depth (BIP48 puts them at depth 4).
- ``eth``: an Ethereum account (EIP-55 checksummed) from an account key at m/44'/60'/0'
  (``xpub``), chain ``/0/i``.

Everything here is pure: text in, text out. Bad input raises ``InputError`` with a named code
(``xpub_checksum_invalid``, ``xpub_not_public``, ``xpub_wrong_network``, ...). BIP32 test
vector 5's invalid keys are all refused.

Speed. Public derivation is one HMAC-SHA512 and one point addition per index; the chain key
(``/0`` or ``/1``) is derived once and reused, the hashes are hashlib's and the point
arithmetic is libsecp256k1's (through coincurve), about 15 µs of the 27 µs an address costs.
Bech32 is encoded here, by translating RFC 4648 base32 and a table-driven checksum (5 µs;
BIP173's reference loop took 19 µs here). ``ringfence bench custody`` measures it;
BENCHMARKS.md records the figures.

Length (over 500 lines, argued): extended keys, derivation, encodings and wallets are one
pipeline whose speed depends on sharing its tables (the versions' human-readable parts feed the
bech32 states built at import) and whose tests read it top to bottom; the encodings (about 90
lines) are the part to move out first when it grows.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
from collections.abc import Sequence
from dataclasses import dataclass
from enum import IntEnum, StrEnum, unique
from typing import Final

from coincurve import PublicKey

from ringfence.core import limits
from ringfence.core.custody import bech32
from ringfence.core.errors import InputError, Result

__all__ = [
    "AddressKind",
    "Branch",
    "ExtendedPublicKey",
    "Network",
    "WatchOnlyWallet",
    "check_index",
    "check_range",
    "derive_addresses",
    "descriptor_checksum",
    "eth_checksum_address",
    "hash160",
    "parse_extended_public_key",
    "segwit_v0_address",
    "watch_only_wallet",
]


@unique
class AddressKind(StrEnum):
    """The script an address pays to."""

    bip84 = "bip84"
    multisig = "multisig"
    eth = "eth"


@unique
class Network(StrEnum):
    """Bitcoin networks. Signet shares testnet's keys and ``tb`` addresses; Ethereum addresses
    are the same on every network, so there ``testnet`` only says which keys are accepted."""

    mainnet = "mainnet"
    testnet = "testnet"
    regtest = "regtest"


@unique
class Branch(IntEnum):
    """The BIP44 change level: addresses given out, or addresses a wallet pays change to."""

    receive = 0
    change = 1


multisig_threshold: Final = 2
multisig_keys: Final = 3
# BIP44 accounts (m / purpose' / coin' / account') sit at depth 3.
account_depth: Final = 3
hardened_offset: Final = 2**31

_extended_key_bytes: Final = 78
_checksum_bytes: Final = 4
_base58_alphabet: Final = "123456789ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnopqrstuvwxyz"
_base58_values: Final = {character: value for value, character in enumerate(_base58_alphabet)}
_human_readable_parts: Final = {
    Network.mainnet: "bc",
    Network.testnet: "tb",
    Network.regtest: "bcrt",
}


@dataclass(frozen=True, slots=True)
class _Version:
    """What an extended public key's four version bytes say: network and script types."""

    name: str
    network: Network  # mainnet or testnet: regtest keys are testnet keys
    kinds: frozenset[AddressKind]


_any_kind = frozenset(AddressKind)
_public_versions: Final = {
    bytes.fromhex("0488b21e"): _Version("xpub", Network.mainnet, _any_kind),
    bytes.fromhex("049d7cb2"): _Version("ypub", Network.mainnet, frozenset()),  # P2SH-P2WPKH
    bytes.fromhex("04b24746"): _Version("zpub", Network.mainnet, frozenset({AddressKind.bip84})),
    bytes.fromhex("0295b43f"): _Version("Ypub", Network.mainnet, frozenset()),  # P2SH-P2WSH
    bytes.fromhex("02aa7ed3"): _Version("Zpub", Network.mainnet, frozenset({AddressKind.multisig})),
    bytes.fromhex("043587cf"): _Version("tpub", Network.testnet, _any_kind),
    bytes.fromhex("044a5262"): _Version("upub", Network.testnet, frozenset()),
    bytes.fromhex("045f1cf6"): _Version("vpub", Network.testnet, frozenset({AddressKind.bip84})),
    bytes.fromhex("024289ef"): _Version("Upub", Network.testnet, frozenset()),
    bytes.fromhex("02575483"): _Version("Vpub", Network.testnet, frozenset({AddressKind.multisig})),
}
_standard_versions: Final = {
    Network.mainnet: bytes.fromhex("0488b21e"),
    Network.testnet: bytes.fromhex("043587cf"),
}
# xprv, yprv, zprv, Yprv, Zprv and their testnet forms: a secret has no business here.
_private_versions: Final = frozenset(
    bytes.fromhex(text)
    for text in (
        "0488ade4", "049d7878", "04b2430c", "0295b005", "02aa7a99",
        "04358394", "044a4e28", "045f18bc", "024285b5", "02575048",
    )
)  # fmt: skip
# Other coins' extended keys (Litecoin Ltub/Ltpv/Mtub/Mtpv, Dogecoin dgub/dgpv) are well-formed
# but belong to another network: name that, rather than "unknown version".
_foreign_versions: Final = {
    bytes.fromhex("019da462"): "Litecoin Ltub",
    bytes.fromhex("019d9cfe"): "Litecoin Ltpv",
    bytes.fromhex("01b26ef6"): "Litecoin Mtub",
    bytes.fromhex("01b26792"): "Litecoin Mtpv",
    bytes.fromhex("02facafd"): "Dogecoin dgub",
    bytes.fromhex("02fac398"): "Dogecoin dgpv",
}


# ---------------------------------------------------------------------- extended keys


@dataclass(frozen=True, slots=True)
class ExtendedPublicKey:
    """A parsed BIP32 extended public key; ``public_key`` is compressed (33 bytes)."""

    version: bytes
    depth: int
    parent_fingerprint: bytes
    child_number: int
    chain_code: bytes
    public_key: bytes

    def __post_init__(self) -> None:
        assert self.version in _public_versions
        assert 0 <= self.depth <= 255
        assert len(self.parent_fingerprint) == 4
        assert 0 <= self.child_number < 2**32
        assert len(self.chain_code) == 32
        assert len(self.public_key) == 33

    @property
    def version_name(self) -> str:
        return _public_versions[self.version].name

    @property
    def network(self) -> Network:
        """``mainnet`` or ``testnet`` (the version bytes cannot tell testnet from regtest)."""
        return _public_versions[self.version].network

    @property
    def fingerprint(self) -> bytes:
        """The first four bytes of HASH160 of the public key: the children's parent id."""
        return hash160(self.public_key)[:4]

    def child(self, index: int) -> ExtendedPublicKey:
        """CKDpub: the non-hardened child ``index``."""
        check_index(index)
        chain_code, public_key = _child(self.chain_code, self.public_key, index)
        depth = self.depth + 1
        if depth > 255:
            raise InputError(Result.xpub_depth_unexpected, "a child below depth 255")
        return ExtendedPublicKey(
            self.version, depth, self.fingerprint, index, chain_code, public_key
        )

    def to_text(self, version: bytes | None = None) -> str:
        """Base58Check serialisation, under ``version`` (say, as ``xpub`` rather than ``zpub``)."""
        version = self.version if version is None else version
        assert version in _public_versions
        payload = (
            version
            + bytes([self.depth])
            + self.parent_fingerprint
            + self.child_number.to_bytes(4, "big")
            + self.chain_code
            + self.public_key
        )
        return _base58_encode(payload + _double_sha256(payload)[:_checksum_bytes])

    def to_standard_text(self) -> str:
        """As ``xpub`` or ``tpub``: the form output descriptors expect."""
        return self.to_text(_standard_versions[self.network])


def parse_extended_public_key(text: str) -> ExtendedPublicKey:
    """Parse and validate an extended public key, or say precisely why not.

    Checked in order: Base58 text of the right length, checksum, version (a private key,
    another coin's key, an unknown version), depth against parent fingerprint and index, and
    finally that the key is a compressed point on secp256k1.
    """
    if not isinstance(text, str):
        raise InputError(Result.xpub_malformed, f"not text: {type(text).__name__}")
    text = text.strip()
    if not text:
        raise InputError(Result.xpub_malformed, "empty")
    if len(text) > limits.wallet_key_length_max:
        raise InputError(
            Result.xpub_malformed,
            f"{len(text)} characters; an extended key has {limits.wallet_key_length_max}",
        )
    raw = _base58_decode(text)
    if len(raw) != _extended_key_bytes + _checksum_bytes:
        raise InputError(Result.xpub_malformed, f"{len(raw)} bytes, not 82")
    payload, checksum = raw[:_extended_key_bytes], raw[_extended_key_bytes:]
    if _double_sha256(payload)[:_checksum_bytes] != checksum:
        raise InputError(Result.xpub_checksum_invalid, text[:4] + "…")
    version = payload[0:4]
    _check_version(version)
    depth = payload[4]
    parent_fingerprint = payload[5:9]
    child_number = int.from_bytes(payload[9:13], "big")
    if depth == 0 and parent_fingerprint != bytes(4):
        raise InputError(Result.xpub_depth_inconsistent, "depth 0 with a parent fingerprint")
    if depth == 0 and child_number != 0:
        raise InputError(Result.xpub_depth_inconsistent, "depth 0 with a child index")
    public_key = payload[45:78]
    if public_key[0] not in (2, 3):
        detail = "a private key under a public version" if public_key[0] == 0 else "prefix"
        raise InputError(Result.xpub_key_invalid, f"{detail} {public_key[0]:#04x}")
    try:
        PublicKey(public_key)
    except ValueError:
        raise InputError(Result.xpub_key_invalid, "not a point on secp256k1") from None
    return ExtendedPublicKey(
        version, depth, parent_fingerprint, child_number, payload[13:45], public_key
    )


def _check_version(version: bytes) -> None:
    if version in _public_versions:
        return
    if version in _private_versions:
        raise InputError(Result.xpub_not_public, "an extended private key: give its xpub")
    if version in _foreign_versions:
        raise InputError(Result.xpub_wrong_network, f"a {_foreign_versions[version]} key")
    raise InputError(Result.xpub_version_unknown, version.hex())


def _base58_decode(text: str) -> bytes:
    number = 0
    for character in text:
        value = _base58_values.get(character)
        if value is None:
            raise InputError(Result.xpub_malformed, f"{character!r} is not Base58")
        number = number * 58 + value
    zeros = len(text) - len(text.lstrip("1"))
    return bytes(zeros) + number.to_bytes((number.bit_length() + 7) // 8, "big")


def _base58_encode(data: bytes) -> str:
    number = int.from_bytes(data, "big")
    digits = []
    while number:
        number, value = divmod(number, 58)
        digits.append(_base58_alphabet[value])
    zeros = len(data) - len(data.lstrip(b"\0"))
    return "1" * zeros + "".join(reversed(digits))


def _double_sha256(data: bytes) -> bytes:
    return hashlib.sha256(hashlib.sha256(data).digest()).digest()


def _ripemd160_hashlib(data: bytes) -> bytes:
    return hashlib.new("ripemd160", data).digest()


def _ripemd160_pycryptodome(data: bytes) -> bytes:
    from Crypto.Hash import RIPEMD160

    return RIPEMD160.new(data).digest()


# OpenSSL 3 moved RIPEMD-160 to its legacy provider, which some builds leave out; pycryptodome
# (a dependency of eth-hash and bip-utils) has it everywhere, at some cost in speed.
try:
    hashlib.new("ripemd160", b"")
    ripemd160 = _ripemd160_hashlib
except ValueError:  # pragma: no cover - depends on the OpenSSL build
    ripemd160 = _ripemd160_pycryptodome


def hash160(data: bytes) -> bytes:
    return ripemd160(hashlib.sha256(data).digest())


# ---------------------------------------------------------------------- derivation


def check_index(index: object) -> int:
    """A non-hardened BIP32 index, 0 ..= ``derivation_index_max``."""
    if type(index) is not int or not 0 <= index <= limits.derivation_index_max:
        raise InputError(Result.derivation_index_invalid, repr(index))
    return index


def check_range(start: object, count: object) -> tuple[int, int]:
    """``count`` indexes from ``start``, all of them non-hardened."""
    check_index(start)
    if type(count) is not int or not 1 <= count <= limits.derivation_count_max:
        raise InputError(
            Result.derivation_count_invalid, f"{count!r}; 1 to {limits.derivation_count_max}"
        )
    assert isinstance(start, int)
    if start + count - 1 > limits.derivation_index_max:
        raise InputError(
            Result.derivation_index_invalid,
            f"last index {start + count - 1} is above {limits.derivation_index_max}",
        )
    return start, count


def _child(chain_code: bytes, public_key: bytes, index: int) -> tuple[bytes, bytes]:
    """CKDpub for one non-hardened index: (child chain code, child compressed key)."""
    assert 0 <= index < hardened_offset
    digest = hmac.digest(chain_code, public_key + index.to_bytes(4, "big"), "sha512")
    child = _add_tweak(PublicKey(public_key), digest[:32], index)
    return digest[32:], child.format()


def _add_tweak(parent: PublicKey, tweak: bytes, index: int) -> PublicKey:
    """parent + tweak·G, as two library calls: computing tweak·G by itself and adding the two
    points measured a quarter faster than libsecp256k1's ``tweak_add`` through coincurve."""
    try:
        return PublicKey.combine_keys([parent, PublicKey.from_valid_secret(tweak)])
    except ValueError:
        # I_L >= n or a child at infinity: BIP32 says this index has no key (odds below
        # 2^-127). Addresses are numbered by index, so skipping it silently would shift every
        # later one: say so instead.
        raise InputError(
            Result.derivation_index_invalid, f"index {index} has no key (BIP32)"
        ) from None


def _children(chain_code: bytes, public_key: bytes, start: int, count: int) -> list[PublicKey]:
    """The public keys at ``start .. start + count - 1`` below one parent: the hot loop."""
    parent = PublicKey(public_key)
    digest_of = hmac.digest
    add_tweak = _add_tweak
    return [
        add_tweak(
            parent,
            digest_of(chain_code, public_key + index.to_bytes(4, "big"), "sha512")[:32],
            index,
        )
        for index in range(start, start + count)
    ]


# ---------------------------------------------------------------------- encodings


_bech32_charset: Final = bech32.charset
_bech32_constant: Final = bech32.bech32_constant
_polymod = bech32.polymod
_hrp_state = bech32.hrp_state

_hrp_states: Final = {hrp: _hrp_state(hrp) for hrp in _human_readable_parts.values()}
_base32_alphabet: Final = b"ABCDEFGHIJKLMNOPQRSTUVWXYZ234567"
_base32_to_values: Final = bytes.maketrans(_base32_alphabet, bytes(range(32)))
_base32_to_bech32: Final = bytes.maketrans(_base32_alphabet, _bech32_charset.encode("ascii"))


def segwit_v0_address(human_readable_part: str, program: bytes) -> str:
    """The bech32 address of a version 0 witness program (20 bytes P2WPKH, 32 bytes P2WSH)."""
    assert len(program) in (20, 32)
    # RFC 4648 base32 splits bytes into 5-bit groups exactly as BIP173's convertbits does
    # (most significant first, the last group zero-padded): translate its letters instead of
    # shifting in Python.
    groups = base64.b32encode(program).rstrip(b"=")
    state = _hrp_states.get(human_readable_part)
    if state is None:
        state = _hrp_state(human_readable_part)
    state = _polymod(state, (0,))  # the witness version
    state = _polymod(state, groups.translate(_base32_to_values))
    state = _polymod(state, (0, 0, 0, 0, 0, 0)) ^ _bech32_constant
    charset = _bech32_charset
    return (
        human_readable_part
        + "1q"
        + groups.translate(_base32_to_bech32).decode("ascii")
        + "".join([charset[(state >> (5 * k)) & 31] for k in range(5, -1, -1)])
    )


def eth_checksum_address(address: bytes) -> str:
    """EIP-55: the hex address with letters upper-cased where keccak of it has a high nibble,
    as eth-utils spells it (the Ethereum libraries' own implementation)."""
    assert len(address) == 20
    # Imported on first use: eth-utils takes a third of a second to import, which a command
    # that never meets an Ethereum address should not wait for.
    from eth_utils import to_checksum_address

    return str(to_checksum_address(address))


def _eth_address(key: PublicKey) -> str:
    # Imported on first use, like eth-utils above: keccak's module takes a tenth of a second.
    from eth_hash.backends.pycryptodome import keccak256

    return eth_checksum_address(keccak256(key.format(compressed=False)[1:])[12:])


_descriptor_input_charset: Final = (
    "0123456789()[],'/*abcdefgh@:$%{}"
    "IJKLMNOPQRSTUVWXYZ&+-.;<=>?!^_|~"
    'ijklmnopqrstuvwxyzABCDEFGH`#"\\ '
)
_descriptor_generator: Final = (
    0xF5DEE51989, 0xA9FDCA3312, 0x1BAB10E32D, 0x3706B1677A, 0x644D626FFD
)  # fmt: skip


def descriptor_checksum(descriptor: str) -> str:
    """The eight-character BIP380 checksum that follows ``#`` in an output descriptor."""
    state = 1
    classes = 0
    count = 0

    def step(state: int, value: int) -> int:
        top = state >> 35
        state = ((state & 0x7FFFFFFFF) << 5) ^ value
        for bit, generator in enumerate(_descriptor_generator):
            if (top >> bit) & 1:
                state ^= generator
        return state

    for character in descriptor:
        position = _descriptor_input_charset.find(character)
        assert position >= 0, f"{character!r} cannot appear in a descriptor"
        state = step(state, position & 31)
        classes = classes * 3 + (position >> 5)
        count += 1
        if count == 3:
            state = step(state, classes)
            classes = count = 0
    if count:
        state = step(state, classes)
    for _ in range(8):
        state = step(state, 0)
    state ^= 1
    return "".join(_bech32_charset[(state >> (5 * (7 - k))) & 31] for k in range(8))


# ---------------------------------------------------------------------- wallets


@dataclass(frozen=True, slots=True)
class WatchOnlyWallet:
    """Validated keys of one wallet, ready to derive its addresses at any index."""

    kind: AddressKind
    network: Network
    keys: tuple[ExtendedPublicKey, ...]

    def __post_init__(self) -> None:
        expected = multisig_keys if self.kind is AddressKind.multisig else 1
        assert len(self.keys) == expected

    def descriptor(self, chain: Branch = Branch.receive) -> str | None:
        """The output descriptor of one chain, with its checksum; None for Ethereum."""
        paths = [f"{key.to_standard_text()}/{int(chain)}/*" for key in self.keys]
        if self.kind is AddressKind.bip84:
            body = f"wpkh({paths[0]})"
        elif self.kind is AddressKind.multisig:
            body = f"wsh(sortedmulti({multisig_threshold},{','.join(paths)}))"
        else:
            return None
        return f"{body}#{descriptor_checksum(body)}"

    def addresses(self, start: int, count: int, chain: Branch = Branch.receive) -> list[str]:
        """The addresses at ``chain/start`` .. ``chain/start + count - 1``, in index order."""
        start, count = check_range(start, count)
        chain = Branch(chain)
        chains = [_child(key.chain_code, key.public_key, chain) for key in self.keys]
        if self.kind is AddressKind.multisig:
            return _multisig_addresses(chains, start, count, self.network)
        ((chain_code, public_key),) = chains
        children = _children(chain_code, public_key, start, count)
        if self.kind is AddressKind.eth:
            return [_eth_address(child) for child in children]
        human_readable_part = _human_readable_parts[self.network]
        return [
            segwit_v0_address(human_readable_part, hash160(child.format())) for child in children
        ]


def _multisig_addresses(
    chains: list[tuple[bytes, bytes]], start: int, count: int, network: Network
) -> list[str]:
    """P2WSH of ``2 <K1> <K2> <K3> 3 CHECKMULTISIG`` with the keys sorted (BIP67)."""
    assert len(chains) == multisig_keys
    columns = [
        [child.format() for child in _children(code, key, start, count)] for code, key in chains
    ]
    human_readable_part = _human_readable_parts[network]
    sha256 = hashlib.sha256
    addresses = []
    for keys in zip(*columns, strict=True):
        first, second, third = sorted(keys)
        script = b"\x52\x21" + first + b"\x21" + second + b"\x21" + third + b"\x53\xae"
        addresses.append(segwit_v0_address(human_readable_part, sha256(script).digest()))
    return addresses


def watch_only_wallet(
    kind: AddressKind, xpubs: Sequence[str], network: Network | None = None
) -> WatchOnlyWallet:
    """Parse and check a wallet's keys for ``kind``; ``network`` defaults to the keys' own.

    A ``bip84`` or ``eth`` wallet has one account key at depth 3; a ``multisig`` vault has
    three different keys. Every key must be of a version that fits the kind (no ``ypub`` for
    P2WPKH, no ``zpub`` in a vault) and of the network asked for.
    """
    kind = _check_kind(kind)
    if isinstance(xpubs, str):
        xpubs = [xpubs]
    expected = multisig_keys if kind is AddressKind.multisig else 1
    if len(xpubs) != expected:
        code = (
            Result.multisig_requires_three_xpubs
            if kind is AddressKind.multisig
            else Result.single_signature_requires_one_xpub
        )
        raise InputError(code, f"{len(xpubs)} given for {kind.value}")
    keys = tuple(parse_extended_public_key(text) for text in xpubs)
    network = keys[0].network if network is None else _check_network(network)
    family = Network.mainnet if network is Network.mainnet else Network.testnet
    for position, key in enumerate(keys, start=1):
        if key.network is not family:
            raise InputError(
                Result.xpub_wrong_network,
                f"key {position} is a {key.version_name} ({key.network.value}); "
                f"{network.value} asked",
            )
        if kind not in _public_versions[key.version].kinds:
            raise InputError(
                Result.xpub_wrong_script_type, f"key {position} is a {key.version_name}"
            )
        if kind is not AddressKind.multisig and key.depth != account_depth:
            raise InputError(
                Result.xpub_depth_unexpected,
                f"depth {key.depth}; {kind.value} needs an account key at depth 3",
            )
    if len({key.public_key for key in keys}) != len(keys):
        raise InputError(Result.multisig_xpubs_must_differ, "the same key appears twice")
    return WatchOnlyWallet(kind, network, keys)


def derive_addresses(
    kind: AddressKind,
    xpubs: Sequence[str],
    start: int,
    count: int,
    *,
    network: Network | None = None,
    chain: Branch = Branch.receive,
) -> list[str]:
    """``count`` addresses of ``kind`` from ``start`` on one chain: parse, check, derive."""
    check_range(start, count)
    return watch_only_wallet(kind, xpubs, network).addresses(start, count, chain)


def _check_kind(kind: object) -> AddressKind:
    if isinstance(kind, str) and kind in tuple(AddressKind):
        return AddressKind(kind)
    raise InputError(Result.address_kind_unknown, repr(kind))


def _check_network(network: object) -> Network:
    if isinstance(network, str) and network in tuple(Network):
        return Network(network)
    raise InputError(Result.network_unknown, repr(network))
