"""core/ledger/wire.py: strict JSON transfers and accounts, every refusal with its code."""

from __future__ import annotations

import json
from decimal import Decimal

import pytest
from hypothesis import given
from hypothesis import strategies as st

from ringfence.core import limits
from ringfence.core.errors import InputError, Result
from ringfence.core.ledger.engine import Ledger
from ringfence.core.ledger.model import (
    AccountClass,
    AccountDefinition,
    Pool,
    PoolKind,
    Terms,
    Transfer,
    TransferCode,
    TransferFlags,
)
from ringfence.core.ledger.wire import (
    account_to_json,
    decode_line,
    parse_account,
    parse_line,
    parse_transfer,
    transfer_to_json,
)
from ringfence.core.money import Asset

btc = Asset("BTC", 8, 1)
eth = Asset("ETH", 18, 2)
usd = Asset("USD", 0, 3)
assets = {asset.code: asset for asset in (btc, eth, usd)}
# Accounts 1, 2 hold BTC; 3, 4 hold ETH; 5 holds USD (scale 0).
account_assets = {1: btc, 2: btc, 3: eth, 4: eth, 5: usd}
u128_max = 2**128 - 1


def parse(obj: object) -> Transfer:
    return parse_transfer(obj, account_assets.get, assets.get)


def line(text: str | bytes) -> Transfer:
    return parse_line(text, account_assets.get, assets.get)


def deposit(**fields: object) -> dict[str, object]:
    base: dict[str, object] = {
        "id": "10",
        "debit_account": "1",
        "credit_account": "2",
        "amount": "1.5",
        "code": "deposit",
    }
    base.update(fields)
    return {key: value for key, value in base.items() if value is not None}


def refused(obj: object) -> InputError:
    with pytest.raises(InputError) as caught:
        parse(obj)
    return caught.value


def refused_line(text: str | bytes) -> InputError:
    with pytest.raises(InputError) as caught:
        line(text)
    return caught.value


# ---------------------------------------------------------------------- good transfers


def test_a_deposit_reads_its_amount_in_the_debit_accounts_major_unit() -> None:
    transfer = parse(deposit())
    assert transfer == Transfer(10, 1, 2, 150_000_000, TransferCode.deposit)


def test_ids_may_be_integers_or_digit_strings_up_to_2_128_minus_1() -> None:
    transfer = parse(deposit(id=u128_max, debit_account=1, credit_account=str(2)))
    assert transfer.id == u128_max
    assert (transfer.debit_account, transfer.credit_account) == (1, 2)
    assert parse(deposit(id=str(u128_max))).id == u128_max


def test_every_optional_field_is_read() -> None:
    transfer = parse(
        deposit(
            code="internal_transfer",
            flags=["linked", "pending"],
            pending_id=None,
            reference="99",
            timeout_s=60,
            authorised_by="alice",
            authorisation="0f" * 64,
            asset="BTC",
        )
    )
    assert transfer.authorisation == b"\x0f" * 64
    assert transfer.code is TransferCode.internal_transfer
    assert transfer.flags == TransferFlags.linked | TransferFlags.pending
    assert transfer.reference == 99
    assert transfer.timeout_s == 60
    assert transfer.authorised_by == "alice"
    assert transfer.asset == "BTC"


def test_amount_units_are_minor_units_as_integer_or_digit_string() -> None:
    assert parse(deposit(amount=None, amount_units=150_000_000)).amount == 150_000_000
    assert parse(deposit(amount=None, amount_units="7")).amount == 7


def test_post_and_void_may_leave_out_accounts_and_amount() -> None:
    post = parse({"id": "11", "code": "deposit", "flags": ["post_pending"], "pending_id": "10"})
    assert post == Transfer(11, 0, 0, None, TransferCode.deposit, TransferFlags.post_pending, 10)
    void = parse({"id": "12", "code": "deposit", "flags": ["void_pending"], "pending_id": "10"})
    assert void.flags == TransferFlags.void_pending
    assert void.amount is None


def test_post_without_accounts_reads_an_amount_in_the_named_asset() -> None:
    obj = {"id": "11", "code": "deposit", "flags": ["post_pending"], "pending_id": "10"}
    assert parse({**obj, "amount": "0.5", "asset": "BTC"}).amount == 50_000_000
    assert parse({**obj, "amount_units": "5"}).amount == 5
    error = refused({**obj, "amount": "0.5"})
    assert error.code is Result.field_required
    assert "asset" in error.detail


