"""core/custody/snapshots.py: UTXO snapshots read strictly, summed per address.

Valid addresses come from BIP173/BIP350's published vectors and from embit (an independent
encoder), so the checker is tested against implementations other than itself.
"""

from __future__ import annotations

import hashlib

import pytest
from bip_utils import SegwitBech32Encoder
from embit.networks import NETWORKS
from embit.script import Script
from hypothesis import given, settings
from hypothesis import strategies as st

from ringfence.core import limits
from ringfence.core.custody.addresses import Network
from ringfence.core.custody.holdings import Observation
from ringfence.core.custody.registry import Chain
from ringfence.core.custody.snapshots import (
    Snapshot,
    addresses_valid,
    bitcoin_address_problem,
    parse_snapshot,
)
from ringfence.core.errors import InputError, Result

# BIP173 and BIP350 vectors, Satoshi-era Base58 addresses.
p2wpkh = "bc1qw508d6qejxtdg4y5r3zarvary0c5xw7kv8f3t4"
p2wsh = "bc1qrp33g0q5c5txsp9arysrx4k6zdkfs4nce4xj0gdcccefvpysxf3qccfmv3"
p2tr = "bc1p0xlxvlhemja6c4dqv22uapctqupfhlxm9h8z3k2e72q4k9hcz7vqzk5jj0"
p2pkh = "1BvBMSEYstWetqTFn5Au4m4GFg7xJaNVN2"
p2sh = "3J98t1WpEZ73CNmQviecrnyiWrnqRhWNLy"
testnet_p2wsh = "tb1qrp33g0q5c5txsp9arysrx4k6zdkfs4nce4xj0gdcccefvpysxf3q0sl5k7"
block_hash = "00000000000000000001" + "ab" * 22
txid_a = "4a5e1e4baab89f3a32518a88c31bc87f618f76673e2cc77ab2127b7afdeda33b"
txid_b = "0e3e2357e806b6cdb1f70b54c3a3a17b6714ee1f0e68bebb44a74b1efd512098"


def snapshot_bytes(
    rows: list[str],
    network: str = "mainnet",
    height: str = "871002",
    extra: tuple[str, ...] = ("# time: 2026-11-21T00:00:00Z",),
) -> bytes:
    lines = [
        "# ringfence utxo snapshot v1",
        "# chain: bitcoin",
        f"# network: {network}",
        f"# height: {height}",
        f"# block_hash: {block_hash}",
        *extra,
        "address,txid,vout,amount,height",
        *rows,
    ]
    return ("\n".join(lines) + "\n").encode()


good_rows = [
    f"{p2wpkh},{txid_a},0,150000000,870990",
    f"{p2tr},{txid_a},1,5000,870990",
    f"{p2wpkh},{txid_b},7,250000000,871002",
    f"{p2pkh},{txid_b},0,0,100",
]
first_row_line = 8  # five metadata lines after the magic, the time, then the column header


def refused(data: bytes, network: str = "mainnet") -> InputError:
    with pytest.raises(InputError) as caught:
        parse_snapshot(data, network)
    return caught.value


# ---------------------------------------------------------------------- good snapshots


def test_holdings_are_summed_per_address_at_the_snapshots_height_and_source() -> None:
    data = snapshot_bytes(good_rows)
    snapshot = parse_snapshot(data, Network.mainnet)
    source = "utxo-snapshot:" + hashlib.sha256(data).hexdigest()[:16]
    time_ns = 1_795_219_200 * 10**9  # 2026-11-21T00:00:00Z
    assert snapshot.source == source
    assert (snapshot.height, snapshot.block_hash, snapshot.time_ns) == (871002, block_hash, time_ns)
    assert snapshot.observations == (
        Observation(Chain.bitcoin, p2wpkh, "BTC", 400_000_000, 871002, time_ns, source),
        Observation(Chain.bitcoin, p2tr, "BTC", 5_000, 871002, time_ns, source),
        Observation(Chain.bitcoin, p2pkh, "BTC", 0, 871002, time_ns, source),
    )
    assert len(snapshot.utxos) == 4


