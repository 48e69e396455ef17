"""``ringfence bench policy``: the latency of one withdrawal policy decision.

Method. A policy document of 1,000 rules is built, parsed and compiled once
(``compile_1000_rules``: the JSON read strictly, amounts parsed, rules indexed, conditions
compiled). Then each case decides a stream of requests, one ``decide`` call timed at a time
(``time.perf_counter_ns``), and reports the median, the 99th percentile and the maximum:

- ``decide_1000_rules``: a firm's policy: 40 pools of 3 wallets each; most rules scoped to a
  pool or a wallet, a tenth firm-wide; conditions drawn from tiers, amounts, velocity,
  destination, initiators and kinds; a catch-all at the end. Requests over every pool,
  wallet, asset and amount; facts random (the velocity windows included). Target: p99 ≤ 2 ms.
- ``decide_1000_rules_worst``: 1,000 firm-wide rules of every asset, none of which matches, so
  every decision reads all 1,000 and writes 1,000 trace lines before the default block.

The trace is part of every decision (as the service journals it), so it is inside the clock.
The machine is shared: the load average is reported with the figures.
"""

from __future__ import annotations

import json
import os
import random
import statistics
import time
from typing import Any

from ringfence.bench.machine import Progress, machine, peak_memory_mib
from ringfence.core.money import Asset
from ringfence.core.policy.decide import CompiledPolicy, decide
from ringfence.core.policy.document import parse_policy
from ringfence.core.policy.movement import Facts, MovementKind, MovementRequest, Per
from ringfence.core.principals.records import PrincipalRole

ASSETS = {
    "BTC": Asset("BTC", 8, 1, chain="bitcoin"),
    "ETH": Asset("ETH", 18, 2, chain="ethereum"),
}
POOLS = [f"pool-{n:02d}" for n in range(40)]
TIERS = ("hot", "warm", "cold")
WALLETS = {pool: [f"{pool}-{tier}" for tier in TIERS] for pool in POOLS}
PEOPLE = [f"staff-{n:02d}" for n in range(20)]
ADDRESS = "0x52908400098527886E0F7030069857D2E4169EE7"
RULES = 1_000


def _whitelist() -> list[dict[str, str]]:
    return [{"address": ADDRESS, "chain": "ethereum"}]


def _document(rules: list[dict[str, Any]]) -> bytes:
    return json.dumps(
        {
            "format": 1,
            "governance": {"group": "admins", "approvals": 2, "time_lock_s": 172_800},
            "groups": {"admins": PEOPLE[:5], "treasury": PEOPLE[5:15], "executives": PEOPLE[15:]},
            "whitelist": {"cool_down_s": 172_800, "entries": _whitelist()},
            "residual_interest": {"senior_group": "executives", "senior_approvals": 2},
            "fee_max": {"BTC": "0.001", "ETH": "0.05"},
            "rules": rules,
        }
    ).encode()


def _condition(draw: random.Random) -> dict[str, Any]:
    asset = draw.choice(list(ASSETS))
    choice = draw.randrange(7)
    if choice == 0:
        return {"tiers": draw.sample(TIERS, draw.randint(1, 2))}
    if choice == 1:
        return {"amount_over": {asset: str(draw.randint(1, 50))}}
    if choice == 2:
        return {"amount_up_to": {asset: str(draw.randint(1, 50))}}
    if choice == 3:
        over = {asset: str(draw.randint(5, 100))}
        return {"velocity": {"window_s": 86_400, "per": draw.choice(list(Per)), "over": over}}
    if choice == 4:
        return {"destination": draw.choice(["whitelisted", "not_whitelisted", "internal"])}
    if choice == 5:
        return {"initiators": draw.sample(PEOPLE, 3)}
    return {"kinds": [draw.choice(list(MovementKind))]}


def firm_rules(draw: random.Random) -> list[dict[str, Any]]:
    rules: list[dict[str, Any]] = []
    for index in range(RULES - 1):
        when: dict[str, Any] = {}
        for _ in range(draw.randint(1, 3)):
            when.update(_condition(draw))
        pool = draw.choice(POOLS)
        scope = draw.choices(
            [{}, {"pools": [pool]}, {"wallets": draw.sample(WALLETS[pool], 2)}], [1, 5, 4]
        )[0]
        action = draw.choice(["allow", "block", {"require": 2, "groups": ["treasury"]}])
        rules.append({"id": f"rule-{index}", "scope": scope, "when": when, "action": action})
    rules.append({"id": "catch-all", "action": {"require": 1, "groups": ["treasury"]}})
    return rules