def test_post_with_a_debit_account_reads_the_amount_in_its_asset() -> None:
    obj = {"id": "11", "code": "deposit", "flags": ["post_pending"], "pending_id": "10"}
    assert parse({**obj, "debit_account": "3", "amount": "1"}).amount == 10**18


def test_eth_amounts_in_wei_reach_2_128_minus_1_and_no_further() -> None:
    whole, fraction = divmod(u128_max, 10**18)
    largest = f"{whole}.{fraction:018d}"
    assert parse(deposit(debit_account="3", credit_account="4", amount=largest)).amount == (
        u128_max
    )
    one_wei_more = f"{whole}.{fraction + 1:018d}"
    error = refused(deposit(debit_account="3", credit_account="4", amount=one_wei_more))
    assert error.code is Result.amount_must_be_below_2_128
    assert parse(deposit(debit_account="3", amount="0.000000000000000001")).amount == 1


def test_trailing_zeros_beyond_the_scale_are_not_finer_than_the_scale() -> None:
    assert parse(deposit(amount="1.500000000000")).amount == 150_000_000
    assert parse(deposit(debit_account="5", credit_account="5", amount="12.0")).amount == 12


# ---------------------------------------------------------------------- shape refusals


@pytest.mark.parametrize(
    ("obj", "code"),
    [
        ([], Result.line_malformed),
        ("deposit", Result.line_malformed),
        (7, Result.line_malformed),
        (None, Result.line_malformed),
        (deposit(colour="red"), Result.field_unknown),
        (deposit(id=None), Result.field_required),
        (deposit(code=None), Result.field_required),
        (deposit(debit_account=None), Result.field_required),
        (deposit(credit_account=None), Result.field_required),
        (deposit(amount=None), Result.amount_required),
        (deposit(amount_units="5"), Result.field_unknown),
        (deposit(code="gift"), Result.code_unknown),
        (deposit(code=1), Result.code_unknown),
        (deposit(code="Deposit"), Result.code_unknown),
        (deposit(flags=["urgent"]), Result.flag_unknown),
        (deposit(flags="linked"), Result.flag_unknown),
        (deposit(flags=[1]), Result.flag_unknown),
        (deposit(flags=["pending", "post_pending"]), Result.flags_are_mutually_exclusive),
        (deposit(flags=["post_pending", "void_pending"]), Result.flags_are_mutually_exclusive),
        (deposit(authorised_by="Alice Smith"), Result.name_invalid),
        (deposit(authorised_by=""), Result.name_invalid),
        (deposit(authorisation="0f" * 63), Result.authorisation_malformed),
        (deposit(authorisation="0f" * 65), Result.authorisation_malformed),
        (deposit(authorisation="0F" * 64), Result.authorisation_malformed),
        (deposit(authorisation="0x" + "0f" * 63), Result.authorisation_malformed),
        (deposit(authorisation=" " + "0f" * 63 + "f"), Result.authorisation_malformed),
        (deposit(authorisation=""), Result.authorisation_malformed),
        (deposit(authorisation=True), Result.authorisation_malformed),
        (deposit(authorisation=[15] * 64), Result.authorisation_malformed),
        (deposit(authorisation=12345), Result.authorisation_malformed),
        (deposit(asset="DOGE"), Result.asset_not_found),
        (deposit(asset=1), Result.asset_not_found),
    ],
)
def test_bad_shapes_are_refused_with_their_code(obj: object, code: Result) -> None:
    assert refused(obj).code is code


def test_an_unknown_field_is_named() -> None:
    error = refused(deposit(colour="red", memo="x"))
    assert error.code is Result.field_unknown
    assert error.detail == "colour, memo"


def test_amount_and_amount_units_together_are_refused() -> None:
    error = refused(deposit(amount_units="150000000"))
    assert error.code is Result.field_unknown
    assert error.detail == "amount and amount_units are exclusive"


