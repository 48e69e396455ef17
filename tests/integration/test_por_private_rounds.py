"""A private-mode round through service/por.py and the rounds directory: built and kept with
its private trees, a client's proofs (one range proof per asset) verify with `por verify`
and are refused by name when forged; the stdlib verifier names them and does not count them."""

from __future__ import annotations

import base64
import json
from pathlib import Path
from typing import Any

import pytest
from tests.support import Custodian

from ringfence import bootstrap, verifier
from ringfence.adapters.executors import InProcessExecutor
from ringfence.core.errors import Result
from ringfence.core.por.ristretto import commit
from ringfence.service import por, por_verify
from ringfence.service.ledger import LedgerService
from ringfence.service.ports import RoundStore


@pytest.fixture
def rounds(tmp_path: Path) -> RoundStore:
    return bootstrap.round_store("memory://", str(tmp_path / "por"))


@pytest.fixture
def funded(memory_service: LedgerService, custodian: Custodian) -> LedgerService:
    results = memory_service.submit([
        custodian.deposit(1, "alice", 150_000_000),
        custodian.deposit(2, "bob", 150_000_000),
        custodian.deposit(3, "alice", 2 * 10**18 + 1, asset="ETH"),
    ])  # fmt: skip
    assert results == [Result.ok] * 3
    return memory_service


def verify(proof: Any, record: Any, **options: Any) -> dict[str, Any]:
    options = {"client_id": "alice"} | options
    return por_verify.verify_proofs(json.dumps(proof).encode(), json.dumps(record).encode(),
                                    **options)


@pytest.mark.slowest  # five range proofs made or checked
def test_a_private_round_is_kept_and_its_proofs_verify_for_their_client_only(
    funded: LedgerService, rounds: RoundStore, tmp_path: Path
) -> None:
    built = por.build_and_keep_round(funded, rounds, snapshot=None, holdings=None,
                                     control=None, executor=InProcessExecutor(), private=True)
    assert {row["asset"]: (row["mode"], row["root_sum"], row["height"])
            for row in built["assets"]} == {
        "BTC": ("private", "300000000", 32), "ETH": ("private", "2000000001", 32)}
    record = json.loads(Path(built["round_file"]).read_text())
    for line in record["assets"]:
        assert line["mode"] == "private"
        root = line["root"]
        assert commit(int(root["sum"]), int.from_bytes(bytes.fromhex(root["blinding"]),
                                                       "little")).hex() == root["commitment"]
    private = tmp_path / "por" / "rounds" / "000001" / "private"
    assert sorted(path.name for path in private.glob("private-*")) == [
        "private-1.json", "private-1.npz", "private-2.json", "private-2.npz"]
    bundle = por.client_proofs(funded, rounds, "alice")
    assert [proof["v"] for proof in bundle["proofs"]] == [verifier.private_proof_format] * 2
    assert all(len(json.dumps(proof)) < 5_000 for proof in bundle["proofs"])
    accepted = verify(bundle, record, balances=["BTC=1.5"])
    assert (accepted["ok"], accepted["exit_status"]) == (True, 0)
    assert [row["proof_units"] for row in accepted["results"]] == ["150000000", "2000000001"]
    wrong = verify(bundle, record, balances=["BTC=1.4"])
    assert wrong["results"][0]["reason"] == "balance_mismatch"
    handed = verify(bundle["proofs"][0], record, nonce_hex=bundle["nonce"], client_id="bob")
    assert handed["results"][0]["reason"] == "root_mismatch"
    forged = json.loads(json.dumps(bundle))
    raw = bytearray(base64.b64decode(forged["proofs"][0]["range_proof"]))
    raw[200] ^= 1
    forged["proofs"][0]["range_proof"] = base64.b64encode(bytes(raw)).decode()
    refused = verify(forged, record)
    assert (refused["ok"], refused["exit_status"]) == (False, 4)
    assert refused["results"][0]["reason"] == "sibling_out_of_range"
    # The stdlib verifier checks the round and names the private proofs it cannot count.
    stdlib = verifier.verify_bundle(bundle, record, client_id="alice")
    assert stdlib["round"] is not None
    assert {row["reason"] for row in stdlib["results"]} == {"private_proof_not_checked"}


@pytest.mark.slowest  # two rounds' worth of range proofs (about a minute at load 20)
def test_the_audit_rebuilds_a_private_round_and_checks_its_sampled_proofs(
    funded: LedgerService, rounds: RoundStore, tmp_path: Path
) -> None:
    built = por.build_and_keep_round(funded, rounds, snapshot=None, holdings=None,
                                     control=None, executor=InProcessExecutor(), private=True)
    report = por.audit_kept_round(funded, rounds, built["round_file"], seed="s", sample_size=1,
                                  executor=InProcessExecutor())
    assert report["ok"] is True, report["problems"]
    assert len(report["sampled"]) == 1
    # A stored tree that is not the one the round signs is named.
    for stored in (tmp_path / "por" / "rounds" / "000001" / "private").glob("private-*.json"):
        meta = json.loads(stored.read_text())
        meta["leaves"] = {name: index ^ 1 for name, index in meta["leaves"].items()}
        stored.write_text(json.dumps(meta))
    tampered = por.audit_kept_round(funded, rounds, built["round_file"], seed="s",
                                    sample_size=1, executor=InProcessExecutor())
    assert tampered["ok"] is False
    assert {problem["problem"] for problem in tampered["problems"]} == {"proof_rejected"}
