"""core/custody/custodian_statements.py: custodian statements read strictly, one observation per
row."""

from __future__ import annotations

import hashlib
from datetime import UTC, datetime

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from ringfence.core.custody.custodian_statements import parse_statement
from ringfence.core.custody.holdings import Observation
from ringfence.core.custody.registry import Chain
from ringfence.core.errors import InputError, Result
from ringfence.core.money import Asset, format_amount

btc = Asset("BTC", 8, 1, "bitcoin")
eth = Asset("ETH", 18, 2, "ethereum")
usdc = Asset("USDC", 6, 3, "ethereum", "0xa0b86991c6218b36c1d19d4a2e9eb0ce3606eb48")
fiat = Asset("USD", 2, 4)  # on no chain: a statement of it cannot be an on-chain observation
assets = {asset.code: asset for asset in (btc, eth, usdc, fiat)}
as_of = "2026-11-21T00:00:00Z"
as_of_ns = 1_795_219_200 * 10**9
first_row_line = 4


def statement_bytes(rows: list[str], custodian: str = "prime-2") -> bytes:
    lines = [
        "# ringfence custodian statement v1",
        f"# custodian: {custodian}",
        "account,asset,amount,as_of",
        *rows,
    ]
    return ("\n".join(lines) + "\n").encode()


good_rows = [
    f"omnibus-btc-1,BTC,12.5,{as_of}",
    f"omnibus-btc-1,ETH,0.000000000000000001,{as_of}",
    "acct/77@prime,USDC,1000000.000000,2026-11-20T23:59:59.5Z",
    f"omnibus-btc-2,BTC,0,{as_of}",
]


def refused(data: bytes) -> InputError:
    with pytest.raises(InputError) as caught:
        parse_statement(data, assets)
    return caught.value


def test_each_row_becomes_an_observation_in_minor_units_with_its_time_and_source() -> None:
    data = statement_bytes(good_rows)
    statement = parse_statement(data, assets)
    source = "statement:prime-2:" + hashlib.sha256(data).hexdigest()[:16]
    assert (statement.custodian, statement.source) == ("prime-2", source)
    assert statement.observations == (
        Observation(Chain.bitcoin, "omnibus-btc-1", "BTC", 1_250_000_000, 0, as_of_ns, source),
        Observation(Chain.ethereum, "omnibus-btc-1", "ETH", 1, 0, as_of_ns, source),
        Observation(
            Chain.ethereum, "acct/77@prime", "USDC", 10**12, 0, as_of_ns - 5 * 10**8, source
        ),
        Observation(Chain.bitcoin, "omnibus-btc-2", "BTC", 0, 0, as_of_ns, source),
    )


def test_an_empty_statement_has_no_observations() -> None:
    assert parse_statement(statement_bytes([]), assets).observations == ()


bad_rows = [
    ("", Result.holdings_row_malformed),
    ("omnibus-btc-1,BTC,1", Result.holdings_row_column_count_wrong),
    (f"omnibus-btc-1,BTC,1,{as_of},x", Result.holdings_row_column_count_wrong),
    (f"DOGE-1,DOGE,1,{as_of}", Result.asset_not_found),
    (f"a,btc,1,{as_of}", Result.asset_not_found),
    (f"bank-1,USD,1,{as_of}", Result.chain_unknown),
    (f"a,BTC,-1,{as_of}", Result.amount_must_not_be_negative),
    (f"a,BTC,1e3,{as_of}", Result.amount_must_not_be_float),
    (f"a,BTC,1.000000001,{as_of}", Result.amount_finer_than_asset_scale),
    (f"a,USDC,0.0000001,{as_of}", Result.amount_finer_than_asset_scale),
    (f"a,BTC,1.,{as_of}", Result.amount_must_be_decimal_string),
    (f"a,BTC,1_000,{as_of}", Result.amount_must_be_decimal_string),
    (f"a,BTC,{'9' * 40},{as_of}", Result.amount_must_be_below_2_128),
    ("a,BTC,1,2026-11-21", Result.timestamp_invalid),
    ("a,BTC,1,2026-13-01T00:00:00Z", Result.timestamp_invalid),
    ("a,BTC,1,2026-11-21T00:00:00+00:00", Result.timestamp_invalid),
    (f"-a,BTC,1,{as_of}", Result.account_invalid),
    (f"a b,BTC,1,{as_of}", Result.account_invalid),
    (f"{'a' * 91},BTC,1,{as_of}", Result.account_invalid),
    (f'"a,b",BTC,1,{as_of}', Result.holdings_row_malformed),  # a comma inside a quoted field
    (f"omnibus-btc-1,BTC,1,{as_of}", Result.statement_row_duplicate),
]


