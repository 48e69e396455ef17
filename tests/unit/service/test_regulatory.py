"""service/regulatory.py: each request over the firm of test_recon.py in a memory store, with an
in-memory ``RegulatoryFiles`` (the port the CLI's local files adapter implements).

alice deposits 100 into ``main-hot``; 30 of ``main-cold``'s observed 40 is pledged to a lender;
the chain shows 60 in ``main-hot``. Possession: entitlement 100 = controlled 60 (hot) + 10
(cold's free part) + encumbered 30; no deficit; a break of 30 with a top-up as its cure. The
reports journal nothing, and a bad file is refused by name.
"""

from __future__ import annotations

import json
from collections.abc import Collection, Iterator, Mapping
from pathlib import Path
from typing import Any

import pytest
from tests.support import MAIN, journal_public_key
from tests.unit.service.test_recon import Firm
from tests.unit.service.test_recon_requests import MemoryFiles, observations_text

from ringfence.adapters.clock import ManualClock
from ringfence.adapters.storage.memory import MemoryStore
from ringfence.adapters.storage.sqlite import SqliteStore
from ringfence.bootstrap import open_store
from ringfence.core.custody.registry import Encumbrance, EncumbranceKind
from ringfence.core.errors import InputError, Result
from ringfence.core.ledger.journal import EntryKind
from ringfence.core.money import Asset
from ringfence.core.regulatory.files import (
    HaircutSchedule,
    InsuranceSchedule,
    MarginRequirements,
    SubCustodianRegister,
    parse_haircut_schedule,
    parse_insurance_schedule,
    parse_margin_requirements,
    parse_sub_custodian_register,
)
from ringfence.core.regulatory.possession_breaks import (
    CarriedPossessionBreak,
    encode_possession_check,
)
from ringfence.service import events, regulatory
from ringfence.service.audit import verify_store
from ringfence.service.ports import LedgerStore


class MemoryRegulatoryFiles(MemoryFiles):
    def sub_custodian_register(self, name: str, wallets: Collection[str]) -> SubCustodianRegister:
        return parse_sub_custodian_register(self._read(name), wallets)

    def insurance_schedule(self, name: str, wallets: Collection[str]) -> InsuranceSchedule:
        return parse_insurance_schedule(self._read(name), wallets)

    def haircut_schedule(self, name: str, assets: Mapping[str, Asset]) -> HaircutSchedule:
        return parse_haircut_schedule(self._read(name), assets)

    def margin_requirements(
        self,
        name: str,
        assets: Mapping[str, Asset],
        pools: Mapping[str, bool],
        clients: Collection[str],
    ) -> MarginRequirements:
        return parse_margin_requirements(self._read(name), assets, pools, clients)


def text(**fields: Any) -> str:
    return json.dumps({"version": 1, **fields})


@pytest.fixture
def firm() -> Firm:
    firm = Firm(MemoryStore(), ManualClock(10**18))
    firm.deposit("alice", 100)
    pledge = Encumbrance(1, "main-cold", "BTC", 30, EncumbranceKind.pledge, "lender", 0)
    assert firm.custody.change([pledge]) == [Result.ok]
    return firm


FILES = MemoryRegulatoryFiles(
    chain=observations_text(**{"main-hot": 60, "main-cold": 40}),
    register=text(sub_custodians=[{"name": "x", "status": "revoked", "wallets": ["nope"]}]),
)


def test_possession_with_an_encumbrance(firm: Firm) -> None:
    head = firm.store.head()
    document = regulatory.possession_and_control(firm.ledger, FILES, observations="chain")
    (main,) = document["pools"]
    assert main["controlled_by_tier"]["hot"]["amount_units"] == "60"
    assert main["controlled_by_tier"]["cold"]["amount_units"] == "10"
    assert (main["encumbered_units"], main["deficit_units"], main["shortfall_units"]) == (
        "30",
        "0",
        "30",
    )
    (broken,) = document["breaks"]
    assert broken["cure"]["amount_units"] == "30"
    assert document["register"] is None
    assert firm.store.head() == head


def test_a_bad_register_is_refused_by_name_and_nothing_is_journaled(firm: Firm) -> None:
    head = firm.store.head()
    with pytest.raises(InputError) as caught:
        regulatory.possession_and_control(firm.ledger, FILES, register="register")
    assert caught.value.code is Result.wallet_not_found
    with pytest.raises(InputError) as caught:
        regulatory.sub_custodian_register(firm.ledger, FILES, register="absent")
    assert caught.value.code is Result.field_required
    assert firm.store.head() == head