def test_inflows_are_named_txid_colon_vout_without_sender_and_skip_zero_outputs() -> None:
    snapshot = parse_snapshot(snapshot_bytes(good_rows), "mainnet")
    inflows = snapshot.inflows()
    assert [(i.address, i.reference, i.amount, i.height) for i in inflows] == [
        (p2wpkh, f"{txid_a}:0", 150_000_000, 870990),
        (p2tr, f"{txid_a}:1", 5_000, 870990),
        (p2wpkh, f"{txid_b}:7", 250_000_000, 871002),
    ]
    assert {(i.sender, i.asset, i.chain, i.source) for i in inflows} == {
        ("", "BTC", Chain.bitcoin, snapshot.source)
    }
    assert [i.reference for i in snapshot.inflows({p2wpkh}, 871000)] == [f"{txid_b}:7"]
    assert snapshot.inflows({p2sh}) == []


def test_an_empty_snapshot_crlf_endings_and_no_final_newline_are_accepted() -> None:
    empty = parse_snapshot(snapshot_bytes([], extra=()), "mainnet")
    assert (empty.observations, len(empty.utxos), empty.time_ns) == ((), 0, 0)
    data = snapshot_bytes(good_rows).replace(b"\n", b"\r\n").rstrip(b"\r\n")
    snapshot = parse_snapshot(data, "mainnet")
    assert sum(o.amount for o in snapshot.observations) == 400_005_000
    assert snapshot.source.endswith(hashlib.sha256(data).hexdigest()[:16])


def test_testnet_and_regtest_snapshots_take_their_own_addresses() -> None:
    regtest = Script(b"\x00\x14" + bytes(20)).address(NETWORKS["regtest"])
    row = f"{regtest},{txid_a},0,1,1"
    assert parse_snapshot(snapshot_bytes([row], "regtest"), "regtest").observations[0].amount == 1
    row = f"{testnet_p2wsh},{txid_a},0,1,1"
    assert len(parse_snapshot(snapshot_bytes([row], "testnet"), "testnet").observations) == 1


# ---------------------------------------------------------------------- bad rows

bad_rows = [
    ("", Result.holdings_row_malformed),
    (f"{p2wpkh},{txid_a},0,1", Result.holdings_row_column_count_wrong),
    (f"{p2wpkh},{txid_a},0,1,1,1", Result.holdings_row_column_count_wrong),
    (f"{p2wpkh},{txid_a},0,-5,1", Result.amount_must_not_be_negative),
    (f"{p2wpkh},{txid_a},0,1.5,1", Result.snapshot_amount_must_be_whole_sats),
    (f"{p2wpkh},{txid_a},0,1.00000000,1", Result.snapshot_amount_must_be_whole_sats),
    (f"{p2wpkh},{txid_a},0,1e3,1", Result.amount_must_not_be_float),
    (f"{p2wpkh},{txid_a},0,NaN,1", Result.amount_must_not_be_float),
    (f"{p2wpkh},{txid_a},0,007,1", Result.amount_must_be_decimal_string),
    (f"{p2wpkh},{txid_a},0,+7,1", Result.amount_must_be_decimal_string),
    (f"{p2wpkh},{txid_a},0,{2**64},1", Result.amount_must_be_below_2_64),
    (f"{p2wpkh},{txid_a},0,{10**30},1", Result.amount_must_be_below_2_64),
    (f"{p2wpkh},{txid_a},0,{21_000_000 * 10**8 + 1},1", Result.amount_exceeds_asset_supply),
    (f"{p2wpkh},{txid_a[:63]},0,1,1", Result.txid_invalid),
    (f"{p2wpkh},{txid_a.upper()},0,1,1", Result.txid_invalid),
    (f"{p2wpkh},{txid_a[:63]}g,0,1,1", Result.txid_invalid),
    (f"{p2wpkh},{txid_a},{2**32},1,1", Result.vout_invalid),
    (f"{p2wpkh},{txid_a},-1,1,1", Result.vout_invalid),
    (f"{p2wpkh},{txid_a},01,1,1", Result.vout_invalid),
    (f"{p2wpkh},{txid_a},0,1,871003", Result.utxo_height_invalid),
    (f"{p2wpkh},{txid_a},0,1,x", Result.utxo_height_invalid),
    (f"{testnet_p2wsh},{txid_a},0,1,1", Result.address_invalid_for_network),
    (f"{p2wpkh[:-1]}5,{txid_a},0,1,1", Result.address_invalid_for_network),
    (f"{p2wpkh.upper()},{txid_a},0,1,1", Result.address_invalid_for_network),
    (f"{p2pkh[:-1]}3,{txid_a},0,1,1", Result.address_invalid_for_network),
    (f"bc1 q,{txid_a},0,1,1", Result.address_invalid_for_network),
    (f"# comment,{txid_a},0,1,1", Result.address_invalid_for_network),
]


