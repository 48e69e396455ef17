"""bench/por_private.py: the private-mode cases report what BENCHMARKS.md records (a build
with its cost model, then proofs made and checked), on a tiny book."""

from __future__ import annotations

from ringfence.bench import por_private


def test_the_private_cases_build_prove_and_check() -> None:
    case, tree = por_private._build_case(8, 1)
    assert case["case"] == "private_build_8"
    assert case["height"] == 32
    assert case["nodes"] == sum(len(level) for level in tree.levels)
    assert case["cost_model_10m_cpu_hours"] >= 0
    proving, checking = por_private._proof_cases(tree, 1)
    assert (proving["case"], checking["case"]) == ("private_proof", "private_verify")
    assert proving["samples"] == checking["samples"] == 1
    assert 4_000 < proving["proof_bytes_max"] <= 5_000