@pytest.mark.parametrize(
    ("value", "code"),
    [
        ("0", Result.id_must_not_be_zero),
        (0, Result.id_must_not_be_zero),
        (u128_max + 1, Result.id_must_be_below_2_128),
        (str(u128_max + 1), Result.id_must_be_below_2_128),  # 39 digits, one too many units
        ("9" * 39, Result.id_must_be_below_2_128),
        ("1" * 40, Result.id_must_be_below_2_128),
        (True, Result.id_must_be_integer),
        (False, Result.id_must_be_integer),
        (Decimal("1.0"), Result.id_must_be_integer),
        (1.0, Result.id_must_be_integer),
        ("-1", Result.id_must_be_integer),
        ("1e3", Result.id_must_be_integer),
        (" 1", Result.id_must_be_integer),
        ("", Result.id_must_be_integer),
        (None, Result.id_must_be_integer),
        ([1], Result.id_must_be_integer),
    ],
)
@pytest.mark.parametrize(
    "key", ["id", "debit_account", "credit_account", "pending_id", "reference"]
)
def test_bad_ids_are_refused_in_every_id_field(key: str, value: object, code: Result) -> None:
    error = refused(deposit(**{key: value}) if value is not None else {**deposit(), key: None})
    assert error.code is code
    assert key in error.detail


def test_the_largest_39_digit_id_is_accepted() -> None:
    assert len(str(u128_max)) == 39
    assert parse(deposit(reference=str(u128_max))).reference == u128_max
    assert parse(deposit(reference="0" * 40 + "7")).reference == 7  # leading zeros are no size


@pytest.mark.parametrize(
    ("value", "code"),
    [
        (-1, Result.timeout_must_not_be_negative),
        (limits.timeout_seconds_max + 1, Result.timeout_too_large),
        (True, Result.timeout_must_be_integer),
        (Decimal("1.5"), Result.timeout_must_be_integer),
        ("60", Result.timeout_must_be_integer),
        (None, Result.timeout_must_be_integer),
    ],
)
def test_timeouts_outside_whole_seconds_in_a_u32_are_refused(value: object, code: Result) -> None:
    error = refused({**deposit(flags=["pending"]), "timeout_s": value})
    assert error.code is code
    assert "timeout_s" in error.detail


def test_the_largest_timeout_is_accepted() -> None:
    transfer = parse(deposit(flags=["pending"], timeout_s=limits.timeout_seconds_max))
    assert transfer.timeout_s == limits.timeout_seconds_max


# ---------------------------------------------------------------------- amount refusals


@pytest.mark.parametrize(
    ("amount", "code"),
    [
        ("0", Result.amount_must_not_be_zero),
        ("0.00000000", Result.amount_must_not_be_zero),
        ("-1", Result.amount_must_not_be_negative),
        ("-0.5", Result.amount_must_not_be_negative),
        ("1.123456789", Result.amount_finer_than_asset_scale),
        (str(2**128), Result.amount_must_be_below_2_128),
        ("3402823669209384634633746074317.68211456", Result.amount_must_be_below_2_128),
        (Decimal("1.5"), Result.amount_must_not_be_float),
        (1.5, Result.amount_must_not_be_float),
        (150_000_000, Result.amount_must_be_decimal_string),
        (1, Result.amount_must_be_decimal_string),
        (True, Result.amount_must_be_decimal_string),
        (None, Result.amount_must_be_decimal_string),
        ("1e8", Result.amount_must_be_decimal_string),
        ("1,5", Result.amount_must_be_decimal_string),
        ("+1", Result.amount_must_be_decimal_string),
        (" 1", Result.amount_must_be_decimal_string),
        ("1.", Result.amount_must_be_decimal_string),
        (".5", Result.amount_must_be_decimal_string),
        ("", Result.amount_must_be_decimal_string),
        ("\u0661", Result.amount_must_be_decimal_string),
        ("1" * 81, Result.amount_must_be_decimal_string),
    ],
)
def test_bad_amounts_are_refused_with_their_code(amount: object, code: Result) -> None:
    assert refused({**deposit(), "amount": amount}).code is code


def test_a_whole_unit_asset_refuses_any_decimal() -> None:
    error = refused(deposit(debit_account="5", credit_account="5", amount="1.5"))
    assert error.code is Result.amount_finer_than_asset_scale
    assert "USD" in error.detail


