"""Regulatory invariants for random holdings, entitlements, policies and prices:

- possession and control: controlled + approved + unapproved + encumbered + deficit =
  entitlement; no location gives more than it holds; the deficit is what the holdings lack and
  the excess what they have beyond; per-asset totals keep the identity;
- insurance: no holding is covered beyond its value, no policy beyond its limit, and a lone
  policy over everything covers exactly min(max(value - deductible, 0), limit);
- collateral: a haircut never raises a value and a larger one never gives more; rounding up
  and down differ by at most one minor unit;
- residual interest: an account is never undermargined by a negative amount, nor by more when
  its equity rises;
- the sub-custodian register accounts for every holding at a sub-custodian, and finds exactly
  the pools' holdings at the unapproved ones;
- a reconciliation run's entry is a ``regulatory.breach`` of kind ``possession_deficit``
  exactly when the possession report finds a deficit in a custody pool, for that amount;
- a residual-interest deadline check reads back from its entry as it was written, and the
  entry is a ``regulatory.breach`` of kind ``residual_interest_deadline`` for exactly the lines
  short of cover at or after the deadline, each for what it is short by;
- a recorded version of the register reads back from its entry exactly as it was read.
"""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st
from tests.unit.core.regulatory.support import holding

from ringfence.core.events.catalogue import View, events_of_entry
from ringfence.core.ledger.journal import EntryKind, JournalEntry
from ringfence.core.money import Asset, format_amount, format_signed_units
from ringfence.core.recon.codec import Coverage, RunSummary, encode_run
from ringfence.core.recon.history import Price
from ringfence.core.recon.segregation_statement import Alert, FundsBasis
from ringfence.core.regulatory.collateral import after_haircut, value_ceil, value_floor
from ringfence.core.regulatory.files import (
    Approval,
    DueDiligence,
    FileIdentity,
    InsuranceSchedule,
    Policy,
    Quote,
    SubCustodian,
    SubCustodianRegister,
)
from ringfence.core.regulatory.insurance import insurance_cover
from ringfence.core.regulatory.possession import Locations, match, per_asset
from ringfence.core.regulatory.records import (
    DeadlineCheck,
    decode_deadline_check,
    decode_register,
    encode_deadline_check,
    encode_register,
)
from ringfence.core.regulatory.residual import DeadlineFacts, undermargined_amounts
from ringfence.core.regulatory.subcustody import register_as_of

units = st.one_of(st.integers(0, 2**64), st.integers(0, 10))
tiers = st.sampled_from(("hot", "warm", "cold"))
locations = st.builds(
    Locations,
    st.dictionaries(tiers, units),
    approved=units,
    unapproved=units,
    encumbered=units,
)
BTC = Asset("BTC", 8, 1, chain="bitcoin")
USD = Quote("USD", 2)


@given(entitlement=units, held=locations)
def test_possession_identity(entitlement: int, held: Locations) -> None:
    line = match("p", "BTC", entitlement, held)
    matched = line.controlled_total + line.approved + line.unapproved + line.encumbered
    assert matched + line.deficit == entitlement
    for tier, amount in line.controlled.items():
        assert 0 <= amount <= held.controlled[tier]
    assert line.approved <= held.approved
    assert line.unapproved <= held.unapproved
    assert line.encumbered <= held.encumbered
    assert line.deficit == max(entitlement - held.total, 0)
    assert line.excess == max(held.total - entitlement, 0)
    assert line.shortfall == entitlement - line.in_possession_or_control


@given(st.lists(st.tuples(units, locations), max_size=5))
def test_per_asset_totals_keep_the_identity(pairs: list[tuple[int, Locations]]) -> None:
    lines = [match(f"p{i}", "BTC", need, held) for i, (need, held) in enumerate(pairs)]
    for total in per_asset(lines):
        matched = total.controlled_total + total.approved + total.unapproved + total.encumbered
        assert matched + total.deficit == total.entitlement == sum(x.entitlement for x in lines)


