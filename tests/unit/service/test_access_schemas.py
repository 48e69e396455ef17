"""The item schemas of bulk creates: what the parsers take is what they describe. Every item of
the small custodian and every transfer its builders make, written as the wire format writes
it, is valid; items the parsers refuse for their shape (an unknown field, a float amount, an
id of 40 digits, a code that does not exist) are invalid too; and the published document carries
them."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import jsonschema_rs
import pytest
from hypothesis import given
from hypothesis import strategies as st
from tests.support import ASSETS, BTC, custodian_definitions

from ringfence.core import limits
from ringfence.core.ledger import wire
from ringfence.core.ledger.model import Transfer, TransferCode, TransferFlags
from ringfence.service import access_definitions, risk_book
from ringfence.service.access_schemas import item_schemas

root = Path(__file__).resolve().parents[3]


def valid(what: str, item: object) -> bool:
    return bool(jsonschema_rs.validator_for(item_schemas()[what]).is_valid(item))


def test_the_small_custodian_is_valid_item_by_item() -> None:
    custodian = custodian_definitions()
    for account in custodian.accounts:
        assert valid("accounts", wire.account_to_json(account)), account
    for asset in ASSETS:
        item = {"code": asset.code, "scale": asset.scale, "number": asset.number}
        assert valid("assets", item | {"chain": asset.chain}), asset
    for pool in custodian.pools:
        item = {"name": pool.name, "kind": pool.kind, "terms": pool.terms}
        item |= {"purpose": pool.purpose} | ({"client": pool.client} if pool.client else {})
        assert valid("pools", item), pool
    for client in custodian.clients:
        assert valid("clients", client)


u128 = st.integers(1, limits.id_max)
some_flags = st.sampled_from(
    [TransferFlags.none, TransferFlags.linked, TransferFlags.pending | TransferFlags.linked]
)


@given(
    ids=st.tuples(u128, u128, u128),
    amount=st.integers(1, limits.amount_units_max),
    code=st.sampled_from(TransferCode),
    flags=some_flags,
    timeout_s=st.integers(0, limits.timeout_seconds_max),
)
def test_every_transfer_the_wire_format_writes_is_valid(
    ids: tuple[int, int, int], amount: int, code: TransferCode, flags: TransferFlags, timeout_s: int
) -> None:
    transfer = Transfer(*ids, amount, code, flags, 0, timeout_s if flags else 0)
    assert valid("transfers", wire.transfer_to_json(transfer, BTC))
    assert valid("transfers", wire.transfer_to_json(transfer, None))


@pytest.mark.parametrize(
    ("change", "why"),
    [
        ({"colour": "red"}, "field_unknown"),
        ({"amount": 1.5}, "amount_must_not_be_float"),
        ({"id": "1" + "0" * 39}, "id_must_be_below_2_128"),  # 2^128 itself is the parser's
        ({"id": "0"}, "id_must_not_be_zero"),
        ({"code": "gift"}, "code_unknown"),
        ({"flags": ["linked", "sticky"]}, "flag_unknown"),
        ({"timeout_s": -1}, "timeout_must_not_be_negative"),
        ({"authorisation": "ab"}, "authorisation_malformed"),
    ],
)
def test_what_the_parser_refuses_for_its_shape_the_schema_refuses(
    change: dict[str, Any], why: str
) -> None:
    item = {"id": "1", "debit_account": "1", "credit_account": "2", "amount": "1", "code": "fee"}
    assert valid("transfers", item)
    assert not valid("transfers", item | change), why


def test_the_schemas_name_the_fields_the_parsers_take() -> None:
    schemas = item_schemas()
    assert set(schemas["transfers"]["properties"]) == wire.transfer_fields
    assert set(schemas["accounts"]["properties"]) == wire.account_fields
    assert set(schemas["assets"]["properties"]) == access_definitions._asset_fields
    assert set(schemas["pools"]["properties"]) == access_definitions._pool_fields
    assert set(schemas["fills"]["properties"]) == risk_book.fill_fields


def test_the_published_document_carries_them() -> None:
    document = json.loads((root / "docs" / "openapi.json").read_text(encoding="utf-8"))
    paths = {"fills": "/v1/risk/fills"}  # the others are created at /v1/{plural}
    for plural, schema in item_schemas().items():
        body = document["paths"][paths.get(plural, f"/v1/{plural}")]["post"]["requestBody"]
        items = body["content"]["application/json"]["schema"]["properties"][plural]["items"]
        assert items == json.loads(json.dumps(schema)), plural
