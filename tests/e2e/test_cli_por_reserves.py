"""``ringfence por challenges`` and ``por build --holdings --control`` end to end: a round's
reserves count only client-designated holdings with a proof of control for that very round."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from bip_utils import Bip39SeedGenerator, Bip44, Bip44Changes, Bip44Coins
from eth_account import Account
from eth_account.messages import encode_defunct
from tests.e2e.test_cli import run, run_json, write_lines

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


def build_ledger(folder: Path) -> Path:
    db = folder / "ringfence.db"
    run_json(db, "init")
    run_json(db, "assets", "create", "--code", "ETH", "--scale", "18", "--number", "1",
             "--chain", "ethereum")  # fmt: skip
    run_json(db, "clients", "create", "alice")
    run_json(db, "pools", "create", "omni", "--kind", "omnibus", "--terms", "custody")
    run_json(db, "wallets", "create", "omni-eth", "--chain", "ethereum", "--scheme", "eth",
             "--key", ETH_XPUB, "--pool", "omni")  # fmt: skip
    run_json(db, "wallets", "create", "house-eth", "--chain", "ethereum", "--scheme", "address",
             "--key", HOUSE)  # fmt: skip
    (row,) = run_json(db, "wallets", "assign", "omni-eth", "--client", "alice")["results"]
    assert row["record"] == SIGNER.address  # the key we hold signs for the derived address
    run_json(db, "accounts", "create", "--id", "7", "--asset", "ETH", "--class", "client",
             "--owner", "alice", "--kind", "available", "--pool", "omni")  # fmt: skip
    custody = next(
        b["account"] for b in run_json(db, "balances")["balances"] if b["owner"] == "omni-eth"
    )
    transfers = [{"id": "1", "debit_account": custody, "credit_account": "7",
                  "amount": "2", "code": "deposit"}]  # fmt: skip
    assert run_json(db, "transfers", "submit", str(write_lines(folder / "t.jsonl", transfers)))[
        "ok"
    ]
    return db


def holdings(folder: Path) -> Path:
    lines = [
        {"chain": "ethereum", "address": SIGNER.address, "asset": "ETH",
         "amount": str(3 * 10**18), "height": 100, "time_ns": 0, "source": "node-1"},
        {"chain": "ethereum", "address": HOUSE, "asset": "ETH", "amount": str(50 * 10**18),
         "height": 100, "time_ns": 0, "source": "node-1"},
    ]  # fmt: skip
    return write_lines(folder / "holdings.jsonl", lines)


def control(folder: Path, challenges: Any) -> Path:
    proofs = []
    for challenge in challenges["challenges"]:
        signed = SIGNER.sign_message(encode_defunct(text=challenge["message"]))
        proofs.append({"chain": "ethereum", "address": challenge["address"],
                       "message": challenge["message"],
                       "signature": "0x" + signed.signature.hex()})  # fmt: skip
    path = folder / "control.json"
    path.write_text(json.dumps({"proofs": proofs}))
    return path


def test_reserves_are_attested_for_the_round_they_were_signed_for(tmp_path: Path) -> None:
    db = build_ledger(tmp_path)
    asked = run_json(db, "por", "challenges", "--block", f"ethereum={BLOCK}")
    assert [c["address"] for c in asked["challenges"]] == [SIGNER.address]  # house: never
    signed = control(tmp_path, asked)
    built = run_json(db, "por", "build", "--holdings", str(holdings(tmp_path)),
                     "--control", str(signed), "--workers", "1")  # fmt: skip
    assert built["reserves"]["status"] == "attested"
    (eth,) = built["reserves_by_asset"]
    assert eth == {"asset": "ETH", "gross": str(3 * 10**18), "encumbered": "0",
                   "unproven": "0", "net": str(3 * 10**18),
                   "house_excluded": str(50 * 10**18)}  # fmt: skip
    record = json.loads(Path(built["round_file"]).read_text())
    (line,) = record["assets"]
    assert line["reserves"]["total"] == str(3 * 10**9)  # gwei, the proof unit
    assert line["reserves"]["coverage_net_bp"] == "15000"  # 3 ETH against 2 owed
    reserves_file = Path(built["round_file"]).parent / "reserves.json"
    import hashlib

    assert (
        hashlib.sha256(reserves_file.read_bytes()).hexdigest() == (record["reserves"]["file_hash"])
    )

    # The same signatures replayed for the next round prove nothing.
    run_json(db, "por", "challenges", "--block", f"ethereum={'6b' * 32}")
    replayed = run_json(db, "por", "build", "--holdings", str(holdings(tmp_path)),
                        "--control", str(signed), "--workers", "1")  # fmt: skip
    (eth,) = replayed["reserves_by_asset"]
    assert (eth["net"], eth["unproven"]) == ("0", str(3 * 10**18))
    (line,) = json.loads(Path(replayed["round_file"]).read_text())["assets"]
    assert line["reserves"]["covered"] is False


def test_reserves_need_the_announced_round_and_its_blocks(tmp_path: Path) -> None:
    db = build_ledger(tmp_path)
    without = run(db, "por", "build", "--holdings", str(holdings(tmp_path)), "--json")
    assert without.status == 3  # no pending round: run `por challenges` first
    asked = run_json(db, "por", "challenges", "--block", f"ethereum={BLOCK}")
    # A signer who names another block than the one the firm announced proves nothing, even
    # for the right round.
    message = asked["challenges"][0]["message"].replace(BLOCK, "77" * 32)
    signed = SIGNER.sign_message(encode_defunct(text=message))
    forged = tmp_path / "forged.json"
    forged.write_text(
        json.dumps(
            {
                "proofs": [
                    {
                        "chain": "ethereum",
                        "address": SIGNER.address,
                        "message": message,
                        "signature": "0x" + signed.signature.hex(),
                    }
                ]
            }
        )
    )
    built = run_json(db, "por", "build", "--holdings", str(holdings(tmp_path)),
                     "--control", str(forged), "--workers", "1")  # fmt: skip
    (eth,) = built["reserves_by_asset"]
    assert (eth["net"], eth["unproven"]) == ("0", str(3 * 10**18))
    moved = run(db, "por", "build", "--holdings", str(holdings(tmp_path)), "--snapshot", "1",
                "--json")  # fmt: skip
    assert moved.status == 2
    assert moved.document["error"] == "control_round_mismatch"


def test_the_audit_checks_the_pinned_reserves_file(tmp_path: Path) -> None:
    db = build_ledger(tmp_path)
    asked = run_json(db, "por", "challenges", "--block", f"ethereum={BLOCK}")
    built = run_json(db, "por", "build", "--holdings", str(holdings(tmp_path)),
                     "--control", str(control(tmp_path, asked)), "--workers", "1")  # fmt: skip
    round_file = built["round_file"]
    audit = ("por", "audit", "--round", round_file, "--seed", "public", "--workers", "1")
    assert run_json(db, *audit)["ok"] is True
    reserves_file = Path(round_file).parent / "reserves.json"
    reserves_file.write_bytes(reserves_file.read_bytes().replace(b'"net":"3', b'"net":"4'))
    tampered = run(db, *audit, "--json")
    assert tampered.status == 4
    assert [p["problem"] for p in tampered.document["problems"]] == ["reserves_file_mismatch"]


def test_a_round_verifies_only_against_the_pinned_signing_key(tmp_path: Path) -> None:
    db = build_ledger(tmp_path)
    built = run_json(db, "por", "build", "--workers", "1")
    record = json.loads(Path(built["round_file"]).read_text())
    proof_file = tmp_path / "alice.json"
    proof_file.write_text(json.dumps(run_json(db, "por", "proof", "alice")))
    verify = ("por", "verify", str(proof_file), "--round", built["round_file"])
    assert run_json(db, *verify, "--public-key", record["public_key"])["ok"] is True
    other = run(db, *verify, "--public-key", "00" * 32, "--json")
    assert other.status == 4
    assert other.document["results"][0]["reason"] == "signing_key_not_pinned"