@pytest.mark.parametrize(("row", "code"), bad_rows)
def test_a_bad_row_is_refused_by_name_with_its_line_number(row: str, code: Result) -> None:
    error = refused(snapshot_bytes([*good_rows, row, good_rows[0].replace("0,150", "9,150")]))
    assert error.code is code
    assert error.detail.startswith(f"line {first_row_line + len(good_rows)}:")


def test_the_same_outpoint_twice_is_refused_on_its_second_line() -> None:
    row = f"{p2sh},{txid_b},7,1,5"  # good_rows[2] spends txid_b:7 already
    error = refused(snapshot_bytes([*good_rows, row]))
    assert error.code is Result.outpoint_duplicate
    assert error.detail.startswith(f"line {first_row_line + 4}:")


def test_outputs_summing_to_more_than_the_supply_are_refused() -> None:
    half = 11_000_000 * 10**8
    rows = [f"{p2wpkh},{txid_a},0,{half},1", f"{p2sh},{txid_a},1,{half},1"]
    error = refused(snapshot_bytes(rows))
    assert error.code is Result.amount_exceeds_asset_supply
    assert error.detail.startswith(f"line {first_row_line + 1}:")


# ---------------------------------------------------------------------- bad headers and files


def test_a_wrong_or_unknown_network_is_refused() -> None:
    assert refused(snapshot_bytes(good_rows, "testnet")).code is Result.network_mismatch
    assert refused(snapshot_bytes(good_rows, "signet")).code is Result.network_unknown
    assert refused(snapshot_bytes(good_rows), "liquid").code is Result.network_unknown


@pytest.mark.parametrize(
    "change",
    [
        (b"# ringfence utxo snapshot v1\n", b"# ringfence utxo snapshot v2\n"),
        (b"# chain: bitcoin\n", b"# chain: ethereum\n"),
        (b"# chain: bitcoin\n", b""),
        (b"# height: 871002\n", b"# height: 0871002\n"),
        (b"# height: 871002\n", b"# height: -1\n"),
        (b"# height: 871002\n", b"# height: 871002\n# height: 871003\n"),
        (b"# block_hash: 0000", b"# block_hash: 000"),
        (b"# block_hash:", b"# blockhash:"),
        (b"# time: 2026", b"# time 2026"),
        (b"address,txid,vout,amount,height", b"address,txid,vout,amount"),
        (b"address,txid,vout,amount,height", b"txid,address,vout,amount,height"),
    ],
)
def test_a_bad_header_is_refused(change: tuple[bytes, bytes]) -> None:
    data = snapshot_bytes(good_rows)
    assert change[0] in data
    assert (
        refused(data.replace(change[0], change[1], 1)).code is Result.holdings_file_header_invalid
    )


def test_a_bad_time_or_a_non_ascii_byte_or_a_lone_cr_is_refused() -> None:
    bad_time = snapshot_bytes(good_rows, extra=("# time: 2026-02-30T00:00:00Z",))
    assert refused(bad_time).code is Result.timestamp_invalid
    zoned = snapshot_bytes(good_rows, extra=("# time: 2026-11-21T00:00:00+01:00",))
    assert refused(zoned).code is Result.timestamp_invalid
    error = refused(snapshot_bytes([*good_rows, "bc1qü"]))
    assert (error.code, error.detail[:7]) == (Result.holdings_file_not_ascii, "line 12")
    assert refused(snapshot_bytes(good_rows) + b"x\rx\n").code is Result.holdings_row_malformed
    assert refused(b"").code is Result.holdings_file_empty


def test_a_file_beyond_the_byte_or_row_limit_is_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    data = snapshot_bytes(good_rows)
    monkeypatch.setattr(limits, "holdings_file_bytes_max", len(data) - 1)
    assert refused(data).code is Result.holdings_file_too_large
    monkeypatch.setattr(limits, "holdings_file_bytes_max", len(data))
    monkeypatch.setattr(limits, "holdings_file_rows_max", len(good_rows) - 1)
    assert refused(data).code is Result.holdings_file_too_large
    monkeypatch.setattr(limits, "holdings_file_rows_max", len(good_rows))
    assert len(parse_snapshot(data, "mainnet").utxos) == len(good_rows)


# ---------------------------------------------------------------------- addresses


