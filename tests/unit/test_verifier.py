"""The stdlib verifier (verifier.py) against the attacks of research §3: each forged
proof below is one that a weaker design would accept, and ours must reject."""

from __future__ import annotations

import base64
import copy
import hashlib
import json
import subprocess
import sys
from pathlib import Path

import pytest

from ringfence import verifier
from ringfence.core.money import Asset
from ringfence.core.por.hashes import (
    client_key,
    identity_hash,
    leaf_hash,
    leaf_salt,
    node_hash,
    round_nonce,
)
from ringfence.core.por.round import build_round, round_hash
from ringfence.verifier import ProofRejectedError, verify_bundle, verify_inclusion

BTC = Asset("BTC", 8, 1)
ETH = Asset("ETH", 18, 2)
MASTER = b"m" * 32
SIGNING = b"s" * 32
# alice and bob owe the same, so a lazy prover would like to show them one leaf.
LIABILITIES = [(BTC, {"alice": 70_000, "bob": 70_000, "carol": 3}),
               (ETH, {"alice": 2 * 10**18 + 1, "dave": 5})]


def build(snapshot: int = 1, previous: bytes = bytes(32), seed: bytes = b"r" * 32):
    return build_round(snapshot=snapshot, previous_round_hash=previous,
                                liabilities=LIABILITIES,
                                master_secret=MASTER, signing_seed=SIGNING, seed=seed)


ROUND = build()
ROUND_ID = bytes.fromhex(ROUND.record["round_id"])
KEYS = {name: round_nonce(MASTER, ROUND_ID, name) for name in ("alice", "bob", "carol", "dave")}


def proof_of(client: str, asset: str = "BTC") -> dict:
    return next(p for p in ROUND.proofs(client) if p["asset"] == asset)


def rejection(proof: dict, record: dict | None = None, client: str = "alice") -> str:
    """The reason the verifier gives for refusing ``proof`` (the test fails if it accepts)."""
    with pytest.raises(ProofRejectedError) as caught:
        verify_inclusion(proof, record or ROUND.record, KEYS[client], None, client)
    assert str(caught.value)
    return caught.value.reason


def siblings_of(proof: dict) -> bytearray:
    return bytearray(base64.b64decode(proof["siblings"]))


def with_siblings(proof: dict, raw: bytes) -> dict:
    return {**proof, "siblings": base64.b64encode(bytes(raw)).decode("ascii")}


def verified(proof: dict, client: str, balance: int | None = None) -> int:
    return verify_inclusion(proof, ROUND.record, KEYS[client], balance, client)


def test_every_clients_proof_verifies_to_their_balance_in_proof_units() -> None:
    assert verified(proof_of("alice"), "alice", 70_000) == 70_000
    assert verified(proof_of("carol"), "carol", 3) == 3
    # 2 ETH and one wei is owed: the proof counts 2,000,000,001 gwei (rounded up).
    eth = proof_of("alice", "ETH")
    assert verified(eth, "alice", 2 * 10**9 + 1) == 2 * 10**9 + 1
    with pytest.raises(ProofRejectedError, match="not to the balance"):
        verified(eth, "alice", 2 * 10**9)
    with pytest.raises(verifier.InputRefusedError) as caught:
        verify_inclusion(eth, ROUND.record, KEYS["alice"])  # format 3 needs the client's id
    assert caught.value.reason == "client_id_required"


def test_verifier_and_builder_hash_alike() -> None:
    salt = verifier.leaf_salt(KEYS["alice"], b"i" * 32, 7, 2)
    assert salt == leaf_salt(KEYS["alice"], b"i" * 32, 7, 2)
    identity = verifier.identity_hash("alice")
    assert identity == identity_hash("alice")
    assert verifier.leaf_salt(KEYS["alice"], b"i" * 32, 7, 2, identity) == leaf_salt(
        KEYS["alice"], b"i" * 32, 7, 2, identity)
    assert verifier.leaf_hash(b"i" * 32, 7, 9, 11, salt) == leaf_hash(
        b"i" * 32, 7, 9, 11, salt)
    pair = ((3, b"a" * 32), (4, b"b" * 32))
    assert verifier.node_hash(5, *pair) == node_hash(5, *pair)
    assert verifier.round_hash(ROUND.record) == round_hash(ROUND.record)


