"""service/por.py's round workflows over a ledger and the rounds directory
(adapters/files/rounds.py), in this process: what ``ringfence por`` does, without a
subprocess per command (tests/e2e/test_cli_por*.py keep a few runs of the CLI itself).

Rounds are built and kept, a client's proofs verify and forgeries are refused with a named
reason, rounds chain and the audit replays each snapshot and names what does not match the
journal; reserves are attested only for the announced round, over its blocks, and the audit
checks the reserves file the round pins."""

from __future__ import annotations

import base64
import hashlib
import json
import shutil
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from bip_utils import Bip39SeedGenerator, Bip44, Bip44Changes, Bip44Coins
from eth_account import Account
from eth_account.messages import encode_defunct
from tests.support import MAIN, Custodian

from ringfence import bootstrap
from ringfence.adapters.executors import InProcessExecutor
from ringfence.core.custody.registry import Chain, Scheme, Wallet
from ringfence.core.errors import InputError, Result, StorageError
from ringfence.service import por, por_verify
from ringfence.service.custody import CustodyService
from ringfence.service.ledger import LedgerService
from ringfence.service.ports import RoundStore

BLOCK = "5a" * 32
ACCOUNT = (
    Bip44.FromSeed(Bip39SeedGenerator("abandon " * 11 + "about").Generate(), Bip44Coins.ETHEREUM)
    .Purpose()
    .Coin()
    .Account(0)
)
ETH_XPUB = str(ACCOUNT.PublicKey().ToExtended())
SIGNER = Account.from_key(
    ACCOUNT.Change(Bip44Changes.CHAIN_EXT).AddressIndex(0).PrivateKey().Raw().ToBytes()
)
HOUSE = Account.from_key(b"\x07" * 32).address  # EIP-55, as the registry requires


@pytest.fixture
def rounds(tmp_path: Path) -> RoundStore:
    return bootstrap.round_store("memory://", str(tmp_path / "por"))


@pytest.fixture
def funded(memory_service: LedgerService, custodian: Custodian) -> LedgerService:
    """alice and bob owed 1.5 BTC each, alice 2 ETH and one wei."""
    results = memory_service.submit([
        custodian.deposit(1, "alice", 150_000_000),
        custodian.deposit(2, "bob", 150_000_000),
        custodian.deposit(3, "alice", 2 * 10**18 + 1, asset="ETH"),
    ])  # fmt: skip
    assert results == [Result.ok] * 3
    return memory_service


def build(ledger: LedgerService, rounds: RoundStore, **options: Any) -> dict[str, Any]:
    options = {"snapshot": None, "holdings": None, "control": None,
               "executor": InProcessExecutor()} | options
    return por.build_and_keep_round(ledger, rounds, **options)


def audit(ledger: LedgerService, rounds: RoundStore, round_file: str, **options: Any) -> Any:
    options = {"seed": "s", "sample_size": 100,
               "executor": InProcessExecutor()} | options
    return por.audit_kept_round(ledger, rounds, round_file, **options)


def verify(proof: Any, record: Any, **options: Any) -> dict[str, Any]:
    options = {"client_id": "alice"} | options
    return por_verify.verify_proofs(json.dumps(proof).encode(), json.dumps(record).encode(),
                                    **options)


def test_a_round_is_kept_with_its_record_keys_and_private_trees(
    funded: LedgerService, rounds: RoundStore, tmp_path: Path
) -> None:
    built = build(funded, rounds)
    assert (built["round"], built["snapshot"]) == (1, funded.seq)
    assert built["reserves"] == {"status": "not_attested"}
    assert built["reserves_by_asset"] == []
    assert {row["asset"]: row["root_sum"] for row in built["assets"]} == {
        "BTC": "300000000", "ETH": "2000000001"}  # one wei owed counts as a gwei
    folder = tmp_path / "por"
    assert built["round_file"] == str(folder / "rounds" / "000001" / "round.json")
    record = json.loads(Path(built["round_file"]).read_text())
    assert record["round_id"] and record["signature"]
    for key in ("master.key", "signing.key"):
        assert (folder / key).stat().st_mode & 0o777 == 0o600
    private = folder / "rounds" / "000001" / "private"
    assert private.stat().st_mode & 0o777 == 0o700
    assert (private / "build.seed").stat().st_mode & 0o777 == 0o600
    assert sorted(path.name for path in private.glob("tree-*")) == [
        "tree-1.json", "tree-1.npz", "tree-2.json", "tree-2.npz"]
    master = (folder / "master.key").read_bytes()
    assert build(funded, rounds)["round"] == 2
    assert (folder / "master.key").read_bytes() == master  # never replaced


