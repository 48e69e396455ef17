"""core/por/round.py: rounds are deterministic in their seed, signed, chained, and record the
reserves only once attested."""

from __future__ import annotations

from tests.unit.core.por.support import BTC, ETH, GENESIS, MASTER, RESERVES, SIGNING, round_of

from ringfence.core.por.round import (
    ReservesAttestation,
    build_round,
    verify_chain,
    verify_round_signature,
)


def test_the_same_seed_builds_the_same_round_and_another_seed_another() -> None:
    liabilities = [(ETH, {"alice": 3 * 10**18, "bob": 10**9})]
    assert round_of(liabilities).record == round_of(liabilities).record
    other = round_of(liabilities, seed=b"q" * 32)
    assert other.record["assets"][0]["root"] != round_of(liabilities).record["assets"][0]["root"]
    assert other.record["assets"][0]["root"]["sum"] == str(3 * 10**9 + 1)

def test_round_is_signed_and_a_changed_record_fails_the_signature() -> None:
    record = dict(round_of([(BTC, {"alice": 5})]).record)
    assert verify_round_signature(record)
    record["snapshot"] = 2
    assert not verify_round_signature(record)
    record = dict(round_of([(BTC, {"alice": 5})]).record, signature="00" * 64)
    assert not verify_round_signature(record)

def test_rounds_form_a_chain_and_a_split_view_breaks_it() -> None:
    first = round_of([(BTC, {"alice": 5})])
    second = round_of([(BTC, {"alice": 6})], snapshot=2,
                      previous=bytes.fromhex(first.hash))
    assert verify_chain([first.record, second.record])
    forked = round_of([(BTC, {"alice": 1})], snapshot=1)  # another view of round one
    assert not verify_chain([forked.record, second.record])

def test_reserves_are_recorded_as_not_attested_until_the_reserves_side_gives_totals() -> None:
    built = round_of([(BTC, {"alice": 500}), (ETH, {"alice": 10**18})])
    assert built.record["reserves"] == {"status": "not_attested"}
    assert [entry["reserves"] for entry in built.record["assets"]] == [None, None]
    attested = round_of([(BTC, {"alice": 500}), (ETH, {"alice": 10**18})],
                        attestation=ReservesAttestation(
                            RESERVES, {BTC.number: 499}, {BTC.number: 510}))
    assert attested.record["reserves"] == {"status": "attested", "file_hash": RESERVES.hex()}
    assert attested.record["assets"][0]["reserves"] == {
        "total": "499", "gross": "510", "covered": False, "coverage_net_bp": "9980",
        "coverage_gross_bp": "10200"}
    assert attested.record["assets"][1]["reserves"] is None
    assert verify_round_signature(attested.record)


def test_a_round_signs_its_format_scales_snapshot_time_and_journal_head() -> None:
    built = build_round(
        snapshot=4, previous_round_hash=GENESIS, liabilities=[(BTC, {"alice": 5}), (ETH, {})],
        master_secret=MASTER, signing_seed=SIGNING, seed=b"r" * 32,
        snapshot_hash=b"h" * 32, snapshot_ns=1_767_225_600 * 10**9)
    record = built.record
    assert record["v"] == "ringfence-por-round/3"
    assert [(e["asset"], e["scale"], e["unit_exponent"]) for e in record["assets"]] == [
        ("BTC", 8, 0), ("ETH", 18, 9)]
    assert record["snapshot_ns"] == str(1_767_225_600 * 10**9)
    assert record["journal_head"] == {"seq": 4, "hash": (b"h" * 32).hex()}
    assert next(built.proofs("alice"))["v"] == "ringfence-por-proof/3"
    for field in ("snapshot_ns", "journal_head"):
        changed = {**record, field: None}
        assert not verify_round_signature(changed)


def test_a_round_of_format_2_is_still_built_as_it_was_for_its_audit() -> None:
    old = build_round(
        snapshot=4, previous_round_hash=GENESIS, liabilities=[(BTC, {"alice": 5})],
        master_secret=MASTER, signing_seed=SIGNING, seed=b"r" * 32, version=2)
    assert old.record["v"] == "ringfence-por-round/2"
    assert "scale" not in old.record["assets"][0]
    assert next(old.proofs("alice"))["v"] == "ringfence-por-proof/2"
    new = round_of([(BTC, {"alice": 5})], snapshot=4)
    # Same seed, same placement: only the leaves' salts differ, and so the root.
    assert old.record["assets"][0]["root"]["sum"] == new.record["assets"][0]["root"]["sum"]
    assert old.record["assets"][0]["root"]["hash"] != new.record["assets"][0]["root"]["hash"]
