"""core/ledger/model.py: definitions validate themselves, roles follow class and kind, and the
numbers the journal stores (codes, flags) never change."""

from __future__ import annotations

import pytest

from ringfence.core.errors import InputError, Result
from ringfence.core.ledger.model import (
    AccountClass,
    AccountDefinition,
    Break,
    BreakState,
    Client,
    Pool,
    PoolKind,
    Purpose,
    Role,
    Terms,
    TransferCode,
    TransferFlags,
    check_id,
    check_name,
    transfer_flags_known,
)


def refusal(call, *args: object, **kwargs: object) -> Result:
    with pytest.raises(InputError) as caught:
        call(*args, **kwargs)
    return caught.value.code


# ---------------------------------------------------------------------- names and ids


@pytest.mark.parametrize(
    "name", ["a", "alice", "omnibus-1", "x" * 32, "insurance:btc-perp", "a.b_c"]
)
def test_check_name_accepts_short_lowercase_names(name: str) -> None:
    assert check_name(name, "client") == name


@pytest.mark.parametrize(
    "name", ["", "Alice", "x" * 33, "-a", "_a", "a b", "a\0", "ålice", "a/b", None, 7, b"a"]
)
def test_check_name_refuses_anything_else(name: object) -> None:
    assert refusal(check_name, name, "client") is Result.name_invalid


@pytest.mark.parametrize(("value", "number"), [(1, 1), ("42", 42), (2**128 - 1, 2**128 - 1)])
def test_check_id_accepts_u128_ints_and_digit_strings(value: object, number: int) -> None:
    assert check_id(value) == number


@pytest.mark.parametrize(
    ("value", "code"),
    [
        (0, Result.id_must_not_be_zero),
        ("0", Result.id_must_not_be_zero),
        (2**128, Result.id_must_be_below_2_128),
        (-1, Result.id_must_not_be_negative),
        (True, Result.id_must_be_integer),
        (1.0, Result.id_must_be_integer),
        ("1e3", Result.id_must_be_integer),
        ("\u0661", Result.id_must_be_integer),
        ("1" * 40, Result.id_must_be_below_2_128),
        ("9" * 4_000, Result.id_must_be_below_2_128),
        (None, Result.id_must_be_integer),
    ],
)
def test_check_id_refuses_with_a_named_code(value: object, code: Result) -> None:
    assert refusal(check_id, value) is code


# ---------------------------------------------------------------------- pools and clients


def test_an_individual_pool_names_its_one_client() -> None:
    pool = Pool("vault-dave", PoolKind.individual, Terms.custody, client="dave")
    assert pool.client == "dave"
    assert refusal(Pool, "vault", PoolKind.individual, Terms.custody) is (
        Result.individual_pool_has_one_client
    )


def test_an_omnibus_pool_names_no_client() -> None:
    assert refusal(Pool, "main", PoolKind.omnibus, Terms.custody, client="dave") is (
        Result.individual_pool_has_one_client
    )


def test_pool_names_are_checked() -> None:
    assert refusal(Pool, "Main", PoolKind.omnibus, Terms.custody) is Result.name_invalid
    assert refusal(Pool, "v", PoolKind.individual, Terms.custody, client="Dave") is (
        Result.name_invalid
    )


def test_client_numbers_are_positive_u64() -> None:
    assert Client("alice", 1).number == 1
    with pytest.raises(AssertionError):
        Client("alice", 0)
    with pytest.raises(AssertionError):
        Client("alice", 2**64)
    assert refusal(Client, "Alice", 1) is Result.name_invalid


# ---------------------------------------------------------------------- accounts and roles


@pytest.mark.parametrize(
    ("account_class", "kind", "pool", "role"),
    [
        (AccountClass.client, "available", "main", Role.client_available),
        (AccountClass.client, "collateral:btc-perp", "margin", Role.client_collateral),
        (AccountClass.custody, "hot", "main", Role.custody_pool),
        (AccountClass.custody, "warm", "main", Role.custody_pool),
        (AccountClass.custody, "cold", "", Role.custody_house),
        (AccountClass.house, "revenue", "", Role.house_revenue),
        (AccountClass.house, "capital", "", Role.house_capital),
        (AccountClass.house, "network_fees", "", Role.house_network_fees),
        (AccountClass.house, "insurance:btc-perp", "", Role.house_insurance),
        (AccountClass.house, "loans", "", Role.house_loans),
        (AccountClass.system, "clearing:btc-perp", "", Role.system_clearing),
    ],
)
def test_role_follows_class_kind_and_pool(
    account_class: AccountClass, kind: str, pool: str, role: Role
) -> None:
    definition = AccountDefinition(1, "BTC", account_class, "owner", kind, pool)
    assert definition.role is role