def test_a_clients_proofs_verify_and_forgeries_are_refused_with_a_reason(
    funded: LedgerService, rounds: RoundStore
) -> None:
    built = build(funded, rounds)
    record = json.loads(Path(built["round_file"]).read_text())
    bundle = por.client_proofs(funded, rounds, "alice")
    assert [proof["asset"] for proof in bundle["proofs"]] == ["BTC", "ETH"]
    assert "client_key" not in bundle
    accepted = verify(bundle, record, balances=["BTC=1.5"])
    assert (accepted["ok"], accepted["exit_status"]) == (True, 0)
    assert [row["proof_units"] for row in accepted["results"]] == ["150000000", "2000000001"]
    assert accepted["round"]["snapshot_time"] is not None
    assert accepted["round"]["journal_head"]["seq"] == record["snapshot"]
    wrong = verify(bundle, record, balances=["BTC=1.50000001"])
    assert wrong["ok"] is False
    assert wrong["results"][0]["reason"] == "balance_mismatch"
    forged = json.loads(json.dumps(bundle))
    raw = bytearray(base64.b64decode(forged["proofs"][0]["siblings"]))
    raw[8] ^= 1
    forged["proofs"][0]["siblings"] = base64.b64encode(bytes(raw)).decode()
    refused = verify(forged, record)
    assert (refused["ok"], refused["exit_status"]) == (False, 4)
    assert refused["results"][0]["reason"] == "root_mismatch"
    # One proof on its own needs the nonce; bob's nonce does not open alice's leaves, and nor
    # does bob's id with hers: the leaves are bound to alice.
    single = bundle["proofs"][1]
    assert verify(single, record, nonce_hex=bundle["nonce"])["ok"] is True
    bob = por.client_proofs(funded, rounds, "bob")
    stolen = verify(single, record, nonce_hex=bob["nonce"])
    assert stolen["results"][0]["reason"] == "root_mismatch"
    handed = verify(single, record, nonce_hex=bundle["nonce"], client_id="bob")
    assert handed["results"][0]["reason"] == "root_mismatch"
    for options, code in (({}, Result.nonce_required),
                          ({"client_id": None}, Result.client_id_required),
                          ({"nonce_hex": "ab"}, Result.nonce_malformed),
                          ({"nonce_hex": bundle["nonce"],
                            "balances": ["ETH=2.0000000000000000001"]},
                           Result.amount_finer_than_asset_scale),
                          ({"nonce_hex": bundle["nonce"], "decimals": ["ETH=8"]},
                           Result.decimals_mismatch)):
        with pytest.raises(InputError) as caught:
            verify(single, record, **options)
        assert caught.value.code is code
    changed = dict(record, snapshot=record["snapshot"] + 1)
    unsigned = verify(bundle, changed)
    assert unsigned["ok"] is False
    assert unsigned["results"][0]["reason"] == "bad_signature"


