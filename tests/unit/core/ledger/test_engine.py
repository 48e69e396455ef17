"""core/ledger/engine.py: every result code the engine returns, and every guarantee of DESIGN.md §3.

The engine is driven directly (``Ledger.execute(events, timestamp, known)``), with the small
custodian of tests/support.py defined through ``define_*``. Every refusal is checked to leave
the whole state (balances, positions, pending transfers, breaks, reversals) exactly as it was.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace

import pytest
from tests.support import (
    ADMIN,
    EARN,
    HOUSE,
    MAIN,
    MARGIN,
    VAULT,
    Custodian,
    assert_invariants,
    custodian_definitions,
    define_in_ledger,
    invariant_problems,
    key_seed,
    principal_for,
    results_of,
    state_snapshot,
)

from ringfence.core.errors import Result
from ringfence.core.ledger.engine import BatchOutcome, Expiry, Ledger
from ringfence.core.ledger.model import (
    AccountClass,
    AccountDefinition,
    Authorisation,
    BreakState,
    Transfer,
    TransferCode,
    TransferFlags,
    TransferRecord,
)
from ringfence.core.ledger.segregation import rules
from ringfence.core.ledger.state import PendingStatus, Position
from ringfence.core.principals.authorisation import public_key_of
from ringfence.core.principals.records import Principal, PrincipalRole, PrincipalStatus, endorse

START_NS = 1_700_000_000 * 10**9
SECOND = 10**9
U128_MAX = 2**128 - 1
MISSING = 424_242  # an id no account or transfer has
BAD = 9_001  # the id of the event under test

_C = TransferCode
_F = TransferFlags
ok = Result.ok


class Harness:
    """The engine, a custodian defined in it and the committed transfers, as the shell keeps
    them: each batch gets the next timestamp and the committed records it refers to."""

    def __init__(self) -> None:
        self.ledger = Ledger()
        self.c: Custodian = custodian_definitions()
        define_in_ledger(self.ledger, self.c)
        # Accounts beyond the shared custodian, for the rules about owners and roles.
        self.alice_second = 9_990
        self.insurance = 9_991
        self.clearing = 9_992
        for definition in (
            AccountDefinition(
                self.alice_second, "BTC", AccountClass.client, "alice", "available", MAIN
            ),
            AccountDefinition(self.insurance, "BTC", AccountClass.house, "house", "insurance:x"),
            AccountDefinition(self.clearing, "BTC", AccountClass.system, "x", "clearing:x"),
        ):
            assert self.ledger.define_account(definition) is ok
        self.now = START_NS
        self.committed: dict[int, TransferRecord] = {}
        self.last: BatchOutcome | None = None

    def execute(self, *events: Transfer) -> list[Result]:
        timestamp = max(self.now, self.ledger.timestamp_last + 1)
        wanted = self.ledger.references(events)
        known = {i: self.committed[i] for i in wanted if i in self.committed}
        outcome = self.ledger.execute(list(events), timestamp, known)
        assert len(outcome.results) == len(events)
        assert [r.id for r in outcome.records] == [
            e.id for e, result in zip(events, outcome.results, strict=True) if result is ok
        ]
        for record in outcome.records:
            assert record.id not in self.committed
            self.committed[record.id] = record
        self.last = outcome
        return outcome.results

    def ok(self, *events: Transfer) -> None:
        results = self.execute(*events)
        assert all(result is ok for result in results), results_of(results)

    def one(self, event: Transfer) -> Result:
        return self.execute(event)[0]

    def advance(self, seconds: int = 0, nanoseconds: int = 0) -> None:
        self.now = max(self.now, self.ledger.timestamp_last + 1) + seconds * SECOND + nanoseconds

    def balances(self, account_id: int) -> tuple[int, int, int, int]:
        return self.ledger.accounts[account_id].balances()

    def available(self, account_id: int) -> int:
        debits_pending, debits_posted, _, credits_posted = self.balances(account_id)
        return credits_posted - debits_posted - debits_pending

    def holdings(self, account_id: int) -> int:
        _, debits_posted, credits_pending, credits_posted = self.balances(account_id)
        return debits_posted - credits_posted - credits_pending

    def position(self, pool: str = MAIN, asset: int = 1) -> Position:
        return self.ledger.positions[(pool, asset)]

    def pending_status(self, pending_id: int) -> PendingStatus:
        return self.ledger.pendings[pending_id].status


def funded() -> Harness:
    """The house has capital in its hot wallets and clients have deposited in every pool."""
    h = Harness()
    c = h.c
    h.ok(
        c.house_funding(1, 1_000_000),
        c.house_funding(2, 10**20, asset="ETH"),
        c.deposit(3, "alice", 1_000),
        c.deposit(4, "bob", 500),
        c.deposit(5, "dave", 300, pool=VAULT),
        c.deposit(6, "carol", 200, pool=EARN),
        c.deposit(7, "alice", 100, pool=MARGIN),
        c.deposit(8, "alice", 10**18, asset="ETH"),
    )
    return h


@pytest.fixture
def h() -> Harness:
    return funded()


def assert_refused(h: Harness, code: Result, *events: Transfer) -> None:
    """The last event is refused with ``code`` and nothing at all changes."""
    before = state_snapshot(h.ledger)
    committed = dict(h.committed)
    results = h.execute(*events)
    assert results[-1] is code, results_of(results)
    assert h.last is not None
    assert h.last.records == []
    assert h.committed == committed
    assert state_snapshot(h.ledger) == before
    assert_invariants(h.ledger)


def deposit(h: Harness, **changes: object) -> Transfer:
    """A valid deposit of 10 to alice in the main pool, with some fields changed."""
    return replace(h.c.deposit(BAD, "alice", 10), **changes)  # type: ignore[arg-type]


# ---------------------------------------------------------------------- shape of the event

Build = Callable[[Harness], Transfer]
SHAPE_CASES: list[tuple[Result, Build]] = [
    (Result.id_must_not_be_zero, lambda h: deposit(h, id=0)),
    (Result.id_must_not_be_negative, lambda h: deposit(h, id=-1)),
    (Result.id_must_be_below_2_128, lambda h: deposit(h, id=2**128)),
    (Result.id_must_be_integer, lambda h: deposit(h, id="9001")),
    (Result.id_must_be_integer, lambda h: deposit(h, id=9001.0)),
    (Result.id_must_be_integer, lambda h: deposit(h, id=None)),
    (Result.flag_unknown, lambda h: deposit(h, flags=_F(16))),
    (Result.flag_unknown, lambda h: deposit(h, flags=_F(2**15) | _F.pending)),
    (Result.flags_are_mutually_exclusive, lambda h: deposit(h, flags=_F.pending | _F.post_pending)),
    (Result.flags_are_mutually_exclusive, lambda h: deposit(h, flags=_F.pending | _F.void_pending)),
    (
        Result.flags_are_mutually_exclusive,
        lambda h: deposit(h, flags=_F.post_pending | _F.void_pending, pending_id=3),
    ),
    (Result.amount_required, lambda h: deposit(h, amount=None)),
    (Result.amount_must_not_be_zero, lambda h: deposit(h, amount=0)),
    (Result.amount_must_not_be_negative, lambda h: deposit(h, amount=-5)),
    (Result.amount_must_be_below_2_128, lambda h: deposit(h, amount=2**128)),
    (Result.amount_must_not_be_float, lambda h: deposit(h, amount=10.0)),
    (Result.amount_must_be_decimal_string, lambda h: deposit(h, amount="10")),
    (Result.amount_must_be_decimal_string, lambda h: deposit(h, amount=True)),
    (Result.code_unknown, lambda h: deposit(h, code=99)),
    (Result.code_unknown, lambda h: deposit(h, code=0)),
    (Result.code_unknown, lambda h: deposit(h, code="deposit")),
    (Result.pending_id_must_be_zero, lambda h: deposit(h, pending_id=3)),
    (Result.timeout_reserved_for_pending_transfer, lambda h: deposit(h, timeout_s=10)),
    (Result.timeout_too_large, lambda h: deposit(h, flags=_F.pending, timeout_s=2**32)),
    (Result.timeout_must_not_be_negative, lambda h: deposit(h, flags=_F.pending, timeout_s=-1)),
    (Result.timeout_must_not_be_negative, lambda h: deposit(h, timeout_s=-1)),
    (Result.timeout_must_be_integer, lambda h: deposit(h, flags=_F.pending, timeout_s=0.0)),
    (Result.timeout_must_be_integer, lambda h: deposit(h, timeout_s=None)),
    (Result.timeout_must_be_integer, lambda h: deposit(h, timeout_s="10")),
    # Every field the journal holds is checked for its type and range before anything changes:
    # the journal's records are fixed-width u128s, so such a value cannot even be written.
    (Result.reference_must_be_u128, lambda h: deposit(h, reference=2**128)),
    (Result.reference_must_be_u128, lambda h: deposit(h, reference=-1)),
    (Result.reference_must_be_u128, lambda h: deposit(h, reference="3")),
    (Result.reference_must_be_u128, lambda h: deposit(h, reference=3.0)),
    (Result.reference_must_be_u128, lambda h: deposit(h, reference=None)),
    (Result.reference_must_be_u128, lambda h: deposit(h, reference=False)),
    (Result.pending_id_must_be_u128, lambda h: deposit(h, pending_id=2**128)),
    (Result.pending_id_must_be_u128, lambda h: deposit(h, pending_id=-1)),
    (Result.pending_id_must_be_u128, lambda h: deposit(h, pending_id="3")),
    (Result.pending_id_must_be_u128, lambda h: deposit(h, pending_id=None)),
    (Result.debit_account_must_be_u128, lambda h: deposit(h, debit_account=2**128)),
    (Result.debit_account_must_be_u128, lambda h: deposit(h, debit_account=-1)),
    (Result.debit_account_must_be_u128, lambda h: deposit(h, debit_account="1")),
    (Result.debit_account_must_be_u128, lambda h: deposit(h, debit_account=float(h.c.wallet()))),
    (Result.debit_account_must_be_u128, lambda h: deposit(h, debit_account=True)),
    (Result.debit_account_must_be_u128, lambda h: deposit(h, debit_account=[1])),
    (Result.credit_account_must_be_u128, lambda h: deposit(h, credit_account=2**200)),
    (Result.credit_account_must_be_u128, lambda h: deposit(h, credit_account=None)),
    (Result.name_invalid, lambda h: h.c.internal(BAD, "alice", "bob", 1, authorised_by=5)),
    (
        Result.name_invalid,
        lambda h: replace(h.c.internal(BAD, "alice", "bob", 1), authorised_by=None),
    ),
    (Result.name_invalid, lambda h: deposit(h, authorised_by=["alice"])),
    (Result.name_invalid, lambda h: deposit(h, authorised_by=None)),
    (Result.asset_not_found, lambda h: deposit(h, asset=1)),
    (Result.asset_not_found, lambda h: deposit(h, asset=None)),
    (Result.asset_not_found, lambda h: deposit(h, asset=["BTC"])),
    (Result.event_must_be_a_transfer, lambda h: {"id": BAD}),  # type: ignore[dict-item]
    (Result.event_must_be_a_transfer, lambda h: None),  # type: ignore[arg-type,return-value]
]


@pytest.mark.parametrize(
    ("code", "build"), SHAPE_CASES, ids=[f"{c.value}-{i}" for i, (c, _) in enumerate(SHAPE_CASES)]
)
def test_a_malformed_event_is_refused_and_changes_nothing(
    h: Harness, code: Result, build: Build
) -> None:
    assert_refused(h, code, build(h))


def test_a_float_code_is_refused_not_a_crash(h: Harness) -> None:
    # 1.0 passes ``code not in _codes`` (1.0 == 1) and then ``code << 8`` raises TypeError.
    assert_refused(h, Result.code_unknown, deposit(h, code=1.0))


# ---------------------------------------------------------------------- accounts and balances

ACCOUNT_CASES: list[tuple[Result, Build]] = [
    (Result.debit_account_not_found, lambda h: deposit(h, debit_account=MISSING)),
    (Result.credit_account_not_found, lambda h: deposit(h, credit_account=MISSING)),
    (Result.accounts_must_be_different, lambda h: deposit(h, credit_account=h.c.wallet())),
    (
        Result.accounts_must_have_same_asset,
        lambda h: deposit(h, credit_account=h.c.client("alice", asset="ETH")),
    ),
    (Result.asset_does_not_match_accounts, lambda h: deposit(h, asset="ETH")),
    (Result.asset_does_not_match_accounts, lambda h: deposit(h, asset="DOGE")),
    (Result.exceeds_available_balance, lambda h: h.c.withdrawal(BAD, "alice", 1_001)),
    (Result.exceeds_available_balance, lambda h: h.c.fee(BAD, "frank", 1)),
    (
        Result.exceeds_available_balance,
        lambda h: Transfer(
            BAD, h.c.collateral("bob"), h.c.client("bob", MARGIN), 1, _C.margin_release
        ),
    ),
    (Result.exceeds_wallet_holdings, lambda h: h.c.sweep(BAD, 1, pool=MARGIN, asset="ETH")),
    (
        Result.exceeds_wallet_holdings,
        lambda h: Transfer(
            BAD, h.c.wallet(MAIN, which=1), h.c.wallet(MAIN), 1_501, _C.wallet_transfer
        ),
    ),
    (
        Result.exceeds_house_balance,
        lambda h: Transfer(
            BAD, h.c.house("capital"), h.c.wallet(HOUSE), 1_000_001, _C.house_defunding
        ),
    ),
    (
        Result.exceeds_house_balance,
        lambda h: Transfer(BAD, h.c.wallet(EARN), h.c.house("loans"), 1, _C.loan_repayment),
    ),
]


@pytest.mark.parametrize(
    ("code", "build"),
    ACCOUNT_CASES,
    ids=[f"{c.value}-{i}" for i, (c, _) in enumerate(ACCOUNT_CASES)],
)
def test_accounts_and_balances_are_checked(h: Harness, code: Result, build: Build) -> None:
    assert_refused(h, code, build(h))


def test_a_balance_that_would_pass_2_to_the_128_is_refused(h: Harness) -> None:
    h.ok(h.c.deposit(10, "erin", 2**127))
    assert_refused(h, Result.overflows_balance, h.c.deposit(11, "erin", 2**127))
    h.ok(h.c.deposit(12, "erin", 2**127 - 1_500 - 1))  # exactly up to the u128 maximum
    assert h.balances(h.c.wallet())[1] == U128_MAX


# ---------------------------------------------------------------------- segregation rules


def _internal(h: Harness, debit: int, credit: int, by: str = "alice") -> Transfer:
    """An internal transfer authorised by ``by``, signed with ``by``'s test key."""
    transfer = Transfer(BAD, debit, credit, 1, _C.internal_transfer, authorised_by=by)
    return h.c.authorise(transfer) if by else transfer


