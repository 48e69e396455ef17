"""Commingling detection: where clients' assets and the firm's are mixed, or one client's
assets serve another.

Three findings, each with a severity and the evidence that supports it:

- ``client_assets_in_house_wallet`` (critical): a client's deposit sits in a house wallet. The
  ledger records it as a misdirected deposit and an open break until the house makes the
  pool whole; an inflow from a client's own address to a house wallet that was never booked
  is the same thing, unrecorded.
- ``house_assets_beyond_target`` (warning): the firm's own value in a custody pool (its
  residual interest, observed) exceeds the pool's target plus a tolerance. A buffer is
  intended; a pile is the firm's money mixed with clients' that should be swept out.
- ``client_funded_another`` (critical): a withdrawal from an omnibus pool that succeeded only
  because other clients' assets were in the shared wallet, the withdrawing client's own
  deposits having never arrived on chain (Prime Trust).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from enum import StrEnum, unique

from ringfence.core.custody.holdings import Inflow
from ringfence.core.money import mul_div_floor
from ringfence.core.recon.history import Funding
from ringfence.core.recon.segregation_statement import StatementLine

_basis_points = 10_000


@unique
class FindingKind(StrEnum):
    client_assets_in_house_wallet = "client_assets_in_house_wallet"
    house_assets_beyond_target = "house_assets_beyond_target"
    client_funded_another = "client_funded_another"


@unique
class Severity(StrEnum):
    critical = "critical"  # clients' property is at risk now: notify, cure the same day
    warning = "warning"  # a control is off: act before it becomes critical


@dataclass(frozen=True, slots=True)
class Finding:
    kind: FindingKind
    severity: Severity
    pool: str
    asset: str
    amount: int
    wallet: str = ""
    client: str = ""
    evidence: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class MisdirectedBreak:
    """A ledger break opened by a misdirected deposit, with the house wallet that holds it."""

    id: int
    pool: str
    asset: str
    client: str
    house_wallet: str
    outstanding: int
    opened_at_ns: int


def misdirected_findings(breaks: Iterable[MisdirectedBreak]) -> list[Finding]:
    return [
        Finding(
            FindingKind.client_assets_in_house_wallet,
            Severity.critical,
            broken.pool,
            broken.asset,
            broken.outstanding,
            broken.house_wallet,
            broken.client,
            {
                "ledger_break": str(broken.id),
                "transfer": str(broken.id),
                "opened_at_ns": str(broken.opened_at_ns),
                "recorded": "misdirected_deposit",
            },
        )
        for broken in breaks
        if broken.outstanding > 0
    ]


def unbooked_house_inflows(
    inflows: Iterable[Inflow],
    house_wallet_of_address: Mapping[str, str],
    client_of_sender: Mapping[str, str],
    booked: Mapping[str, bool],
) -> list[Finding]:
    """Inflows to a house wallet from an address the registry knows as a client's own, that
    the ledger never booked (``booked`` by chain reference)."""
    found = []
    for inflow in inflows:
        wallet = house_wallet_of_address.get(inflow.address)
        client = client_of_sender.get(inflow.sender) if inflow.sender else None
        if wallet is None or client is None or booked.get(inflow.reference, False):
            continue
        found.append(
            Finding(
                FindingKind.client_assets_in_house_wallet,
                Severity.critical,
                "",
                inflow.asset,
                inflow.amount,
                wallet,
                client,
                {
                    "reference": inflow.reference,
                    "sender": inflow.sender,
                    "address": inflow.address,
                    "height": str(inflow.height),
                    "source": inflow.source,
                    "recorded": "no",
                },
            )
        )
    return found


def house_excess_findings(lines: Iterable[StatementLine], tolerance_bps: int) -> list[Finding]:
    """Custody pools holding more of the firm's own than their target plus the tolerance
    (``tolerance_bps`` of the requirement)."""
    assert 0 <= tolerance_bps <= _basis_points
    found = []
    for line in lines:
        if not line.segregated:
            continue
        tolerance = mul_div_floor(line.requirement, tolerance_bps, _basis_points)
        beyond = line.excess - max(line.target, 0) - tolerance
        if beyond > 0:
            found.append(
                Finding(
                    FindingKind.house_assets_beyond_target,
                    Severity.warning,
                    line.pool,
                    line.asset,
                    beyond,
                    evidence={
                        "excess": str(line.excess),
                        "target": str(line.target),
                        "tolerance": str(tolerance),
                        "residual_interest_book": str(line.residual_interest_book),
                    },
                )
            )
    return found


def funding_findings(fundings: Iterable[Funding]) -> list[Finding]:
    return [
        Finding(
            FindingKind.client_funded_another,
            Severity.critical,
            funding.pool,
            funding.asset,
            funding.amount,
            client=funding.client,
            evidence={
                "account": str(funding.account),
                "withdrawals": " ".join(str(i) for i in funding.withdrawals),
                "deposits_not_arrived": " ".join(str(i) for i in funding.deposits_not_arrived),
            },
        )
        for funding in fundings
    ]
