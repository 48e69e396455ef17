"""core/ledger/checks.py: each field's type and range, named by its first problem."""

from __future__ import annotations

import pytest

from ringfence.core import limits
from ringfence.core.errors import Result
from ringfence.core.ledger import checks
from ringfence.core.ledger.model import Transfer, TransferCode, TransferFlags


@pytest.mark.parametrize(
    ("value", "code"),
    [
        ("7", Result.id_must_be_integer),
        (0, Result.id_must_not_be_zero),
        (-1, Result.id_must_not_be_negative),
        (2**128, Result.id_must_be_below_2_128),
    ],
)
def test_an_id_names_its_problem(value: object, code: Result) -> None:
    assert checks.id_result(value) is code


@pytest.mark.parametrize(
    ("value", "code"),
    [
        (None, Result.amount_required),
        (1.5, Result.amount_must_not_be_float),
        ("1", Result.amount_must_be_decimal_string),
        (0, Result.amount_must_not_be_zero),
        (-3, Result.amount_must_not_be_negative),
        (2**128, Result.amount_must_be_below_2_128),
    ],
)
def test_an_amount_names_its_problem(value: object, code: Result) -> None:
    assert checks.amount_result(value) is code


def test_a_timeout_is_whole_seconds_in_a_u32_and_only_for_pending_transfers() -> None:
    assert checks.timeout_result("5") is Result.timeout_must_be_integer
    assert checks.timeout_result(-1) is Result.timeout_must_not_be_negative
    assert checks.timeout_result(limits.timeout_seconds_max + 1) is Result.timeout_too_large
    assert checks.timeout_result(limits.timeout_seconds_max) is None
    pending = int(TransferFlags.pending)
    assert checks.check_timeout(60, pending) is None
    assert checks.check_timeout(60, 0) is Result.timeout_reserved_for_pending_transfer


def test_a_post_names_its_pending_transfer_and_nothing_of_its_own() -> None:
    post = TransferFlags.post_pending
    assert checks.check_resolving_fields(Transfer(9, 0, 0, None, 0, post)) is (
        Result.pending_id_required
    )
    assert checks.check_resolving_fields(Transfer(9, 0, 0, None, 0, post, pending_id=9)) is (
        Result.pending_id_must_be_different
    )
    with_reference = Transfer(9, 0, 0, None, 0, post, pending_id=8, reference=3)
    assert checks.check_resolving_fields(with_reference) is Result.segregation_rule_missing
    assert checks.check_resolving_fields(Transfer(9, 0, 0, None, 0, post, pending_id=8)) is None


def test_optional_fields_are_checked_for_their_type() -> None:
    deposit = TransferCode.deposit
    assert checks.check_optional_fields(Transfer(1, 2, 3, 4, deposit, reference=-1)) is (
        Result.reference_must_be_u128
    )
    text_account: object = "2"
    assert checks.check_optional_fields(Transfer(1, text_account, 3, 4, deposit)) is (  # type: ignore[arg-type]
        Result.debit_account_must_be_u128
    )
    assert checks.check_optional_fields(Transfer(1, 2, 3, 4, deposit)) is None


def test_an_authoriser_given_where_none_belongs() -> None:
    assert checks.authorisation_must_be_empty("alice") is Result.authorisation_must_be_empty
    assert checks.authorisation_must_be_empty(7) is Result.name_invalid
