"""Bearer tokens revoked before their ``exp``: the list an operator keeps (``ringfence serve
--token-revocations FILE``) and the check of one verified token against it. The shell reads
the file and reads it again when it changes (service/tokens.py); this module parses its bytes
and decides, as plain values.

Two kinds of entry:

- a token, by its ``jti`` claim: that one token is refused, whoever it names;
- a subject, by the principal name a token gives (its name claim, ``sub`` by default), with a
  ``revoked_at`` time: every token of that name issued at or before that time is refused, and
  so is one that does not say when it was issued (no ``iat``); a token issued after it is
  accepted (the principal signed in again after the revocation). Without ``revoked_at``,
  every token of that name is refused.

The file is JSON, ``{"tokens": ["JTI", ...], "subjects": [{"name": "NAME", "revoked_at":
"2026-12-07T23:00:00Z"}, ...]}`` (``revoked_at`` also as whole Unix seconds), or text, one
entry a line: ``jti JTI`` or ``sub NAME [REVOKED_AT]``; blank lines and ``#`` comments are
skipped. Anything else refuses the whole file (``token_revocations_invalid``): a list read
half-way would let a revoked token through.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Final

from ringfence.core import limits
from ringfence.core.custody.files import parse_timestamp
from ringfence.core.errors import InputError, Result
from ringfence.core.ledger.model import check_name

__all__ = ["TokenRevocations", "check_not_revoked", "parse_token_revocations"]

_second_ns: Final = 10**9
# A subject revoked without a time: every token of it, whenever it was issued.
_always: Final = limits.timestamp_ns_max // _second_ns


@dataclass(frozen=True, slots=True)
class TokenRevocations:
    """Revoked token ids, and revoked subjects with the time (Unix seconds) up to which their
    tokens are refused."""

    token_ids: frozenset[str] = frozenset()
    subjects: Mapping[str, int] = field(default_factory=lambda: MappingProxyType({}))


def check_not_revoked(
    claims: Mapping[str, object], name: str, revocations: TokenRevocations
) -> None:
    """Refuse (``token_revoked``) a verified token that the list revokes: its ``jti``, or its
    principal ``name`` revoked at or after the token's ``iat``."""
    token_id = claims.get("jti")
    if isinstance(token_id, str) and token_id in revocations.token_ids:
        raise InputError(Result.token_revoked, f"jti {token_id[: limits.token_id_length_max]}")
    revoked_at = revocations.subjects.get(name)
    if revoked_at is None:
        return
    issued = claims.get("iat")
    if isinstance(issued, bool) or not isinstance(issued, int) or issued <= revoked_at:
        raise InputError(Result.token_revoked, f"{name}: tokens issued up to {revoked_at}")


def parse_token_revocations(data: bytes) -> TokenRevocations:
    """The list in ``data`` (JSON or text, see the module docstring), or
    ``token_revocations_invalid`` naming the first thing wrong."""
    if len(data) > limits.token_revocations_bytes_max:
        raise _invalid(f"more than {limits.token_revocations_bytes_max} bytes")
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError:
        raise _invalid("not UTF-8") from None
    if text.lstrip().startswith("{"):
        token_ids, subjects = _from_json(text)
    else:
        token_ids, subjects = _from_text(text)
    if len(token_ids) + len(subjects) > limits.token_revocations_max:
        raise _invalid(f"more than {limits.token_revocations_max} entries")
    return TokenRevocations(frozenset(token_ids), MappingProxyType(subjects))


def _from_json(text: str) -> tuple[set[str], dict[str, int]]:
    try:
        document = json.loads(text)
    except (ValueError, RecursionError) as error:  # RecursionError: arrays nested too deep
        raise _invalid(f"JSON: {error}") from None
    if not isinstance(document, dict) or set(document) - {"tokens", "subjects"}:
        raise _invalid('a JSON object of "tokens" and "subjects"')
    tokens = document.get("tokens", [])
    entries = document.get("subjects", [])
    if not isinstance(tokens, list) or not isinstance(entries, list):
        raise _invalid('"tokens" and "subjects" are lists')
    subjects: dict[str, int] = {}
    for index, entry in enumerate(entries):
        if not isinstance(entry, dict) or set(entry) - {"name", "revoked_at"}:
            raise _invalid(f'subject {index}: {{"name", "revoked_at"?}}')
        _add_subject(subjects, entry.get("name"), entry.get("revoked_at"), f"subject {index}")
    return {_token_id(token, f"token {index}") for index, token in enumerate(tokens)}, subjects


def _from_text(text: str) -> tuple[set[str], dict[str, int]]:
    token_ids: set[str] = set()
    subjects: dict[str, int] = {}
    for number, line in enumerate(text.splitlines(), start=1):
        words = line.partition("#")[0].split()
        where = f"line {number}"
        if not words:
            continue
        if words[0] == "jti" and len(words) == 2:
            token_ids.add(_token_id(words[1], where))
        elif words[0] == "sub" and len(words) in (2, 3):
            _add_subject(subjects, words[1], words[2] if len(words) == 3 else None, where)
        else:
            raise _invalid(f"{where}: jti JTI, or sub NAME [REVOKED_AT]")
    return token_ids, subjects


def _token_id(value: object, where: str) -> str:
    if not isinstance(value, str) or not 0 < len(value) <= limits.token_id_length_max:
        raise _invalid(f"{where}: a jti of 1-{limits.token_id_length_max} characters")
    return value


def _add_subject(subjects: dict[str, int], name: object, revoked_at: object, where: str) -> None:
    try:
        check_name(name, "name")
    except InputError as error:
        raise _invalid(f"{where}: {error.detail}") from None
    assert isinstance(name, str)
    seconds = _revoked_at(revoked_at, where)
    subjects[name] = max(seconds, subjects.get(name, seconds))  # the latest revocation holds


def _revoked_at(value: object, where: str) -> int:
    """Unix seconds: whole seconds as a number or ASCII digits (``str.isdigit`` also takes
    "²", which ``int`` refuses), or ``YYYY-MM-DDTHH:MM:SSZ``."""
    if value is None:
        return _always
    if isinstance(value, str) and value.isascii() and value.isdigit():
        if len(value) > limits.token_revoked_at_digits_max:  # never int() of any length
            raise _invalid(f"{where}: revoked_at of more than "
                           f"{limits.token_revoked_at_digits_max} digits")
        value = int(value)
    if isinstance(value, int) and not isinstance(value, bool):
        if not 0 <= value <= _always:
            raise _invalid(f"{where}: revoked_at {value}")
        return value
    if not isinstance(value, str):
        raise _invalid(f"{where}: revoked_at as Unix seconds or YYYY-MM-DDTHH:MM:SSZ")
    try:
        return parse_timestamp(value) // _second_ns
    except InputError as error:
        raise _invalid(f"{where}: revoked_at {error.detail}") from None


def _invalid(detail: str) -> InputError:
    return InputError(Result.token_revocations_invalid, detail)
