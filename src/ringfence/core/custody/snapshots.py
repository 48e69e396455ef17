"""Bitcoin UTXO-set snapshots: what a custodian's Bitcoin addresses held at one block.

No Bitcoin node can run here, so Bitcoin holdings arrive as a file exported from one (for
example by ``scantxoutset`` over the custodian's descriptors, or a filtered ``dumptxoutset``).
The format, version 1 (docs/custody.md, "Holdings files")::

    # ringfence utxo snapshot v1
    # chain: bitcoin
    # network: mainnet
    # height: 871002
    # block_hash: 00000000000000000001a0f5...   (64 lowercase hex digits)
    # time: 2026-11-21T00:00:00Z                (optional: the block's time, UTC)
    address,txid,vout,amount,height
    bc1qw508d6qejxtdg4y5r3zarvary0c5xw7kv8f3t4,4a5e1e4b...(64 hex),0,150000000,870990

``amount`` is whole satoshis as a decimal integer, never BTC: ``1.5`` and ``1.00000000`` are
refused (``snapshot_amount_must_be_whole_sats``) because a file that mixed the two would be
off by 10^8. ``height`` is the block that created the output, at most the snapshot's.
Numbers are canonical (no sign, no leading zero); txids are lowercase hex as Bitcoin Core
prints them, since ``txid:vout`` is the idempotency key of deposit detection. Addresses must
be valid for the header's network: bech32 (BIP173) for witness version 0, bech32m (BIP350) for
versions 1 to 16, lowercase; or Base58Check P2PKH and P2SH.

Parsing is all or nothing: the first bad line raises an ``InputError`` naming it, and no
holdings come out. The result is one ``Observation`` per address (the sum of its outputs, at
the snapshot's height, with source ``utxo-snapshot:<first 16 hex of the file's SHA-256>``) and
the outputs themselves in column form (``Utxos``), from which ``Snapshot.inflows`` builds the
``Inflow`` values (reference ``txid:vout``) for the addresses a caller watches.

Speed: a million rows are checked by one compiled pattern over the whole body, then in bulk
(maxima, one set of outpoints, each distinct address once). Only when that finds a problem
does a second, line-by-line pass run to name the first bad line and its cause.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Collection
from dataclasses import dataclass
from typing import Final

from ringfence.core import limits
from ringfence.core.custody import bech32
from ringfence.core.custody.addresses import Network, eth_checksum_address
from ringfence.core.custody.files import (
    body_lines,
    float_notation,
    line_error,
    parse_timestamp,
    split_columns,
    split_holdings_file,
)
from ringfence.core.custody.holdings import Inflow, Observation
from ringfence.core.custody.registry import Chain
from ringfence.core.errors import InputError, Result

magic: Final = "# ringfence utxo snapshot v1"
columns: Final = "address,txid,vout,amount,height"
metadata_keys: Final = ("chain", "network", "height", "block_hash", "time")
metadata_required: Final = ("chain", "network", "height", "block_hash")
asset_code: Final = "BTC"
source_prefix: Final = "utxo-snapshot"

# One row, canonical: every field's shape, no sign, no leading zero, lowercase txid. The body
# pattern has no groups, so matching a million rows allocates nothing.
_row: Final = (
    r"[0-9A-Za-z]{1,90},[0-9a-f]{64},(?:0|[1-9][0-9]{0,9}),(?:0|[1-9][0-9]{0,19}),"
    r"(?:0|[1-9][0-9]{0,12})\n"
)
_body_pattern: Final = re.compile(rf"(?:{_row})*")
_hash_pattern: Final = re.compile(r"[0-9a-f]{64}\Z")
_canonical_integer: Final = re.compile(r"(?:0|[1-9][0-9]*)\Z")
_fraction_notation: Final = re.compile(r"(?:[0-9]+\.[0-9]*|\.[0-9]+)\Z")
_amount_bits: Final = 64


@dataclass(frozen=True, slots=True)
class Utxos:
    """A snapshot's outputs in column form: output ``i`` is the ``i``-th of every tuple.

    A million ``Inflow`` objects would cost more than the parse; most callers want only the
    outputs of the addresses they watch, which ``Snapshot.inflows`` builds on demand.
    """

    addresses: tuple[str, ...]
    txids: tuple[str, ...]
    vouts: tuple[int, ...]
    amounts: tuple[int, ...]
    heights: tuple[int, ...]

    def __len__(self) -> int:
        return len(self.txids)


@dataclass(frozen=True, slots=True)
class Snapshot:
    """A parsed snapshot: per-address holdings and the outputs behind them."""

    network: Network
    height: int
    block_hash: str
    time_ns: int  # the header's time, 0 when the file gives none
    source: str  # utxo-snapshot:<first 16 hex digits of the file's SHA-256>
    observations: tuple[Observation, ...]  # one per address, in order of first appearance
    utxos: Utxos

    def inflows(
        self, addresses: Collection[str] | None = None, from_height: int = 0
    ) -> list[Inflow]:
        """The outputs paying ``addresses`` (all when ``None``) created at ``from_height`` or
        above, as inflows with reference ``txid:vout`` and no sender. Zero-value outputs are
        left out: they credit nothing, and an inflow is never zero."""
        utxos = self.utxos
        wanted = None if addresses is None else frozenset(addresses)
        found: list[Inflow] = []
        for index, address in enumerate(utxos.addresses):
            if wanted is not None and address not in wanted:
                continue
            if utxos.heights[index] < from_height or utxos.amounts[index] == 0:
                continue
            found.append(
                Inflow(
                    Chain.bitcoin,
                    address,
                    asset_code,
                    utxos.amounts[index],
                    f"{utxos.txids[index]}:{utxos.vouts[index]}",
                    "",
                    utxos.heights[index],
                    self.time_ns,
                    self.source,
                )
            )
        return found


def parse_snapshot(data: bytes, network: Network | str) -> Snapshot:
    """Parse a whole snapshot file's bytes, expected to be of ``network``; all or nothing."""
    expected = _network(network, "expected")
    text = split_holdings_file(data, magic, metadata_keys, columns)
    header = _read_metadata(text.metadata, expected)
    height, time_ns = header[1], header[3]
    source = f"{source_prefix}:{text.digest}"
    utxos = None
    if _body_pattern.fullmatch(text.body):
        utxos = _bulk_columns(split_columns(text.body, text.rows, 5), height, expected)
    if utxos is None:
        _diagnose(text.body, text.body_first_line, expected, height)
        raise AssertionError("the bulk check refused a snapshot the line check accepts")
    totals: dict[str, int] = {}
    for address, amount in zip(utxos.addresses, utxos.amounts, strict=True):
        totals[address] = totals.get(address, 0) + amount
    observations = tuple(
        Observation(Chain.bitcoin, address, asset_code, total, height, time_ns, source)
        for address, total in totals.items()
    )
    assert sum(o.amount for o in observations) == sum(utxos.amounts)
    assert len(observations) == len(set(utxos.addresses))
    return Snapshot(expected, height, header[2], time_ns, source, observations, utxos)