def worst_rules() -> list[dict[str, Any]]:
    never = {"amount_over": {"BTC": "1000000", "ETH": "1000000"}}
    return [{"id": f"rule-{n}", "when": never, "action": "allow"} for n in range(RULES)]


def _compiled(rules: list[dict[str, Any]]) -> CompiledPolicy:
    document = parse_policy(_document(rules), ASSETS)
    return CompiledPolicy(document, 1, {(ADDRESS, ""): 0})


def _request(draw: random.Random, at_ns: int) -> tuple[MovementRequest, Facts]:
    kind = draw.choice(list(MovementKind))
    pool = draw.choice(POOLS)
    wallet = draw.choice(WALLETS[pool])
    asset = draw.choice(list(ASSETS))
    amount = draw.randint(1, 60) * 10 ** ASSETS[asset].scale // draw.choice([1, 10])
    internal = kind is not MovementKind.client_withdrawal
    request = MovementRequest(
        kind, draw.choice(PEOPLE), PrincipalRole.operator, pool, wallet, wallet.rsplit("-", 1)[1],
        asset, amount, ADDRESS, at_ns, client="" if internal else f"client-{draw.randrange(999)}",
        destination_wallet=f"{pool}-cold" if internal else "",
    )  # fmt: skip
    windows = {(86_400, per): draw.randint(0, 80) * 10 ** ASSETS[asset].scale for per in Per}
    big = 10**30
    return request, Facts(big, big, big, 0, windows)


def _latencies(policy: CompiledPolicy, count: int, seed: int) -> tuple[list[int], int]:
    """Each decision's nanoseconds, and the median number of rules the index left to read
    (outside the clock)."""
    draw = random.Random(seed)
    requests = [_request(draw, 10**18) for _ in range(count)]
    latencies = []
    for request, facts in requests:
        started = time.perf_counter_ns()
        decide(policy, request, facts)
        latencies.append(time.perf_counter_ns() - started)
    read = [len(policy.candidates(r.pool, r.wallet, r.asset)) for r, _ in requests]
    return latencies, int(statistics.median(read))


def _row(case: str, timed: tuple[list[int], int], **more: Any) -> dict[str, Any]:
    latencies, candidates = timed
    ordered = sorted(latencies)
    p99 = ordered[min(len(ordered) - 1, (len(ordered) * 99) // 100)]
    median = statistics.median(ordered)
    return {
        "case": case,
        "ops_per_s": round(1e9 / median, 1),
        "decisions": len(ordered),
        "p50_ms": round(median / 1e6, 4),
        "p99_ms": round(p99 / 1e6, 4),
        "max_ms": round(ordered[-1] / 1e6, 4),
        "candidate_rules_p50": candidates,
        **more,
    }


def run_bench(quick: bool = False, progress: Progress | None = None) -> dict[str, Any]:
    count = 2_000 if quick else 20_000
    draw = random.Random(16)
    rules = firm_rules(draw)
    started = time.perf_counter()
    policy = _compiled(rules)
    compile_s = time.perf_counter() - started
    results = [
        {
            "case": "compile_1000_rules",
            "ops_per_s": round(1 / compile_s, 2),
            "seconds": round(compile_s, 4),
            "document_bytes": len(_document(rules)),
        }
    ]
    if progress is not None:
        progress("policy", 1, 3)
    results.append(_row("decide_1000_rules", _latencies(policy, count, 1), rules=RULES))
    if progress is not None:
        progress("policy", 2, 3)
    worst = _compiled(worst_rules())
    results.append(_row("decide_1000_rules_worst", _latencies(worst, count // 4, 2), rules=RULES))
    if progress is not None:
        progress("policy", 3, 3)
    return {
        "bench": "policy",
        "machine": machine(),
        "load_average": list(os.getloadavg()),
        "method": "one decide() timed at a time over a stream of requests, trace included; "
        "see ringfence/bench/policy.py",
        "peak_memory_mib": peak_memory_mib(),
        "results": results,
    }