def _maxwell_parent(left: tuple[int, bytes], right: tuple[int, bytes]) -> tuple[int, bytes]:
    """The broken parent: it commits to the children's hashes and only their total."""
    total = max(left[0], right[0])
    preimage = verifier.tag_node + bytes([1]) + total.to_bytes(8, "big") + left[1] + right[1]
    return total, hashlib.sha256(preimage).digest()


def test_a_maxwell_parent_committing_only_to_the_sum_is_rejected() -> None:
    round_id = ROUND_ID
    salts = [verifier.leaf_salt(KEYS[name], round_id, BTC.number, 0, verifier.identity_hash(name))
             for name in ("alice", "bob")]
    alice = (5, verifier.leaf_hash(round_id, BTC.number, 0, 5, salts[0]))
    bob = (5, verifier.leaf_hash(round_id, BTC.number, 1, 5, salts[1]))
    root = _maxwell_parent(alice, bob)  # claims 5 where 10 is owed
    record = copy.deepcopy(ROUND.record)
    record["assets"][0].update(height=1, root={"sum": str(root[0]), "hash": root[1].hex()})
    # Each client is shown the other's hash with the sum that makes the total come out at 5.
    forged = {**proof_of("alice"), "round_hash": verifier.round_hash(record).hex(),
              "pieces": [{"index": 0, "value": "5"}],
              "siblings": base64.b64encode(bytes(8) + bob[1]).decode("ascii")}
    # A sum-only verifier would accept: 5 + 0 = 5 and the hashes match.
    assert _maxwell_parent(alice, (0, bob[1])) == root
    assert rejection(forged, record) == "root_mismatch"


def test_two_different_encodings_cannot_collide() -> None:
    # OKX v1 concatenated decimal strings: "1" "23" and "12" "3" read alike.
    assert "1" + "23" == "12" + "3"
    digest = b"h" * 32
    assert verifier.node_hash(1, (1, digest), (23, digest)) != verifier.node_hash(
        1, (12, digest), (3, digest))
    # Fixed widths: moving a byte from a sum into the adjacent hash changes the node.
    shifted = (256, b"\x00" + digest[:31])
    assert verifier.node_hash(1, (1, digest), (2, digest)) != verifier.node_hash(
        1, shifted, (2, digest))
    # Domain tags: a leaf and a node over the same fields never share a hash, and nor do
    # nodes at different heights.
    round_id = b"i" * 32
    assert verifier.leaf_hash(round_id, 1, 0, 0, digest) != verifier.node_hash(
        1, (0, digest), (0, digest))
    assert verifier.node_hash(1, (1, digest), (2, digest)) != verifier.node_hash(
        2, (1, digest), (2, digest))


def test_a_negative_or_oversized_sibling_sum_is_rejected() -> None:
    proof = proof_of("alice")
    raw = siblings_of(proof)
    # Sums are fixed-width u64: a "negative" sum can only be its two's complement, which
    # overflows the parent; a sum of 2^64 or more needs a ninth byte, which breaks the records.
    raw[0:8] = (2**64 - 5).to_bytes(8, "big")
    assert rejection(with_siblings(proof, raw)) in ("sum_overflows", "root_mismatch")
    longer = siblings_of(proof)
    longer[0:0] = b"\x01"
    assert rejection(with_siblings(proof, longer)) == "malformed"
    # The root's sum in the round record is range-checked as a decimal string.
    for bad_sum in ("-5", str(2**64), "1e3", "0x10", "", " 1"):
        record = copy.deepcopy(ROUND.record)
        record["assets"][0]["root"]["sum"] = bad_sum
        forged = {**proof, "round_hash": verifier.round_hash(record).hex()}
        assert rejection(forged, record) in ("malformed", "sum_out_of_range")