def _network(value: object, what: str) -> Network:
    if isinstance(value, Network):
        return value
    if isinstance(value, str) and value in Network.__members__:
        return Network(value)
    raise InputError(
        Result.network_unknown,
        f"{what} network {value!r}, not one of {', '.join(Network.__members__)}",
    )


def _read_metadata(metadata: dict[str, str], expected: Network) -> tuple[Network, int, str, int]:
    """(network, height, block hash, time in ns or 0) from a snapshot's metadata lines."""
    for key in metadata_required:
        if key not in metadata:
            raise InputError(Result.holdings_file_header_invalid, f"no '# {key}:' line")
    if metadata["chain"] != Chain.bitcoin.value:
        raise InputError(
            Result.holdings_file_header_invalid,
            f"chain {metadata['chain']!r}: UTXO snapshots are of bitcoin",
        )
    network = _network(metadata["network"], "the file's")
    if network is not expected:
        raise InputError(
            Result.network_mismatch, f"the file is of {network.value}, expected {expected.value}"
        )
    height_text = metadata["height"]
    if not _canonical_integer.match(height_text) or len(height_text) > 13:
        raise InputError(Result.holdings_file_header_invalid, f"height {height_text!r}")
    height = int(height_text)
    if height > limits.block_height_max:
        raise InputError(Result.holdings_file_header_invalid, f"height {height} too large")
    if not _hash_pattern.match(metadata["block_hash"]):
        raise InputError(
            Result.holdings_file_header_invalid, "block_hash is not 64 lowercase hex digits"
        )
    time_ns = parse_timestamp(metadata["time"]) if "time" in metadata else 0
    return network, height, metadata["block_hash"], time_ns


