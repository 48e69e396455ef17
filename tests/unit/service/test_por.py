"""service/por.py and service/por_audit.py: liabilities gathered from the ledger (every pool,
client accounts only), the journal replayed to a snapshot, the public-seed sample, the audit
of a round, and the round workflows over an in-memory fake of the ``RoundStore`` port (the
file adapter's own tests: tests/integration/test_por_rounds.py, tests/unit/adapters/files)."""

from __future__ import annotations

import json
from typing import Any

import pytest
from tests.support import EARN, MARGIN, Custodian

from ringfence.adapters.executors import InProcessExecutor
from ringfence.core.errors import Result, StorageError
from ringfence.core.por.liabilities import Liabilities, client_liabilities
from ringfence.core.por.round import Round, verify_round_signature
from ringfence.service import por, por_audit, por_verify
from ringfence.service.batch import ledger_at
from ringfence.service.ledger import LedgerService

MASTER = b"m" * 32


def fund(service: LedgerService, custodian: Custodian) -> None:
    results = service.submit(
        [
            custodian.deposit(1, "alice", 500),
            custodian.deposit(2, "alice", 70, pool=MARGIN),
            custodian.deposit(3, "carol", 9, pool=EARN),  # title transfer: still owed
            custodian.deposit(4, "bob", 10**18 + 1, asset="ETH"),
            custodian.fee(5, "alice", 20),
        ]
    )
    assert results == [Result.ok] * 5


def _round(service: LedgerService, liabilities: Liabilities) -> Round:
    """A round over ``liabilities`` at the service's head, with fixed secrets and seeds."""
    return por.build_round(
        liabilities, snapshot=service.seq, previous_round_hash=bytes(32), master_secret=MASTER,
        signing_seed=b"s" * 32, seed=b"r" * 32, executor=InProcessExecutor(),
        snapshot_hash=service.hash)  # fmt: skip


def _audit(service: LedgerService, built: Round) -> por_audit.AuditReport:
    """The audit of ``built`` against the service's journal, sampling 10 clients."""
    return por_audit.audit_round(
        service.store, built.record, built.trees, master_secret=MASTER, build_seed=b"r" * 32,
        sample_seed=b"x", sample_size=10, executor=InProcessExecutor())  # fmt: skip


def test_liabilities_sum_every_client_account_and_nothing_else(
    memory_service: LedgerService, custodian: Custodian
) -> None:
    fund(memory_service, custodian)
    owed = {
        asset.code: {c: u for c, u in balances.items() if u}
        for asset, balances in client_liabilities(memory_service.ledger)
    }
    assert owed == {"BTC": {"alice": 550, "carol": 9}, "ETH": {"bob": 10**18 + 1}}


def test_the_ledger_at_a_snapshot_is_the_journal_replayed_up_to_it(
    memory_service: LedgerService, custodian: Custodian
) -> None:
    fund(memory_service, custodian)
    snapshot = memory_service.seq
    assert memory_service.submit([custodian.deposit(6, "bob", 1)]) == [Result.ok]
    then = client_liabilities(ledger_at(memory_service.store, snapshot))
    now = client_liabilities(memory_service.ledger)
    assert then[0][1].get("bob", 0) == 0
    assert now[0][1]["bob"] == 1


def test_the_sample_is_fixed_by_the_seed_distinct_and_capped() -> None:
    candidates = [("BTC", f"c{n}") for n in range(50)]
    first = por_audit.sample(candidates, b"block-1", 10)
    assert first == por_audit.sample(candidates, b"block-1", 10)
    assert first != por_audit.sample(candidates, b"block-2", 10)
    assert len(set(first)) == 10
    assert sorted(por_audit.sample(candidates, b"block-1", 500)) == list(range(50))


def test_an_audit_of_an_honest_round_finds_nothing_and_of_a_lying_one_names_it(
    memory_service: LedgerService, custodian: Custodian
) -> None:
    fund(memory_service, custodian)
    liabilities = client_liabilities(memory_service.ledger)
    built = _round(memory_service, liabilities)
    audit = _audit(memory_service, built)
    assert audit.ok, audit.problems
    assert len(audit.sampled) == 3
    # A round built while leaving carol out: totals and roots no longer match the journal.
    short = [
        (asset, {c: u for c, u in owed.items() if c != "carol"}) for asset, owed in liabilities
    ]
    lying = _round(memory_service, short)
    found = _audit(memory_service, lying)
    assert {(p.problem, p.asset) for p in found.problems} >= {
        ("total_mismatch", "BTC"),
        ("root_mismatch", "BTC"),
        ("proof_missing", "BTC"),
    }
    assert verify_round_signature(lying.record)  # signed, and still caught