@pytest.mark.parametrize(
    ("units", "code"),
    [
        (0, Result.amount_must_not_be_zero),
        ("0", Result.amount_must_not_be_zero),
        (-5, Result.amount_must_not_be_negative),
        ("-5", Result.amount_must_not_be_negative),
        (2**128, Result.amount_must_be_below_2_128),
        (Decimal("5.0"), Result.amount_must_not_be_float),
        (5.0, Result.amount_must_not_be_float),
        (True, Result.amount_must_be_decimal_string),
        ("1.5", Result.amount_must_be_decimal_string),
    ],
)
def test_bad_amount_units_are_refused_with_their_code(units: object, code: Result) -> None:
    assert refused(deposit(amount=None, amount_units=units)).code is code


def test_a_json_number_amount_is_refused_before_the_account_is_looked_up() -> None:
    error = refused(deposit(debit_account="404", amount=Decimal("0.1")))
    assert error.code is Result.amount_must_not_be_float


def test_an_unknown_debit_account_is_refused_when_the_amount_needs_its_asset() -> None:
    error = refused(deposit(debit_account="404"))
    assert error.code is Result.debit_account_not_found
    assert "404" in error.detail


def test_an_unknown_debit_account_is_left_to_the_engine_when_the_amount_is_in_units() -> None:
    # The engine says debit_account_not_found too; the wire layer need not know every account.
    assert parse(deposit(debit_account="404", amount=None, amount_units="5")).debit_account == 404
    assert parse(deposit(debit_account="404", asset="BTC")).amount == 150_000_000


def test_an_asset_field_naming_another_asset_than_the_debit_accounts_is_refused() -> None:
    error = refused(deposit(asset="ETH"))
    assert error.code is Result.asset_does_not_match_accounts
    assert "ETH" in error.detail
    assert "BTC" in error.detail
    error = refused(deposit(asset="ETH", amount=None, amount_units="5"))
    assert error.code is Result.asset_does_not_match_accounts


def test_the_engine_also_refuses_an_asset_that_does_not_match_the_accounts() -> None:
    # Defence in depth: a Transfer built without the wire layer is checked by the engine.
    ledger = Ledger()
    for asset in (btc, eth):
        assert ledger.define_asset(asset) is Result.ok
    assert ledger.define_client("alice")[0] is Result.ok
    assert ledger.define_pool(Pool("p", PoolKind.omnibus, Terms.custody)) is Result.ok
    custody = AccountDefinition(1, "BTC", AccountClass.custody, "wallet-1", "hot", "p")
    client = AccountDefinition(2, "BTC", AccountClass.client, "alice", "available", "p")
    assert ledger.define_account(custody) is Result.ok
    assert ledger.define_account(client) is Result.ok
    transfer = parse_transfer(
        deposit(asset="BTC"), {1: btc, 2: btc}.get, assets.get
    )  # read as BTC, then submitted claiming ETH
    outcome = ledger.execute([_with_asset(transfer, "ETH")], 1, {})
    assert outcome.results == [Result.asset_does_not_match_accounts]
    assert outcome.records == []


def _with_asset(transfer: Transfer, asset: str) -> Transfer:
    return Transfer(
        transfer.id,
        transfer.debit_account,
        transfer.credit_account,
        transfer.amount,
        transfer.code,
        transfer.flags,
        transfer.pending_id,
        transfer.timeout_s,
        transfer.reference,
        transfer.authorised_by,
        asset,
    )


# ---------------------------------------------------------------------- lines


def test_a_line_is_parsed_from_bytes_or_text_with_its_terminator() -> None:
    text = json.dumps(deposit()) + "\r\n"
    assert line(text) == line(text.encode()) == parse(deposit())


def test_a_json_float_amount_in_a_line_is_refused_as_a_float() -> None:
    error = refused_line(
        '{"id": 1, "debit_account": 1, "credit_account": 2, "amount": 1.5, "code": "deposit"}'
    )
    assert error.code is Result.amount_must_not_be_float
    error = refused_line(
        '{"id": 1, "debit_account": 1, "credit_account": 2, "amount": 1e8, "code": "deposit"}'
    )
    assert error.code is Result.amount_must_not_be_float


