"""service/por_verify.py: ``ringfence por verify`` reports each pool's solvency, checked in
zero knowledge. One pool short and another with excess: "pool short not covered" and exit 1
although the asset's total covers; the excess pool's commitment moved to the short pool, and
the firm's signature made again, is refused (exit 4)."""

from __future__ import annotations

import copy
import json
from typing import Any

import nacl.signing

from ringfence.core.money import Asset
from ringfence.core.por.hashes import round_nonce
from ringfence.core.por.round import ReservesAttestation, build_round, round_hash
from ringfence.core.por.solvency import PoolPosition
from ringfence.service import por_verify

BTC = Asset("BTC", 8, 1)
MASTER, SIGNING = b"m" * 32, b"s" * 32
FIRM = nacl.signing.SigningKey(SIGNING)
# alice is in pool "short" (100 sats owed, 50 held), bob in pool "excess" (10 owed, 200 held).
ROUND = build_round(
    snapshot=3, previous_round_hash=bytes(32), liabilities=[(BTC, {"alice": 100, "bob": 10})],
    master_secret=MASTER, signing_seed=SIGNING, seed=b"r" * 32,
    reserves=ReservesAttestation(b"f" * 32, {1: 250}, {1: 250}, {1: [
        PoolPosition("short", 100, 50), PoolPosition("excess", 10, 200)]}))


def verified(record: dict[str, Any], client: str = "alice") -> dict[str, Any]:
    round_id = bytes.fromhex(record["round_id"])
    bundle = {"nonce": round_nonce(MASTER, round_id, client).hex(), "proofs": [
        {**proof, "round_hash": round_hash(record).hex()} for proof in ROUND.proofs(client)]}
    return por_verify.verify_proofs(json.dumps(bundle).encode(), json.dumps(record).encode(),
                                    client_id=client, public_key=FIRM.verify_key.encode().hex())


def test_a_short_pool_is_not_covered_though_the_asset_covers() -> None:
    (line,) = ROUND.record["assets"]
    assert line["reserves"]["covered"] is True  # 250 held against 110 owed
    report = verified(ROUND.record)
    assert (report["verdict"], report["exit_status"]) == ("not_covered", 1)
    assert report["pools"] == [
        {"asset": "BTC", "pool": "excess", "reserves": "200", "status": "covered"},
        {"asset": "BTC", "pool": "short", "reserves": "50", "status": "not_covered"}]
    text = por_verify.render_verification(report)
    assert "BTC pool short: NOT COVERED by its own reserves of 0.00000050 BTC" in text
    assert "BTC pool excess: covered by its own reserves of 0.00000200 BTC" in text
    assert text.splitlines()[-1] == (
        "NOT COVERED: your proofs check, but the round proves that the reserves of BTC pool "
        "short do not cover what that pool owes.")
    assert verified(ROUND.record, "bob")["verdict"] == "not_covered"  # every client is told


def test_moving_the_excess_pools_commitment_to_the_short_pool_is_refused() -> None:
    record = copy.deepcopy(ROUND.record)
    lines = {line["pool"]: line for line in record["assets"][0]["pools"]["pools"]}
    for field in ("commitment", "liabilities_proof", "coverage_proof"):
        lines["short"][field] = lines["excess"][field]
    record["signature"] = FIRM.sign(round_hash(record)).signature.hex()  # the firm signs it
    report = verified(record)
    assert (report["verdict"], report["exit_status"]) == ("rejected", 4)
    assert report["results"][-1]["reason"] == "pool_proof_invalid"