def test_the_address_checker_follows_bip173_and_bip350_vectors() -> None:
    for address in (p2wpkh, p2wsh, p2tr, p2pkh, p2sh):
        assert bitcoin_address_problem(address, Network.mainnet) == ""
    assert bitcoin_address_problem(testnet_p2wsh, Network.testnet) == ""
    invalid = [
        # BIP350: version 1 with a bech32 checksum, version 0 with bech32m.
        "bc1p0xlxvlhemja6c4dqv22uapctqupfhlxm9h8z3k2e72q4k9hcz7vqh2y7hd",
        "bc1qw508d6qejxtdg4y5r3zarvary0c5xw7kemeawh",
        # BIP173: invalid program length, mixed case, no separator, a non-charset character.
        "bc1zw508d6qejxtdg4y5r3zarvaryvqyzf3du",
        "bc1qR508d6qejxtdg4y5r3zarvary0c5xw7kv8f3t4",
        "bc1gmk9yu",
        "bc1qw508d6qejxtdg4y5r3zarvary0c5xw7kv8f3tb",
        "1BvBMSEYstWetqTFn5Au4m4GFg7xJaNVN3",
        "mipcBbFg9gMiCh81Kj8tqqdgoZub1ZJRfn",  # a testnet P2PKH
    ]
    for address in invalid:
        assert bitcoin_address_problem(address, Network.mainnet) != "", address


base58_alphabet = "123456789ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnopqrstuvwxyz"
programs = st.one_of(
    st.binary(min_size=20, max_size=20).map(lambda h: b"\x00\x14" + h),
    st.binary(min_size=32, max_size=32).map(lambda h: b"\x00\x20" + h),
    st.binary(min_size=32, max_size=32).map(lambda h: b"\x51\x20" + h),
    st.binary(min_size=20, max_size=20).map(lambda h: b"\x76\xa9\x14" + h + b"\x88\xac"),
    st.binary(min_size=20, max_size=20).map(lambda h: b"\xa9\x14" + h + b"\x87"),
    # Future witness versions 1 to 16, programs of 2 to 40 bytes (odd and even lengths).
    st.tuples(st.integers(0x51, 0x60), st.binary(min_size=2, max_size=40)).map(
        lambda vp: bytes([vp[0], len(vp[1])]) + vp[1]
    ),
)


hrps = {"main": "bc", "test": "tb", "regtest": "bcrt"}


def encode(script: bytes, network_name: str) -> str:
    """The address of an output script: embit for the standard shapes, bip-utils for witness
    versions embit does not name (v2 to v16, v1 programs other than 32 bytes)."""
    if 0x51 <= script[0] <= 0x60 and not (script[0] == 0x51 and len(script) == 34):
        return str(SegwitBech32Encoder.Encode(hrps[network_name], script[0] - 0x50, script[2:]))
    return str(Script(script).address(NETWORKS[network_name]))


@given(programs, st.sampled_from(["main", "test", "regtest"]), st.data())
@settings(max_examples=300, deadline=None)
def test_the_checker_accepts_what_others_encode_and_refuses_one_changed_character(
    program: bytes, network_name: str, data: st.DataObject
) -> None:
    network = {"main": Network.mainnet, "test": Network.testnet, "regtest": Network.regtest}
    address = encode(program, network_name)
    assert bitcoin_address_problem(address, network[network_name]) == ""
    position = data.draw(st.integers(max(0, len(address) - 20), len(address) - 1))
    bech32 = address.startswith(("bc1", "tb1", "bcrt1"))
    alphabet = "qpzry9x8gf2tvdw0s3jn54khce6mua7l" if bech32 else base58_alphabet
    replacement = data.draw(st.sampled_from([c for c in alphabet if c != address[position]]))
    changed = address[:position] + replacement + address[position + 1 :]
    assert bitcoin_address_problem(changed, network[network_name]) != ""
    # The bulk checker agrees with the one-by-one checker, alone and in a batch.
    others = [address, changed, address.upper(), address[:-1], address + "q"]
    for candidate in others:
        valid = bitcoin_address_problem(candidate, network[network_name]) == ""
        assert addresses_valid([candidate], network[network_name]) is valid, candidate
    middle = len(program) // 2  # inside the hash or program for every shape drawn
    sibling_script = program[:middle] + bytes([program[middle] ^ 0xFF]) + program[middle + 1 :]
    sibling = encode(sibling_script, network_name)
    assert addresses_valid([address, sibling], network[network_name])
    assert not addresses_valid([address, sibling, changed], network[network_name])


# ---------------------------------------------------------------------- round trip

