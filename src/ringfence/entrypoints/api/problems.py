"""Errors as RFC 9457 problem documents (``application/problem+json``).

Every refusal is a ``Result`` sentence and that sentence is the problem's ``code`` (and the
last segment of its ``type``); ``detail`` says which field, item or value. Storage and
integrity failures are ``storage_error`` (503, retry later) and ``integrity_error`` (500).
"""

from __future__ import annotations

import json
from typing import Final

from starlette.responses import Response

from ringfence.core.errors import (
    InputError,
    IntegrityError,
    Result,
    RingfenceError,
    StorageError,
)

problem_media_type: Final = "application/problem+json"
problem_type_base: Final = "https://ringfence.dev/problems/"

_statuses: Final[dict[Result, int]] = {
    Result.api_key_missing: 401,
    Result.api_key_invalid: 401,
    Result.api_key_revoked: 401,
    Result.role_forbidden: 403,
    Result.route_not_found: 404,
    Result.account_not_found: 404,
    Result.transfer_not_found: 404,
    Result.client_not_found: 404,
    Result.pool_not_found: 404,
    Result.asset_not_found: 404,
    Result.api_key_not_found: 404,
    Result.method_not_allowed: 405,
    Result.request_body_too_large: 413,
    Result.batch_too_large: 413,
    Result.content_type_unsupported: 415,
    Result.request_body_malformed: 400,
    Result.query_parameter_invalid: 400,
    Result.cursor_invalid: 400,
    Result.page_size_too_large: 400,
    Result.idempotency_key_invalid: 400,
}


def http_status(error: RingfenceError | Result) -> int:
    """The HTTP status of an error or a refusal: the one place the API decides it.

    core/errors.py is growing one table that maps every error class and code to its CLI exit
    status and HTTP status; once it exists, this function reads that table instead. Until then:
    the codes above by name, any other refusal of input 422 (the request was well-formed and
    understood, and refused), storage 503 and integrity 500."""
    if isinstance(error, Result):
        return _statuses.get(error, 422)
    if isinstance(error, InputError):
        return _statuses.get(error.code, 422)
    if isinstance(error, StorageError):
        return 503
    if isinstance(error, IntegrityError):
        return 500
    raise AssertionError(f"unmapped error class {type(error).__name__}")


def code_of(error: RingfenceError) -> str:
    if isinstance(error, InputError):
        return error.code.value
    return "storage_error" if isinstance(error, StorageError) else "integrity_error"


def problem(code: str, status: int, detail: str = "", instance: str = "") -> Response:
    document: dict[str, object] = {
        "type": problem_type_base + code,
        "title": code.replace("_", " "),
        "status": status,
        "code": code,
    }
    if detail:
        document["detail"] = detail
    if instance:
        document["instance"] = instance
    headers = {"WWW-Authenticate": "Bearer"} if status == 401 else None
    return Response(
        json.dumps(document), status_code=status, media_type=problem_media_type, headers=headers
    )


def problem_of(error: RingfenceError, instance: str = "") -> Response:
    detail = error.detail if isinstance(error, InputError) else str(error)
    return problem(code_of(error), http_status(error), detail, instance)
