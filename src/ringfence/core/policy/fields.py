"""Reading a policy document's fields strictly: each reader names the path of the field it
refuses and the code of the section it belongs to (document.py, conditions.py)."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from decimal import Decimal
from typing import Any

from ringfence.core import limits
from ringfence.core.errors import InputError, Result
from ringfence.core.ledger.model import check_name
from ringfence.core.ledger.wire import strict_json as strict_json_of
from ringfence.core.money import Asset, parse_amount


def strict_json(text: bytes) -> object:
    """A policy document's JSON, refused whole before reading when larger than any policy."""
    if len(text) > limits.policy_document_bytes_max:
        raise InputError(
            Result.policy_document_too_large,
            f"{len(text)} bytes, at most {limits.policy_document_bytes_max}",
        )
    return strict_json_of(text, Result.policy_document_malformed)


def checked_object(
    value: object, path: str, allowed: frozenset[str], code: Result
) -> dict[str, Any]:
    """``value`` as an object holding only ``allowed`` fields."""
    if not isinstance(value, dict):
        raise InputError(code, f"{path}: an object")
    unknown = sorted(set(value) - allowed)
    if unknown:
        raise InputError(code, f"{path}: unknown field {unknown[0]!r}")
    return value


def required(fields: Mapping[str, Any], name: str, code: Result) -> Any:
    if name not in fields:
        raise InputError(code, f"{name} is required")
    return fields[name]


def whole(value: object, path: str, low: int, high: int, code: Result) -> int:
    """An integer in [low, high] (a JSON integer, never a string, a float or a boolean)."""
    if type(value) is not int or not low <= value <= high:
        raise InputError(code, f"{path}: an integer from {low} to {high}, not {value!r}")
    return value


def names(value: object, path: str, code: Result, check: Callable[[str], str]) -> list[str]:
    """A non-empty list of distinct names, each passed through ``check``."""
    if not isinstance(value, list) or not 0 < len(value) <= limits.policy_list_items_max:
        raise InputError(code, f"{path}: a list of 1 to {limits.policy_list_items_max} names")
    found: list[str] = []
    for item in value:
        try:
            name = check(item)
        except InputError as error:
            raise InputError(code, f"{path}: {error.detail or error.code.value}") from None
        if name in found:
            raise InputError(code, f"{path}: {name!r} is listed twice")
        found.append(name)
    return found


def name_check(what: str) -> Callable[[object], str]:
    return lambda item: check_name(item, what)


def amounts(
    value: object, path: str, assets: Mapping[str, Asset], code: Result, zero: bool = True
) -> dict[str, int]:
    """``{"BTC": "1.5", ...}``: minor units per asset code (amount errors keep their own code,
    with the path in the detail)."""
    if not isinstance(value, dict) or len(value) > limits.policy_list_items_max:
        raise InputError(code, f"{path}: an object of asset codes and amounts")
    found: dict[str, int] = {}
    for code_text, text in value.items():
        asset = assets.get(code_text)
        if asset is None:
            raise InputError(Result.asset_not_found, f"{path}: {code_text!r}")
        if isinstance(text, Decimal):
            raise InputError(
                Result.amount_must_not_be_float, f"{path}.{code_text}: {text}: a decimal string"
            )
        try:
            units = parse_amount(text, asset)
        except InputError as error:
            raise InputError(error.code, f"{path}.{code_text}: {error.detail}") from None
        if units == 0 and not zero:
            raise InputError(Result.amount_must_not_be_zero, f"{path}.{code_text}")
        found[code_text] = units
    return found