def test_verify_pins_the_signing_key_and_refuses_what_is_not_a_document(
    funded: LedgerService, rounds: RoundStore
) -> None:
    record = json.loads(Path(build(funded, rounds)["round_file"]).read_text())
    bundle = por.client_proofs(funded, rounds, "bob")
    pinned = verify(bundle, record, client_id="bob", public_key=record["public_key"].upper())
    assert (pinned["ok"], pinned["round"]["signature"]) == (True, "valid")
    other = verify(bundle, record, client_id="bob", public_key="00" * 32)
    assert other["ok"] is False
    assert other["results"][0]["reason"] == "signing_key_not_pinned"
    for proof_text, round_text in ((b"{", b"{}"), (b"[]", b"{}")):
        with pytest.raises(InputError) as caught:
            por_verify.verify_proofs(proof_text, round_text, client_id="bob")
        assert caught.value.code is Result.line_malformed
    for balances, code in ((["BTC=1,5"], Result.balance_malformed),
                           (["BTC"], Result.balance_malformed)):
        with pytest.raises(InputError) as caught:
            verify(bundle, record, client_id="bob", balances=balances)
        assert caught.value.code is code
    with pytest.raises(InputError) as caught:
        verify(bundle, record, client_id="bob", public_key="zz")
    assert caught.value.code is Result.public_key_malformed


def test_rounds_chain_and_the_audit_replays_each_snapshot(
    funded: LedgerService, rounds: RoundStore, custodian: Custodian
) -> None:
    first = build(funded, rounds)
    assert funded.submit([custodian.deposit(4, "alice", 25_000_000)]) == [Result.ok]
    second = build(funded, rounds)
    assert second["round"] == 2
    assert second["snapshot"] > first["snapshot"]
    record = json.loads(Path(second["round_file"]).read_text())
    assert record["previous_round_hash"] == first["round_hash"]
    for built, total in ((first, "300000000"), (second, "325000000")):
        report = audit(funded, rounds, built["round_file"], seed="block-850000", sample_size=10)
        assert report["ok"] is True, report["problems"]
        assert report["assets"][0]["proof_units"] == total
        assert len(report["sampled"]) == 3  # every (client, asset) owed something
    # The same public seed picks the same sample.
    again = audit(funded, rounds, first["round_file"], seed="block-850000", sample_size=2)
    other = audit(funded, rounds, first["round_file"], seed="block-850000", sample_size=2)
    assert again["sampled"] == other["sampled"]
    assert len(again["sampled"]) == 2
    # A past round's proofs are still served.
    assert por.client_proofs(funded, rounds, "bob", 1)["round_hash"] == first["round_hash"]


def problems(ledger: LedgerService, rounds: RoundStore, round_file: Path) -> set[str]:
    report = audit(ledger, rounds, str(round_file))
    assert report["ok"] is not bool(report["problems"])
    return {problem["problem"] for problem in report["problems"]}


def test_the_audit_names_what_does_not_match_the_journal(
    funded: LedgerService, rounds: RoundStore
) -> None:
    round_file = Path(build(funded, rounds)["round_file"])
    round_folder = round_file.parent
    assert problems(funded, rounds, round_file) == set()
    pristine = round_folder.parent / "pristine"
    shutil.copytree(round_folder, pristine)
    # A different build seed rebuilds other trees than the round's.
    seed_file = round_folder / "private" / "build.seed"
    seed_file.chmod(0o600)
    seed_file.write_text("11" * 32 + "\n")
    assert problems(funded, rounds, round_file) == {"root_mismatch"}
    # A stored leaf that was changed makes the proofs it answers fail.
    shutil.rmtree(round_folder)
    shutil.copytree(pristine, round_folder)
    tree = round_folder / "private" / "tree-1.npz"
    with np.load(tree) as stored:
        arrays = dict(stored)
    arrays["value"][0] += 1
    np.savez(tree, **arrays)
    assert problems(funded, rounds, round_file) == {"proof_rejected"}
    # A record that claims another total breaks its signature and the totals.
    shutil.rmtree(round_folder)
    shutil.copytree(pristine, round_folder)
    record = json.loads(round_file.read_text())
    record["assets"][0]["root"]["sum"] = "299999999"
    round_file.write_text(json.dumps(record))
    assert {"signature_invalid", "total_mismatch", "root_mismatch"} <= problems(
        funded, rounds, round_file)
    # A record found outside the rounds' directory is audited, its chain not checked.
    assert problems(funded, rounds, pristine / "round.json") == set()


