"""core/por/solvency.py: per-pool solvency in zero knowledge. One pool short and another with
excess is reported as "pool short not covered" although the asset's total covers; no
rearrangement of the pools' commitments and proofs passes, and the commitments must add up
to the total the pools owe, which cannot be less than the tree's."""

from __future__ import annotations

import copy
from typing import Any

import pytest

from ringfence.core.por import rangeproof
from ringfence.core.por.ristretto import base_multiply, commit, subtract
from ringfence.core.por.solvency import (
    PoolPosition,
    PoolProofRejectedError,
    PoolVerdict,
    commitment_opens,
    pool_blinding,
    prove_pools,
    verify_pools,
)

ROUND = b"i" * 32
MASTER = b"m" * 32
SEED = b"k" * 32
BTC = 1
# The asset covers in all (250 held against 110 owed), but pool "short" does not.
POSITIONS = [PoolPosition("short", liabilities=100, reserves=50),
             PoolPosition("excess", liabilities=10, reserves=200)]
STATEMENT = prove_pools(ROUND, BTC, POSITIONS, master_secret=MASTER, seed=SEED)


def reason(statement: Any, root_sum: int = 110, round_id: bytes = ROUND) -> str:
    with pytest.raises(PoolProofRejectedError) as caught:
        verify_pools(statement, round_id, BTC, root_sum)
    assert str(caught.value)
    return caught.value.reason


def line(statement: dict[str, Any], pool: str) -> dict[str, Any]:
    return next(found for found in statement["pools"] if found["pool"] == pool)


def test_a_short_pool_is_not_covered_although_the_asset_total_covers() -> None:
    assert sum(p.reserves for p in POSITIONS) >= sum(p.liabilities for p in POSITIONS)
    assert verify_pools(STATEMENT, ROUND, BTC, 110) == [
        PoolVerdict("excess", True, 200), PoolVerdict("short", False, 50)]
    # Nothing in the statement reveals what a pool owes: only commitments and proofs.
    assert set(line(STATEMENT, "short")) == {
        "pool", "reserves", "commitment", "liabilities_proof", "coverage_proof"}
    assert line(STATEMENT, "short")["coverage_proof"] is None
    assert STATEMENT["liabilities_total"] == "110"
    assert all(value not in ("100", "10") for found in STATEMENT["pools"]
               for value in found.values())


def test_moving_the_excess_pools_commitment_to_the_short_pool_fails() -> None:
    moved = copy.deepcopy(STATEMENT)
    short, excess = line(moved, "short"), line(moved, "excess")
    for field in ("commitment", "liabilities_proof", "coverage_proof"):
        short[field] = excess[field]
    assert reason(moved) == "pool_proof_invalid"
    # Swapping the two pools' commitments and proofs outright fails as well.
    swapped = copy.deepcopy(STATEMENT)
    short, excess = line(swapped, "short"), line(swapped, "excess")
    for field in ("commitment", "liabilities_proof", "coverage_proof"):
        short[field], excess[field] = excess[field], short[field]
    assert reason(swapped) == "pool_proof_invalid"
    # Renaming pools, or lending the excess pool's reserves to the short one, fails too.
    renamed = copy.deepcopy(STATEMENT)
    line(renamed, "short")["pool"], line(renamed, "excess")["pool"] = "excess", "short"
    assert reason(renamed) == "pool_proof_invalid"
    lent = copy.deepcopy(STATEMENT)
    line(lent, "short")["reserves"] = "200"
    line(lent, "short")["coverage_proof"] = line(lent, "excess")["coverage_proof"]
    assert reason(lent) == "pool_proof_invalid"


def test_a_forged_coverage_proof_for_the_short_pool_is_refused() -> None:
    """A cheating prover runs the protocol on the low 64 bits of 50 - 100 (negative)."""
    forged = copy.deepcopy(STATEMENT)
    blinding = pool_blinding(MASTER, ROUND, BTC, "short")
    difference = 50 - 100
    low = difference % 2**64
    transcript = _transcript_of("short", b"coverage")
    committed, proof = rangeproof._prove([(low >> i) & 1 for i in range(64)], difference,
                                         -blinding, transcript, SEED)
    assert committed == subtract(base_multiply(50), commit(100, blinding))
    line(forged, "short")["coverage_proof"] = _text(proof)
    assert reason(forged) == "pool_proof_invalid"


def test_the_commitments_must_add_up_to_a_total_no_less_than_the_trees() -> None:
    assert reason({**STATEMENT, "liabilities_total": "109"}) == "pools_do_not_add_up"
    dropped = {**STATEMENT, "pools": [line(STATEMENT, "excess")]}
    assert reason(dropped) == "pools_do_not_add_up"
    doubled = {**STATEMENT, "pools": [*STATEMENT["pools"], line(STATEMENT, "excess")]}
    assert reason(doubled) == "malformed"
    # The tree proves 111 owed: pools that together owe 110 understate it.
    assert reason(STATEMENT, root_sum=111) == "pools_understate_liabilities"
    # A statement made for another round checks for none.
    assert reason(STATEMENT, round_id=b"j" * 32) == "pool_proof_invalid"


@pytest.mark.parametrize("change", [
    lambda s: s.update(v="ringfence-por-pools/9"), lambda s: s.update(pools=[]),
    lambda s: s.update(blinding_total="zz" * 32), lambda s: s.update(liabilities_total="-1"),
    lambda s: s["pools"][0].update(commitment="ff" * 32),
    lambda s: s["pools"][0].update(liabilities_proof="%%"),
    lambda s: s["pools"][0].update(reserves=5), lambda s: s["pools"][0].update(pool=""),
    lambda s: s["pools"].append("x")])
def test_a_malformed_statement_is_refused_by_name(change) -> None:
    damaged = copy.deepcopy(STATEMENT)
    change(damaged)
    assert reason(damaged) == "malformed"


def test_the_auditor_opens_each_commitment_against_the_journals_pools() -> None:
    owed = {"short": 100, "excess": 10}
    assert commitment_opens(STATEMENT, ROUND, BTC, owed, MASTER) == []
    # A firm that committed the short pool to less (and the other to more) passes the
    # clients' checks, which cannot see the split; the auditor's opening catches it.
    shifted = prove_pools(ROUND, BTC, [PoolPosition("short", 50, 50),
                                       PoolPosition("excess", 60, 200)],
                          master_secret=MASTER, seed=SEED)
    assert [verdict.covered for verdict in verify_pools(shifted, ROUND, BTC, 110)] == [
        True, True]
    assert commitment_opens(shifted, ROUND, BTC, owed, MASTER) == ["excess", "short"]
    assert commitment_opens(STATEMENT, ROUND, BTC, {"short": 100}, MASTER) == ["excess"]


def _transcript_of(pool: str, statement: bytes):
    from ringfence.core.por.solvency import _transcript

    return _transcript(ROUND, BTC, pool, statement)


def _text(proof: bytes) -> str:
    import base64

    return base64.b64encode(proof).decode("ascii")


def test_the_benchmark_case_proves_and_checks_a_pool() -> None:
    from ringfence.bench.por import _pool_solvency_case

    case = _pool_solvency_case(1)
    assert case["case"] == "pool_solvency"
    assert case["verify_ms_median"] > 0
    assert 1_000 < case["pool_line_bytes"] < 2_500  # two 672-byte proofs in base64 and a point
