"""The JSON Schemas of a bulk create's items, as the REST API's OpenAPI document publishes them
(entrypoints/api/calls.py): a transfer, an account, an asset, a pool, a client, a fill. They
are built from the same enumerations and named maxima the parsers use (core/ledger/wire.py,
core/money.py, service/access_definitions.py, service/risk_book.py), so the published contract
cannot drift from them by a copied number.

A schema is the shape of an item; the parser stays the authority and names the first bad field
of an item that breaks it (``field_unknown``, ``id_must_be_below_2_128``, ...). Where the
parser also takes a second spelling (an id as a JSON integer, leading zeros), the schema
publishes the one clients should send: ids and amounts as strings of digits, which no JSON
library rounds.
"""

from __future__ import annotations

from enum import Enum
from typing import Any

from ringfence.core import limits
from ringfence.core.ledger import wire
from ringfence.core.ledger.model import AccountClass, PoolKind, Purpose, Terms, TransferCode
from ringfence.service.risk_book import fill_fields

__all__ = ["item_schemas"]

Schema = dict[str, Any]

# A u128 id without leading zeros, 1 to 39 digits (the parser refuses 0 and 2^128 and more).
_id: Schema = {
    "type": "string",
    "pattern": f"^[1-9][0-9]{{0,{len(str(limits.id_max)) - 1}}}$",
    "description": f"a decimal id, 1 to {limits.id_max} (2^128 - 1)",
}
_name: Schema = {
    "type": "string",
    "pattern": f"^[a-z0-9][a-z0-9_.:-]{{0,{limits.name_length_max - 1}}}$",
    "maxLength": limits.name_length_max,
}
_asset_code: Schema = {"type": "string", "pattern": "^[A-Z][A-Z0-9]{0,11}$", "maxLength": 12}
_amount: Schema = {
    "type": "string",
    "pattern": "^[0-9]+([.][0-9]+)?$",
    "maxLength": limits.amount_text_length_max,
    "description": "a decimal string in the asset's unit, no finer than its scale, not zero",
}
_units: Schema = {
    "type": "string",
    "pattern": f"^[1-9][0-9]{{0,{len(str(limits.amount_units_max)) - 1}}}$",
    "description": "minor units as decimal digits, instead of amount",
}


def _names(kind: type[Enum], *, by_value: bool = True) -> Schema:
    return {"type": "string", "enum": [m.value if by_value else m.name for m in kind]}


def _object(properties: dict[str, Schema], required: list[str], about: str) -> Schema:
    assert set(required) <= set(properties), required
    return {
        "type": "object",
        "description": about,
        "additionalProperties": False,
        "required": required,
        "properties": properties,
    }


def transfer_schema() -> Schema:
    properties: dict[str, Schema] = {
        "id": _id,
        "debit_account": _id,
        "credit_account": _id,
        "amount": _amount,
        "amount_units": _units,
        "code": _names(TransferCode, by_value=False),
        "flags": {
            "type": "array",
            "maxItems": len(wire.flag_names),
            "uniqueItems": True,
            "items": {"type": "string", "enum": sorted(wire.flag_names)},
        },
        "pending_id": _id,
        "reference": _id,
        "timeout_s": {"type": "integer", "minimum": 0, "maximum": limits.timeout_seconds_max},
        "authorised_by": _name,
        "authorisation": {"type": "string", "pattern": "^[0-9a-f]{128}$"},
        "asset": _asset_code,
        "metadata": metadata_schema(),
    }
    assert set(properties) == wire.transfer_fields, "the schema names every field, no other"
    return _object(
        properties,
        ["id", "code"],
        "A transfer. debit_account, credit_account and amount (or amount_units) are required "
        "too, except on a post_pending or void_pending, which take them from the pending "
        "transfer.",
    )


def metadata_schema() -> Schema:
    """A transfer's metadata (core/ledger/metadata.py): what JSON Schema can say of its rules;
    the byte limits (a value's 256 bytes of UTF-8, 1 KiB in all) are checked by the ledger."""
    return {
        "type": "object",
        "description": (
            "Key/value pairs that are part of the transfer's hashed, journaled body (a chain "
            "txid, an external reference, a memo). Values have no control characters, at most "
            f"{limits.metadata_value_bytes_max} bytes of UTF-8 each and "
            f"{limits.metadata_bytes_max} bytes encoded in all."
        ),
        "maxProperties": limits.metadata_keys_max,
        "propertyNames": {"pattern": "^[a-z][a-z0-9_.-]{0,31}$"},
        "additionalProperties": {
            "type": "string",
            "minLength": 1,
            "maxLength": limits.metadata_value_bytes_max,
        },
    }


def account_schema() -> Schema:
    properties: dict[str, Schema] = {
        "id": _id,
        "asset": _asset_code,
        "class": _names(AccountClass),
        "owner": _name,
        "kind": _name,
        "pool": _name,
    }
    assert set(properties) == wire.account_fields
    return _object(properties, list(wire.account_fields_required), "An account.")


def asset_schema() -> Schema:
    properties: dict[str, Schema] = {
        "code": _asset_code,
        "scale": {"type": "integer", "minimum": 0, "maximum": limits.asset_scale_max},
        "number": {"type": "integer", "minimum": 1, "maximum": limits.asset_number_max},
        "chain": {"type": "string", "maxLength": limits.name_length_max},
        "contract": {"type": "string", "maxLength": 64},
    }
    return _object(properties, ["code", "scale", "number"], "An asset and its minor unit.")


def pool_schema() -> Schema:
    properties: dict[str, Schema] = {
        "name": _name,
        "kind": _names(PoolKind),
        "terms": _names(Terms),
        "purpose": _names(Purpose),
        "client": _name,
    }
    return _object(
        properties,
        ["name", "kind", "terms"],
        "A pool: the unit of segregation (purpose spot_custody unless given; an individual "
        "pool names its client).",
    )


def fill_schema() -> Schema:
    properties: dict[str, Schema] = {
        "id": {"anyOf": [{"type": "integer", "minimum": 0}, {"type": "string",
                                                             "pattern": "^[0-9]{1,39}$"}]},
        "bucket": {"type": "string", "maxLength": limits.name_length_max},
        "symbol": {"type": "string", "maxLength": limits.name_length_max},
        # No bounds on lots and fee here: the document's generator writes integers this large
        # as floats. The parser refuses lots beyond limits.quantity_lots_max and fees beyond
        # limits.amount_units_max by name.
        "lots": {"type": "integer", "description": "signed: bought lots positive, not zero"},
        "price": {**_amount, "description": "a decimal string on the instrument's tick"},
        "fee": {"type": "integer", "minimum": 0,
                "description": "minor units of the settlement asset, charged to the bucket"},
    }
    assert set(properties) == fill_fields, "the schema names every field, no other"
    return _object(properties, ["id", "bucket", "symbol", "lots", "price"],
                   "One side of a fill from the venue's matching engine (bought: lots > 0).")


def item_schemas() -> dict[str, Schema]:
    """Each bulk create's item schema, by the name of its list in the request body."""
    return {
        "transfers": transfer_schema(),
        "accounts": account_schema(),
        "assets": asset_schema(),
        "pools": pool_schema(),
        "clients": {**_name, "description": "A client's name."},
        "fills": fill_schema(),
    }
