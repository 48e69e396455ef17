"""``ringfence por challenges`` and ``por build --holdings --control`` end to end: the files
named on the command line reach the round, whose reserves count only client-designated
holdings with a proof of control for that very round; the audit checks the reserves file.
The workflows' decisions are tested in process in tests/integration/test_por_rounds.py."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any

from bip_utils import Bip39SeedGenerator, Bip44, Bip44Changes, Bip44Coins
from eth_account import Account
from eth_account.messages import encode_defunct
from tests.support_cli import run, run_json, write_lines

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


def test_reserves_are_attested_from_the_files_named_and_audited(tmp_path: Path) -> None:
    db = build_ledger(tmp_path)
    without = run(db, "por", "build", "--holdings", str(holdings(tmp_path)), "--json")
    assert without.status == 3  # no pending round: run `por challenges` first
    asked = run_json(db, "por", "challenges", "--block", f"ethereum={BLOCK}")
    assert set(asked) == {"ok", "round", "round_id", "snapshot", "challenges"}
    assert [c["address"] for c in asked["challenges"]] == [SIGNER.address]  # house: never
    said = run(db, "por", "challenges", "--block", f"ethereum={BLOCK}")
    assert said.status == 0
    assert said.stdout.endswith(": 1 challenges\n")
    built = run_json(db, "por", "build", "--holdings", str(holdings(tmp_path)),
                     "--control", str(control(tmp_path, asked)))  # fmt: skip
    assert built["reserves"]["status"] == "attested"
    (eth,) = built["reserves_by_asset"]
    assert eth == {"asset": "ETH", "gross": str(3 * 10**18), "encumbered": "0",
                   "unproven": "0", "net": str(3 * 10**18),
                   "house_excluded": str(50 * 10**18),
                   "pools": {"omni": str(3 * 10**18)}}  # fmt: skip
    record = json.loads(Path(built["round_file"]).read_text())
    (line,) = record["assets"]
    assert line["reserves"]["coverage_net_bp"] == "15000"  # 3 ETH against 2 owed
    reserves_file = Path(built["round_file"]).parent / "reserves.json"
    assert hashlib.sha256(reserves_file.read_bytes()).hexdigest() == (
        record["reserves"]["file_hash"])
    audit = ("por", "audit", "--round", built["round_file"], "--seed", "public")
    assert run_json(db, *audit)["ok"] is True
    reserves_file.write_bytes(reserves_file.read_bytes().replace(b'"net":"3', b'"net":"4'))
    tampered = run(db, *audit, "--json")
    assert tampered.status == 4
    assert [p["problem"] for p in tampered.document["problems"]] == ["reserves_file_mismatch"]
    # The pending round was round 1's: round 2's reserves need new challenges.
    moved = run(db, "por", "build", "--holdings", str(holdings(tmp_path)), "--snapshot", "1",
                "--json")  # fmt: skip
    assert moved.status == 2
    assert moved.document["error"] == "control_round_mismatch"
    # Replayed signatures, forged blocks: tests/integration/test_por_rounds.py.