SEGREGATION_CASES: list[tuple[Result, Build]] = [
    (
        Result.client_to_house_forbidden,
        lambda h: Transfer(BAD, h.c.client("alice"), h.c.wallet(HOUSE), 1, _C.withdrawal),
    ),
    (
        Result.client_to_house_forbidden,
        lambda h: Transfer(BAD, h.c.client("alice"), h.c.house("capital"), 1, _C.fee),
    ),
    (
        Result.client_to_house_forbidden,
        lambda h: Transfer(BAD, h.c.client("alice"), h.insurance, 1, _C.fee),
    ),
    (
        Result.house_to_client_forbidden,
        lambda h: Transfer(BAD, h.c.wallet(HOUSE), h.c.client("alice"), 1, _C.deposit),
    ),
    (
        Result.house_to_client_forbidden,
        lambda h: Transfer(BAD, h.c.house("revenue"), h.c.client("alice"), 1, _C.fee),
    ),
    (Result.cross_pool_forbidden, lambda h: deposit(h, credit_account=h.c.client("dave", VAULT))),
    (
        Result.cross_pool_forbidden,
        lambda h: _internal(h, h.c.client("alice"), h.c.client("bob", MARGIN)),
    ),
    (
        Result.cross_pool_forbidden,
        lambda h: Transfer(BAD, h.c.wallet(MAIN), h.c.wallet(MARGIN), 1, _C.wallet_transfer),
    ),
    (
        Result.cross_pool_forbidden,
        lambda h: Transfer(BAD, h.c.client("alice"), h.c.wallet(VAULT), 1, _C.withdrawal),
    ),
    (Result.segregation_rule_missing, lambda h: deposit(h, code=_C.house_funding)),
    (
        Result.segregation_rule_missing,
        lambda h: deposit(h, credit_account=h.c.wallet(MAIN, which=1)),
    ),
    (
        Result.segregation_rule_missing,
        lambda h: Transfer(BAD, h.c.wallet(MARGIN), h.c.collateral("alice"), 1, _C.deposit),
    ),
    (
        Result.segregation_rule_missing,
        lambda h: Transfer(BAD, h.clearing, h.c.wallet(HOUSE), 1, _C.wallet_transfer),
    ),
    (
        Result.pool_terms_forbid_code,
        lambda h: Transfer(BAD, h.c.house("loans"), h.c.wallet(MAIN), 1, _C.loan_out),
    ),
    (
        Result.pool_terms_forbid_code,
        lambda h: Transfer(BAD, h.c.wallet(MAIN), h.c.house("loans"), 1, _C.loan_repayment),
    ),
    (
        Result.owners_must_match,
        lambda h: Transfer(
            BAD, h.c.client("alice", MARGIN), h.c.collateral("bob"), 1, _C.margin_post
        ),
    ),
    (Result.owners_must_differ, lambda h: _internal(h, h.c.client("alice"), h.alice_second)),
    (
        Result.owners_must_differ,
        lambda h: Transfer(BAD, h.c.wallet(HOUSE), h.c.wallet(HOUSE), 1, _C.wallet_transfer),
    ),
    (
        Result.authorisation_required,
        lambda h: _internal(h, h.c.client("alice"), h.c.client("bob"), by=""),
    ),
    (
        Result.authorisation_not_by_debit_client,
        lambda h: _internal(h, h.c.client("alice"), h.c.client("bob"), by="bob"),
    ),
    (
        Result.authoriser_has_no_key,
        lambda h: _internal(h, h.c.client("alice"), h.c.client("bob"), by="nobody"),
    ),
    (Result.authorisation_must_be_empty, lambda h: deposit(h, authorised_by="alice")),
    (
        Result.authorisation_must_be_empty,
        lambda h: replace(h.c.sweep(BAD, 1), authorised_by="alice"),
    ),
    (
        Result.pending_not_allowed_for_code,
        lambda h: replace(h.c.misdirected(BAD, "bob", 5), flags=_F.pending),
    ),
]