def _bulk_columns(fields: list[list[str]], height: int, network: Network) -> Utxos | None:
    """The rows in column form if every check passes in bulk, else ``None`` (then the line
    check names the first bad line). The shapes were checked by the body pattern; what is left
    are bounds, uniqueness and addresses. Only strings and integers are made, one per field:
    the cycle collector has nothing to walk."""
    addresses, txids, vout_texts, amount_texts, height_texts = fields
    if not txids:
        return Utxos((), (), (), (), ())
    amounts = tuple(map(int, amount_texts))
    vouts = tuple(map(int, vout_texts))
    heights = tuple(map(int, height_texts))
    if (
        max(amounts) > limits.bitcoin_supply_sats_max
        or sum(amounts) > limits.bitcoin_supply_sats_max
        or max(vouts) > limits.bitcoin_vout_max
        or max(heights) > height
        # A txid is 64 characters, so txid + vout names an outpoint unambiguously.
        or len(set(map(str.__add__, txids, vout_texts))) != len(txids)
    ):
        return None
    if not addresses_valid(set(addresses), network):
        return None
    return Utxos(tuple(addresses), tuple(txids), vouts, amounts, heights)


def _diagnose(body: str, first_line: int, network: Network, height: int) -> None:
    """Check the rows one by one and raise for the first bad one."""
    seen: set[tuple[str, int]] = set()
    checked_addresses: set[str] = set()
    total = 0
    for number, line in enumerate(body_lines(body), start=first_line):
        fields = line.split(",")
        if len(line) > limits.holdings_line_bytes_max or not line:
            raise line_error(Result.holdings_row_malformed, number, "empty or too long")
        if len(fields) != len(columns.split(",")):
            raise line_error(
                Result.holdings_row_column_count_wrong,
                number,
                f"{len(fields)} columns, expected {len(columns.split(','))}: {columns}",
            )
        address, txid, vout_text, amount_text, height_text = fields
        if address not in checked_addresses:
            problem = bitcoin_address_problem(address, network)
            if problem:
                raise line_error(Result.address_invalid_for_network, number, problem)
            checked_addresses.add(address)
        if not _hash_pattern.match(txid):
            raise line_error(Result.txid_invalid, number, f"{txid[:70]!r}: 64 lowercase hex")
        vout = _vout(vout_text, number)
        total += _amount(amount_text, number)
        if total > limits.bitcoin_supply_sats_max:
            raise line_error(
                Result.amount_exceeds_asset_supply, number, "the outputs so far exceed 21M BTC"
            )
        _utxo_height(height_text, height, number)
        if (txid, vout) in seen:
            raise line_error(Result.outpoint_duplicate, number, f"{txid}:{vout} listed twice")
        seen.add((txid, vout))


def _vout(text: str, number: int) -> int:
    if not _canonical_integer.match(text) or len(text) > 10 or int(text) > limits.bitcoin_vout_max:
        raise line_error(
            Result.vout_invalid,
            number,
            f"vout {text[:20]!r}: an integer 0..{limits.bitcoin_vout_max}",
        )
    return int(text)


def _amount(text: str, number: int) -> int:
    """Whole satoshis, naming why anything else is refused."""
    if text.startswith("-"):
        raise line_error(Result.amount_must_not_be_negative, number, text[:40])
    if float_notation.match(text):
        raise line_error(Result.amount_must_not_be_float, number, f"{text[:40]!r}")
    if _fraction_notation.match(text):
        raise line_error(
            Result.snapshot_amount_must_be_whole_sats,
            number,
            f"{text[:40]!r}: amounts are whole satoshis, not BTC",
        )
    if not _canonical_integer.match(text) or len(text) > limits.amount_text_length_max:
        raise line_error(
            Result.amount_must_be_decimal_string, number, f"{text[:40]!r}: digits, no leading 0"
        )
    amount = int(text)
    if amount >= 2**_amount_bits:
        raise line_error(Result.amount_must_be_below_2_64, number, text)
    if amount > limits.bitcoin_supply_sats_max:
        raise line_error(Result.amount_exceeds_asset_supply, number, f"{text} sats > 21M BTC")
    return amount


