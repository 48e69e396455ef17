"""Problem documents (RFC 9457) and the HTTP status of each kind of error."""

from __future__ import annotations

import json

import pytest

from ringfence.core.errors import (
    HeadConflictError,
    InputError,
    IntegrityError,
    Result,
    StorageError,
)
from ringfence.entrypoints.api.problems import http_status, problem, problem_of


@pytest.mark.parametrize(
    ("code", "status"),
    [
        (Result.api_key_missing, 401),
        (Result.api_key_revoked, 401),
        (Result.role_forbidden, 403),
        (Result.account_not_found, 404),
        (Result.request_body_too_large, 413),
        (Result.batch_too_large, 413),
        (Result.content_type_unsupported, 415),
        (Result.request_body_malformed, 400),
        (Result.idempotency_key_reused_with_different_request, 422),
        (Result.amount_must_not_be_float, 422),
        (Result.exceeds_available_balance, 422),
    ],
)
def test_statuses_by_code(code: Result, status: int) -> None:
    assert http_status(code) == status
    assert http_status(InputError(code, "x")) == status


def test_statuses_by_class() -> None:
    assert http_status(StorageError("down")) == 503
    assert http_status(HeadConflictError("again")) == 409  # nothing written: retry
    assert http_status(IntegrityError("edited")) == 500


def test_a_problem_names_its_code_in_type_and_code() -> None:
    response = problem_of(InputError(Result.field_unknown, "color"), "/v1/transfers")
    assert response.status_code == 422
    assert response.media_type == "application/problem+json"
    document = json.loads(bytes(response.body))
    assert document == {
        "type": "https://ringfence.dev/problems/field_unknown",
        "title": "field unknown",
        "status": 422,
        "code": "field_unknown",
        "detail": "color",
        "instance": "/v1/transfers",
    }
    assert problem("api_key_missing", 401).headers["www-authenticate"] == "Bearer"
    storage = json.loads(bytes(problem_of(StorageError("disk full")).body))
    assert storage["code"] == "storage_error"
