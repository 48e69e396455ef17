"""The residual-interest deadline (CFTC 1.22(c)), per custody pool and asset.

A client's *undermargined amount* is what the collateral required of them exceeds their account
value by; an account in deficit counts its whole requirement (its deficit is already in the
segregation requirement, line 5, so it is not counted twice)::

    undermargined(c) = max(required(c) - max(net_equity(c), 0), 0)

By the residual-interest deadline (6 p.m. Eastern on the settlement day; the operator gives it
with the requirements) the firm's residual interest in the pool, the segregation statement's
excess, must be at least Σ undermargined. ``deadline_status``:

    met      residual interest >= Σ undermargined
    due      not yet, and the deadline has not passed: the firm still has time to top up
    breach   not, at or after the deadline: an alert (``residual_interest_deadline_breach``)
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from enum import StrEnum, unique

from ringfence.core.recon.segregation_statement import StatementLine

alert_breach = "residual_interest_deadline_breach"


@unique
class DeadlineStatus(StrEnum):
    met = "met"
    due = "due"
    breach = "breach"


@dataclass(frozen=True, slots=True)
class DeadlineLine:
    pool: str
    asset: str
    residual_interest: int  # may be negative (undersegregated)
    targeted_residual_interest: int
    undermargined: int
    accounts_undermargined: int
    deadline_ns: int
    status: DeadlineStatus

    @property
    def cover_shortfall(self) -> int:
        """What the firm must still put in to meet the deadline."""
        return max(self.undermargined - self.residual_interest, 0)

    @property
    def alert(self) -> str:
        return alert_breach if self.status is DeadlineStatus.breach else "none"


def undermargined_amounts(
    required: Mapping[tuple[str, str, str], int], equities: Mapping[tuple[str, str, str], int]
) -> dict[tuple[str, str], tuple[int, int]]:
    """Per pool and asset: Σ undermargined and how many accounts are undermargined."""
    found: dict[tuple[str, str], tuple[int, int]] = {}
    for (pool, asset, client), need in required.items():
        assert need >= 0
        short = max(need - max(equities.get((pool, asset, client), 0), 0), 0)
        total, count = found.get((pool, asset), (0, 0))
        found[(pool, asset)] = (total + short, count + (short > 0))
    return found


def status(
    residual_interest: int, undermargined: int, as_of_ns: int, deadline_ns: int
) -> DeadlineStatus:
    if residual_interest >= undermargined:
        return DeadlineStatus.met
    return DeadlineStatus.due if as_of_ns < deadline_ns else DeadlineStatus.breach


@dataclass(frozen=True, slots=True)
class DeadlineFacts:
    """What one pool and asset's deadline status is computed from, as the journal keeps it
    (core/regulatory/records.py): the statement's funds and requirement (their difference is
    the residual interest), the target, and Σ undermargined over how many accounts."""

    pool: str
    asset: str
    funds: int
    requirement: int
    target: int
    undermargined: int
    accounts_undermargined: int

    @property
    def residual_interest(self) -> int:
        return self.funds - self.requirement

    def line(self, as_of_ns: int, deadline_ns: int) -> DeadlineLine:
        residual = self.residual_interest
        return DeadlineLine(
            self.pool,
            self.asset,
            residual,
            self.target,
            self.undermargined,
            self.accounts_undermargined,
            deadline_ns,
            status(residual, self.undermargined, as_of_ns, deadline_ns),
        )


def deadline_facts(
    statement: Iterable[StatementLine], undermargined: Mapping[tuple[str, str], tuple[int, int]]
) -> list[DeadlineFacts]:
    """One per segregated statement line (title-transfer pools have no residual interest to
    speak of: their assets are the firm's)."""
    found = []
    for line in statement:
        if not line.segregated:
            continue
        short, count = undermargined.get((line.pool, line.asset), (0, 0))
        found.append(
            DeadlineFacts(
                line.pool, line.asset, line.funds, line.requirement, line.target, short, count
            )
        )
    return found


def deadline_lines(
    statement: Iterable[StatementLine],
    undermargined: Mapping[tuple[str, str], tuple[int, int]],
    as_of_ns: int,
    deadline_ns: int,
) -> list[DeadlineLine]:
    """One line per segregated statement line, its status as of ``as_of_ns``."""
    return [facts.line(as_of_ns, deadline_ns) for facts in deadline_facts(statement, undermargined)]