def test_without_files_possession_is_on_the_book_and_a_named_file_is_refused(firm: Firm) -> None:
    document = regulatory.possession_and_control(firm.ledger, None)
    (main,) = document["pools"]
    assert (document["basis"], main["entitlement_units"], main["controlled_units"]) == (
        "book",
        "100",
        "100",
    )
    with pytest.raises(InputError) as caught:
        regulatory.possession_and_control(firm.ledger, None, register="register")
    assert caught.value.code is Result.field_required


@pytest.fixture(params=["memory", "sqlite", "postgres"])
def any_store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[LedgerStore]:
    """A check is a journal entry of kind 22: every store takes it (PostgreSQL once its
    migration widened the journal's kind check)."""
    opened: LedgerStore
    if request.param == "memory":
        opened = MemoryStore()
    elif request.param == "sqlite":
        opened = SqliteStore(str(tmp_path / "ledger.db"))
    else:
        opened = open_store(request.getfixturevalue("postgres_url"))
    yield opened
    opened.close()


def test_a_recorded_deadline_check_is_journaled_and_its_breach_is_an_event(
    any_store: LedgerStore,
) -> None:
    firm = Firm(any_store, ManualClock(10**18))
    firm.deposit("alice", 100)
    deadline = 10**18 + 10**12
    # alice must hold 130: undermargined by 30; the pool's residual interest is 0 (100 held
    # against 100 owed), so 30 is not covered.
    files = MemoryRegulatoryFiles(requirements=json.dumps({
        "version": 1, "deadline": str(deadline),
        "requirements": [{"pool": MAIN, "asset": "BTC", "client": "alice",
                          "required": "0.00000130"}],
    }))  # fmt: skip
    before = regulatory.residual_interest_deadline(
        firm.ledger, files, requirements_file="requirements", record=True
    )
    [line] = [
        found for found in before["lines"] if (found["pool"], found["asset"]) == (MAIN, "BTC")
    ]
    assert (line["deadline_status"], line["cover_shortfall_units"]) == ("due", "30")
    assert before["journal_seq"] == str(firm.ledger.seq)
    assert firm.store.head()[0] == firm.ledger.seq
    breaches = events.events(firm.ledger, None, types="regulatory.breach")["items"]
    assert breaches == []
    firm.clock.advance(1_000)  # seconds: past the deadline
    after = regulatory.residual_interest_deadline(
        firm.ledger, files, requirements_file="requirements", record=True
    )
    assert after["alerts"] == ["residual_interest_deadline_breach"]
    [breach] = events.events(firm.ledger, None, types="regulatory.breach")["items"]
    assert breach["seq"] == after["journal_seq"]
    assert breach["data"] == {
        "kind": "residual_interest_deadline", "pool": MAIN, "asset": "BTC",
        "residual_interest": "0.00000000", "undermargined": "0.00000030",
        "cover_shortfall": "0.00000030", "targeted_residual_interest": "0.00000000",
        "accounts_undermargined": 1, "as_of_ns": after["as_of_ns"],
        "deadline_ns": str(deadline), "requirements_sha256": after["requirements"]["sha256"],
    }  # fmt: skip
    report = verify_store(firm.store, trusted_keys=[journal_public_key])
    assert report.ok, report.problems


def test_a_deadline_check_not_asked_for_is_not_journaled(firm: Firm) -> None:
    head = firm.store.head()
    files = MemoryRegulatoryFiles(requirements=json.dumps(
        {"version": 1, "deadline": "2026-11-20T23:00:00Z", "requirements": []}
    ))  # fmt: skip
    document = regulatory.residual_interest_deadline(
        firm.ledger, files, requirements_file="requirements"
    )
    assert document["journal_seq"] is None
    assert firm.store.head() == head


def test_a_recorded_register_is_journaled_as_evidence(any_store: LedgerStore) -> None:
    firm = Firm(any_store, ManualClock(10**18))
    register = text(sub_custodians=[
        {"name": "anchor", "status": "approved", "approved_on": "2001-01-01",
         "wallets": ["main-cold"]},
        {"name": "newco", "status": "pending", "wallets": []},
    ])  # fmt: skip
    files = MemoryRegulatoryFiles(register=register)
    document = regulatory.sub_custodian_register(
        firm.ledger, files, register="register", record=True
    )
    assert document["journal_seq"] == str(firm.ledger.seq)
    [recorded] = events.events(firm.ledger, None, types="sub_custodian_register.recorded")["items"]
    assert recorded["seq"] == document["journal_seq"]
    assert recorded["data"] == {
        "sha256": document["register"]["sha256"], "version": 1,
        "sub_custodians": ["anchor", "newco"], "wallets": 1,
    }  # fmt: skip
    report = verify_store(firm.store, trusted_keys=[journal_public_key])
    assert report.ok, report.problems
    # Not asked to, a report journals nothing.
    head = firm.store.head()
    unrecorded = regulatory.sub_custodian_register(firm.ledger, files, register="register")
    assert unrecorded["journal_seq"] is None
    assert firm.store.head() == head