policies = st.builds(
    Policy,
    st.sampled_from(("a", "b", "c")),
    st.just("insurer"),
    st.integers(1, 2**60),
    st.integers(0, 2**60),
    st.lists(tiers, unique=True).map(tuple),
    st.lists(st.sampled_from(("w0", "w1", "w2")), unique=True).map(tuple),
    st.just(0),
    st.just(10),
)
holdings = st.lists(
    st.builds(
        lambda i, amount, tier: holding(f"w{i}", amount, tier=tier),
        st.integers(0, 2),
        st.integers(1, 2**60),
        tiers,
    ),
    max_size=3,
    unique_by=lambda h: h.wallet,
)
prices = st.builds(
    lambda u, s: Price("BTC", "USD", u, s, "p", 0), st.integers(0, 10**12), st.integers(0, 8)
)


@given(held=holdings, chosen=st.lists(policies, max_size=3, unique_by=lambda p: p.id), price=prices)
def test_cover_never_exceeds_value_or_limit(held: list, chosen: list[Policy], price: Price) -> None:
    schedule = InsuranceSchedule(FileIdentity(1, ""), USD, tuple(chosen))
    covered, uses = insurance_cover(held, schedule, {"BTC": BTC}, {"BTC": price}, 5)
    for entry in covered:
        assert 0 <= entry.covered <= entry.value
        assert sum(entry.by_policy.values()) == entry.covered
    for use in uses:
        assert 0 <= use.covered <= use.policy.limit
        assert use.covered == sum(c.by_policy.get(use.policy.id, 0) for c in covered)


@given(held=holdings, limit=st.integers(1, 2**62), deductible=st.integers(0, 2**62), price=prices)
def test_a_lone_policy_over_everything(
    held: list, limit: int, deductible: int, price: Price
) -> None:
    policy = Policy("all", "x", limit, deductible, ("hot", "warm", "cold"), (), 0, 10)
    schedule = InsuranceSchedule(FileIdentity(1, ""), USD, (policy,))
    covered, (use,) = insurance_cover(held, schedule, {"BTC": BTC}, {"BTC": price}, 5)
    value = sum(entry.value for entry in covered)
    assert use.covered == min(max(value - deductible, 0), limit)
    assert use.deductible_borne == min(deductible, value)


@given(amount=units, price=prices, low=st.integers(0, 10_000), high=st.integers(0, 10_000))
def test_haircuts_and_rounding(amount: int, price: Price, low: int, high: int) -> None:
    low, high = min(low, high), max(low, high)
    floor = value_floor(amount, BTC, price, USD)
    assert floor <= value_ceil(amount, BTC, price, USD) <= floor + 1
    assert after_haircut(floor, high) <= after_haircut(floor, low) <= floor


@given(required=units, equity=st.integers(-(2**64), 2**64), rise=units)
def test_undermargined_is_never_negative_and_never_grows_with_equity(
    required: int, equity: int, rise: int
) -> None:
    key = ("m", "BTC", "a")
    before = undermargined_amounts({key: required}, {key: equity})[("m", "BTC")][0]
    after = undermargined_amounts({key: required}, {key: equity + rise})[("m", "BTC")][0]
    assert 0 <= after <= before <= required


register_holdings = st.lists(
    st.builds(
        lambda i, amount, pool, approved: holding(
            f"w{i}", amount, pool=pool, sub_custodian=f"s{i % 2}", approved=approved
        ),
        st.integers(0, 3),
        st.integers(1, 2**60),
        st.sampled_from(("main", "")),
        st.booleans(),
    ),
    max_size=4,
    unique_by=lambda h: h.wallet,
)


@given(held=register_holdings, approved=st.tuples(st.booleans(), st.booleans()))
def test_the_register_accounts_for_every_sub_custodied_holding(
    held: list, approved: tuple[bool, bool]
) -> None:
    entries = tuple(
        SubCustodian(
            f"s{n}",
            Approval.approved if approved[n] else Approval.pending,
            0,
            (),
            tuple(h.wallet for h in held if h.sub_custodian == f"s{n}"),
        )
        for n in (0, 1)
    )
    states, findings = register_as_of(SubCustodianRegister(FileIdentity(1, ""), entries), held, 5)
    assert sum(sum(s.holdings.values()) for s in states) == sum(h.amount for h in held)
    unapproved = sum(f.amount for f in findings if f.kind == "assets_at_unapproved_sub_custodian")
    expected = sum(h.amount for h in held if h.pool and not approved[int(h.sub_custodian[1])])
    assert unapproved == expected


