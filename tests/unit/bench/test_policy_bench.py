"""``ringfence bench policy`` in its quick form: the document it decides on and the shape of
what it reports."""

from __future__ import annotations

from ringfence.bench import policy


def test_the_quick_bench_reports_every_case() -> None:
    document = policy.run_bench(quick=True)
    assert document["bench"] == "policy"
    cases = {row["case"]: row for row in document["results"]}
    assert list(cases) == ["compile_1000_rules", "decide_1000_rules", "decide_1000_rules_worst"]
    typical, worst = cases["decide_1000_rules"], cases["decide_1000_rules_worst"]
    assert typical["candidate_rules_p50"] < policy.RULES // 4  # the index sets most aside
    assert worst["candidate_rules_p50"] == policy.RULES
    assert 0 < typical["p50_ms"] <= typical["p99_ms"] <= typical["max_ms"]