def test_the_audit_follows_the_chain_of_kept_rounds(
    funded: LedgerService, rounds: RoundStore
) -> None:
    first = Path(build(funded, rounds)["round_file"])
    second = Path(build(funded, rounds)["round_file"])
    assert problems(funded, rounds, second) == set()
    # Round 1 rebuilt over another previous round: round 2 no longer follows it.
    record = json.loads(first.read_text())
    first.write_text(json.dumps(dict(record, previous_round_hash="11" * 32)))
    assert problems(funded, rounds, second) == {"chain_broken"}
    assert "chain_broken" in problems(funded, rounds, first)


def test_proofs_refuse_an_unknown_client_and_a_missing_round(
    funded: LedgerService, rounds: RoundStore, tmp_path: Path
) -> None:
    with pytest.raises(StorageError):
        por.client_proofs(funded, bootstrap.round_store("memory://", str(tmp_path / "none")),
                          "alice")
    build(funded, rounds)
    with pytest.raises(StorageError):
        por.client_proofs(funded, rounds, "alice", 2)
    for client in ("zoe", "carol"):  # unknown; owed nothing
        with pytest.raises(InputError) as caught:
            por.client_proofs(funded, rounds, client)
        assert caught.value.code is Result.client_not_found


def test_a_build_at_a_past_snapshot_replays_the_journal_up_to_it(
    funded: LedgerService, rounds: RoundStore, custodian: Custodian
) -> None:
    snapshot = funded.seq
    assert funded.submit([custodian.deposit(4, "bob", 1)]) == [Result.ok]
    built = build(funded, rounds, snapshot=snapshot)
    assert built["snapshot"] == snapshot
    assert built["assets"][0]["root_sum"] == "300000000"
    with pytest.raises(InputError) as caught:
        build(funded, rounds, snapshot=funded.seq + 1)
    assert caught.value.code is Result.field_unknown
    assert audit(funded, rounds, built["round_file"])["ok"] is True


# ---------------------------------------------------------------------- reserves


@pytest.fixture
def wallets(funded: LedgerService, custodian: Custodian) -> LedgerService:
    """An ETH wallet designated to the main pool, whose first address is alice's, and a
    house wallet; 2 ETH more deposited for alice through the pool's wallet."""
    custody = CustodyService(funded)
    pool_wallet = Wallet("main-eth", Chain.ethereum, Scheme.eth, (ETH_XPUB,), MAIN, "hot",
                         "mainnet")
    house = Wallet("house-eth", Chain.ethereum, Scheme.address, (HOUSE,), "", "hot", "mainnet")
    assert custody.change([pool_wallet, house]) == [Result.ok] * 2
    assert custody.assign_derived("main-eth", 0, 1, "alice", False) == [Result.ok]
    assert [a.address for a in custody.addresses_of("main-eth")] == [SIGNER.address]
    return funded


def holdings() -> bytes:
    lines = [
        {"chain": "ethereum", "address": SIGNER.address, "asset": "ETH",
         "amount": str(3 * 10**18), "height": 100, "time_ns": 0, "source": "node-1"},
        {"chain": "ethereum", "address": HOUSE, "asset": "ETH", "amount": str(50 * 10**18),
         "height": 100, "time_ns": 0, "source": "node-1"},
    ]  # fmt: skip
    return "".join(json.dumps(line) + "\n" for line in lines).encode()


def control(asked: dict[str, Any]) -> bytes:
    proofs = []
    for challenge in asked["challenges"]:
        signed = SIGNER.sign_message(encode_defunct(text=challenge["message"]))
        proofs.append({"chain": "ethereum", "address": challenge["address"],
                       "message": challenge["message"],
                       "signature": "0x" + signed.signature.hex()})  # fmt: skip
    return json.dumps({"proofs": proofs}).encode()


