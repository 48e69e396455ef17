"""The sub-custodian register as of a time: approval, SOC report age, findings."""

from __future__ import annotations

from tests.unit.core.regulatory.support import holding

from ringfence.core.regulatory.files import (
    Approval,
    DueDiligence,
    FileIdentity,
    SubCustodian,
    SubCustodianRegister,
)
from ringfence.core.regulatory.subcustody import register_as_of, register_in_force

DAY = 86_400 * 10**9
ANCHOR = SubCustodian(
    "anchor",
    Approval.approved,
    10 * DAY,
    (DueDiligence("soc2_type2", 100 * DAY, 150 * DAY),),
    ("w-anchor",),
)
NEW = SubCustodian("newco", Approval.pending, 0, (), ("w-new",))
BARE = SubCustodian("bare", Approval.approved, 0, (), ("w-bare",))
REGISTER = SubCustodianRegister(FileIdentity(1, "0" * 64), (ANCHOR, NEW, BARE))
HOLDINGS = [
    holding("w-anchor", 5, sub_custodian="anchor"),
    holding("w-new", 7, sub_custodian="newco", approved=False),
    holding("w-bare", 1, pool="", sub_custodian="bare"),
]


def kinds(at_ns: int) -> list[tuple[str, str, int]]:
    _, findings = register_as_of(REGISTER, HOLDINGS, at_ns)
    return [(f.kind, f.sub_custodian, f.amount) for f in findings]


def test_findings_as_time_goes_by() -> None:
    # Day 200: anchor's report (period ending day 100) is current; newco holds client assets
    # unapproved; bare is approved with no report at all (its house assets are not a finding).
    assert kinds(200 * DAY) == [
        ("assets_at_unapproved_sub_custodian", "newco", 7),
        ("due_diligence_missing", "bare", 0),
    ]
    # Day 466: 366 days after the report's period ended, it is stale.
    assert ("due_diligence_stale", "anchor", 0) in kinds(466 * DAY)
    assert ("due_diligence_stale", "anchor", 0) not in kinds(465 * DAY)


def test_before_approval_and_before_the_report_arrived() -> None:
    states, findings = register_as_of(REGISTER, HOLDINGS, 5 * DAY)
    assert [s.approved for s in states] == [False, False, True]  # bare: approved from 0
    assert states[0].latest_report_end_ns == 0
    assert {(f.kind, f.sub_custodian) for f in findings} == {
        ("assets_at_unapproved_sub_custodian", "anchor"),  # approved only from day 10
        ("assets_at_unapproved_sub_custodian", "newco"),
        ("due_diligence_missing", "bare"),
    }
    assert states[0].holdings == {("main", "BTC"): 5}


OTHER = SubCustodianRegister(FileIdentity(1, "1" * 64), (NEW,))


def test_the_register_in_force_is_the_journaled_one_and_a_differing_file_a_finding() -> None:
    nothing = register_in_force(None, None)
    assert (nothing.register, nothing.source, nothing.findings) == (None, None, ())
    only_file = register_in_force(REGISTER, None)
    assert (only_file.register, only_file.source, only_file.findings) == (REGISTER, "file", ())
    only_journal = register_in_force(None, (7, OTHER))
    assert (only_journal.register, only_journal.source, only_journal.findings) == (
        OTHER, "journal seq 7", (),
    )  # fmt: skip
    same = register_in_force(OTHER, (7, OTHER))
    assert (same.register, same.source, same.findings) == (OTHER, "journal seq 7", ())
    differs = register_in_force(REGISTER, (7, OTHER))
    assert (differs.register, differs.source) == (OTHER, "journal seq 7")
    (finding,) = differs.findings
    assert finding.kind == "sub_custodian_register_not_journaled"
    assert "0" * 64 in finding.detail and "1" * 64 in finding.detail
