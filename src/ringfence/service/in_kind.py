"""The in-kind return schedule (MiCA Art. 75 and the ESMA Q&A of 2026: clients' crypto-assets
are returned in kind): per client, pool and asset, what a failure at the scenario's petition
date would hand back in kind and what would become a claim on the estate, in the order the
insolvency simulator (core/insolvency/simulate.py) takes its steps.

It is read off the simulation document (service/insolvency.py) rather than computed again, so
the schedule and ``insolvency simulate`` can never disagree. ``ringfence regulatory in-kind``
prints it (``--json``, or ``--csv`` for the rows) and the resolution pack carries it beside
``insolvency.json`` when a scenario is given.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import Any

from ringfence.service.insolvency import simulate_ledger
from ringfence.service.ledger import LedgerService
from ringfence.service.ports import ScenarioFiles

protected = ("customer_property", "secured_collateral")
pool_fields = (
    "pool", "asset", "standing", "reason", "holdings", "claims", "returned_in_kind",
    "recovery_in_kind",
)  # fmt: skip
row_header = [
    "client", "pool", "asset", "standing", "claim", "held_back", "set_off", "returned_in_kind",
    "unsecured_claim",
]  # fmt: skip


def in_kind_return_schedule(
    ledger: LedgerService, scenarios: ScenarioFiles, scenario: str
) -> dict[str, Any]:
    """``ringfence regulatory in-kind --scenario FILE``: the schedule of the scenario's failure."""
    return in_kind_schedule(simulate_ledger(ledger, scenarios.read_scenario(scenario)))


def in_kind_of(ledger: LedgerService, scenario: object) -> dict[str, Any]:
    """The schedule of a scenario in hand (a request's body), as ``insolvency simulate``
    reads a scenario file; a defect is ``scenario_invalid`` or another named code."""
    return in_kind_schedule(simulate_ledger(ledger, scenario))


def in_kind_schedule(simulation: Mapping[str, Any]) -> dict[str, Any]:
    """The schedule of one simulation document."""
    outcome = simulation["segregated"]
    estate = outcome["estate"]
    returns = [
        {"client": client["client"], **position}
        for client in simulation["clients"]
        for position in client["positions"]
    ]
    dividends = [
        {"client": client["client"], "asset": asset, "amount": amount}
        for client in simulation["clients"]
        for asset, amount in client["segregated"]["dividend_in_kind"].items()
    ]
    return {
        "ok": True,
        "petition_date": simulation["petition_date"],
        "petition_ns": simulation["petition_ns"],
        "payout": simulation["payout"],
        "quote": simulation["quote"],
        "order_of_operations": _steps(simulation),
        "pools": [{key: pool[key] for key in pool_fields} for pool in outcome["pools"]],
        "returns": returns,
        "estate_dividends_in_kind": dividends,
        "estate": {key: estate[key] for key in ("admin_costs", "dividend_rate", "paid_cash")},
    }


def _steps(simulation: Mapping[str, Any]) -> list[dict[str, Any]]:
    outcome = simulation["segregated"]
    in_estate = [
        f"{pool['pool']} {pool['asset']}: {pool['reason']}"
        for pool in outcome["pools"]
        if pool["standing"] == "estate_tracing_failed"
    ]
    held_back = [p for p in simulation["preferences"] if p["held_back"]]
    lost = ", ".join(f"{amount} {asset}" for asset, amount in outcome["lost"].items())
    texts = [
        f"the scenario's losses are taken out of the wallets they hit: {lost or 'none'}",
        "custody pools are customer property (margin pools net of loans); title-transfer "
        "pools belong to the estate",
        "pools that cannot be traced fall into the estate: " + ("; ".join(in_estate) or "none"),
        f"moves into custody held back as preferences: {len(held_back)}",
        "loans are set off against the borrower's margin collateral",
        "each protected pool returns its holdings in kind, pro rata to the claims on it "
        "(recovery_in_kind per pool); a shortfall becomes an unsecured claim",
        f"the estate pays administration costs ({outcome['estate']['admin_costs']} "
        f"{simulation['quote']}) first, then unsecured claims pro rata, paid "
        f"{simulation['payout'].replace('_', ' ')}",
    ]
    return [{"step": number, "what": text} for number, text in enumerate(texts, start=1)]


def schedule_rows(schedule: Mapping[str, Any]) -> Iterator[list[object]]:
    """The returns as CSV rows under ``row_header``, protected positions first."""
    ordered = sorted(schedule["returns"], key=lambda r: (r["standing"] not in protected,))
    for row in ordered:
        yield [row[name] for name in row_header]