@pytest.mark.parametrize(("row", "code"), bad_rows)
def test_a_bad_row_is_refused_by_name_with_its_line_number(row: str, code: Result) -> None:
    error = refused(statement_bytes([*good_rows, row, f"z,BTC,1,{as_of}"]))
    assert error.code is code
    assert error.detail.startswith(f"line {first_row_line + len(good_rows)}:")


@pytest.mark.parametrize(
    "change",
    [
        (b"statement v1", b"statement v0"),
        (b"# custodian: prime-2\n", b""),
        (b"prime-2", b"Prime Trust"),
        (b"# custodian: prime-2\n", b"# custodian: prime-2\n# custodian: prime-3\n"),
        (b"# custodian:", b"# custodian :"),
        (b"account,asset,amount,as_of", b"account,asset,amount"),
    ],
)
def test_a_bad_header_is_refused(change: tuple[bytes, bytes]) -> None:
    data = statement_bytes(good_rows)
    assert change[0] in data
    error = refused(data.replace(change[0], change[1], 1))
    assert error.code is Result.holdings_file_header_invalid


statement_rows = st.lists(
    st.tuples(
        st.from_regex(r"[0-9A-Za-z][0-9A-Za-z._:/@+-]{0,20}", fullmatch=True),
        st.sampled_from([btc, eth, usdc]),
        st.integers(0, 2**100),
        st.integers(0, 4_000_000_000),
    ),
    max_size=30,
    unique_by=lambda row: (row[0], row[1].code),
)


@given(statement_rows)
@settings(max_examples=150, deadline=None)
def test_amounts_and_times_read_back_exactly_as_written(
    rows: list[tuple[str, Asset, int, int]],
) -> None:
    lines = []
    for account, asset, units, seconds in rows:
        stamp = datetime.fromtimestamp(seconds, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
        lines.append(f"{account},{asset.code},{format_amount(units, asset)},{stamp}")
    statement = parse_statement(statement_bytes(lines), assets)
    assert [(o.address, o.asset, o.amount, o.time_ns) for o in statement.observations] == [
        (account, asset.code, units, seconds * 10**9) for account, asset, units, seconds in rows
    ]


edits = st.tuples(
    st.sampled_from(["insert", "delete", "replace"]),
    st.integers(0, 10_000),
    st.sampled_from([*"0159,\n.-eEZT: #aA/", "\r", "0" * 45, "BTC"]),
)


@given(st.lists(edits, min_size=1, max_size=3))
@settings(max_examples=400, deadline=None)
def test_a_corrupted_statement_is_either_read_or_refused_by_name_never_crashes(
    changes: list[tuple[str, int, str]],
) -> None:
    """The bulk pass and the line-by-line pass must agree (see test_snapshots.py)."""
    text = statement_bytes(good_rows).decode()
    for operation, position, piece in changes:
        at = position % (len(text) + 1)
        if operation == "insert":
            text = text[:at] + piece + text[at:]
        elif operation == "delete":
            text = text[:at] + text[at + 1 :]
        else:
            text = text[:at] + piece + text[at + 1 :]
    try:
        parse_statement(text.encode(), assets)
    except InputError as error:
        assert error.code in Result.__members__.values()


def test_a_statement_with_quoted_fields_reads_as_the_same_statement_unquoted() -> None:
    quoted = [",".join(f'"{field}"' for field in row.split(",")) for row in good_rows]
    plain = parse_statement(statement_bytes(good_rows), assets).observations
    both = parse_statement(statement_bytes(quoted), assets).observations
    assert [(o.address, o.asset, o.amount, o.time_ns) for o in both] == [
        (o.address, o.asset, o.amount, o.time_ns) for o in plain
    ]
