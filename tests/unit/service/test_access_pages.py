"""The console's and the portal's service calls (service/access_operations.py,
access_clients.py, and the functions they share with the REST API in access_recon.py and
access_reports.py) refuse by role and by scope before they read anything, and say plainly when
there is nothing to show (no round, nothing owed, no venue book)."""

from __future__ import annotations

from functools import partial
from pathlib import Path

import pytest
from tests.support_pages import PagesWorld, build_pages_world

from ringfence.core.access.roles import Actor
from ringfence.core.errors import InputError, Result
from ringfence.core.principals.records import PrincipalRole as R
from ringfence.service import access_clients, access_operations, access_recon, access_reports


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> PagesWorld:
    return build_pages_world(tmp_path_factory.mktemp("pages"))


def refused(code: Result, call, *arguments) -> None:
    with pytest.raises(InputError) as caught:
        call(*arguments)
    assert caught.value.code is code


def test_a_client_reaches_no_other_clients_pages(world: PagesWorld) -> None:
    ledger, rounds = world.bundle.ledger, world.bundle.rounds
    carol = Actor("carol", R.client, "carol")
    for other in ("alice", "bob", "dave", "nobody"):
        refused(Result.client_not_found, access_clients.client_balances, ledger, carol, other)
        period = {"from_time": "2026-01-01", "to_time": "2026-12-31", "prices": None,
                  "uploads": world.bundle.uploaded}  # fmt: skip
        for statement in (access_recon.client_statement, access_recon.client_statement_csv):
            refused(Result.client_not_found, partial(statement, **period), ledger, carol, other)
        refused(Result.client_not_found, access_clients.client_inclusion, ledger, rounds, carol,
                other)  # fmt: skip
    for call in (access_operations.segregation_overview, access_recon.breaks,
                 access_operations.journal_status):  # fmt: skip
        refused(Result.role_forbidden, call, ledger, carol)


def test_breaks_are_resolved_by_duty(world: PagesWorld) -> None:
    ledger = world.bundle.ledger
    for role in (R.approver, R.auditor, R.admin):
        refused(Result.role_forbidden, access_recon.explain, ledger, Actor("someone", role),
                str(world.break_id), {"cause": "loss", "action": "look"})  # fmt: skip
        refused(Result.role_forbidden, access_recon.cure, ledger, Actor("someone", role),
                str(world.break_id), {"correction": "fixed"})  # fmt: skip
    operator = Actor("ops", R.operator)
    refused(Result.break_not_found, access_recon.break_of, ledger, operator,
            str(world.break_id + 99))  # fmt: skip
    found = access_recon.break_of(ledger, operator, str(world.break_id))
    assert (found["break"]["pool"], found["break"]["wallet"]) == ("main", "main-hot")


def test_nothing_to_show_is_said_plainly(world: PagesWorld, tmp_path: Path) -> None:
    ledger = world.bundle.ledger
    frank = Actor("frank", R.client, "frank")  # owed nothing: no leaf of his in the round
    shown = access_clients.client_inclusion(ledger, world.bundle.rounds, frank, "frank")
    assert shown["round"] is not None
    assert shown["proofs"] is None
    assert access_clients.client_inclusion(ledger, None, frank, "frank")["round"] is None
    staff = Actor("ops", R.operator)
    assert access_reports.rounds(ledger, None, staff)["items"] == []
    assert access_operations.venue_funds(ledger, staff)["configured"] is False  # no book
    (latest,) = access_reports.rounds(ledger, world.bundle.rounds, staff)["items"]
    btc = next(line for line in latest["assets"] if line["asset"] == "BTC")
    assert (btc["covered"], btc["reserves"], btc["liabilities"]) == (
        False, "0.00000000", "21219.00000000")  # fmt: skip
    assert latest["signature_valid"]