def test_a_json_integer_amount_in_a_line_is_refused_as_ambiguous() -> None:
    error = refused_line(
        '{"id": 1, "debit_account": 1, "credit_account": 2, "amount": 150, "code": "deposit"}'
    )
    assert error.code is Result.amount_must_be_decimal_string


def test_a_json_float_id_in_a_line_is_refused() -> None:
    error = refused_line(json.dumps(deposit()).replace('"id": "10"', '"id": 10.0'))
    assert error.code is Result.id_must_be_integer


@pytest.mark.parametrize(
    "text",
    [
        "",
        "   ",
        "{",
        '{"id": 1,}',
        "{'id': 1}",
        '{"id": 1} {"id": 2}',
        '{"id": 1, "id": 2}',
        '{"id": "10", "amount": "1", "amount": "2"}',
        '{"id": NaN}',
        '{"amount": Infinity}',
        '{"amount": -Infinity}',
        "\ufeff{}",
    ],
)
def test_malformed_lines_are_refused(text: str) -> None:
    assert refused_line(text).code is Result.line_malformed


def test_a_line_nested_too_deeply_is_refused_by_name() -> None:
    error = refused_line("[" * 2000 + "]" * 2000)
    assert error.code is Result.json_nested_too_deeply
    assert error.detail == f"2000 levels, at most {limits.json_depth_max}"


def test_duplicate_keys_are_named() -> None:
    error = refused_line('{"id": "10", "amount": "1", "amount": "2"}')
    assert error.detail == "duplicate key 'amount'"


def test_a_line_that_is_not_utf8_is_refused() -> None:
    assert refused_line(b'{"id": "\xff"}').code is Result.line_malformed