class MemoryRound:
    """One kept round, in memory (a fake of the ``StoredRound`` port)."""

    def __init__(self, number: int | None) -> None:
        self.number = number
        self.location = f"memory/{number}/round.json"
        self.reserves_location = f"memory/{number}/reserves.json"
        self.kept: dict[str, Any] = {}

    def record(self) -> Any:
        if "record" not in self.kept:
            raise StorageError(f"no round at {self.location}")
        return json.loads(json.dumps(self.kept["record"]))

    def reserves_file(self) -> bytes | None:
        return self.kept.get("reserves")

    def build_seed(self) -> bytes:
        return bytes(self.kept["seed"])

    def trees(self, assets: Any, record: Any, master_secret: bytes) -> dict[int, Any]:
        return {n: tree for n, tree in self.kept["trees"].items() if tree.asset.code in assets}

    def private_trees(self, assets: Any, record: Any, master_secret: bytes) -> dict[int, Any]:
        return {n: tree for n, tree in self.kept.get("private_trees", {}).items()
                if tree.asset.code in assets}

    def client_trees(
        self, assets: Any, record: Any, master_secret: bytes, client: str
    ) -> dict[int, Any]:
        return self.trees(assets, record, master_secret)

    def spilled(self, assets: Any, record: Any, master_secret: bytes) -> None:
        return None  # rounds kept in memory are kept whole


class MemoryRounds:
    """The ``RoundStore`` port in memory: what the service needs of it, and nothing else."""

    location = "memory"

    def __init__(self) -> None:
        self.rounds: dict[int, MemoryRound] = {}
        self.secrets: dict[str, bytes] = {}
        self.announced: Any = None

    def numbers(self) -> list[int]:
        return sorted(self.rounds)

    def round(self, number: int) -> MemoryRound:
        return self.rounds.get(number, MemoryRound(number))

    def round_at(self, location: str) -> MemoryRound:
        return self.round(int(location.split("/")[1]))

    def master_secret(self, create: bool) -> bytes:
        if create:
            self.secrets.setdefault("master", MASTER)
        if "master" not in self.secrets:
            raise StorageError("no master.key")
        return self.secrets["master"]

    def signing_seed(self) -> bytes:
        return self.secrets.setdefault("signing", b"s" * 32)

    def pending(self) -> Any:
        if self.announced is None:
            raise StorageError("no pending round")
        return self.announced

    def save_pending(self, pending: Any) -> None:
        self.announced = dict(pending)

    def clear_unfinished(self) -> list[str]:
        return []  # a round is kept in one assignment: nothing is ever left half-kept

    def save_round(
        self, number: int, record: Any, trees: Any, build_seed: bytes, reserves_file: bytes | None,
        *, private_trees: Any = None, spilled: str | None = None,
    ) -> str:
        assert spilled is None  # a spilled build writes files: RoundFiles' tests
        assert number not in self.rounds
        kept = self.rounds[number] = MemoryRound(number)
        kept.kept = {
            "record": record,
            "trees": dict(trees),
            "private_trees": dict(private_trees or {}),
            "seed": build_seed,
            "reserves": reserves_file,
        }
        return kept.location


def test_the_round_workflows_need_only_the_round_store_port(
    memory_service: LedgerService, custodian: Custodian
) -> None:
    fund(memory_service, custodian)
    rounds = MemoryRounds()
    with pytest.raises(StorageError):
        por.client_proofs(memory_service, rounds, "alice")
    built = por.build_and_keep_round(
        memory_service,
        rounds,
        snapshot=None,
        holdings=None,
        control=None,
        executor=InProcessExecutor(),
    )
    assert (built["round"], built["round_file"]) == (1, "memory/1/round.json")
    assert {row["asset"]: row["root_sum"] for row in built["assets"]} == {
        "BTC": "559",
        "ETH": "1000000001",
    }
    proofs = por.client_proofs(memory_service, rounds, "alice")
    assert [proof["asset"] for proof in proofs["proofs"]] == ["BTC"]
    record = json.dumps(rounds.rounds[1].record()).encode()
    checked = por_verify.verify_proofs(
        json.dumps(proofs).encode(), record, client_id="alice", balances=["BTC=0.0000055"]
    )
    assert checked["ok"] is True, checked
    second = por.build_and_keep_round(
        memory_service,
        rounds,
        snapshot=None,
        holdings=None,
        control=None,
        executor=InProcessExecutor(),
    )
    report = por.audit_kept_round(
        memory_service,
        rounds,
        second["round_file"],
        seed="s",
        sample_size=10,
        executor=InProcessExecutor(),
    )
    assert report["ok"] is True, report["problems"]
    assert len(report["sampled"]) == 3
    rounds.rounds[1].kept["record"] = dict(rounds.rounds[1].kept["record"], snapshot=0)
    report = por.audit_kept_round(
        memory_service,
        rounds,
        second["round_file"],
        seed="s",
        sample_size=10,
        executor=InProcessExecutor(),
    )
    assert [problem["problem"] for problem in report["problems"]] == ["chain_broken"]
