"""Errors as RFC 9457 problem documents (``application/problem+json``).

Every refusal is a ``Result`` sentence and that sentence is the problem's ``code`` (and the
last segment of its ``type``); ``detail`` says which field, item or value. Storage and
integrity failures are ``storage_error`` (503, retry later) and ``integrity_error`` (500).
"""

from __future__ import annotations

import json
from typing import Final

from starlette.responses import Response

from ringfence.core import errors
from ringfence.core.errors import InputError, Result, RingfenceError

problem_media_type: Final = "application/problem+json"
problem_type_base: Final = "https://ringfence.dev/problems/"

def http_status(error: RingfenceError | Result) -> int:
    """The HTTP status of an error or a refusal, from core/errors.py's one table."""
    if isinstance(error, Result):
        return errors.result_http_status(error)
    return errors.http_status(error)


def code_of(error: RingfenceError) -> str:
    return errors.error_code(error)[0]


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