@pytest.mark.parametrize(
    ("code", "build"),
    SEGREGATION_CASES,
    ids=[f"{c.value}-{i}" for i, (c, _) in enumerate(SEGREGATION_CASES)],
)
def test_a_transfer_outside_the_rules_is_refused(h: Harness, code: Result, build: Build) -> None:
    event = build(h)
    if code is Result.owners_must_differ and event.code == _C.wallet_transfer:
        # Two accounts of one wallet: define a second account for the house hot wallet.
        second = AccountDefinition(9_993, "BTC", AccountClass.custody, "house-hot", "hot")
        assert h.ledger.define_account(second) is ok
        event = replace(event, credit_account=9_993)
    assert_refused(h, code, event)


def test_default_deny_over_every_code_and_pair_of_roles(h: Harness) -> None:
    """Every (code, debit role, credit role) outside the allowlist is refused by a
    segregation code, whatever the amount and the balances."""
    c = h.c
    representatives = {
        "client_available": c.client("alice", MARGIN),
        "client_collateral": c.collateral("alice"),
        "custody_pool": c.wallet(MARGIN),
        "custody_house": c.wallet(HOUSE),
        "house_revenue": c.house("revenue"),
        "house_capital": c.house("capital"),
        "house_network_fees": c.house("network_fees"),
        "house_loans": c.house("loans"),
        "house_insurance": h.insurance,
        "system_clearing": h.clearing,
    }
    allowed = {(rule.code, rule.debit.name, rule.credit.name) for rule in rules}
    segregation_codes = {
        Result.client_to_house_forbidden,
        Result.house_to_client_forbidden,
        Result.cross_pool_forbidden,
        Result.segregation_rule_missing,
    }
    next_id = 50_000
    for code in TransferCode:
        if code is _C.reversal:
            continue
        for debit_role, debit in representatives.items():
            for credit_role, credit in representatives.items():
                if debit == credit:
                    continue
                next_id += 1
                result = h.one(Transfer(next_id, debit, credit, 1, code, authorised_by=""))
                if (code, debit_role, credit_role) in allowed:
                    assert result not in segregation_codes, (code, debit_role, credit_role)
                else:
                    assert result in segregation_codes, (code, debit_role, credit_role, result)
    assert_invariants(h.ledger)


# ---------------------------------------------------------------------- authorisation evidence


def _payment(h: Harness, amount: int = 1, by: str = "alice", **changes: object) -> Transfer:
    """alice pays bob ``amount`` in the main pool, authorised by ``by`` (unsigned)."""
    transfer = Transfer(
        BAD, h.c.client("alice"), h.c.client("bob"), amount, _C.internal_transfer,
        authorised_by=by,
    )  # fmt: skip
    return replace(transfer, **changes)  # type: ignore[arg-type]


def _change_principal(h: Harness, record: Principal) -> None:
    change = endorse(h.ledger.ledger_id, ADMIN, key_seed(ADMIN), record)
    assert h.ledger.principals.apply(change, h.ledger.clients, h.ledger.ledger_id, 2)[0] is ok


AUTHORISATION_CASES: list[tuple[Result, Build]] = [
    (Result.authorisation_required, lambda h: _payment(h, by="")),
    (
        Result.authorisation_required,  # a signature with no principal named is no evidence
        lambda h: _payment(h, by="", authorisation=h.c.authorise(_payment(h)).authorisation),
    ),
    (Result.authorisation_signature_required, _payment),  # a bare name
    (Result.authoriser_has_no_key, lambda h: h.c.authorise(_payment(h, by="mallory"))),
    (
        Result.authorisation_not_by_debit_client,  # bob's valid signature moving alice's money
        lambda h: h.c.authorise(_payment(h, by="bob")),
    ),
    (
        Result.authorisation_not_by_debit_client,  # staff do not authorise a client's payment
        lambda h: h.c.authorise(_payment(h, by=ADMIN)),
    ),
    (
        Result.authorisation_signature_invalid,  # alice's name, bob's key
        lambda h: h.c.authorise(_payment(h), seed=key_seed("bob")),
    ),
    (
        Result.authorisation_signature_invalid,  # alice's signature of one unit, on two
        lambda h: _payment(h, 2, authorisation=h.c.authorise(_payment(h, 1)).authorisation),
    ),
    (
        Result.authorisation_signature_invalid,  # signed for another ledger
        lambda h: replace(h.c, ledger_id=b"\x01" * 32).authorise(_payment(h)),
    ),
    (
        Result.authorisation_signature_invalid,  # signed without the pending flag it now has
        lambda h: replace(h.c.authorise(_payment(h)), flags=_F.pending),
    ),
    (Result.authorisation_signature_invalid, lambda h: _payment(h, authorisation=bytes(64))),
    (Result.authorisation_signature_invalid, lambda h: _payment(h, authorisation=b"\x01" * 63)),
    (Result.authorisation_malformed, lambda h: _payment(h, authorisation="ab" * 64)),
    (
        Result.authorisation_must_be_empty,  # a deposit carries no authorisation
        lambda h: deposit(h, authorisation=h.c.authorise(_payment(h)).authorisation),
    ),
    (Result.authorisation_must_be_empty, lambda h: _reversal(h, 3, 1, authorisation=bytes(64))),
]