def test_a_sibling_sum_that_overflows_its_parent_is_rejected() -> None:
    proof = proof_of("alice")
    raw = siblings_of(proof)
    raw[0:8] = (2**64 - 1).to_bytes(8, "big")
    assert rejection(with_siblings(proof, raw)) == "sum_overflows"


def test_one_leaf_cannot_be_shown_to_two_clients_with_equal_balances() -> None:
    alice, bob = proof_of("alice"), proof_of("bob")
    leaves = {p["index"] for p in alice["pieces"]} & {p["index"] for p in bob["pieces"]}
    assert not leaves
    # Bob handed Alice's proof (same balance): his nonce does not rebuild her leaves...
    assert rejection(alice, client="bob") == "root_mismatch"
    assert verified(bob, "bob", 70_000) == 70_000
    # ...and nor does hers, with his own id: the leaf binds her identity.
    with pytest.raises(ProofRejectedError) as caught:
        verify_inclusion(alice, ROUND.record, KEYS["alice"], 70_000, "bob")
    assert caught.value.reason == "root_mismatch"


# The identity clash of format 2: the firm leaves bob out (70,003 in the tree against 140,003
# owed) and hands him alice's key and proof, which are for the same balance.
WITHOUT_BOB = [(BTC, {"alice": 70_000, "carol": 3})]


def _without_bob(version: int):
    return build_round(snapshot=1, previous_round_hash=bytes(32), liabilities=WITHOUT_BOB,
                       master_secret=MASTER, signing_seed=SIGNING, seed=b"r" * 32,
                       version=version)


def test_format_2_let_a_firm_show_bob_alices_leaf_and_format_3_refuses_it() -> None:
    old = _without_bob(2)
    assert old.record["assets"][0]["root"]["sum"] == "70003"
    alices_key = client_key(MASTER, "alice")
    handed = next(old.proofs("alice"))
    # Bob's own check, as the format 2 verifier made it: his "proof" shows 70,000 included.
    assert verify_inclusion(handed, old.record, alices_key, 70_000) == 70_000
    # A client's verifier now refuses the old format outright.
    report = verify_bundle({"client_key": alices_key.hex(), "proofs": [handed]}, old.record,
                           client_id="bob", decimals={"BTC": 8})
    assert [r["reason"] for r in report["results"]] == ["identity_not_bound"]
    assert report["verdict"] == "rejected"
    # Format 3: the same trick fails whatever nonce the firm hands bob, alice's included.
    new = _without_bob(3)
    round_id = bytes.fromhex(new.record["round_id"])
    handed = next(new.proofs("alice"))
    for nonce in (round_nonce(MASTER, round_id, "alice"), round_nonce(MASTER, round_id, "bob")):
        bundle = {"client": "bob", "nonce": nonce.hex(), "proofs": [handed]}
        report = verify_bundle(bundle, new.record, client_id="bob",
                               balances={"BTC": "0.0007"}, decimals={"BTC": 8})
        assert [r["reason"] for r in report["results"]] == ["root_mismatch"]
        assert report["verdict"] == "rejected"
    # Alice, with her own id, is accepted: the refusal is bob's alone.
    alice = {"nonce": round_nonce(MASTER, round_id, "alice").hex(), "proofs": [handed]}
    assert verify_bundle(alice, new.record, client_id="alice", balances={"BTC": "0.0007"},
                         decimals={"BTC": 8})["verdict"] == "accepted"
    # A format 2 proof slipped into a format 3 bundle is refused by name too.
    mixed = {**alice, "proofs": [next(old.proofs("alice"))]}
    assert [r["reason"] for r in verify_bundle(mixed, new.record, client_id="alice")[
        "results"]] == ["identity_not_bound"]


def test_a_proof_against_a_different_rounds_root_is_rejected() -> None:
    later = build(snapshot=2, previous=bytes.fromhex(ROUND.hash), seed=b"t" * 32)
    assert rejection(proof_of("alice"), later.record) == "other_round"
    # Even re-labelled with the later round's hash, the siblings lead to round one's root.
    relabelled = {**proof_of("alice"), "round_hash": later.hash}
    assert rejection(relabelled, later.record) == "root_mismatch"