def test_lines_are_limited_in_bytes_not_characters() -> None:
    base = json.dumps(deposit())
    at_limit = base + " " * (limits.jsonl_line_bytes_max - len(base))
    assert len(at_limit.encode()) == limits.jsonl_line_bytes_max
    assert line(at_limit + "\n").amount == 150_000_000
    assert refused_line(at_limit + " ").code is Result.line_too_long
    # Multi-byte characters count by their UTF-8 bytes.
    wide = '{"id": "1", "memo": "' + "é" * (limits.jsonl_line_bytes_max // 2) + '"}'
    assert len(wide) < limits.jsonl_line_bytes_max < len(wide.encode())
    assert refused_line(wide).code is Result.line_too_long
    assert refused_line(wide.encode()).code is Result.line_too_long


def test_decode_line_gives_decimals_for_json_floats() -> None:
    assert decode_line('{"a": 1.5, "b": 2}') == {"a": Decimal("1.5"), "b": 2}


# ---------------------------------------------------------------------- output


@pytest.mark.parametrize(
    "transfer",
    [
        Transfer(10, 1, 2, 150_000_000, TransferCode.deposit),
        Transfer(u128_max, 3, 4, u128_max, TransferCode.withdrawal, TransferFlags.linked),
        Transfer(11, 0, 0, None, TransferCode.deposit, TransferFlags.post_pending, 10),
        Transfer(12, 0, 0, 5, TransferCode.deposit, TransferFlags.post_pending, 10, asset="BTC"),
        Transfer(13, 0, 0, 5, TransferCode.deposit, TransferFlags.void_pending, 10),
        Transfer(
            14,
            1,
            2,
            1,
            TransferCode.internal_transfer,
            TransferFlags.pending | TransferFlags.linked,
            0,
            60,
            7,
            "alice",
            "BTC",
            bytes(range(64)),
        ),
    ],
)
def test_transfer_to_json_reads_back_to_the_same_transfer(transfer: Transfer) -> None:
    asset = btc if transfer.debit_account in (1, 2) or transfer.asset == "BTC" else eth
    document = transfer_to_json(transfer, asset)
    assert parse(json.loads(json.dumps(document))) == transfer
    assert line(json.dumps(document)) == transfer


def test_transfer_to_json_writes_ids_as_strings_and_amounts_in_the_major_unit() -> None:
    document = transfer_to_json(Transfer(10, 1, 2, 150_000_000, TransferCode.deposit), btc)
    assert document == {
        "id": "10",
        "debit_account": "1",
        "credit_account": "2",
        "amount": "1.50000000",
        "code": "deposit",
    }
    without_asset = transfer_to_json(Transfer(10, 1, 2, 7, TransferCode.deposit), None)
    assert without_asset["amount_units"] == "7"
    assert "amount" not in without_asset


# ---------------------------------------------------------------------- accounts


def test_an_account_object_reads_as_a_definition_and_back() -> None:
    obj = {
        "id": "1",
        "asset": "BTC",
        "class": "client",
        "owner": "alice",
        "kind": "available",
        "pool": "omnibus-1",
    }
    account = parse_account(obj)
    assert account == AccountDefinition(
        1, "BTC", AccountClass.client, "alice", "available", "omnibus-1"
    )
    assert account_to_json(account) == obj
    house = parse_account(
        {"id": 2, "asset": "BTC", "class": "house", "owner": "house", "kind": "revenue"}
    )
    assert house.pool == ""
    assert "pool" not in account_to_json(house)


@pytest.mark.parametrize(
    ("change", "code"),
    [
        ({"colour": "red"}, Result.field_unknown),
        ({"id": None}, Result.field_required),
        ({"asset": None}, Result.field_required),
        ({"class": None}, Result.field_required),
        ({"owner": None}, Result.field_required),
        ({"kind": None}, Result.field_required),
        ({"id": "0"}, Result.id_must_not_be_zero),
        ({"id": True}, Result.id_must_be_integer),
        ({"id": Decimal("1.0")}, Result.id_must_be_integer),
        ({"id": str(2**128)}, Result.id_must_be_below_2_128),
        ({"asset": 1}, Result.name_invalid),
        ({"class": "wallet"}, Result.account_class_invalid),
        ({"owner": "Alice"}, Result.name_invalid),
        ({"kind": "savings"}, Result.account_kind_invalid),
        ({"pool": ""}, Result.name_invalid),
        (
            {"class": "house", "owner": "house", "kind": "revenue"},
            Result.account_class_forbids_pool,
        ),
    ],
)
def test_bad_account_objects_are_refused_with_their_code(
    change: dict[str, object], code: Result
) -> None:
    obj: dict[str, object] = {
        "id": "1",
        "asset": "BTC",
        "class": "client",
        "owner": "alice",
        "kind": "available",
        "pool": "p",
    }
    obj.update(change)
    obj = {key: value for key, value in obj.items() if value is not None}
    with pytest.raises(InputError) as caught:
        parse_account(obj)
    assert caught.value.code is code


def test_a_non_object_account_is_malformed() -> None:
    with pytest.raises(InputError) as caught:
        parse_account(["1", "BTC"])
    assert caught.value.code is Result.line_malformed


# ---------------------------------------------------------------------- round trip, any value

ids = st.integers(min_value=1, max_value=u128_max)
optional_ids = st.one_of(st.just(0), ids)


@st.composite
def transfers(draw: st.DrawFn) -> tuple[Transfer, Asset]:
    asset = draw(st.sampled_from([btc, eth, usd]))
    debit = {"BTC": 1, "ETH": 3, "USD": 5}[asset.code]
    flags = draw(
        st.sampled_from(
            [
                TransferFlags.none,
                TransferFlags.pending,
                TransferFlags.post_pending,
                TransferFlags.void_pending,
            ]
        )
    )
    resolving = flags in (TransferFlags.post_pending, TransferFlags.void_pending)
    accounts = draw(st.booleans()) or not resolving
    amount = draw(st.one_of(st.none(), ids) if resolving else ids)
    transfer = Transfer(
        draw(ids),
        debit if accounts else 0,
        draw(ids) if accounts else 0,
        amount,
        draw(st.sampled_from(list(TransferCode))),
        flags | draw(st.sampled_from([TransferFlags.none, TransferFlags.linked])),
        draw(optional_ids),
        draw(st.integers(min_value=0, max_value=limits.timeout_seconds_max)),
        draw(optional_ids),
        draw(st.sampled_from(["", "alice", "bob-2"])),
        draw(st.sampled_from(["", asset.code])),
        metadata=draw(st.sampled_from([{}, {"txid": "ab12", "memo": "été 7"}])),
    )
    return transfer, asset


@given(transfers())
def test_any_transfer_survives_json_and_back(case: tuple[Transfer, Asset]) -> None:
    transfer, asset = case
    text = json.dumps(transfer_to_json(transfer, asset))
    assert line(text) == transfer
