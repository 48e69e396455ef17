"""The checks of a transfer's fields: type and range, before anything reads them.

Each returns None when the field passes, else the ``Result`` that names the first problem.
The engine checks the hot path's fields inline (``engine._execute_transfer``) and calls these
for the rest: posts, voids, retries, and the codes of a field it has already found wrong.
"""

from __future__ import annotations

from ringfence.core import limits
from ringfence.core.errors import Result
from ringfence.core.ledger.model import (
    Transfer,
    TransferCode,
    TransferFlags,
)
from ringfence.core.ledger.state import PendingState, PendingStatus

_u128 = limits.amount_units_max
_codes = frozenset(int(code) for code in TransferCode)
_pending_bit = int(TransferFlags.pending)
# The values of fields left at their default. CPython keeps one ``0`` and one ``""``, so the
# hot path tells a default field by identity (one comparison) and checks anything else in full:
# an int zero that is not this object (impossible in CPython) would only take the slower path.
_zero = 0


def check_resolving_fields(event: Transfer) -> Result | None:
    """The fields of a post or void before the pending transfer is looked up: the accounts and
    code may be left out (zero) but must otherwise be of the right type; a post or void has no
    timeout, reference or authorisation of its own."""
    refused = check_optional_fields(event)
    if refused is not None:
        return refused
    pending_id = event.pending_id
    if not pending_id:
        return Result.pending_id_required
    if pending_id == event.id:
        return Result.pending_id_must_be_different
    if not 0 <= event.debit_account <= _u128:
        return Result.debit_account_must_be_u128
    if not 0 <= event.credit_account <= _u128:
        return Result.credit_account_must_be_u128
    code = event.code
    if code and type(code) is not TransferCode and (type(code) is not int or code not in _codes):
        return Result.code_unknown
    if event.timeout_s:
        return Result.timeout_reserved_for_pending_transfer
    if event.reference or event.authorised_by or event.authorisation:
        return Result.segregation_rule_missing
    return None


def check_optional_fields(event: Transfer) -> Result | None:
    """The type and range of every field but the id and the flags (checked first), for the
    paths off the hot one: posts, voids and retries. A new transfer checks each where it
    first reads it (``_execute_transfer``)."""
    reference = event.reference
    if type(reference) is not int or not 0 <= reference <= _u128:
        return Result.reference_must_be_u128
    if type(event.debit_account) is not int:
        return Result.debit_account_must_be_u128
    if type(event.credit_account) is not int:
        return Result.credit_account_must_be_u128
    pending_id = event.pending_id
    if pending_id.__class__ is not int or not 0 <= pending_id <= _u128:
        return Result.pending_id_must_be_u128
    timeout_s = event.timeout_s
    if timeout_s is not _zero:
        refused = timeout_result(timeout_s)
        if refused is not None:
            return refused
    if event.authorised_by.__class__ is not str:
        return Result.name_invalid
    if event.asset.__class__ is not str:
        return Result.asset_not_found
    return None


def check_pending_matches(event: Transfer, pending: PendingState) -> Result | None:
    original = pending.record
    if pending.status is not PendingStatus.pending:
        return {
            PendingStatus.posted: Result.pending_transfer_already_posted,
            PendingStatus.voided: Result.pending_transfer_already_voided,
            PendingStatus.expired: Result.pending_transfer_expired,
        }[pending.status]
    if event.debit_account and event.debit_account != original.debit_account:
        return Result.pending_transfer_has_different_debit_account
    if event.credit_account and event.credit_account != original.credit_account:
        return Result.pending_transfer_has_different_credit_account
    if event.code and int(event.code) != original.code:
        return Result.pending_transfer_has_different_code
    amount = event.amount
    if amount is not None:
        if type(amount) is not int:
            if isinstance(amount, float):
                return Result.amount_must_not_be_float
            return Result.amount_must_be_decimal_string
        if amount <= 0:
            return Result.amount_must_not_be_zero if amount == 0 else (
                Result.amount_must_not_be_negative
            )
    return None


def id_result(transfer_id: object) -> Result:
    if type(transfer_id) is not int:
        return Result.id_must_be_integer
    if transfer_id == 0:
        return Result.id_must_not_be_zero
    return Result.id_must_not_be_negative if transfer_id < 0 else Result.id_must_be_below_2_128


def amount_result(amount: object) -> Result:
    if amount is None:
        return Result.amount_required
    if isinstance(amount, float):
        return Result.amount_must_not_be_float
    if type(amount) is not int:
        return Result.amount_must_be_decimal_string
    if amount == 0:
        return Result.amount_must_not_be_zero
    return Result.amount_must_not_be_negative if amount < 0 else Result.amount_must_be_below_2_128


def check_timeout(timeout_s: object, raw: int) -> Result | None:
    refused = timeout_result(timeout_s)
    if refused is None and not raw & _pending_bit:
        return Result.timeout_reserved_for_pending_transfer
    return refused


def timeout_result(timeout_s: object) -> Result | None:
    """Whole seconds in a u32, or the code that says why not."""
    if type(timeout_s) is not int:
        return Result.timeout_must_be_integer
    if timeout_s < 0:
        return Result.timeout_must_not_be_negative
    if timeout_s > limits.timeout_seconds_max:
        return Result.timeout_too_large
    return None


def pending_id_result(pending_id: object, in_range: Result) -> Result:
    """The code for a pending id that is not zero: ``in_range`` when it is a u128."""
    if type(pending_id) is not int or not 0 <= pending_id <= _u128:
        return Result.pending_id_must_be_u128
    return in_range


def account_result(account_id: int, in_range: Result) -> Result:
    """The code for an account id (an int) that names no account: ``in_range`` when it is a
    u128 (``*_not_found``), else the field's range code."""
    if 0 <= account_id <= _u128:
        return in_range
    if in_range is Result.debit_account_not_found:
        return Result.debit_account_must_be_u128
    return Result.credit_account_must_be_u128


def account_type_result(debit_account: object) -> Result:
    """The code for a transfer whose debit or credit account is not an int."""
    if type(debit_account) is not int:
        return Result.debit_account_must_be_u128
    return Result.credit_account_must_be_u128


def authorisation_must_be_empty(authorised_by: object) -> Result:
    """An authorising client given where none belongs (or, if not a name, that first)."""
    return Result.authorisation_must_be_empty if type(authorised_by) is str else Result.name_invalid