def test_a_tampered_sibling_hash_is_rejected() -> None:
    proof = proof_of("alice")
    raw = siblings_of(proof)
    raw[2 * 40 + 8] ^= 1  # one bit of the third sibling's hash
    assert rejection(with_siblings(proof, raw)) == "root_mismatch"
    assert rejection({**proof, "siblings": "zz" * 32}) == "malformed"


def test_a_reordered_path_is_rejected() -> None:
    proof = proof_of("alice")
    raw = siblings_of(proof)
    assert len(raw) >= 2 * 40
    raw[0:40], raw[40:80] = raw[40:80], raw[0:40]
    assert rejection(with_siblings(proof, raw)) == "root_mismatch"
    assert rejection(with_siblings(proof, raw[:-40])) in ("malformed", "root_mismatch")
    assert rejection(with_siblings(proof, raw + raw[:40])) in ("malformed", "root_mismatch")


def test_a_changed_piece_value_or_index_or_a_repeated_piece_is_rejected() -> None:
    proof = copy.deepcopy(proof_of("alice"))
    proof["pieces"][0]["value"] = str(int(proof["pieces"][0]["value"]) + 1)
    assert rejection(proof) == "root_mismatch"
    proof = copy.deepcopy(proof_of("alice"))
    proof["pieces"][0]["index"] ^= 1
    assert rejection(proof) in ("root_mismatch", "repeated_piece", "malformed")
    proof = copy.deepcopy(proof_of("alice"))
    proof["pieces"].append(proof["pieces"][0])
    assert rejection(proof) == "repeated_piece"
    proof = copy.deepcopy(proof_of("alice"))
    proof["pieces"].reverse()  # the piece number is part of each leaf's salt
    assert rejection(proof) == "root_mismatch"


def test_a_round_record_with_another_root_than_the_proof_is_rejected() -> None:
    record = copy.deepcopy(ROUND.record)
    record["assets"][0]["root"]["sum"] = "1"
    assert rejection(proof_of("alice"), record) == "other_round"
    forged = {**proof_of("alice"), "round_hash": verifier.round_hash(record).hex()}
    assert rejection(forged, record) == "root_mismatch"


def test_the_verifier_imports_only_the_standard_library() -> None:
    source = Path(verifier.__file__).read_text(encoding="utf-8")
    assert "ringfence" not in "".join(
        line for line in source.splitlines() if line.startswith(("import", "from")))
    code = "import sys; sys.path.insert(0, sys.argv[1]); import verifier; print(sorted(" \
        "m for m in sys.modules if m.split('.')[0] in ('ringfence', 'nacl')))"
    output = subprocess.run([sys.executable, "-I", "-c", code, str(Path(verifier.__file__).parent)],
                            capture_output=True, text=True, check=True).stdout
    assert output.strip() == "[]"


def test_the_verifier_runs_as_a_script(tmp_path: Path) -> None:
    (tmp_path / "proof.json").write_text(json.dumps(proof_of("alice")))
    (tmp_path / "round.json").write_text(json.dumps(ROUND.record))
    script = verifier.__file__
    arguments = [str(tmp_path / "proof.json"), str(tmp_path / "round.json"), KEYS["alice"].hex(),
                 "--client-id", "alice", "--decimals", "BTC=8"]  # 70,000 sats
    accepted = subprocess.run([sys.executable, "-I", script, *arguments, "--balance", "BTC=0.0007"],
                              check=False, capture_output=True, text=True)
    assert accepted.returncode == 0, accepted.stdout + accepted.stderr
    assert "BTC: OK, 70000 proof units (0.00070000 BTC) counted" in accepted.stdout
    refused = subprocess.run([sys.executable, "-I", script, *arguments,
                              "--balance", "BTC=0.00069999"],
                             check=False, capture_output=True, text=True)
    assert refused.returncode == verifier.exit_status_integrity
    assert "REJECTED (balance_mismatch)" in refused.stdout


