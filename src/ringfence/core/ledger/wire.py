"""The wire format: transfers and account definitions as JSON objects, one per JSONL line.

Files and requests carry JSON; the engine takes ``Transfer`` and ``AccountDefinition`` values.
This module is the one translation between them, and it is strict, because anything it lets
through changes money:

- Amounts are decimal strings in the asset's major unit (``"1.5"`` BTC is 150,000,000 sats),
  read against the asset of the debit account (or of the ``asset`` field when it is given), or
  whole minor units in ``amount_units``. A JSON number is never an amount: a float cannot hold
  0.1 BTC, and an integer could mean sats or bitcoins. Zero, negative, 2^128 or more and digits
  finer than the asset's scale are refused; nothing is rounded.
- Ids are JSON integers or strings of decimal digits in 1..2^128-1 (strings survive readers
  that turn big integers into floats).
- Unknown keys, duplicate keys, NaN and Infinity, a line longer than
  ``limits.jsonl_line_bytes_max`` bytes and anything but a JSON object are refused.

Every refusal is an ``InputError`` carrying a ``Result`` code and a detail naming the field; the
caller turns it into a per-line result, and the event never reaches the engine.

A transfer object::

    {"id": "1001", "debit_account": "1", "credit_account": "2", "amount": "1.5",
     "code": "internal_transfer", "flags": ["linked"], "pending_id": "7", "reference": "9",
     "timeout_s": 60, "authorised_by": "alice", "authorisation": "<128 hex digits>",
     "asset": "BTC", "metadata": {"txid": "4a5e...", "vout": "0"}}

``id`` and ``code`` are required; the accounts are required unless ``flags`` holds
``post_pending`` or ``void_pending`` (then they come from the pending transfer, and an omitted
amount means the full pending amount). A field that is absent means none: zero for ids, empty
for names; an explicit zero id is refused (``id_must_not_be_zero``). ``authorisation`` is the
authorising principal's Ed25519 signature over the instruction (core/principals/authorisation.py),
as 128 lowercase hex digits; anything else is ``authorisation_malformed``. ``metadata`` is an
object of string values (at most 8 keys of ``a-z 0-9 _ . -`` starting with a letter, values of
1-256 bytes without control characters, 1 KiB in all: core/ledger/metadata.py), part of the
transfer's hashed body; anything else is ``metadata_invalid`` or ``metadata_too_large``.

An account object: ``{"id": "1", "asset": "BTC", "class": "client", "owner": "alice",
"kind": "available", "pool": "omnibus-1"}``; ``pool`` is omitted for the house.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from decimal import Decimal
from functools import partial
from itertools import accumulate
from typing import Any, Final, NoReturn

from ringfence.core import limits
from ringfence.core.errors import InputError, Result
from ringfence.core.ledger.metadata import Metadata, check_metadata, no_metadata
from ringfence.core.ledger.model import (
    AccountClass,
    AccountDefinition,
    Pool,
    PoolKind,
    Purpose,
    Terms,
    Transfer,
    TransferCode,
    TransferFlags,
    TransferRecord,
    check_id,
    check_name,
)
from ringfence.core.money import Asset, check_transfer_units, format_amount, parse_amount
from ringfence.core.principals.authorisation import parse_signature_hex

# What the caller knows about definitions: the asset of an account id (None when the account
# does not exist) and the asset with a code (None when there is none).
AssetOfAccount = Callable[[int], Asset | None]
AssetByCode = Callable[[str], Asset | None]

transfer_fields: Final = frozenset(
    {
        "id",
        "debit_account",
        "credit_account",
        "amount",
        "amount_units",
        "code",
        "flags",
        "pending_id",
        "reference",
        "timeout_s",
        "authorised_by",
        "authorisation",
        "asset",
        "metadata",
    }
)
account_fields: Final = frozenset({"id", "asset", "class", "owner", "kind", "pool"})
account_fields_required: Final = ("id", "asset", "class", "owner", "kind")

flag_names: Final[dict[str, TransferFlags]] = {
    "linked": TransferFlags.linked,
    "pending": TransferFlags.pending,
    "post_pending": TransferFlags.post_pending,
    "void_pending": TransferFlags.void_pending,
}
_two_phase: Final = TransferFlags.pending | TransferFlags.post_pending | TransferFlags.void_pending
_resolving: Final = TransferFlags.post_pending | TransferFlags.void_pending

# Each flag is named at most once in a sensible list; a longer one is not a transfer's flags.
_flags_count_max: Final = len(flag_names)


# ---------------------------------------------------------------------- lines


def decode_line(line: bytes | str) -> object:
    """One JSONL line as a JSON value, refusing what a strict reader must.

    The line terminator (``\\n`` or ``\\r\\n``) is not counted against the length limit. Floats
    decode as ``Decimal`` so that the parsers below can tell ``1.0`` from ``1`` and refuse it by
    name; NaN and Infinity are not JSON and are refused here.
    """
    if isinstance(line, bytes):
        raw = line.rstrip(b"\r\n")
        size = len(raw)
    else:
        text = line.rstrip("\r\n")
        size = len(text.encode("utf-8", "surrogatepass"))
    if size > limits.jsonl_line_bytes_max:
        raise InputError(
            Result.line_too_long, f"{size} bytes, at most {limits.jsonl_line_bytes_max}"
        )
    if isinstance(line, bytes):
        try:
            text = raw.decode("utf-8")
        except UnicodeDecodeError as error:
            raise InputError(Result.line_malformed, f"not UTF-8 at byte {error.start}") from None
    if not text.strip():
        raise InputError(Result.line_malformed, "empty line")
    return strict_json(text, Result.line_malformed, one_line=True)


def strict_json(text: str | bytes, code: Result, *, one_line: bool = False) -> object:
    """JSON read as a ledger must read it, every refusal ``code`` with where it was: UTF-8
    only, no key twice, numbers with a fraction as ``Decimal`` (so that a float is refused by
    name where an amount or an id is read), no NaN or Infinity, and nesting no deeper than the
    ``limits.json_depth_max`` (``json_nested_too_deeply``, checked before parsing). A JSONL
    line (``one_line``) names a column, a document a line and a column. Every JSON reader of
    untrusted input uses this one: lines, request bodies, policy documents."""
    raw = text
    if isinstance(text, bytes):
        try:
            text = text.decode("utf-8")
        except UnicodeDecodeError as error:
            raise InputError(code, f"not UTF-8 at byte {error.start}") from None
    check_json_depth(raw)
    try:
        return json.loads(
            text,
            object_pairs_hook=partial(_object_without_duplicates, code),
            parse_float=Decimal,
            parse_constant=partial(_refuse_constant, code),
        )
    except json.JSONDecodeError as error:
        where = "" if one_line else f"line {error.lineno} "
        raise InputError(code, f"{error.msg} at {where}column {error.colno}") from None
    except RecursionError:
        raise InputError(code, "nested too deeply") from None


# Every byte but brackets and quotes, for ``bytes.translate`` to delete; and what each bracket
# adds to the depth.
_not_structure: Final = bytes(sorted(set(range(256)) - set(b'"[]{}')))
_depth_step: Final = {ord("["): 1, ord("{"): 1, ord("]"): -1, ord("}"): -1}


def check_json_depth(text: str | bytes) -> None:
    """Refuse JSON nested deeper than ``limits.json_depth_max`` before any parser recurses into it.

    Python's JSON reader recurses on the C stack once per level, checked only against the
    interpreter's recursion limit, which a library may have raised far beyond what the stack
    holds; so the depth is bounded here. A line or a small document with few opening brackets
    is passed after counting them. Anything else is read in whole-text passes that run in C
    (a loop over characters in Python costs as much as the parse, a regular expression more):
    escaped backslashes and quotes go first (when there is a backslash at all), so that every
    quote left opens or closes a string; then everything but brackets and quotes. The count of
    opening brackets left bounds the depth from above, and a document with few stops there.
    Past it, what lies between a quote and the next goes, and the brackets left are walked.
    An unterminated string runs to the end, as the parser stops there. UTF-8 never uses these
    bytes inside a longer character, so the bytes are walked as they are."""
    if len(text) <= limits.jsonl_line_bytes_max and (
        text.count("[") + text.count("{")
        if isinstance(text, str)
        else text.count(b"[") + text.count(b"{")
    ) <= limits.json_depth_max:
        return  # a line or a small document, decided without a copy
    raw = text if isinstance(text, bytes) else text.encode("utf-8", "surrogatepass")
    if b"\\" in raw:
        raw = raw.replace(b"\\\\", b"").replace(b'\\"', b"")
    structure = raw.translate(None, _not_structure)
    if structure.count(b"[") + structure.count(b"{") <= limits.json_depth_max:
        return
    # Two quotes side by side are a string without brackets; dropping them leaves every
    # bracket as far inside or outside a string as it was, and a batch with few quotes.
    structure = structure.replace(b'""', b"")
    if b'"' in structure:
        structure = b"".join(structure.split(b'"')[::2])
    depth = max(accumulate(map(_depth_step.__getitem__, structure)), default=0)
    if depth > limits.json_depth_max:
        raise InputError(
            Result.json_nested_too_deeply, f"{depth} levels, at most {limits.json_depth_max}"
        )


def _object_without_duplicates(code: Result, pairs: list[tuple[str, object]]) -> dict[str, object]:
    # Python's json keeps the last of two equal keys; a ledger must not guess which one was meant.
    fields = dict(pairs)
    if len(fields) != len(pairs):
        seen: set[str] = set()
        for key, _ in pairs:
            if key in seen:
                raise InputError(code, f"duplicate key {key!r}")
            seen.add(key)
    return fields


def _refuse_constant(code: Result, name: str) -> NoReturn:
    raise InputError(code, f"{name} is not a JSON number")


def parse_line(
    line: bytes | str, asset_of_account: AssetOfAccount, asset_by_code: AssetByCode
) -> Transfer:
    """One JSONL line as a transfer (see ``decode_line`` and ``parse_transfer``)."""
    return parse_transfer(decode_line(line), asset_of_account, asset_by_code)


# ---------------------------------------------------------------------- transfers


def parse_transfer(
    obj: object, asset_of_account: AssetOfAccount, asset_by_code: AssetByCode
) -> Transfer:
    """A decoded JSON object as a transfer, or an ``InputError`` naming the first bad field.

    Fields are checked in a fixed order (keys, id, flags, code, accounts, references, timeout,
    authoriser, authorisation, metadata, asset, amount) so that one input always gives the same
    code. The asset field is compared with the debit account's asset here, because the amount
    is read in that asset's unit; the engine checks it again against both accounts.
    """
    fields = _fields_of(obj, transfer_fields, "a transfer")
    if "id" not in fields:
        raise InputError(Result.field_required, "id")
    transfer_id = _id(fields["id"], "id")
    flags = _flags(fields["flags"]) if "flags" in fields else TransferFlags.none
    resolving = bool(flags & _resolving)
    code = _code(fields)
    debit_account = _account_id(fields, "debit_account", resolving)
    credit_account = _account_id(fields, "credit_account", resolving)
    pending_id = _id(fields["pending_id"], "pending_id") if "pending_id" in fields else 0
    reference = _id(fields["reference"], "reference") if "reference" in fields else 0
    timeout_s = _timeout(fields["timeout_s"]) if "timeout_s" in fields else 0
    authorised_by = ""
    if "authorised_by" in fields:
        authorised_by = check_name(fields["authorised_by"], "authorised_by")
    authorisation = b""
    if "authorisation" in fields:
        authorisation = parse_signature_hex(fields["authorisation"])
    metadata = check_metadata(fields["metadata"]) if "metadata" in fields else no_metadata
    asset = _asset_field(fields, asset_by_code)
    if asset is not None and debit_account:
        account_asset = asset_of_account(debit_account)
        if account_asset is not None and account_asset.code != asset.code:
            raise InputError(
                Result.asset_does_not_match_accounts,
                f"asset {asset.code}, debit account {debit_account} holds {account_asset.code}",
            )
    amount = _amount(fields, asset, debit_account, asset_of_account, resolving)
    return Transfer(
        transfer_id,
        debit_account,
        credit_account,
        amount,
        code,
        flags,
        pending_id,
        timeout_s,
        reference,
        authorised_by,
        asset.code if asset is not None else "",
        authorisation,
        metadata,
    )


def _fields_of(obj: object, allowed: frozenset[str], what: str) -> dict[str, object]:
    if not isinstance(obj, dict):
        raise InputError(Result.line_malformed, f"{what} is a JSON object, not {_kind(obj)}")
    if allowed.issuperset(obj):  # every key is one of the allowed names, all strings
        return obj
    unknown = sorted(str(key) for key in obj if key not in allowed)
    raise InputError(Result.field_unknown, ", ".join(unknown))


def _kind(value: object) -> str:
    if isinstance(value, list):
        return "an array"
    if isinstance(value, str):
        return "a string"
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "a boolean"
    return "a number"


def _id(value: object, what: str) -> int:
    if isinstance(value, Decimal):
        raise InputError(Result.id_must_be_integer, f"{what} {value} is not an integer")
    return check_id(value, what)


def _account_id(fields: dict[str, object], key: str, resolving: bool) -> int:
    if key in fields:
        return _id(fields[key], key)
    if resolving:
        return 0  # a post or void takes the account from the pending transfer
    raise InputError(Result.field_required, key)


def _flags(value: object) -> TransferFlags:
    if not isinstance(value, list) or len(value) > _flags_count_max:
        raise InputError(Result.flag_unknown, "flags is a list of at most four flag names")
    flags = TransferFlags.none
    for name in value:
        flag = flag_names.get(name) if isinstance(name, str) else None
        if flag is None:
            raise InputError(Result.flag_unknown, repr(name))
        flags |= flag
    two_phase = flags & _two_phase
    if two_phase.bit_count() > 1:
        raise InputError(
            Result.flags_are_mutually_exclusive, "pending, post_pending and void_pending"
        )
    return flags


def _code(fields: dict[str, object]) -> TransferCode:
    if "code" not in fields:
        raise InputError(Result.field_required, "code")
    name = fields["code"]
    if not isinstance(name, str) or name not in TransferCode.__members__:
        raise InputError(Result.code_unknown, repr(name))
    return TransferCode[name]


def _timeout(value: object) -> int:
    if type(value) is not int:
        raise InputError(
            Result.timeout_must_be_integer, f"timeout_s {value!r} is not a whole number of seconds"
        )
    if value < 0:
        raise InputError(Result.timeout_must_not_be_negative, f"timeout_s {value}")
    if value > limits.timeout_seconds_max:
        raise InputError(
            Result.timeout_too_large, f"timeout_s {value} not in 0..{limits.timeout_seconds_max}"
        )
    return value


def _asset_field(fields: dict[str, object], asset_by_code: AssetByCode) -> Asset | None:
    if "asset" not in fields:
        return None
    code = fields["asset"]
    if not isinstance(code, str):
        raise InputError(Result.asset_not_found, f"asset {code!r}")
    asset = asset_by_code(code)
    if asset is None:
        raise InputError(Result.asset_not_found, code)
    return asset


def _amount(
    fields: dict[str, object],
    asset: Asset | None,
    debit_account: int,
    asset_of_account: AssetOfAccount,
    resolving: bool,
) -> int | None:
    """Minor units from ``amount`` or ``amount_units``; None for a post or void without one."""
    if "amount" in fields and "amount_units" in fields:
        raise InputError(Result.field_unknown, "amount and amount_units are exclusive")
    if "amount_units" in fields:
        units = fields["amount_units"]
        if isinstance(units, Decimal | float):
            raise InputError(Result.amount_must_not_be_float, f"amount_units {units}")
        return check_transfer_units(units)
    if "amount" not in fields:
        if resolving:
            return None  # the full pending amount
        raise InputError(Result.amount_required, "amount or amount_units")
    text = fields["amount"]
    if isinstance(text, Decimal | float):
        raise InputError(Result.amount_must_not_be_float, f"amount {text}: write it as a string")
    if not isinstance(text, str):
        raise InputError(
            Result.amount_must_be_decimal_string,
            f'amount {text!r}: a decimal string in the asset\'s unit ("1.5"), or amount_units',
        )
    if asset is None:
        asset = _asset_of_debit_account(debit_account, asset_of_account)
    units = parse_amount(text, asset)
    if units == 0:
        raise InputError(Result.amount_must_not_be_zero, f"amount {text}")
    return units


def _asset_of_debit_account(debit_account: int, asset_of_account: AssetOfAccount) -> Asset:
    if not debit_account:
        raise InputError(
            Result.field_required,
            "asset: an amount without accounts needs the asset it is written in",
        )
    asset = asset_of_account(debit_account)
    if asset is None:
        raise InputError(Result.debit_account_not_found, f"debit_account {debit_account}")
    return asset


def transfer_to_json(transfer: Transfer, asset: Asset | None) -> dict[str, object]:
    """A transfer as a JSON object that ``parse_transfer`` reads back to the same transfer.

    ``asset`` is the transfer's asset, to write the amount in its major unit; without it, or
    when a reader could not tell the asset (no debit account and no asset field), the amount
    is written in minor units as ``amount_units``. Fields at their default are left out.
    """
    assert asset is None or not transfer.asset or asset.code == transfer.asset
    document: dict[str, object] = {"id": str(transfer.id)}
    if transfer.debit_account:
        document["debit_account"] = str(transfer.debit_account)
    if transfer.credit_account:
        document["credit_account"] = str(transfer.credit_account)
    if transfer.amount is not None:
        if asset is not None and (transfer.debit_account or transfer.asset):
            document["amount"] = format_amount(transfer.amount, asset)
        else:
            document["amount_units"] = str(transfer.amount)
    document["code"] = transfer.code.name
    flags = [name for name, flag in flag_names.items() if transfer.flags & flag]
    if flags:
        document["flags"] = flags
    if transfer.pending_id:
        document["pending_id"] = str(transfer.pending_id)
    if transfer.reference:
        document["reference"] = str(transfer.reference)
    if transfer.timeout_s:
        document["timeout_s"] = transfer.timeout_s
    if transfer.authorised_by:
        document["authorised_by"] = transfer.authorised_by
    if transfer.authorisation:
        document["authorisation"] = transfer.authorisation.hex()
    if transfer.asset:
        document["asset"] = transfer.asset
    if transfer.metadata:
        document["metadata"] = dict(transfer.metadata)
    return document


def record_to_json(
    record: TransferRecord,
    asset: Asset,
    authorised_by: str | None,
    metadata: Metadata = no_metadata,
) -> dict[str, Any]:
    """A committed transfer as the REST API and the event stream show it (docs/api.md,
    ``GET /v1/transfers/{id}``): ``asset`` is its asset, ``authorised_by`` the name of the
    principal whose evidence it carries (None: none), ``metadata`` its pairs ({} for none)."""
    assert asset.number == record.asset
    return {
        "id": str(record.id),
        "debit_account": str(record.debit_account),
        "credit_account": str(record.credit_account),
        "amount": format_amount(record.amount, asset),
        "asset": asset.code,
        "code": TransferCode(record.code).name,
        "flags": [name for name, flag in flag_names.items() if record.flags & flag],
        "pending_id": str(record.pending_id) if record.pending_id else None,
        "reference": str(record.reference) if record.reference else None,
        "timeout_s": record.timeout_s,
        "timestamp_ns": str(record.timestamp),
        "authorised_by": authorised_by,
        "metadata": dict(metadata),
    }


# ---------------------------------------------------------------------- accounts


def parse_account(obj: object) -> AccountDefinition:
    """A decoded JSON object as an account definition.

    Names are checked here (``name_invalid``); whether the asset, owner and pool exist is the
    ledger's to say when the account is defined (``asset_not_found``, ``pool_not_found``, ...).
    An unknown class is ``account_class_invalid``; a kind the class does not have is
    ``account_kind_invalid``.
    """
    fields = _fields_of(obj, account_fields, "an account")
    for key in account_fields_required:
        if key not in fields:
            raise InputError(Result.field_required, key)
    account_id = _id(fields["id"], "account id")
    asset = fields["asset"]
    if not isinstance(asset, str) or not asset:
        raise InputError(Result.name_invalid, f"asset {asset!r}")
    class_name = fields["class"]
    if not isinstance(class_name, str) or class_name not in AccountClass.__members__:
        raise InputError(Result.account_class_invalid, f"class {class_name!r}")
    owner = check_name(fields["owner"], "owner")
    kind = check_name(fields["kind"], "kind")
    pool = check_name(fields["pool"], "pool") if "pool" in fields else ""
    return AccountDefinition(account_id, asset, AccountClass(class_name), owner, kind, pool)


def parse_pool(name: str, kind: str, terms: str, purpose: str, client: str = "") -> Pool:
    """A pool from its fields as text (the CLI's options, an API request's body): an unknown
    kind, terms or purpose is ``pool_kind_invalid``, ``pool_terms_invalid`` or
    ``pool_purpose_invalid``; the names are checked by ``Pool`` itself."""
    if kind not in PoolKind.__members__:
        raise InputError(Result.pool_kind_invalid, f"kind {kind!r}")
    if terms not in Terms.__members__:
        raise InputError(Result.pool_terms_invalid, f"terms {terms!r}")
    if purpose not in Purpose.__members__:
        raise InputError(Result.pool_purpose_invalid, f"purpose {purpose!r}")
    return Pool(name, PoolKind(kind), Terms(terms), Purpose(purpose), client)


def account_to_json(account: AccountDefinition) -> dict[str, object]:
    """An account definition as the JSON object ``parse_account`` reads back."""
    document: dict[str, object] = {
        "id": str(account.id),
        "asset": account.asset,
        "class": account.account_class.value,
        "owner": account.owner,
        "kind": account.kind,
    }
    if account.pool:
        document["pool"] = account.pool
    return document