pool = [Script(b"\x00\x14" + bytes([n]) * 20).address(NETWORKS["main"]) for n in range(8)] + [
    p2pkh,
    p2sh,
    p2tr,
]
utxo_rows = st.lists(
    st.tuples(
        st.sampled_from(pool),
        st.binary(min_size=32, max_size=32).map(bytes.hex),
        st.integers(0, 2**32 - 1),
        st.integers(0, 5 * 10**13),  # 40 rows stay within the 21M BTC supply
        st.integers(0, 871002),
    ),
    max_size=40,
    unique_by=lambda row: (row[1], row[2]),
)


def write_snapshot(snapshot: Snapshot) -> bytes:
    """The writer the round trip checks against: the format as documented."""
    utxos = snapshot.utxos
    rows = [
        f"{utxos.addresses[i]},{utxos.txids[i]},{utxos.vouts[i]},{utxos.amounts[i]},"
        f"{utxos.heights[i]}"
        for i in range(len(utxos))
    ]
    return snapshot_bytes(rows, snapshot.network.value, str(snapshot.height))


@given(utxo_rows)
@settings(max_examples=150, deadline=None)
def test_per_address_sums_equal_the_rows_and_a_written_snapshot_reads_back(
    rows: list[tuple[str, str, int, int, int]],
) -> None:
    data = snapshot_bytes([",".join(map(str, row)) for row in rows])
    snapshot = parse_snapshot(data, "mainnet")
    expected: dict[str, int] = {}
    for address, _, _, amount, _ in rows:
        expected[address] = expected.get(address, 0) + amount
    assert {o.address: o.amount for o in snapshot.observations} == expected
    utxos = snapshot.utxos
    columns = (utxos.addresses, utxos.txids, utxos.vouts, utxos.amounts, utxos.heights)
    assert list(zip(*columns, strict=True)) == rows
    assert write_snapshot(snapshot) == data
    again = parse_snapshot(write_snapshot(snapshot), "mainnet")
    assert again == snapshot
    assert sorted(i.reference for i in snapshot.inflows()) == sorted(
        f"{txid}:{vout}" for _, txid, vout, amount, _ in rows if amount
    )


# ---------------------------------------------------------------------- corrupted files

edits = st.tuples(
    st.sampled_from(["insert", "delete", "replace"]),
    st.integers(0, 10_000),
    st.sampled_from([*"0159,\n.-eEqzZ: #x", "\r", "00", "1" * 12]),
)


@given(st.lists(edits, min_size=1, max_size=3))
@settings(max_examples=400, deadline=None)
def test_a_corrupted_snapshot_is_either_read_or_refused_by_name_never_crashes(
    changes: list[tuple[str, int, str]],
) -> None:
    """The bulk pass and the line-by-line pass must agree: a file the first refuses, the
    second names a line for (else the parser's own assertion fails)."""
    text = snapshot_bytes(good_rows).decode()
    for operation, position, piece in changes:
        at = position % (len(text) + 1)
        if operation == "insert":
            text = text[:at] + piece + text[at:]
        elif operation == "delete":
            text = text[:at] + text[at + 1 :]
        else:
            text = text[:at] + piece + text[at + 1 :]
    try:
        parse_snapshot(text.encode(), "mainnet")
    except InputError as error:
        assert error.code in Result.__members__.values()


# ---------------------------------------------------------------------- CSV quoting


def quoted(row: str) -> str:
    return ",".join(f'"{field}"' for field in row.split(","))


def test_a_snapshot_with_quoted_fields_reads_as_the_same_snapshot_unquoted() -> None:
    plain = parse_snapshot(snapshot_bytes(good_rows), "mainnet")
    data = snapshot_bytes([quoted(row) for row in good_rows]).replace(
        b"address,txid,vout,amount,height", b'"address","txid","vout","amount","height"'
    )
    both = parse_snapshot(data, "mainnet")
    assert both.utxos == plain.utxos
    assert [o.amount for o in both.observations] == [o.amount for o in plain.observations]
    assert both.source != plain.source  # the source names the exact bytes read


@pytest.mark.parametrize(
    "row",
    [f'"{p2wpkh},x",{txid_a},0,1,870990',  # a comma inside a quoted field
     f'"{p2wpkh}"x,{txid_a},0,1,870990'],  # text after a closing quote
)  # fmt: skip
def test_a_quoted_field_that_would_change_the_columns_is_refused(row: str) -> None:
    error = refused(snapshot_bytes([good_rows[0], row]))
    assert error.code is Result.holdings_row_malformed
    assert error.detail.startswith(f"line {first_row_line + 1}:")
