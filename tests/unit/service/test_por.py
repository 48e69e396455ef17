"""service/por.py: liabilities gathered from the ledger (every pool, client accounts only),
the journal replayed to a snapshot, the public-seed sample, and the audit of a round."""

from __future__ import annotations

from tests.support import EARN, MARGIN, Custodian

from ringfence.core.errors import Result
from ringfence.core.por.liabilities import client_liabilities
from ringfence.core.por.round import verify_round_signature
from ringfence.service import por, por_audit
from ringfence.service.ledger import LedgerService

MASTER = b"m" * 32


def fund(service: LedgerService, custodian: Custodian) -> None:
    results = service.submit([
        custodian.deposit(1, "alice", 500),
        custodian.deposit(2, "alice", 70, pool=MARGIN),
        custodian.deposit(3, "carol", 9, pool=EARN),  # title transfer: still owed
        custodian.deposit(4, "bob", 10**18 + 1, asset="ETH"),
        custodian.fee(5, "alice", 20),
    ])
    assert results == [Result.ok] * 5


def test_liabilities_sum_every_client_account_and_nothing_else(
    memory_service: LedgerService, custodian: Custodian
) -> None:
    fund(memory_service, custodian)
    owed = {asset.code: {c: u for c, u in balances.items() if u}
            for asset, balances in client_liabilities(memory_service.ledger)}
    assert owed == {"BTC": {"alice": 550, "carol": 9}, "ETH": {"bob": 10**18 + 1}}


def test_the_ledger_at_a_snapshot_is_the_journal_replayed_up_to_it(
    memory_service: LedgerService, custodian: Custodian
) -> None:
    fund(memory_service, custodian)
    snapshot = memory_service.seq
    assert memory_service.submit([custodian.deposit(6, "bob", 1)]) == [Result.ok]
    then = client_liabilities(por_audit.ledger_at(memory_service.store, snapshot))
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
    built = por.build_round(liabilities, snapshot=memory_service.seq,
                            previous_round_hash=bytes(32), master_secret=MASTER,
                            signing_seed=b"s" * 32, seed=b"r" * 32, workers=1,
                            snapshot_hash=memory_service.hash)
    audit = por_audit.audit_round(memory_service.store, built.record, built.trees,
                            master_secret=MASTER, build_seed=b"r" * 32, sample_seed=b"x",
                            sample_size=10, workers=1)
    assert audit.ok, audit.problems
    assert len(audit.sampled) == 3
    # A round built while leaving carol out: totals and roots no longer match the journal.
    short = [(asset, {c: u for c, u in owed.items() if c != "carol"})
             for asset, owed in liabilities]
    lying = por.build_round(short, snapshot=memory_service.seq, previous_round_hash=bytes(32),
                            master_secret=MASTER, signing_seed=b"s" * 32, seed=b"r" * 32,
                            workers=1, snapshot_hash=memory_service.hash)
    found = por_audit.audit_round(memory_service.store, lying.record, lying.trees,
                            master_secret=MASTER, build_seed=b"r" * 32, sample_seed=b"x",
                            sample_size=10, workers=1)
    assert {(p.problem, p.asset) for p in found.problems} >= {
        ("total_mismatch", "BTC"), ("root_mismatch", "BTC"), ("proof_missing", "BTC")}
    assert verify_round_signature(lying.record)  # signed, and still caught