def _utxo_height(text: str, height: int, number: int) -> int:
    if not _canonical_integer.match(text) or len(text) > 13 or int(text) > height:
        raise line_error(
            Result.utxo_height_invalid,
            number,
            f"height {text[:20]!r}: an integer 0..{height} (the snapshot's height)",
        )
    return int(text)


# ---------------------------------------------------------------------- addresses
#
# Validation only (a checksum and the shape of the program); the bech32 and Base58Check
# decoders are small enough to keep here, and each distinct address is checked once per file.

_bech32_charset: Final = bech32.charset
_bech32_values: Final = bech32.values
_bech32_constant: Final = bech32.bech32_constant
_bech32m_constant: Final = bech32.bech32m_constant
_bech32_length_max: Final = 90
_base58_alphabet: Final = "123456789ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnopqrstuvwxyz"
_base58_values: Final = {character: value for value, character in enumerate(_base58_alphabet)}
_human_readable_parts: Final = {
    Network.mainnet: "bc",
    Network.testnet: "tb",
    Network.regtest: "bcrt",
}
# Base58Check version bytes: P2PKH and P2SH (regtest uses testnet's).
_base58_versions: Final = {
    Network.mainnet: (0x00, 0x05),
    Network.testnet: (0x6F, 0xC4),
    Network.regtest: (0x6F, 0xC4),
}


# One step per character (BIP173's loop) and two steps per pair of characters: the state is
# linear in its bits, so two characters cost one lookup in a 1,024-entry table.
_generator_xor: Final = bech32.generator_xor
_generator_xor_pair: Final = bech32.generator_xor_pair
# Bytes translation: a bech32 character to its 5-bit value, anything else to 0xFF.
_bech32_value_table: Final = bytes(_bech32_values.get(chr(byte), 0xFF) for byte in range(256))
_bech32_to_base32: Final = str.maketrans(_bech32_charset, "0123456789abcdefghijklmnopqrstuv")


_polymod = bech32.polymod
_hrp_state = bech32.hrp_state


_hrp_states: Final = {hrp: _hrp_state(hrp) for hrp in _human_readable_parts.values()}


def addresses_valid(addresses: Collection[str], network: Network) -> bool:
    """Are all ``addresses`` valid on ``network``? The same answer as asking
    ``bitcoin_address_problem`` of each, faster: segwit addresses are checked in bulk, all of
    one length at once, with numpy (a million in about a second where one by one takes five);
    the rest (Base58, and anything odd) one by one."""
    human_readable_part = _human_readable_parts[network]
    prefix = human_readable_part + "1"
    by_length: dict[int, list[str]] = {}
    for address in addresses:
        if address.startswith(prefix) and len(address) <= _bech32_length_max:
            by_length.setdefault(len(address), []).append(address)
        elif bitcoin_address_problem(address, network):
            return False
    return all(_segwit_all_valid(group, human_readable_part) for group in by_length.values())


def _segwit_all_valid(addresses: list[str], human_readable_part: str) -> bool:
    """BIP173/BIP350 checks of ``_segwit_problem`` over addresses of one length, as arrays."""
    # Imported here: numpy costs a third of a second to load, and most commands that reach this
    # module (through the spend and port types) never check a snapshot's addresses.
    import numpy as np

    length = len(addresses[0])
    start = len(human_readable_part) + 1
    joined = "".join(addresses)
    if not joined.isascii() or joined != joined.lower():
        return False
    raw = np.frombuffer(joined.encode("ascii").translate(_bech32_value_table), np.uint8)
    data = raw.reshape(len(addresses), length)[:, start:]
    values = data.shape[1]
    program_bits = (values - 7) * 5
    program_bytes, padding = divmod(program_bits, 8)
    if (data == 0xFF).any() or padding > 4 or not 2 <= program_bytes <= 40:
        return False
    state = np.full(len(addresses), _hrp_states[human_readable_part], np.uint32)
    pairs = np.array(_generator_xor_pair, np.uint32)
    columns = data.astype(np.uint32)
    first = values % 2  # an odd count starts with one single step, as ``_polymod`` does
    if first:
        single = np.array(_generator_xor, np.uint32)
        state = ((state & 0x1FFFFFF) << 5) ^ columns[:, 0] ^ single[state >> 25]
    for column in range(first, values, 2):
        pair = (columns[:, column] << 5) | columns[:, column + 1]
        state = ((state & 0xFFFFF) << 10) ^ pair ^ pairs[state >> 20]
    version = columns[:, 0]
    bech32 = state == _bech32_constant
    if not ((bech32 | (state == _bech32m_constant)).all() and (bech32 == (version == 0)).all()):
        return False
    if (version > 16).any() or (columns[:, values - 7] & ((1 << padding) - 1)).any():
        return False
    return program_bytes in (20, 32) or bool((version != 0).all())