@pytest.mark.parametrize(
    ("account_class", "kind", "pool", "code"),
    [
        (AccountClass.client, "available", "", Result.account_class_requires_pool),
        (AccountClass.house, "revenue", "main", Result.account_class_forbids_pool),
        (AccountClass.system, "clearing:x", "main", Result.account_class_forbids_pool),
        (AccountClass.client, "collateral", "main", Result.account_kind_invalid),
        (AccountClass.client, "savings", "main", Result.account_kind_invalid),
        (AccountClass.custody, "frozen", "main", Result.account_kind_invalid),
        (AccountClass.house, "bonus", "", Result.account_kind_invalid),
        (AccountClass.system, "clearing", "", Result.account_kind_invalid),
        (AccountClass.client, "Available", "main", Result.name_invalid),
        (AccountClass.client, "available", "Main", Result.name_invalid),
    ],
)
def test_account_definition_refuses_impossible_accounts(
    account_class: AccountClass, kind: str, pool: str, code: Result
) -> None:
    assert refusal(AccountDefinition, 1, "BTC", account_class, "owner", kind, pool) is code


@pytest.mark.parametrize(
    ("account_id", "code"),
    [(0, Result.id_must_not_be_zero), (2**128, Result.id_must_be_below_2_128)],
)
def test_account_ids_are_u128_and_not_zero(account_id: int, code: Result) -> None:
    assert (
        refusal(AccountDefinition, account_id, "BTC", AccountClass.client, "a", "available", "p")
        is code
    )


# ---------------------------------------------------------------------- codes and flags


def test_transfer_codes_keep_their_journal_numbers() -> None:
    # The journal stores codes by number: renumbering one would reinterpret history.
    assert {code.name: int(code) for code in TransferCode} == {
        "deposit": 1,
        "withdrawal": 2,
        "fee": 3,
        "internal_transfer": 4,
        "sweep": 5,
        "house_top_up": 6,
        "wallet_transfer": 7,
        "network_fee": 8,
        "house_funding": 9,
        "house_defunding": 10,
        "misdirected_deposit": 11,
        "break_cure": 12,
        "reversal": 13,
        "loan_out": 14,
        "loan_repayment": 15,
        "margin_post": 16,
        "margin_release": 17,
        "pnl_settlement": 18,
        "funding": 19,
        "clearing_residual": 20,
        "liquidation_settlement": 21,
        "liquidation_fee": 22,
        "insurance_payout": 23,
        "global_insurance_payout": 24,
        "insurance_funding": 25,
    }


def test_transfer_flags_keep_their_journal_bits() -> None:
    assert int(TransferFlags.linked) == 1
    assert int(TransferFlags.pending) == 2
    assert int(TransferFlags.post_pending) == 4
    assert int(TransferFlags.void_pending) == 8
    assert int(transfer_flags_known) == 15


def test_enumerations_stored_by_name_are_stable() -> None:
    assert [kind.value for kind in PoolKind] == ["individual", "omnibus"]
    assert [terms.value for terms in Terms] == ["custody", "title_transfer"]
    assert [purpose.value for purpose in Purpose] == ["spot_custody", "margin_collateral"]


# ---------------------------------------------------------------------- breaks


def test_a_break_is_open_until_cured_in_full() -> None:
    broken = Break(id=7, pool="main", asset=1, amount=100, cured=0, opened_at=5)
    assert broken.state is BreakState.open
    assert broken.outstanding == 100
    broken.cured = 60
    assert broken.state is BreakState.open
    assert broken.outstanding == 40
    broken.cured = 100
    assert broken.state is BreakState.cured
    assert broken.outstanding == 0


def test_a_break_cannot_be_cured_beyond_its_amount() -> None:
    broken = Break(id=7, pool="main", asset=1, amount=100, cured=101, opened_at=5)
    with pytest.raises(AssertionError):
        _ = broken.outstanding
