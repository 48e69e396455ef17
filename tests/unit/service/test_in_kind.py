"""service/in_kind.py: the in-kind return schedule of the failing firm of
tests/support_insolvency.py, as worked out there by hand, and read off the simulation so that
the two never disagree."""

from __future__ import annotations

import csv
import io
import json
from typing import Any

import pytest
from tests.support_insolvency import SCENARIO, build_failing_firm

from ringfence.adapters.clock import ManualClock
from ringfence.core.errors import InputError, Result
from ringfence.service.in_kind import (
    in_kind_return_schedule,
    in_kind_schedule,
    row_header,
    schedule_rows,
)
from ringfence.service.insolvency import simulate_ledger
from ringfence.service.ledger import LedgerService


class Scenarios:
    def __init__(self, **documents: object) -> None:
        self.documents = documents

    def read_scenario(self, path: str) -> object:
        if path not in self.documents:
            raise InputError(Result.scenario_invalid, path)
        return self.documents[path]


def units(text: str) -> int:
    return int(text.replace(".", ""))  # every amount of one asset has the asset's scale


def returned(schedule: dict[str, Any], client: str, pool: str) -> dict[str, Any]:
    (found,) = [r for r in schedule["returns"] if (r["client"], r["pool"]) == (client, pool)]
    return found


def test_the_failing_firm_returns_in_kind_as_worked_out_by_hand(
    memory_service: LedgerService, clock: ManualClock
) -> None:
    build_failing_firm(memory_service, clock.advance)
    schedule = in_kind_return_schedule(memory_service, Scenarios(s=SCENARIO), "s")
    # main holds 90 BTC after the hack against 100 claimed: 0.9 in kind each; carol's 1 BTC
    # moved in from earn is held back as a preference; dave's own vault is whole.
    alice = returned(schedule, "alice", "main")
    assert (alice["returned_in_kind"], alice["unsecured_claim"]) == ("53.91000000", "5.99000000")
    carol = returned(schedule, "carol", "main")
    assert (carol["held_back"], carol["returned_in_kind"]) == ("1.00000000", "0.00000000")
    assert returned(schedule, "dave", "vault-dave")["returned_in_kind"] == "2.00000000"
    # The estate pays unsecured claims in kind: alice's 5.99 BTC * 8.8 / 13.8, rounded down.
    assert {"client": "alice", "asset": "BTC", "amount": "3.81971014"} in schedule[
        "estate_dividends_in_kind"
    ]
    main = next(p for p in schedule["pools"] if (p["pool"], p["asset"]) == ("main", "BTC"))
    assert main["recovery_in_kind"] == "0.9000"
    steps = [step["step"] for step in schedule["order_of_operations"]]
    assert steps == list(range(1, 8))
    assert schedule["order_of_operations"][3]["what"].endswith(": 1")  # carol's move
    # Every unit claimed is returned in kind, set off, or claimed from the estate (what is
    # held back is among the last).
    for row in schedule["returns"]:
        parts = ("set_off", "returned_in_kind", "unsecured_claim")
        assert sum(units(row[name]) for name in parts) == units(row["claim"]), row
        assert units(row["held_back"]) <= units(row["unsecured_claim"])


def test_the_schedule_is_the_simulation_read_off_and_its_rows_are_csv(
    memory_service: LedgerService, clock: ManualClock
) -> None:
    build_failing_firm(memory_service, clock.advance)
    simulation = simulate_ledger(memory_service, SCENARIO)
    schedule = in_kind_schedule(simulation)
    positions = [p for c in simulation["clients"] for p in c["positions"]]
    assert len(schedule["returns"]) == len(positions)
    text = io.StringIO()
    csv.writer(text, lineterminator="\n").writerows([row_header, *schedule_rows(schedule)])
    rows = list(csv.DictReader(io.StringIO(text.getvalue())))
    assert len(rows) == len(positions)
    protected = ("customer_property", "secured_collateral")
    first_estate = next(i for i, r in enumerate(rows) if r["standing"] not in protected)
    assert all(r["standing"] not in protected for r in rows[first_estate:])
    json.dumps(schedule)  # JSON as it stands


def test_a_missing_scenario_is_refused_by_name(memory_service: LedgerService) -> None:
    with pytest.raises(InputError) as caught:
        in_kind_return_schedule(memory_service, Scenarios(), "absent")
    assert caught.value.code is Result.scenario_invalid
