"""service/resolution_pack_regulatory.py through the pack: the sub-custodian register and the
insurance schedule land in the zip, each listed with its SHA-256 in the master index.

The firm of test_regulatory.py on the book basis: alice's 100 in ``main-hot``, nothing in
``main-cold``, which the register gives to an approved sub-custodian. One crime policy covers
the hot tier: at 1 BTC = 100,000,000.00 USD the 100 units are worth 100.00 USD; its deductible
of 10.00 is borne first and its limit covers 60.00, so 40.00 is uncovered and the hot-wallet
alert fires.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import pytest
from tests.unit.service.test_recon import Firm
from tests.unit.service.test_regulatory import MemoryRegulatoryFiles, text

from ringfence.adapters.clock import ManualClock
from ringfence.adapters.files.resolution_pack import ZipResolutionPackFiles
from ringfence.adapters.storage.memory import MemoryStore
from ringfence.core.errors import InputError, Result
from ringfence.service.resolution_pack import write_resolution_pack
from ringfence.service.resolution_pack_reading import verify_pack
from ringfence.service.resolution_pack_regulatory import RegulatoryInputs

ANCHOR = {
    "name": "anchor",
    "status": "approved",
    "approved_on": "2001-01-15",
    "due_diligence": [
        {"kind": "soc2_type2", "period_end": "2001-06-30", "received_on": "2001-08-01"}
    ],
    "wallets": ["main-cold"],
}
CRIME = {
    "id": "crime", "insurer": "syndicate 1", "limit": "60.00", "deductible": "10.00",
    "tiers": ["hot"], "start": "2001-01-01", "end": "2002-01-01",
}  # fmt: skip
FILES = MemoryRegulatoryFiles(
    register=text(sub_custodians=[ANCHOR]),
    policies=text(quote="USD", quote_scale=2, policies=[CRIME]),
    prices=json.dumps({"prices": [{"asset": "BTC", "price": "100000000.00", "source": "desk"}]}),
)


@pytest.fixture
def firm() -> Firm:
    made = Firm(MemoryStore(), ManualClock(10**18))
    made.deposit("alice", 100)
    return made


def _pack(firm: Firm, out: Path, inputs: RegulatoryInputs) -> dict[str, object]:
    files = ZipResolutionPackFiles()
    return write_resolution_pack(
        firm.ledger,
        files,
        str(out),
        scenarios=None,
        regulatory=inputs,  # type: ignore[arg-type]
    )


def test_the_register_and_the_schedule_are_in_the_pack_and_its_index(
    firm: Firm, tmp_path: Path
) -> None:
    out = tmp_path / "pack.zip"
    index = _pack(firm, out, RegulatoryInputs(FILES, "register", "policies", "prices"))
    files = ZipResolutionPackFiles()
    assert verify_pack(files, str(out)) == []
    listed = {entry["file"] for entry in index["files"]}  # type: ignore[attr-defined]
    assert {"regulatory/sub_custodians.json", "regulatory/insurance.json"} <= listed
    register = json.loads(files.read(str(out), "regulatory/sub_custodians.json"))
    (anchor,) = register["sub_custodians"]
    assert (anchor["name"], anchor["approved_at_as_of"], anchor["wallets"]) == (
        "anchor",
        True,
        ["main-cold"],
    )
    register_hash = hashlib.sha256(FILES.files["register"]).hexdigest()
    assert register["register"]["sha256"] == register_hash
    cover = json.loads(files.read(str(out), "regulatory/insurance.json"))
    (hot,) = [line for line in cover["lines"] if line["tier"] == "hot"]
    assert (hot["value_units"], hot["covered_units"], hot["uncovered_units"]) == (
        "10000",
        "6000",
        "4000",
    )
    assert cover["hot_uncovered_units"] == "4000"
    assert cover["alerts"] == ["hot_holdings_exceed_cover"]
    readable = files.read(str(out), "INDEX.txt").decode()
    assert "regulatory/insurance.json" in readable and "regulatory/sub_custodians.json" in readable


def test_without_their_files_the_pack_has_no_regulatory_documents(
    firm: Firm, tmp_path: Path
) -> None:
    index = _pack(firm, tmp_path / "pack.zip", RegulatoryInputs(FILES))
    names = [entry["file"] for entry in index["files"]]  # type: ignore[attr-defined]
    assert not [name for name in names if name.startswith("regulatory/")]


@pytest.mark.parametrize(("policies", "prices"), [("policies", None), (None, "prices")])
def test_policies_and_prices_come_together_or_nothing_is_written(
    firm: Firm, tmp_path: Path, policies: str | None, prices: str | None
) -> None:
    out = tmp_path / "pack.zip"
    with pytest.raises(InputError) as caught:
        _pack(firm, out, RegulatoryInputs(FILES, None, policies, prices))
    assert caught.value.code is Result.field_required
    assert list(tmp_path.iterdir()) == []


def test_a_bad_register_writes_no_pack(firm: Firm, tmp_path: Path) -> None:
    bad = MemoryRegulatoryFiles(register=text(sub_custodians=[{**ANCHOR, "wallets": ["nope"]}]))
    with pytest.raises(InputError) as caught:
        _pack(firm, tmp_path / "pack.zip", RegulatoryInputs(bad, "register"))
    assert caught.value.code is Result.wallet_not_found
    assert list(tmp_path.iterdir()) == []
