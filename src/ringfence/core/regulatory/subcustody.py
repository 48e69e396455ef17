"""The sub-custodian register as of a time: each sub-custodian's approval and due diligence,
the wallets it holds and what they hold, and the findings.

Findings (each names the sub-custodian, and the pool and asset where assets are concerned):

- ``assets_at_unapproved_sub_custodian``: a pool's assets at a sub-custodian that is pending,
  revoked, or approved only after the as-of time (NYDFS Sep 2025: a sub-custodian needs
  approval before it holds customer assets);
- ``due_diligence_missing``: an approved sub-custodian with no SOC report received by the as-of
  time;
- ``due_diligence_stale``: its latest SOC report's period ended more than
  ``limits.soc_report_age_days_max`` days before the as-of time (the SEC's Sep 2025 no-action
  position expects annual due diligence and SOC reports).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field

from ringfence.core import limits
from ringfence.core.regulatory.files import SubCustodian, SubCustodianRegister
from ringfence.core.regulatory.holdings import WalletHolding

_day_ns = 86_400 * 10**9
unapproved_finding = "assets_at_unapproved_sub_custodian"
missing_finding = "due_diligence_missing"
stale_finding = "due_diligence_stale"


@dataclass(frozen=True, slots=True)
class Finding:
    kind: str
    sub_custodian: str
    pool: str = ""
    asset: str = ""
    amount: int = 0
    detail: str = ""


@dataclass(slots=True)
class SubCustodianState:
    sub_custodian: SubCustodian
    approved: bool
    latest_report_end_ns: int  # 0: no SOC report received by the as-of time
    holdings: dict[tuple[str, str], int] = field(default_factory=dict)  # (pool, asset) -> units


def latest_report(sub_custodian: SubCustodian, at_ns: int) -> int:
    received = [
        record.period_end_ns
        for record in sub_custodian.due_diligence
        if record.received_ns <= at_ns and record.kind.lower().startswith("soc")
    ]
    return max(received, default=0)


def register_as_of(
    register: SubCustodianRegister, holdings: Iterable[WalletHolding], at_ns: int
) -> tuple[list[SubCustodianState], list[Finding]]:
    """Each sub-custodian as of ``at_ns`` and the findings, in register order."""
    states = {
        s.name: SubCustodianState(s, s.approved_at(at_ns), latest_report(s, at_ns))
        for s in register.sub_custodians
    }
    for holding in holdings:
        if holding.sub_custodian:
            key = (holding.pool, holding.asset)
            held = states[holding.sub_custodian].holdings
            held[key] = held.get(key, 0) + holding.amount
    findings = []
    for state in states.values():
        name = state.sub_custodian.name
        if not state.approved:
            findings += [
                Finding(
                    unapproved_finding, name, pool, asset, amount, state.sub_custodian.status.value
                )
                for (pool, asset), amount in sorted(state.holdings.items())
                if pool and amount
            ]
            continue
        if state.latest_report_end_ns == 0:
            findings.append(Finding(missing_finding, name))
        elif at_ns - state.latest_report_end_ns > limits.soc_report_age_days_max * _day_ns:
            age_days = (at_ns - state.latest_report_end_ns) // _day_ns
            findings.append(Finding(stale_finding, name, detail=f"{age_days} days"))
    return list(states.values()), findings


# ---------------------------------------------------------------------- which register is used

not_journaled_finding = "sub_custodian_register_not_journaled"
file_source = "file"


@dataclass(frozen=True, slots=True)
class RegisterInForce:
    """The register a report uses, where it came from (``journal seq N`` or ``file``; None
    when there is none), and the finding when the file given is not the version in force."""

    register: SubCustodianRegister | None
    source: str | None
    findings: tuple[Finding, ...] = ()


def register_in_force(
    given: SubCustodianRegister | None, journaled: tuple[int, SubCustodianRegister] | None
) -> RegisterInForce:
    """The latest version journaled at or before the report's point (its sequence number and
    register) when there is one, else the file given. A file that is not that journaled
    version (another SHA-256) is not silently preferred: the journaled version is used, since
    it is the evidence, and the file is a finding that names both digests."""
    if journaled is None:
        return RegisterInForce(given, None if given is None else file_source)
    seq, register = journaled
    source = f"journal seq {seq}"
    if given is None or given.identity.sha256 == register.identity.sha256:
        return RegisterInForce(register, source)
    detail = (
        f"the file's SHA-256 {given.identity.sha256} is not the version journaled at "
        f"seq {seq} ({register.identity.sha256}), which is used"
    )
    return RegisterInForce(register, source, (Finding(not_journaled_finding, "", detail=detail),))