@pytest.mark.parametrize("damage", [
    lambda p: p.pop("pieces"),
    lambda p: p.update(pieces=[]),
    lambda p: p.update(pieces=["x"]),
    lambda p: p.update(siblings=5),
    lambda p: p.update(siblings="é"),
    lambda p: p.pop("siblings"),
    lambda p: p["pieces"][0].update(index=-1),
    lambda p: p["pieces"][0].update(index=True),
    lambda p: p["pieces"][0].update(index=2**48),
    lambda p: p["pieces"][0].update(value=5),
    lambda p: p.update(v="ringfence-por-proof/1"),
    lambda p: p.update(asset_number=99),
    lambda p: p.update(asset="ETH"),
])
def test_a_malformed_proof_is_rejected_with_a_reason(damage) -> None:
    proof = copy.deepcopy(proof_of("alice"))
    damage(proof)
    assert rejection(proof)


def test_a_malformed_round_record_is_rejected_with_a_reason() -> None:
    record = copy.deepcopy(ROUND.record)
    record["assets"] = ["BTC"]
    proof = {**proof_of("alice"), "round_hash": verifier.round_hash(record).hex()}
    assert rejection(proof, record) == "malformed"


def test_a_proof_stays_under_4_kb_and_shares_the_top_of_its_paths() -> None:
    proof = proof_of("alice")
    height = ROUND.record["assets"][0]["height"]
    records = len(siblings_of(proof)) // 40
    assert records < len(proof["pieces"]) * height  # shared levels are sent once
    assert len(json.dumps(proof, separators=(",", ":"))) < 4096


def test_the_verifier_checks_the_chain_of_rounds_and_refuses_a_split_view() -> None:
    later = build(snapshot=2, previous=bytes.fromhex(ROUND.hash), seed=b"t" * 32)
    verifier.verify_chain([ROUND.record, later.record])
    forked = build(snapshot=1, seed=b"f" * 32)  # another view of round one
    with pytest.raises(ProofRejectedError, match="does not name"):
        verifier.verify_chain([forked.record, later.record])
    renamed = {**later.record, "snapshot": 3}
    with pytest.raises(ProofRejectedError, match="round id"):
        verifier.verify_chain([ROUND.record, renamed])


def test_a_pool_the_round_says_is_short_is_reported_though_the_asset_covers() -> None:
    """The stdlib verifier cannot check the pools' zero-knowledge proofs, but it reports a
    pool the firm's own statement leaves without a coverage proof."""
    from ringfence.core.por.round import ReservesAttestation
    from ringfence.core.por.solvency import PoolPosition

    pools = build_round(
        snapshot=1, previous_round_hash=bytes(32), liabilities=[(BTC, {"alice": 70_000})],
        master_secret=MASTER, signing_seed=SIGNING, seed=b"r" * 32,
        reserves=ReservesAttestation(b"f" * 32, {1: 90_000}, {1: 90_000}, {1: [
            PoolPosition("short", 60_000, 40_000), PoolPosition("excess", 10_000, 50_000)]}))
    round_id = bytes.fromhex(pools.record["round_id"])
    bundle = {"nonce": round_nonce(MASTER, round_id, "alice").hex(),
              "proofs": list(pools.proofs("alice"))}
    report = verify_bundle(bundle, pools.record, client_id="alice")
    (line,) = report["round"]["assets"]
    assert line["status"] == "covered"
    assert line["pools"] == [{"pool": "excess", "reserves": "50000", "claim": "covered"},
                             {"pool": "short", "reserves": "40000", "claim": "not_covered"}]
    assert report["verdict"] == "not_covered"
    text = verifier.render_text(report)
    assert "pool short: NOT COVERED by its own reserves of 0.00040000 BTC, as the round" in text
    assert text.splitlines()[-1].endswith("reserves of BTC pool short do not cover what it owes.")