@pytest.mark.parametrize(
    ("code", "build"),
    AUTHORISATION_CASES,
    ids=[f"{c.value}-{i}" for i, (c, _) in enumerate(AUTHORISATION_CASES)],
)
def test_an_internal_transfer_without_valid_evidence_is_refused(
    h: Harness, code: Result, build: Build
) -> None:
    assert_refused(h, code, build(h))


def test_a_signed_internal_transfer_commits_with_its_evidence(h: Harness) -> None:
    signed = h.c.authorise(_payment(h, 7))
    h.ok(h.c.deposit(20, "bob", 1), signed)
    alice = h.ledger.principals.by_name["alice"]
    assert h.last is not None
    assert h.last.records[1].authoriser == alice.number
    assert h.last.authorisations == [Authorisation(1, alice.number, signed.authorisation)]
    assert h.available(h.c.client("alice")) == 1_000 - 7


def test_a_revoked_key_authorises_nothing_after_its_revocation(h: Harness) -> None:
    before = h.c.authorise(_payment(h, 3))
    h.ok(before)
    alice = h.ledger.principals.by_name["alice"].principal
    _change_principal(
        h, Principal("alice", alice.role, alice.public_key, "alice", PrincipalStatus.revoked)
    )
    after = h.c.authorise(replace(_payment(h, 3), id=BAD + 1))
    assert_refused(h, Result.authoriser_revoked, after)
    # The transfer it signed before stays committed; a retry is still recognised.
    assert h.execute(before) == [Result.exists]


def test_a_rotated_key_signs_from_its_rotation_on(h: Harness) -> None:
    rotated = Principal("alice", PrincipalRole.client, public_key_of(key_seed("alice-2")), "alice")
    _change_principal(h, rotated)
    old_key = h.c.authorise(_payment(h))
    assert_refused(h, Result.authorisation_signature_invalid, old_key)
    h.ok(h.c.authorise(_payment(h), seed=key_seed("alice-2")))


def test_any_principal_acting_for_the_payer_may_authorise(h: Harness) -> None:
    _change_principal(h, principal_for("treasurer", client="alice"))
    h.ok(h.c.authorise(_payment(h, by="treasurer")))
    assert h.last is not None
    assert h.last.records[0].authoriser == h.ledger.principals.by_name["treasurer"].number


def test_a_failed_chain_leaves_no_evidence(h: Harness) -> None:
    first = h.c.authorise(_payment(h, 1, flags=_F.linked))
    second = replace(h.c.withdrawal(BAD + 1, "alice", 10**9), flags=_F.none)
    results = h.execute(h.c.authorise(replace(_payment(h, 2), id=BAD + 2)), first, second)
    assert results == [ok, Result.linked_event_failed, Result.exceeds_available_balance]
    assert h.last is not None
    assert [a.record_index for a in h.last.authorisations] == [0]
    assert [r.id for r in h.last.records] == [BAD + 2]