# ---------------------------------------------------------------------- the register in force
#
# The firm above, observed (main-hot 60, main-cold 40 of which 30 pledged). PENDING puts
# main-cold at newco, not approved: its free 10 is then unapproved, so possession reads
# controlled 60 (hot) + unapproved 10 + encumbered 30 = 100, shortfall 40. APPROVED puts it at
# anchor, approved in 2001: the 10 is then approved, shortfall 30. With no register at all the
# 10 is controlled cold (test_possession_with_an_encumbrance).

PENDING = text(sub_custodians=[{"name": "newco", "status": "pending", "wallets": ["main-cold"]}])
APPROVED = text(sub_custodians=[
    {"name": "anchor", "status": "approved", "approved_on": "2001-01-01",
     "wallets": ["main-cold"]},
])  # fmt: skip
BOTH = MemoryRegulatoryFiles(
    chain=observations_text(**{"main-hot": 60, "main-cold": 40}), pending=PENDING,
    approved=APPROVED,
)  # fmt: skip


def _figures(document: dict[str, Any]) -> tuple[str, str, str, str]:
    (main,) = document["pools"]
    return (
        main["controlled_units"], main["approved_sub_custodians_units"],
        main["unapproved_sub_custodians_units"], main["shortfall_units"],
    )  # fmt: skip


def test_with_no_register_journaled_the_file_is_used_and_said_so(firm: Firm) -> None:
    document = regulatory.possession_and_control(
        firm.ledger, BOTH, observations="chain", register="approved"
    )
    assert _figures(document) == ("60", "10", "0", "30")
    assert document["register_source"] == "file"
    assert document["alerts"] == ["possession_shortfall"]
    bare = regulatory.possession_and_control(firm.ledger, BOTH, observations="chain")
    assert (bare["register"], bare["register_source"]) == (None, None)
    assert _figures(bare) == ("70", "0", "0", "30")


def test_the_latest_journaled_register_is_used_with_or_without_the_file(firm: Firm) -> None:
    first = regulatory.sub_custodian_register(firm.ledger, BOTH, register="approved", record=True)
    second = regulatory.sub_custodian_register(firm.ledger, BOTH, register="pending", record=True)
    assert (first["register_source"], second["register_source"]) == (
        f"journal seq {first['journal_seq']}", f"journal seq {second['journal_seq']}",
    )  # fmt: skip
    latest = f"journal seq {second['journal_seq']}"
    for named in (None, "pending"):
        document = regulatory.possession_and_control(
            firm.ledger, BOTH, observations="chain", register=named
        )
        assert _figures(document) == ("60", "0", "10", "40")
        assert document["register_source"] == latest
        assert document["register"]["sha256"] == second["register"]["sha256"]
        assert document["alerts"] == ["possession_shortfall"]


def test_a_file_that_is_not_the_journaled_version_is_a_finding_not_preferred(firm: Firm) -> None:
    recorded = regulatory.sub_custodian_register(firm.ledger, BOTH, register="pending", record=True)
    head = firm.store.head()
    document = regulatory.possession_and_control(
        firm.ledger, BOTH, observations="chain", register="approved"
    )
    assert _figures(document) == ("60", "0", "10", "40")  # the journaled (pending) version
    assert document["register_source"] == f"journal seq {recorded['journal_seq']}"
    assert document["alerts"] == ["possession_shortfall", "sub_custodian_register_not_journaled"]
    register = regulatory.sub_custodian_register(
        firm.ledger, BOTH, register="approved", observations="chain"
    )
    assert [row["name"] for row in register["sub_custodians"]] == ["newco"]
    finding, unapproved = register["findings"]
    assert finding["kind"] == "sub_custodian_register_not_journaled"
    assert recorded["register"]["sha256"] in finding["detail"]
    assert unapproved["kind"] == "assets_at_unapproved_sub_custodian"
    assert unapproved["amount_units"] == "40"  # all main-cold holds, pledged or not
    assert firm.store.head() == head  # reading the journaled version writes nothing