@given(entitlement=units, held=locations, segregated=st.booleans())
def test_a_possession_deficit_is_a_breach_event_of_its_amount(
    entitlement: int, held: Locations, segregated: bool
) -> None:
    funds = held.total - held.encumbered  # unencumbered, wherever held, as the run counts them
    excess = funds - entitlement
    alert = Alert.none
    if segregated:
        alert = Alert.undersegregated if excess < 0 else Alert.none
    line = Coverage("p", "BTC", entitlement, funds, held.encumbered, 0, segregated, alert)
    summary = RunSummary(1, 10**18, FundsBasis.observed, True, 1, 0, 0, 0, 0, 0, 0)
    body = encode_run(7, 10**18, summary, [line], [])
    entry = JournalEntry(7, EntryKind.reconciliations, 10**18, body, b"", b"")
    found = events_of_entry(entry, View({}, {1: BTC}, {"BTC": BTC}, {}))
    breaches = [e.data for e in found if e.type.value == "regulatory.breach"]
    deficit = match("p", "BTC", entitlement, held).deficit
    if segregated and deficit > 0:
        assert breaches == [{"kind": "possession_deficit", "pool": "p", "asset": "BTC",
                             "amount": format_amount(deficit, BTC), "run": 1}]  # fmt: skip
    else:
        assert breaches == []


wide = st.one_of(st.integers(0, 2**128 - 1), st.integers(0, 10))
facts = st.builds(
    DeadlineFacts,
    st.sampled_from(("omni-1", "margin", "p")),
    st.just("BTC"),
    wide,
    wide,
    wide,
    wide,
    st.integers(0, 2**32 - 1),
)


@given(
    lines=st.lists(facts, max_size=6),
    as_of=st.integers(0, 2**63 - 1),
    deadline=st.integers(0, 2**63 - 1),
)
def test_a_deadline_check_reads_back_and_its_breaches_are_events(
    lines: list[DeadlineFacts], as_of: int, deadline: int
) -> None:
    check = DeadlineCheck(as_of, deadline, bytes(range(32)), tuple(lines))
    body = encode_deadline_check(9, 10**18, check)
    assert decode_deadline_check(body) == check
    entry = JournalEntry(9, EntryKind.residual_deadlines, 10**18, body, b"", b"")
    found = events_of_entry(entry, View({}, {1: BTC}, {"BTC": BTC}, {}))
    assert {event.type.value for event in found} <= {"regulatory.breach"}
    expected = [
        (fact.pool, format_signed_units(fact.undermargined - fact.funds + fact.requirement, 8))
        for fact in lines
        if as_of >= deadline and fact.funds - fact.requirement < fact.undermargined
    ]
    assert [(e.data["pool"], e.data["cover_shortfall"]) for e in found] == expected
    assert all(e.data["kind"] == "residual_interest_deadline" for e in found)


names = st.text("abcdefghijklmnopqrstuvwxyz0123456789-", min_size=1, max_size=32)
times = st.integers(0, 2**63 - 1)
checks = st.builds(
    DueDiligence, st.text("abcdefghijklmnopqrstuvwxyz_0123456789", min_size=1, max_size=64),
    times, times,
)  # fmt: skip
sub_custodians = st.builds(
    SubCustodian, names, st.sampled_from(Approval), times,
    st.lists(checks, max_size=3).map(tuple), st.lists(names, max_size=3, unique=True).map(tuple),
)  # fmt: skip


@given(
    entries=st.lists(sub_custodians, max_size=4, unique_by=lambda entry: entry.name),
    digest=st.binary(min_size=32, max_size=32),
)
def test_a_recorded_register_reads_back_as_it_was(
    entries: list[SubCustodian], digest: bytes
) -> None:
    register = SubCustodianRegister(FileIdentity(1, digest.hex()), tuple(entries))
    assert decode_register(encode_register(3, 10**18, register)) == register