def test_reserves_are_attested_for_the_round_they_were_signed_for(
    wallets: LedgerService, rounds: RoundStore
) -> None:
    asked = por.announce_round(wallets, rounds, blocks=[f"ethereum={BLOCK}"], snapshot=None)
    assert [c["address"] for c in asked["challenges"]] == [SIGNER.address]  # house: never
    signed = control(asked)
    built = build(wallets, rounds, holdings=holdings(), control=signed)
    assert built["reserves"]["status"] == "attested"
    (eth,) = built["reserves_by_asset"]
    assert eth == {"asset": "ETH", "gross": str(3 * 10**18), "encumbered": "0",
                   "unproven": "0", "net": str(3 * 10**18),
                   "house_excluded": str(50 * 10**18),
                   "pools": {"main": str(3 * 10**18)}}  # fmt: skip
    record = json.loads(Path(built["round_file"]).read_text())
    line = next(entry for entry in record["assets"] if entry["asset"] == "ETH")
    assert line["reserves"]["total"] == str(3 * 10**9)  # gwei, the proof unit
    assert line["reserves"]["coverage_net_bp"] == "14999"  # 3 ETH against 2 ETH and a wei
    reserves_file = Path(built["round_file"]).parent / "reserves.json"
    assert hashlib.sha256(reserves_file.read_bytes()).hexdigest() == (
        record["reserves"]["file_hash"])
    # The same signatures replayed for the next round prove nothing.
    por.announce_round(wallets, rounds, blocks=[f"ethereum={'6b' * 32}"], snapshot=None)
    replayed = build(wallets, rounds, holdings=holdings(), control=signed)
    (eth,) = replayed["reserves_by_asset"]
    assert (eth["net"], eth["unproven"]) == ("0", str(3 * 10**18))
    record = json.loads(Path(replayed["round_file"]).read_text())
    line = next(entry for entry in record["assets"] if entry["asset"] == "ETH")
    assert line["reserves"]["covered"] is False
    # The auditor opens round 2's pool commitments against the journal.
    assert audit(wallets, rounds, replayed["round_file"])["ok"] is True
    # Round 1 proved its one pool covered in zero knowledge; round 2's pool holds nothing
    # proven, and is not covered.
    first = json.loads(Path(built["round_file"]).read_text())
    statement = next(e for e in first["assets"] if e["asset"] == "ETH")["pools"]
    assert [pool["pool"] for pool in statement["pools"]] == ["main"]
    assert statement["pools"][0]["coverage_proof"] is not None
    assert line["pools"]["pools"][0]["coverage_proof"] is None
    # alice's proofs check, and `por verify` says the round does not cover, exiting 1.
    checked = verify(por.client_proofs(wallets, rounds, "alice"), record,
                     public_key=record["public_key"], balances=["ETH=2.000000000000000001"])
    assert (checked["verdict"], checked["exit_status"]) == ("not_covered", 1)
    assert all(result["ok"] for result in checked["results"])
    assert checked["pools"] == [  # no BTC is held at all
        {"asset": "BTC", "pool": "main", "reserves": "0", "status": "not_covered"},
        {"asset": "ETH", "pool": "main", "reserves": "0", "status": "not_covered"}]
    text = por_verify.render_verification(checked)
    assert "ETH pool main: NOT COVERED by its own reserves of 0.000000000 ETH" in text
    assert "ETH: NOT COVERED, owes" in text
    assert text.splitlines()[-1].startswith("NOT COVERED: your proofs check, but")


