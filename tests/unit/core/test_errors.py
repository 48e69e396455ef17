"""The one table from exception class to code, CLI exit status and HTTP status."""

from __future__ import annotations

import pytest

from ringfence.core import errors
from ringfence.core.errors import (
    AuthorisationError,
    ExecutorError,
    HeadConflictError,
    InputError,
    IntegrityError,
    MalformedEntryError,
    Result,
    RingfenceError,
    SnapshotMovedError,
    SourceError,
    StorageError,
)


def subclasses(root: type[RingfenceError]) -> set[type[RingfenceError]]:
    found: set[type[RingfenceError]] = set()
    for child in root.__subclasses__():
        found |= {child, *subclasses(child)}
    return found


def test_every_error_class_of_the_core_has_its_row() -> None:
    of_the_core = {
        kind for kind in subclasses(RingfenceError) if kind.__module__.startswith("ringfence.core")
    }
    assert set(errors.error_reports) == of_the_core


def test_a_class_outside_the_core_is_reported_as_what_it_derives_from() -> None:
    class DeviceError(StorageError):
        pass

    assert errors.exit_status(DeviceError("token gone")) == errors.exit_status_storage
    assert errors.http_status(DeviceError("token gone")) == 503
    assert errors.error_code(DeviceError("token gone")) == ("storage_error", "token gone")


def test_an_unmapped_class_is_a_programmer_error() -> None:
    with pytest.raises(AssertionError, match="unmapped error class RingfenceError"):
        errors.exit_status(RingfenceError("no class of its own"))


@pytest.mark.parametrize(
    ("error", "code", "exit_status", "http_status"),
    [
        (InputError(Result.batch_too_large, "9 lines"), "batch_too_large", 2, 413),
        (InputError(Result.amount_must_not_be_zero), "amount_must_not_be_zero", 2, 422),
        (InputError(Result.client_not_found, "alice"), "client_not_found", 2, 404),
        (InputError(Result.journal_key_exists), "journal_key_exists", 2, 409),
        (
            InputError(Result.definition_exists_with_different_body),
            "definition_exists_with_different_body",
            2,
            409,
        ),
        (StorageError("locked"), "storage_error", 3, 503),
        (HeadConflictError("another writer"), "storage_error", 3, 409),
        (SourceError("node down"), "storage_error", 3, 503),
        (SnapshotMovedError("checkpointed"), "snapshot_moved", 3, 409),
        (ExecutorError("scheduler lost"), "executor_failed", 3, 503),
        (IntegrityError("hash"), "integrity_error", 4, 500),
        (MalformedEntryError(7, "short body"), "integrity_error", 4, 500),
        (AuthorisationError("signature"), "integrity_error", 4, 500),
    ],
)
def test_each_class_reports_its_code_and_statuses(
    error: RingfenceError, code: str, exit_status: int, http_status: int
) -> None:
    assert errors.error_code(error)[0] == code
    assert errors.exit_status(error) == exit_status
    assert errors.http_status(error) == http_status


def test_the_detail_is_the_input_errors_own_or_the_message() -> None:
    assert errors.error_code(InputError(Result.asset_not_found, "XYZ")) == (
        "asset_not_found",
        "XYZ",
    )
    assert errors.error_code(StorageError("disk full")) == ("storage_error", "disk full")


def test_the_named_exit_statuses_are_distinct() -> None:
    statuses = [
        errors.exit_status_ok,
        errors.exit_status_rejected,
        errors.exit_status_input,
        errors.exit_status_storage,
        errors.exit_status_integrity,
    ]
    assert statuses == [0, 1, 2, 3, 4]