def test_evidence_is_checked_only_where_a_rule_needs_it(
    h: Harness, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The custody path never reaches a signature check: deposits, withdrawals and fees stay
    as fast as they were."""
    calls: list[int] = []

    def counting(*args: object) -> bool:
        calls.append(1)
        return True

    monkeypatch.setattr("ringfence.core.ledger.rules.signature_verifies", counting)
    h.ok(h.c.deposit(30, "bob", 5), h.c.withdrawal(31, "bob", 1), h.c.fee(32, "bob", 1))
    assert calls == []
    h.ok(h.c.authorise(_payment(h)))
    assert calls == [1]


# ---------------------------------------------------------------------- what is allowed

MOVES: list[tuple[str, Build, str, str, int, int]] = [
    # name, event, pool, asset, change in holdings, change in liabilities
    ("deposit", lambda h: h.c.deposit(20, "bob", 40), MAIN, "BTC", 40, 40),
    ("withdrawal", lambda h: h.c.withdrawal(20, "bob", 40), MAIN, "BTC", -40, -40),
    ("fee", lambda h: h.c.fee(20, "bob", 40), MAIN, "BTC", 0, -40),
    ("internal", lambda h: h.c.internal(20, "alice", "bob", 40), MAIN, "BTC", 0, 0),
    ("top_up", lambda h: h.c.top_up(20, 40), MAIN, "BTC", 40, 0),
    (
        "wallet_transfer",
        lambda h: Transfer(20, h.c.wallet(MAIN, which=1), h.c.wallet(MAIN), 40, _C.wallet_transfer),
        MAIN,
        "BTC",
        0,
        0,
    ),
    (
        "margin_post",
        lambda h: Transfer(
            20, h.c.client("alice", MARGIN), h.c.collateral("alice"), 40, _C.margin_post
        ),
        MARGIN,
        "BTC",
        0,
        0,
    ),
    (
        "loan_out beyond the residual (title transfer is not segregated)",
        lambda h: Transfer(20, h.c.house("loans"), h.c.wallet(EARN), 200, _C.loan_out),
        EARN,
        "BTC",
        -200,
        0,
    ),
    (
        "deposit ETH",
        lambda h: h.c.deposit(20, "bob", 10**18, asset="ETH"),
        MAIN,
        "ETH",
        10**18,
        10**18,
    ),
]


@pytest.mark.parametrize("move", MOVES, ids=[move[0] for move in MOVES])
def test_an_allowed_move_changes_the_pool_position_as_it_should(
    h: Harness, move: tuple[str, Build, str, str, int, int]
) -> None:
    _, build, pool, asset, holdings, liabilities = move
    number = h.ledger.assets[asset].number
    position = h.position(pool, number)
    before = (position.holdings, position.liabilities)
    h.ok(build(h))
    assert (position.holdings - before[0], position.liabilities - before[1]) == (
        holdings,
        liabilities,
    )
    assert_invariants(h.ledger)


def test_a_committed_record_has_every_field_resolved(h: Harness) -> None:
    h.advance(seconds=5)
    h.ok(h.c.deposit(20, "bob", 40), h.c.internal(21, "alice", "bob", 7))
    deposit_record, internal_record = h.last.records  # type: ignore[union-attr]
    timestamp = h.last.timestamp  # type: ignore[union-attr]
    assert deposit_record == TransferRecord(
        20, h.c.wallet(), h.c.client("bob"), 40, 0, 0, timestamp, 0, 0, 1, 1, 0
    )
    alice_number = h.ledger.principals.by_name["alice"].number
    assert internal_record.timestamp == timestamp + 1  # consecutive within a batch
    assert internal_record.authoriser == alice_number
    assert h.last.authorisations == [  # type: ignore[union-attr]
        Authorisation(1, alice_number, h.c.internal(21, "alice", "bob", 7).authorisation)
    ]


def test_refused_events_do_not_use_up_timestamps(h: Harness) -> None:
    h.advance(seconds=1)
    h.execute(h.c.deposit(20, "bob", 0), h.c.deposit(21, "bob", 5), h.c.deposit(22, "bob", 6))
    first, second = h.last.records  # type: ignore[union-attr]
    assert second.timestamp == first.timestamp + 1
    assert h.ledger.timestamp_last >= second.timestamp


# ---------------------------------------------------------------------- two-phase transfers


def pending_withdrawal(
    h: Harness, pending_id: int = 30, amount: int = 300, timeout_s: int = 0
) -> int:
    h.ok(h.c.withdrawal(pending_id, "alice", amount, flags=_F.pending, timeout_s=timeout_s))
    return pending_id


def post(
    pending_id: int, transfer_id: int = BAD, amount: int | None = None, **changes: object
) -> Transfer:
    event = Transfer(transfer_id, 0, 0, amount, _C.withdrawal, _F.post_pending, pending_id)
    return replace(event, **changes)  # type: ignore[arg-type]


def void(pending_id: int, transfer_id: int = BAD, **changes: object) -> Transfer:
    event = Transfer(transfer_id, 0, 0, None, _C.withdrawal, _F.void_pending, pending_id)
    return replace(event, **changes)  # type: ignore[arg-type]


def test_a_pending_transfer_reserves_the_amount(h: Harness) -> None:
    alice, wallet = h.c.client("alice"), h.c.wallet()
    pending_withdrawal(h, amount=300)
    assert h.balances(alice) == (300, 0, 0, 1_000)
    assert h.available(alice) == 700
    assert h.holdings(wallet) == 1_200
    assert h.pending_status(30) is PendingStatus.pending
    assert_refused(h, Result.exceeds_available_balance, h.c.withdrawal(31, "alice", 701))
    h.ok(h.c.withdrawal(31, "alice", 700))
    assert h.available(alice) == 0
    assert_invariants(h.ledger)


def test_posting_part_of_a_pending_transfer_releases_the_rest(h: Harness) -> None:
    alice, wallet = h.c.client("alice"), h.c.wallet()
    pending_withdrawal(h, amount=300)
    h.ok(post(30, 31, amount=200))
    assert h.balances(alice) == (0, 200, 0, 1_000)
    assert h.balances(wallet)[2:] == (0, 200)
    assert h.pending_status(30) is PendingStatus.posted
    record = h.committed[31]
    assert (record.debit_account, record.credit_account, record.amount) == (alice, wallet, 200)
    assert record.pending_id == 30
    assert h.position().liabilities == 1_500 - 200
    assert_invariants(h.ledger)


def test_posting_without_an_amount_posts_it_all(h: Harness) -> None:
    pending_withdrawal(h, amount=300)
    h.ok(post(30, 31))
    assert h.committed[31].amount == 300
    assert h.balances(h.c.client("alice")) == (0, 300, 0, 1_000)


def test_voiding_releases_everything(h: Harness) -> None:
    before = h.balances(h.c.client("alice"))
    pending_withdrawal(h, amount=300)
    h.ok(void(30, 31))
    assert h.balances(h.c.client("alice")) == before
    assert h.pending_status(30) is PendingStatus.voided
    assert h.committed[31].amount == 300
    assert_invariants(h.ledger)


def test_a_pending_transfer_expires_at_its_timeout_and_not_before(h: Harness) -> None:
    alice = h.c.client("alice")
    h.advance(seconds=1)
    pending_withdrawal(h, amount=300, timeout_s=10)
    expires_at = h.committed[30].timestamp + 10 * SECOND
    assert h.ledger.pendings[30].expires_at == expires_at
    h.now = expires_at - 1
    h.ok(h.c.deposit(40, "bob", 1))
    assert h.pending_status(30) is PendingStatus.pending
    assert h.last.expiries == []  # type: ignore[union-attr]
    h.now = expires_at
    h.ok(h.c.deposit(41, "bob", 1))
    assert h.last.expiries == [Expiry(30, expires_at)]  # type: ignore[union-attr]
    assert h.pending_status(30) is PendingStatus.expired
    assert h.balances(alice) == (0, 0, 0, 1_000)
    assert_refused(h, Result.pending_transfer_expired, post(30, 42))
    assert_invariants(h.ledger)


def test_expiry_comes_first_in_the_batch_that_passes_the_timeout(h: Harness) -> None:
    pending_withdrawal(h, amount=300, timeout_s=1)
    h.advance(seconds=2)
    results = h.execute(post(30, 31), h.c.withdrawal(32, "alice", 1_000))
    assert results == [Result.pending_transfer_expired, ok]
    assert [expiry.pending_id for expiry in h.last.expiries] == [30]  # type: ignore[union-attr]


def test_advance_expires_without_any_event(h: Harness) -> None:
    pending_withdrawal(h, amount=300, timeout_s=10)
    pending_withdrawal(h, pending_id=31, amount=1, timeout_s=20)
    expires_at = h.ledger.pendings[30].expires_at
    assert h.ledger.advance(expires_at - 1) == []
    assert h.ledger.advance(expires_at) == [Expiry(30, expires_at)]
    assert h.pending_status(30) is PendingStatus.expired
    assert h.pending_status(31) is PendingStatus.pending
    assert_invariants(h.ledger)


def test_a_pending_transfer_without_timeout_never_expires(h: Harness) -> None:
    pending_withdrawal(h, amount=300)
    h.advance(seconds=10**9)
    h.ok(h.c.deposit(40, "bob", 1))
    assert h.pending_status(30) is PendingStatus.pending


TWO_PHASE_CASES: list[tuple[Result, Callable[[Harness, int], Transfer]]] = [
    (Result.pending_id_required, lambda h, p: post(0)),
    (Result.pending_id_must_be_different, lambda h, p: post(BAD, BAD)),
    (Result.pending_transfer_not_found, lambda h, p: post(MISSING)),
    (Result.pending_transfer_not_found, lambda h, p: post(3)),  # committed, but not pending
    (Result.timeout_reserved_for_pending_transfer, lambda h, p: post(p, timeout_s=5)),
    (
        Result.pending_transfer_has_different_debit_account,
        lambda h, p: post(p, debit_account=h.c.client("bob")),
    ),
    (
        Result.pending_transfer_has_different_credit_account,
        lambda h, p: post(p, credit_account=h.c.wallet(MAIN, which=1)),
    ),
    (Result.pending_transfer_has_different_code, lambda h, p: post(p, code=_C.fee)),
    (Result.exceeds_pending_transfer_amount, lambda h, p: post(p, amount=301)),
    (Result.exceeds_pending_transfer_amount, lambda h, p: post(p, amount=U128_MAX)),
    (Result.void_amount_must_match_pending_amount, lambda h, p: void(p, amount=100)),
    (Result.void_amount_must_match_pending_amount, lambda h, p: void(p, amount=301)),
    (Result.amount_must_not_be_zero, lambda h, p: post(p, amount=0)),
    (Result.amount_must_not_be_negative, lambda h, p: post(p, amount=-1)),
    (Result.amount_must_not_be_float, lambda h, p: post(p, amount=1.0)),
    (Result.amount_must_be_decimal_string, lambda h, p: post(p, amount="1")),
    (Result.pending_id_must_be_u128, lambda h, p: post([p])),  # type: ignore[arg-type]
    (Result.pending_id_must_be_u128, lambda h, p: post(float(p))),  # type: ignore[arg-type]
    (Result.pending_id_must_be_u128, lambda h, p: post(2**128)),
    (Result.pending_id_must_be_u128, lambda h, p: void(-p)),
    (Result.debit_account_must_be_u128, lambda h, p: post(p, debit_account=-1)),
    (Result.credit_account_must_be_u128, lambda h, p: void(p, credit_account=2**128)),
    (Result.credit_account_must_be_u128, lambda h, p: void(p, credit_account="1")),
    (Result.code_unknown, lambda h, p: post(p, code="withdrawal")),
    (Result.code_unknown, lambda h, p: void(p, code=[2])),
    (Result.timeout_must_not_be_negative, lambda h, p: post(p, timeout_s=-5)),
    (Result.reference_must_be_u128, lambda h, p: post(p, reference=-5)),
    (Result.segregation_rule_missing, lambda h, p: post(p, reference=3)),
    (Result.name_invalid, lambda h, p: void(p, authorised_by=7)),
    (Result.asset_not_found, lambda h, p: post(p, asset=1)),
    (Result.asset_does_not_match_accounts, lambda h, p: post(p, asset="ETH")),
]


@pytest.mark.parametrize(
    ("code", "build"),
    TWO_PHASE_CASES,
    ids=[f"{c.value}-{i}" for i, (c, _) in enumerate(TWO_PHASE_CASES)],
)
def test_a_bad_post_or_void_is_refused(
    h: Harness, code: Result, build: Callable[[Harness, int], Transfer]
) -> None:
    pending_id = pending_withdrawal(h)
    assert_refused(h, code, build(h, pending_id))
    assert h.pending_status(pending_id) is PendingStatus.pending


@pytest.mark.parametrize(
    ("resolve", "code"),
    [
        (post, Result.pending_transfer_already_posted),
        (void, Result.pending_transfer_already_voided),
    ],
    ids=["posted", "voided"],
)
def test_a_resolved_pending_transfer_cannot_be_resolved_again(
    h: Harness, resolve: Callable[[int, int], Transfer], code: Result
) -> None:
    pending_id = pending_withdrawal(h)
    h.ok(resolve(pending_id, 31))
    assert_refused(h, code, post(pending_id, 32))
    assert_refused(h, code, void(pending_id, 33))


def test_a_post_in_the_same_batch_as_its_pending_transfer(h: Harness) -> None:
    h.ok(h.c.withdrawal(30, "alice", 300, flags=_F.pending), post(30, 31, amount=100))
    assert h.balances(h.c.client("alice")) == (0, 100, 0, 1_000)


# ---------------------------------------------------------------------- pool coverage


def test_a_fee_leaves_residual_interest_a_sweep_can_take_but_no_more(h: Harness) -> None:
    h.ok(h.c.fee(20, "alice", 100))
    assert h.position().residual_interest == 100
    assert_refused(h, Result.pool_coverage_would_break, h.c.sweep(21, 101))
    h.ok(h.c.sweep(21, 60))
    assert_refused(h, Result.pool_coverage_would_break, h.c.sweep(22, 41))
    h.ok(h.c.sweep(22, 40))
    assert h.position().residual_interest == 0
    assert_refused(h, Result.pool_coverage_would_break, h.c.sweep(23, 1))
    network_fee = Transfer(24, h.c.house("network_fees"), h.c.wallet(), 1, _C.network_fee)
    assert_refused(h, Result.pool_coverage_would_break, network_fee)
    assert_invariants(h.ledger)


def test_a_pending_sweep_holds_back_the_residual_until_resolved(h: Harness) -> None:
    h.ok(h.c.fee(20, "alice", 100))
    h.ok(h.c.sweep(21, 60, flags=_F.pending))
    assert h.position().shortfall_pending == 60
    # Covered only if the first sweep were voided: refused while it is open.
    assert_refused(h, Result.pool_coverage_would_break, h.c.sweep(22, 60, flags=_F.pending))
    assert_refused(h, Result.pool_coverage_would_break, h.c.sweep(22, 60))
    h.ok(void(21, 23, code=_C.sweep))
    assert h.position().shortfall_pending == 0
    h.ok(h.c.sweep(22, 60, flags=_F.pending))
    h.ok(post(22, 24, amount=30, code=_C.sweep))
    assert h.position().residual_interest == 70
    assert h.position().shortfall_pending == 0
    assert_invariants(h.ledger)


def test_a_pool_short_by_a_misdirected_deposit_pays_nothing_out(h: Harness) -> None:
    h.ok(h.c.misdirected(20, "bob", 50))
    assert h.position().excess_worst == -50
    assert h.position().breaks_outstanding == 50
    # Alice's own funds are in the wallet, but the pool owes more than it holds.
    assert_refused(h, Result.pool_coverage_would_break, h.c.withdrawal(21, "alice", 10))
    assert_refused(
        h, Result.pool_coverage_would_break, h.c.withdrawal(21, "alice", 10, flags=_F.pending)
    )
    # What does not make it shorter still goes through.
    h.ok(h.c.deposit(22, "carol", 10), h.c.fee(23, "alice", 5), h.c.internal(24, "bob", "carol", 5))
    h.ok(h.c.break_cure(25, 20, 50))
    h.ok(h.c.withdrawal(26, "alice", 10))
    assert_invariants(h.ledger)


def test_posting_a_withdrawal_from_a_pool_that_became_short_is_refused(h: Harness) -> None:
    pending_withdrawal(h, amount=100)
    h.ok(h.c.misdirected(20, "bob", 50))
    assert_refused(h, Result.pool_coverage_would_break, post(30, 21))
    h.ok(void(30, 22))
    assert_invariants(h.ledger)


def test_a_title_transfer_pool_is_shown_but_not_enforced(h: Harness) -> None:
    loan = Transfer(20, h.c.house("loans"), h.c.wallet(EARN), 200, _C.loan_out)
    h.ok(loan)
    earn = h.position(EARN)
    assert earn.holdings - earn.liabilities == -200
    h.ok(Transfer(21, h.c.wallet(EARN), h.c.house("loans"), 150, _C.loan_repayment))
    assert_invariants(h.ledger)


# ---------------------------------------------------------------------- breaks and reversals


def test_a_misdirected_deposit_opens_a_break_that_a_cure_closes(h: Harness) -> None:
    h.ok(h.c.misdirected(20, "bob", 50))
    broken = h.ledger.breaks[20]
    assert (broken.pool, broken.asset, broken.amount, broken.cured) == (MAIN, 1, 50, 0)
    assert broken.opened_at == h.committed[20].timestamp
    assert h.available(h.c.client("bob")) == 550
    assert_refused(h, Result.break_cure_exceeds_break_amount, h.c.break_cure(21, 20, 51))
    h.ok(h.c.break_cure(21, 20, 20))
    assert (broken.cured, broken.state) == (20, BreakState.open)
    assert h.position().breaks_outstanding == 30
    h.ok(h.c.break_cure(22, 20, 30))
    assert broken.state is BreakState.cured
    assert h.position().breaks_outstanding == 0
    assert h.position().excess_worst == 0
    assert_refused(h, Result.break_cure_exceeds_break_amount, h.c.break_cure(23, 20, 1))
    assert_invariants(h.ledger)


def test_reversing_a_misdirected_deposit_cures_its_break(h: Harness) -> None:
    h.ok(h.c.misdirected(20, "bob", 50))
    h.ok(h.c.break_cure(21, 20, 10))
    reversal = Transfer(22, h.c.client("bob"), h.c.wallet(HOUSE), 50, _C.reversal, reference=20)
    h.ok(reversal)
    assert h.ledger.breaks[20].state is BreakState.cured
    assert h.ledger.reversed[20] == 50
    assert h.position().breaks_outstanding == 0
    assert h.available(h.c.client("bob")) == 500
    assert_invariants(h.ledger)


BREAK_CASES: list[tuple[Result, Build]] = [
    (Result.reference_required, lambda h: h.c.break_cure(BAD, 0, 10)),
    (Result.break_not_found, lambda h: h.c.break_cure(BAD, MISSING, 10)),
    (Result.break_not_found, lambda h: h.c.break_cure(BAD, 3, 10)),  # a transfer, not a break
    (Result.break_cure_must_match_break, lambda h: h.c.break_cure(BAD, 20, 10, pool=VAULT)),
    (Result.break_cure_must_match_break, lambda h: h.c.break_cure(BAD, 20, 10, asset="ETH")),
    (Result.break_cure_exceeds_break_amount, lambda h: h.c.break_cure(BAD, 20, 51)),
    (
        Result.pending_not_allowed_for_code,
        lambda h: replace(h.c.break_cure(BAD, 20, 10), flags=_F.pending),
    ),
]


@pytest.mark.parametrize(
    ("code", "build"), BREAK_CASES, ids=[f"{c.value}-{i}" for i, (c, _) in enumerate(BREAK_CASES)]
)
def test_a_bad_break_cure_is_refused(h: Harness, code: Result, build: Build) -> None:
    h.ok(h.c.misdirected(20, "bob", 50))
    assert_refused(h, code, build(h))


def _reversal(h: Harness, of: int, amount: int, **changes: object) -> Transfer:
    """A reversal of transfer ``of`` with its accounts swapped, then some fields changed."""
    original = h.committed[of]
    debit, credit = original.credit_account, original.debit_account
    event = Transfer(BAD, debit, credit, amount, _C.reversal, reference=of)
    return replace(event, **changes)  # type: ignore[arg-type]


REVERSAL_CASES: list[tuple[Result, Build]] = [
    (Result.reference_required, lambda h: _reversal(h, 4, 5, reference=0)),
    (
        Result.reversed_transfer_not_found,
        lambda h: _reversal(h, 4, 5, reference=MISSING),
    ),
    (
        Result.reversal_must_swap_accounts,
        lambda h: _reversal(h, 4, 5, debit_account=h.c.wallet(), credit_account=h.c.client("bob")),
    ),
    (
        Result.reversal_must_swap_accounts,
        lambda h: _reversal(h, 4, 5, debit_account=h.c.client("alice")),
    ),
    (Result.reversal_exceeds_transfer_amount, lambda h: _reversal(h, 4, 501)),
    (Result.reversal_exceeds_transfer_amount, lambda h: _reversal(h, 20, 81)),  # 20 reversed
    (Result.reversal_of_pending_transfer_forbidden, lambda h: _reversal(h, 30, 5)),
    (Result.reversal_of_pending_transfer_forbidden, lambda h: _reversal(h, 32, 5)),  # a void
    (Result.segregation_rule_missing, lambda h: _reversal(h, 21, 5)),  # a reversal
    (Result.segregation_rule_missing, lambda h: _reversal(h, 34, 5)),  # a break cure
    (Result.pending_not_allowed_for_code, lambda h: _reversal(h, 4, 5, flags=_F.pending)),
    (Result.authorisation_must_be_empty, lambda h: _reversal(h, 4, 5, authorised_by="bob")),
    (Result.exceeds_available_balance, lambda h: _reversal(h, 22, 5)),  # carol spent it
]


@pytest.mark.parametrize(
    ("code", "build"),
    REVERSAL_CASES,
    ids=[f"{c.value}-{i}" for i, (c, _) in enumerate(REVERSAL_CASES)],
)
def test_a_bad_reversal_is_refused(h: Harness, code: Result, build: Build) -> None:
    c = h.c
    h.ok(
        c.deposit(20, "bob", 100),
        Transfer(21, c.client("bob"), c.wallet(), 20, _C.reversal, reference=20),
        c.deposit(22, "carol", 5),
        c.withdrawal(23, "carol", 5),
        c.misdirected(33, "bob", 7),
        c.break_cure(34, 33, 7),
    )
    pending_withdrawal(h, pending_id=30, amount=10)
    pending_withdrawal(h, pending_id=31, amount=10)
    h.ok(void(31, 32))
    assert_refused(h, code, build(h))


def test_a_reversal_undoes_part_of_a_transfer_then_the_rest(h: Harness) -> None:
    bob, wallet = h.c.client("bob"), h.c.wallet()
    h.ok(Transfer(20, bob, wallet, 200, _C.reversal, reference=4))
    assert h.available(bob) == 300
    h.ok(Transfer(21, bob, wallet, 300, _C.reversal, reference=4))
    assert h.ledger.reversed[4] == 500
    assert_refused(
        h,
        Result.reversal_exceeds_transfer_amount,
        Transfer(22, bob, wallet, 1, _C.reversal, reference=4),
    )
    assert_invariants(h.ledger)


def test_a_reversal_may_refer_to_a_transfer_of_the_same_batch(h: Harness) -> None:
    c = h.c
    h.ok(
        c.deposit(20, "bob", 100),
        Transfer(21, c.client("bob"), c.wallet(), 100, _C.reversal, reference=20),
    )
    assert h.ledger.reversed[20] == 100


def test_reversing_a_fee_cannot_take_the_residual_already_swept(h: Harness) -> None:
    h.ok(h.c.fee(20, "alice", 100), h.c.sweep(21, 100))
    reversal = Transfer(
        22, h.c.house("revenue"), h.c.client("alice"), 100, _C.reversal, reference=20
    )
    assert_refused(h, Result.pool_coverage_would_break, reversal)
    h.ok(h.c.top_up(23, 100))
    h.ok(reversal)
    assert_invariants(h.ledger)


# ---------------------------------------------------------------------- idempotency


def committed_events(h: Harness) -> dict[str, Transfer]:
    """One committed event of each shape, as its caller submitted it."""
    c = h.c
    events = {
        "deposit": c.deposit(20, "bob", 40),
        "internal": c.internal(21, "alice", "bob", 7),
        "pending": c.withdrawal(22, "alice", 30, flags=_F.pending, timeout_s=60),
        "post": post(22, 23),
        "reversal": Transfer(24, c.client("bob"), c.wallet(), 5, _C.reversal, reference=20),
        "chain_head": c.deposit(25, "carol", 3, flags=_F.linked),
        "chain_tail": c.deposit(26, "carol", 4),
    }
    h.ok(*events.values())
    return events


def test_the_same_event_again_is_exists_and_changes_nothing(h: Harness) -> None:
    events = committed_events(h)
    before = state_snapshot(h.ledger)
    for event in events.values():
        if event.flags & _F.linked:
            continue
        assert h.one(event) is Result.exists, event
    assert h.execute(events["chain_head"], events["chain_tail"]) == [Result.exists] * 2
    # A post may name its resolved accounts and amount, or leave them to the pending transfer.
    record = h.committed[23]
    explicit = replace(
        events["post"],
        debit_account=record.debit_account,
        credit_account=record.credit_account,
        amount=record.amount,
    )
    assert h.one(explicit) is Result.exists
    assert h.last.records == []  # type: ignore[union-attr]
    assert state_snapshot(h.ledger) == before


def test_a_duplicate_in_the_same_batch_is_exists(h: Harness) -> None:
    event = h.c.deposit(20, "bob", 40)
    assert h.execute(event, event) == [ok, Result.exists]
    assert h.execute(replace(event, id=21), replace(event, id=21, amount=41)) == [
        ok,
        Result.exists_with_different_amount,
    ]
    assert h.available(h.c.client("bob")) == 500 + 40 + 40


IDEMPOTENCY_CASES: list[tuple[Result, str, dict[str, object]]] = [
    (Result.exists_with_different_flags, "deposit", {"flags": _F.pending}),
    (Result.exists_with_different_flags, "pending", {"flags": _F.none, "timeout_s": 0}),
    (Result.exists_with_different_flags, "chain_tail", {"flags": _F.pending}),
    (Result.exists_with_different_debit_account, "deposit", {"debit_account": MISSING}),
    (Result.exists_with_different_debit_account, "post", {"debit_account": MISSING}),
    (Result.exists_with_different_credit_account, "deposit", {"credit_account": MISSING}),
    (Result.exists_with_different_amount, "deposit", {"amount": 41}),
    (Result.exists_with_different_amount, "deposit", {"amount": None}),
    (Result.exists_with_different_amount, "post", {"amount": 29}),
    (Result.exists_with_different_pending_id, "deposit", {"pending_id": 22}),
    (Result.exists_with_different_pending_id, "post", {"pending_id": 20}),
    (Result.exists_with_different_reference, "deposit", {"reference": 4}),
    (Result.exists_with_different_reference, "reversal", {"reference": 4}),
    (Result.exists_with_different_timeout, "pending", {"timeout_s": 61}),
    (Result.exists_with_different_code, "deposit", {"code": _C.fee}),
    (Result.exists_with_different_code, "post", {"code": _C.sweep}),
    (Result.exists_with_different_authorisation, "internal", {"authorised_by": ""}),
    (Result.exists_with_different_authorisation, "internal", {"authorised_by": "bob"}),
    (Result.exists_with_different_authorisation, "deposit", {"authorised_by": "alice"}),
    # A retry is checked for its shape before it is compared: a malformed field is named as
    # such, never a crash in the comparison (a list cannot be looked up).
    (Result.reference_must_be_u128, "deposit", {"reference": -1}),
    (Result.debit_account_must_be_u128, "deposit", {"debit_account": "1"}),
    (Result.pending_id_must_be_u128, "post", {"pending_id": [22]}),
    (Result.timeout_must_not_be_negative, "pending", {"timeout_s": -60}),
    (Result.name_invalid, "internal", {"authorised_by": ["alice"]}),
    (Result.asset_not_found, "deposit", {"asset": ["BTC"]}),
]


@pytest.mark.parametrize(
    ("code", "which", "changes"),
    IDEMPOTENCY_CASES,
    ids=[f"{c.value}-{w}-{i}" for i, (c, w, _) in enumerate(IDEMPOTENCY_CASES)],
)
def test_the_same_id_with_another_body_names_the_field(
    h: Harness, code: Result, which: str, changes: dict[str, object]
) -> None:
    event = committed_events(h)[which]
    assert_refused(h, code, replace(event, **changes))  # type: ignore[arg-type]


def test_an_unknown_authoriser_on_a_retry_is_a_different_body(h: Harness) -> None:
    # Ledger._compare_existing maps an unknown name to client number 0, which is what an
    # unauthorised transfer stores, so the changed body is acknowledged as ``exists``.
    event = committed_events(h)["deposit"]
    assert_refused(
        h, Result.exists_with_different_authorisation, replace(event, authorised_by="mallory")
    )


def test_a_retry_naming_another_asset_is_not_exists(h: Harness) -> None:
    # A fresh event with asset="ETH" on BTC accounts is refused (asset_does_not_match_accounts),
    # but _compare_existing never looks at ``asset``, so the same event as a retry is `exists`
    # and the caller believes an ETH transfer was booked.
    event = committed_events(h)["deposit"]
    assert h.one(replace(event, asset="ETH")) is not Result.exists


# ---------------------------------------------------------------------- linked chains


def test_a_linked_chain_commits_as_a_whole(h: Harness) -> None:
    c = h.c
    h.ok(
        c.deposit(20, "frank", 100, flags=_F.linked),
        c.fee(21, "frank", 10, flags=_F.linked),
        c.withdrawal(22, "frank", 90),
    )
    assert h.balances(c.client("frank")) == (0, 100, 0, 100)


def test_a_failing_event_rolls_back_its_whole_chain(h: Harness) -> None:
    c = h.c
    before = state_snapshot(h.ledger)
    results = h.execute(
        c.deposit(20, "frank", 100, flags=_F.linked),
        c.withdrawal(21, "frank", 101, flags=_F.linked),
        c.fee(22, "frank", 1),
    )
    assert results == [
        Result.linked_event_failed,
        Result.exceeds_available_balance,
        Result.linked_event_failed,
    ]
    assert h.last.records == []  # type: ignore[union-attr]
    assert state_snapshot(h.ledger) == before


def test_a_rolled_back_chain_leaves_no_pending_break_or_reversal(h: Harness) -> None:
    c = h.c
    before = state_snapshot(h.ledger)
    results = h.execute(
        c.withdrawal(20, "alice", 100, flags=_F.pending | _F.linked),
        post(20, 21, amount=40, flags=_F.post_pending | _F.linked),
        Transfer(24, c.client("bob"), c.wallet(), 5, _C.reversal, _F.linked, reference=4),
        replace(c.misdirected(22, "bob", 50), flags=_F.linked),
        replace(c.break_cure(23, 22, 20), flags=_F.linked),
        replace(c.fee(25, "alice", 10), flags=_F.linked),
        c.sweep(26, 10**9),
    )
    assert results[:-1] == [Result.linked_event_failed] * 6
    assert results[-1] is Result.exceeds_wallet_holdings
    assert state_snapshot(h.ledger) == before
    assert 20 not in h.ledger.pendings
    assert 22 not in h.ledger.breaks
    assert 4 not in h.ledger.reversed
    assert_invariants(h.ledger)
    # The ids are free again: the same chain without its doomed end commits.
    h.ok(c.withdrawal(20, "alice", 100, flags=_F.pending), c.misdirected(22, "bob", 50))


def test_events_around_a_failed_chain_are_independent(h: Harness) -> None:
    c = h.c
    results = h.execute(
        c.deposit(20, "frank", 10),
        c.deposit(21, "frank", 10, flags=_F.linked),
        c.withdrawal(22, "frank", 10**6),
        c.deposit(23, "frank", 10, flags=_F.linked),
        c.deposit(24, "frank", 10),
        c.deposit(25, "frank", 10),
    )
    assert results == [
        ok,
        Result.linked_event_failed,
        Result.exceeds_available_balance,
        ok,
        ok,
        ok,
    ]
    assert h.available(c.client("frank")) == 40


@pytest.mark.parametrize("length", [1, 2, 3])
def test_a_chain_left_open_at_the_end_of_the_batch_fails(h: Harness, length: int) -> None:
    c = h.c
    before = state_snapshot(h.ledger)
    events = [c.deposit(20 + i, "frank", 10, flags=_F.linked) for i in range(length)]
    results = h.execute(*events)
    assert results == [Result.linked_event_failed] * (length - 1) + [Result.linked_event_chain_open]
    assert state_snapshot(h.ledger) == before


def test_exists_inside_a_chain_counts_as_success(h: Harness) -> None:
    c = h.c
    h.ok(c.deposit(20, "frank", 10))
    results = h.execute(c.deposit(20, "frank", 10, flags=_F.linked), c.deposit(21, "frank", 5))
    assert results == [Result.exists_with_different_flags, Result.linked_event_failed]
    results = h.execute(c.deposit(22, "frank", 5, flags=_F.linked), c.deposit(20, "frank", 10))
    assert results == [ok, Result.exists]


def test_a_chain_can_rely_on_its_own_earlier_events(h: Harness) -> None:
    c = h.c
    h.ok(
        c.deposit(20, "frank", 100, flags=_F.linked),
        c.internal(21, "frank", "erin", 100, flags=_F.linked),
        c.withdrawal(22, "erin", 100),
    )


# ---------------------------------------------------------------------- expiry after rollback


def test_a_failed_chain_leaves_nothing_to_expire(h: Harness) -> None:
    # _apply_pending pushes (expires_at, id) onto _expiry_queue; _roll_back deletes the pending
    # transfer but not the queue entry, so _expire later looks up a missing id.
    results = h.execute(
        h.c.withdrawal(20, "alice", 10, flags=_F.pending | _F.linked, timeout_s=10),
        h.c.withdrawal(21, "alice", 10**6),
    )
    assert results[-1] is Result.exceeds_available_balance
    h.advance(seconds=20)
    assert h.execute(h.c.deposit(22, "bob", 1)) == [ok]


def test_a_reused_id_keeps_its_own_timeout(h: Harness) -> None:
    h.execute(
        h.c.withdrawal(20, "alice", 10, flags=_F.pending | _F.linked, timeout_s=10),
        h.c.withdrawal(21, "alice", 10**6),
    )
    h.ok(h.c.withdrawal(20, "alice", 10, flags=_F.pending, timeout_s=3_600))
    h.advance(seconds=20)
    h.ok(h.c.deposit(22, "bob", 1))
    assert h.pending_status(20) is PendingStatus.pending


# ---------------------------------------------------------------------- the checker itself


def test_the_invariant_checker_sees_a_corrupted_state(h: Harness) -> None:
    h.ok(h.c.fee(20, "alice", 100), h.c.withdrawal(21, "bob", 10, flags=_F.pending))
    assert invariant_problems(h.ledger) == []
    corruptions: list[Callable[[Ledger], None]] = [
        lambda ledger: setattr(ledger.accounts[h.c.client("alice")], "debits_posted", 10**6),
        lambda ledger: setattr(ledger.accounts[h.c.wallet()], "debits_posted", 0),
        lambda ledger: setattr(ledger.accounts[h.c.client("bob")], "debits_pending", 0),
        lambda ledger: setattr(ledger.positions[(MAIN, 1)], "holdings", 10**6),
        lambda ledger: setattr(ledger.positions[(MAIN, 1)], "shortfall_pending", 1),
        lambda ledger: setattr(ledger.pendings[21], "status", PendingStatus.voided),
    ]
    for index, corrupt in enumerate(corruptions):
        damaged = funded()
        damaged.ok(
            damaged.c.fee(20, "alice", 100), damaged.c.withdrawal(21, "bob", 10, flags=_F.pending)
        )
        corrupt(damaged.ledger)
        assert invariant_problems(damaged.ledger), index
        with pytest.raises(AssertionError):
            assert_invariants(damaged.ledger)


def test_the_checker_sees_a_pool_short_without_a_break(h: Harness) -> None:
    # Move value out of the pool behind the engine's back, keeping debits equal to credits.
    wallet = h.ledger.accounts[h.c.wallet()]
    house = h.ledger.accounts[h.c.wallet(HOUSE)]
    wallet.credits_posted += 100
    house.debits_posted += 100
    h.position().holdings -= 100
    problems = invariant_problems(h.ledger)
    assert any("short beyond its open breaks" in problem for problem in problems), problems