def bitcoin_address_problem(address: str, network: Network) -> str:
    """Why ``address`` is not a valid Bitcoin address on ``network``, or "" when it is."""
    if not address or not address.isascii() or not address.isalnum():
        return f"{address[:90]!r} is not an address"
    human_readable_part = _human_readable_parts[network]
    if address.lower().startswith(human_readable_part + "1"):
        return _segwit_problem(address, human_readable_part)
    return _base58_problem(address, network)


def _segwit_problem(address: str, human_readable_part: str) -> str:
    if address != address.lower():
        return f"{address!r}: bech32 addresses are written in lowercase here"
    if len(address) > _bech32_length_max:
        return f"{address[:90]!r}: longer than 90 characters"
    separator = address.rfind("1")
    if separator != len(human_readable_part):
        return f"{address!r}: not a {human_readable_part} address"
    text = address[separator + 1 :]
    data = text.encode("ascii").translate(_bech32_value_table)
    if 0xFF in data:
        return f"{address!r}: a character that is not bech32"
    if len(data) < 7:
        return f"{address!r}: too short"
    constant = _polymod(_hrp_states[human_readable_part], data)
    version = data[0]
    if constant not in (_bech32_constant, _bech32m_constant):
        return f"{address!r}: bad checksum"
    if (constant == _bech32_constant) != (version == 0):
        return f"{address!r}: witness version {version} with the wrong checksum kind"
    if version > 16:
        return f"{address!r}: witness version {version}"
    program_bits = (len(data) - 7) * 5
    padding = program_bits % 8
    number = int(text[1:-6].translate(_bech32_to_base32), 32) if program_bits else 0
    if padding > 4 or number & ((1 << padding) - 1):
        return f"{address!r}: bad padding"
    length = program_bits // 8
    if not 2 <= length <= 40 or (version == 0 and length not in (20, 32)):
        return f"{address!r}: a {length}-byte witness version {version} program"
    return ""


def _base58_problem(address: str, network: Network) -> str:
    if not 26 <= len(address) <= 35:
        return f"{address[:90]!r}: not a {network.value} address"
    number = 0
    for character in address:
        value = _base58_values.get(character)
        if value is None:
            return f"{address!r}: {character!r} is not Base58"
        number = number * 58 + value
    zeros = len(address) - len(address.lstrip("1"))
    if number.bit_length() > 200:
        return f"{address!r}: not 25 bytes"
    raw = bytes(zeros) + number.to_bytes((number.bit_length() + 7) // 8, "big")
    if len(raw) != 25:
        return f"{address!r}: not 25 bytes"
    payload, checksum = raw[:21], raw[21:]
    if hashlib.sha256(hashlib.sha256(payload).digest()).digest()[:4] != checksum:
        return f"{address!r}: bad checksum"
    if payload[0] not in _base58_versions[network]:
        return f"{address!r}: version byte {payload[0]} is not P2PKH or P2SH on {network.value}"
    return ""


_ethereum_hex_address: Final = re.compile(r"0x[0-9a-fA-F]{40}")


def canonical_address_problem(address: str, chain: str, network: str = "") -> str:
    """Why ``address`` is not in its chain's one canonical spelling, or "" when it is: EIP-55
    on Ethereum (so ``0xab..`` and ``0xAB..`` can never be two registry entries), a valid
    lowercase bech32 or Base58Check address on Bitcoin (of ``network``, or of any network
    when none is given)."""
    if chain == "ethereum":
        if not _ethereum_hex_address.fullmatch(address):
            return f"{address[:90]!r} is not an Ethereum address"
        canonical = eth_checksum_address(bytes.fromhex(address[2:]))
        return "" if address == canonical else f"{address} is not EIP-55 ({canonical})"
    networks = [Network(network)] if network else list(Network)
    problems = [bitcoin_address_problem(address, n) for n in networks]
    return "" if "" in problems else problems[0]
