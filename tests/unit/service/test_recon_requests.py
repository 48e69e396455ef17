"""service/recon_requests.py: each request takes plain strings and returns what the CLI prints.

Method: the firm of test_recon.py over a memory store, and an in-memory ``ReconFiles`` that
holds files by name (the port the CLI's local files adapter implements). A request's document
must match the document built from the service's own result; words and times are checked with
named errors; CSV comes out as the text the CLI prints.
"""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Mapping, Sequence

import pytest
from tests.unit.service.test_recon import ADDRESSES, Firm

from ringfence.adapters.clock import ManualClock
from ringfence.adapters.prices import PriceTable
from ringfence.adapters.storage.memory import MemoryStore
from ringfence.core.custody.holdings import Observation
from ringfence.core.errors import InputError, Result
from ringfence.core.money import Asset
from ringfence.core.recon.files import parse_observations, parse_prices, parse_settings
from ringfence.core.recon.run import ReconSettings
from ringfence.service import recon_requests as requests


class MemoryFiles:
    """Files by name, in memory (a missing name is refused as the local adapter does)."""

    def __init__(self, **files: str) -> None:
        self.files = {name: text.encode() for name, text in files.items()}

    def _read(self, name: str) -> bytes:
        if name not in self.files:
            raise InputError(Result.field_required, f"{name}: No such file or directory")
        return self.files[name]

    def observations(self, name: str, assets: Mapping[str, Asset]) -> list[Observation]:
        return parse_observations(self._read(name), assets)

    def settings(
        self, name: str, assets: Mapping[str, Asset], pools: Mapping[str, object]
    ) -> ReconSettings:
        return parse_settings(self._read(name), assets, pools)

    def prices(self, name: str) -> PriceTable:
        return PriceTable(parse_prices(self._read(name)).values())

    def write_observations(self, name: str, observations: Sequence[Observation]) -> None:
        raise AssertionError("reconciliation writes no file")


def observations_text(**amounts: int) -> str:
    return "".join(
        json.dumps({"chain": "bitcoin", "address": ADDRESSES[wallet], "asset": "BTC",
                    "amount": str(amount), "height": 900, "source": "listed"}) + "\n"
        for wallet, amount in amounts.items()
    )  # fmt: skip


@pytest.fixture
def firm() -> Firm:
    made = Firm(MemoryStore(), ManualClock(10**18))
    made.deposit("alice", 100)
    return made


def test_a_reconciliation_reads_its_files_by_name_and_journals_a_run(firm: Firm) -> None:
    files = MemoryFiles(seen=observations_text(**{"main-hot": 99}))
    done = requests.reconcile(firm.recon, files, observations="seen", with_history=True)
    assert done.document["ok"] is True
    assert done.document["funds_basis"] == "observed"
    assert [b["difference_units"] for b in done.document["breaks_open"]] == ["-1"]
    assert done.history is not None
    assert len(done.history["runs"]) == 1
    listed = requests.reconciliation_breaks(firm.recon)
    assert [b["id"] for b in listed["breaks"]] == [b["id"] for b in done.document["breaks_open"]]


def test_a_missing_file_and_a_bad_time_are_named_errors(firm: Firm) -> None:
    files = MemoryFiles()
    with pytest.raises(InputError) as missing:
        requests.segregation_statement(firm.recon, files, observations="nowhere")
    assert missing.value.code is Result.field_required
    with pytest.raises(InputError) as bad_time:
        requests.segregation_statement(firm.recon, files, as_of="2026-11-20T17:00:00")
    assert bad_time.value.code is Result.timestamp_invalid


def test_the_segregation_statement_as_csv_has_the_documents_lines(firm: Firm) -> None:
    files = MemoryFiles()
    document = requests.segregation_statement(firm.recon, files, as_of="2030-01-01")
    rows = list(csv.reader(io.StringIO(requests.segregation_statement_csv(firm.recon, files))))
    assert rows[0] == list(requests.segregation_csv_columns)
    lines = [*document["segregated"], *document["title_transfer"]]
    assert [row[:2] for row in rows[1:]] == [[x["pool"], x["asset"]] for x in lines]


def test_a_cause_is_one_of_the_services_words(firm: Firm) -> None:
    assert "network_fee_not_booked" in requests.cause_names
    requests.reconcile(firm.recon, MemoryFiles(seen=observations_text(**{"main-hot": 99})),
                       observations="seen")  # fmt: skip
    (broken,) = requests.reconciliation_breaks(firm.recon)["breaks"]
    with pytest.raises(InputError) as unknown:
        requests.explain_break(firm.recon, broken["id"], "gremlins", "look")
    assert unknown.value.code is Result.break_cause_unknown
    explained = requests.explain_break(firm.recon, broken["id"], "loss", "claim the insurer")
    assert (explained["ok"], explained["break"]["state"]) == (True, "explained")


def test_the_register_as_json_and_as_csv_agree(firm: Firm) -> None:
    document = requests.register_of_positions(firm.recon)
    rows = list(csv.DictReader(io.StringIO(requests.register_of_positions_csv(firm.recon))))
    assert document["register"] == rows
    assert [row["amount"] for row in rows] == ["0.00000100"]


def test_the_ledger_breaks_are_a_document(firm: Firm) -> None:
    assert requests.ledger_breaks(firm.ledger) == {"ok": True, "breaks": []}