def test_a_register_journaled_after_the_reports_point_is_not_used(firm: Firm) -> None:
    recorded = regulatory.sub_custodian_register(firm.ledger, BOTH, register="pending", record=True)
    (entry,) = firm.store.entries(after_seq=int(recorded["journal_seq"]) - 1)
    before = str(entry.timestamp - 1)
    document = regulatory.possession_and_control(
        firm.ledger, BOTH, observations="chain", register="approved", as_of=before
    )
    assert (document["register_source"], _figures(document)) == ("file", ("60", "10", "0", "30"))
    assert document["alerts"] == ["possession_shortfall"]
    at = regulatory.possession_and_control(
        firm.ledger, BOTH, observations="chain", as_of=str(entry.timestamp)
    )
    assert at["register_source"] == f"journal seq {recorded['journal_seq']}"


# ---------------------------------------------------------------------- possession breaks carried
#
# Observed main-hot 60 and main-cold 40 (30 pledged): a break of 30 (encumbered). Observed
# main-hot 100 later, alice's 100 is all controlled: no break. Checks are recorded 100 s and
# 160 s after the clock's start, then the shortfall is gone at 400 s.

T0 = 10**18


def test_a_possession_break_keeps_its_first_seen_and_age_and_is_closed_when_gone(
    any_store: LedgerStore,
) -> None:
    firm = Firm(any_store, ManualClock(T0))
    firm.deposit("alice", 100)
    pledge = Encumbrance(1, "main-cold", "BTC", 30, EncumbranceKind.pledge, "lender", 0)
    assert firm.custody.change([pledge]) == [Result.ok]
    files = MemoryRegulatoryFiles(
        short=observations_text(**{"main-hot": 60, "main-cold": 40}),
        whole=observations_text(**{"main-hot": 100, "main-cold": 40}),
    )

    def check(at_s: int, observed: str, record: bool = True) -> dict[str, Any]:
        return regulatory.possession_and_control(
            firm.ledger, files, observations=observed, as_of=str(T0 + at_s * 10**9),
            record=record,
        )  # fmt: skip

    first = check(100, "short")
    (opened,) = first["breaks"]
    assert (opened["id"], opened["age_s"], opened["shortfall_units"]) == (1, 0, "30")
    assert (first["closed_breaks"], first["journal_seq"]) == ([], str(firm.ledger.seq))
    second = check(160, "short")
    (carried,) = second["breaks"]
    assert (carried["id"], carried["first_seen"], carried["age_s"]) == (
        1, opened["first_seen"], 60,
    )  # fmt: skip
    # Read, not recorded: the same carried break, and nothing is journaled.
    head = firm.store.head()
    (read,) = check(220, "short", record=False)["breaks"]
    assert (read["id"], read["age_s"]) == (1, 120)
    assert firm.store.head() == head
    gone = check(400, "whole")
    assert gone["breaks"] == []
    (closed,) = gone["closed_breaks"]
    assert (closed["id"], closed["state"], closed["age_s"]) == (1, "closed", 300)
    assert closed["closed_at"] == gone["as_of"]
    assert closed["last_seen"] == second["as_of"]
    # A later shortfall is a new break; the closed one stays closed.
    (again,) = check(500, "short")["breaks"]
    assert (again["id"], again["age_s"]) == (2, 0)
    report = verify_store(firm.store, trusted_keys=[journal_public_key])
    assert report.ok, report.problems


def test_audit_finds_a_possession_check_that_rewrites_a_break(firm: Firm) -> None:
    """A signed, well-framed check that moves an open break's first-seen time (to make it look
    younger) is refused by the book as the audit replays it."""
    files = MemoryRegulatoryFiles(chain=observations_text(**{"main-hot": 60, "main-cold": 40}))
    first = regulatory.possession_and_control(firm.ledger, files, observations="chain", record=True)
    (opened,) = first["breaks"]
    assert verify_store(firm.store, trusted_keys=[journal_public_key]).ok
    at = firm.ledger.next_timestamp()
    younger = CarriedPossessionBreak(opened["id"], "main", "BTC", at, at, 0, 0, 30, 0)
    firm.ledger.append_entry(
        EntryKind.possession_checks, at,
        lambda seq: encode_possession_check(seq, at, at, [younger]),
    )  # fmt: skip
    report = verify_store(firm.store, trusted_keys=[journal_public_key])
    assert not report.ok
    assert any("first seen" in problem.detail for problem in report.problems), report.problems