def test_reserves_need_the_announced_round_and_its_blocks(
    wallets: LedgerService, rounds: RoundStore
) -> None:
    with pytest.raises(StorageError):  # no pending round: run `por challenges` first
        build(wallets, rounds, holdings=holdings())
    asked = por.announce_round(wallets, rounds, blocks=[f"ethereum={BLOCK}"], snapshot=None)
    # A signer who names another block than the one the firm announced proves nothing, even
    # for the right round.
    message = asked["challenges"][0]["message"].replace(BLOCK, "77" * 32)
    signed = SIGNER.sign_message(encode_defunct(text=message))
    forged = json.dumps({"proofs": [{"chain": "ethereum", "address": SIGNER.address,
                                     "message": message,
                                     "signature": "0x" + signed.signature.hex()}]}).encode()
    built = build(wallets, rounds, holdings=holdings(), control=forged)
    (eth,) = built["reserves_by_asset"]
    assert (eth["net"], eth["unproven"]) == ("0", str(3 * 10**18))
    # The pending round named round 1: once it is built, it announces nothing for round 2.
    with pytest.raises(InputError) as caught:
        build(wallets, rounds, holdings=holdings())
    assert caught.value.code is Result.control_round_mismatch
    por.announce_round(wallets, rounds, blocks=[f"ethereum={BLOCK}"], snapshot=None)
    with pytest.raises(InputError) as caught:
        build(wallets, rounds, holdings=holdings(), snapshot=1)
    assert caught.value.code is Result.control_round_mismatch
    with pytest.raises(InputError) as caught:
        por.announce_round(wallets, rounds, blocks=["ethereum=12"], snapshot=None)
    assert caught.value.code is Result.control_challenge_invalid


def test_the_audit_checks_the_pinned_reserves_file(
    wallets: LedgerService, rounds: RoundStore
) -> None:
    asked = por.announce_round(wallets, rounds, blocks=[f"ethereum={BLOCK}"], snapshot=None)
    built = build(wallets, rounds, holdings=holdings(), control=control(asked))
    round_file = Path(built["round_file"])
    assert audit(wallets, rounds, str(round_file))["ok"] is True
    reserves_file = round_file.parent / "reserves.json"
    reserves_file.write_bytes(reserves_file.read_bytes().replace(b'"net":"3', b'"net":"4'))
    assert problems(wallets, rounds, round_file) == {"reserves_file_mismatch"}
    reserves_file.unlink()
    assert problems(wallets, rounds, round_file) == {"reserves_file_missing"}
    # A pool committed to what another amount would open to is named (and the record's
    # signature fails with it).
    record = json.loads(round_file.read_text())
    eth = next(entry for entry in record["assets"] if entry["asset"] == "ETH")
    btc = next(entry for entry in record["assets"] if entry["asset"] == "BTC")
    eth["pools"]["pools"][0]["commitment"] = btc["pools"]["pools"][0]["commitment"]
    round_file.write_text(json.dumps(record))
    assert {"pool_commitment_mismatch", "signature_invalid"} <= problems(
        wallets, rounds, round_file)


def test_a_round_of_format_2_is_still_audited_but_proves_nothing_to_a_client(
    funded: LedgerService, rounds: RoundStore
) -> None:
    """Rounds kept before leaves were bound to identities: the audit rebuilds them as they
    were made and checks their proofs; a client's verifier says why it cannot rely on them."""
    from ringfence.core.por.liabilities import client_liabilities
    from ringfence.core.por.round import build_round
    from ringfence.service.por_audit import snapshot_hash

    seed, snapshot = b"o" * 32, funded.seq
    old = build_round(
        snapshot=snapshot, previous_round_hash=bytes(32),
        liabilities=client_liabilities(funded.ledger),
        master_secret=rounds.master_secret(create=True), signing_seed=rounds.signing_seed(),
        seed=seed, snapshot_hash=snapshot_hash(funded.store, snapshot), version=2)
    round_file = rounds.save_round(1, old.record, old.trees, seed, None)
    report = audit(funded, rounds, round_file)
    assert report["ok"] is True, report["problems"]
    assert len(report["sampled"]) == 3
    bundle = por.client_proofs(funded, rounds, "alice", 1)
    assert [proof["v"] for proof in bundle["proofs"]] == ["ringfence-por-proof/2"] * 2
    refused = verify(bundle, old.record, nonce_hex=bundle["client_key"])
    assert (refused["verdict"], refused["results"][0]["reason"]) == (
        "rejected", "identity_not_bound")
    # The next round is of format 3 and chains to it.
    built = build(funded, rounds)
    assert built["round"] == 2
    assert audit(funded, rounds, built["round_file"])["ok"] is True
