"""Makes the verifier's fixtures with the real command line, as a firm and its client would:
``python tests/data/verifier/make_fixtures.py`` (from the repository, its venv active) rewrites
the JSON files beside this script. The tests read the files and never run this.

- ``two-assets/``: a round over BTC (scale 8: alice is owed 0.8, bob 1.5) and
  ETH (scale 18: alice 2.000000000000000001), reserves not attested; ``round.json``, the
  bundle ``ringfence por proof alice --json`` prints (``bundle.json``) and its BTC proof alone
  (``proof-btc.json``).
- ``attested/``: an ETH ledger (alice is owed 2 ETH) whose client wallet holds 3 ETH. Round 1
  counts them with a proof of control for that round (covered, 150%); round 2 is built with
  the same signatures replayed, which prove nothing, so its net reserves are 0 against a
  gross of 3 ETH (not covered). ``round-1.json``, ``bundle-1.json``, ``round-2.json``,
  ``bundle-2.json``.

Each folder's ``public-key.txt`` is the key the rounds are signed with: the key a firm
publishes and its clients pin.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

from bip_utils import Bip39SeedGenerator, Bip44, Bip44Changes, Bip44Coins
from eth_account import Account
from eth_account.messages import encode_defunct

HERE = Path(__file__).parent
RINGFENCE = Path(sys.executable).parent / "ringfence"
BLOCKS = ("5a" * 32, "6b" * 32)
ACCOUNT = (Bip44.FromSeed(Bip39SeedGenerator("abandon " * 11 + "about").Generate(),
                          Bip44Coins.ETHEREUM).Purpose().Coin().Account(0))
SIGNER = Account.from_key(
    ACCOUNT.Change(Bip44Changes.CHAIN_EXT).AddressIndex(0).PrivateKey().Raw().ToBytes())


def ringfence(db: Path, *arguments: str) -> Any:
    finished = subprocess.run([str(RINGFENCE), "--db", f"sqlite:///{db}", *arguments, "--json"],
                              capture_output=True, text=True, check=True, timeout=300)
    return json.loads(finished.stdout)


def lines(path: Path, rows: list[dict[str, Any]]) -> str:
    path.write_text("".join(json.dumps(row) + "\n" for row in rows), encoding="utf-8")
    return str(path)


def save(folder: Path, name: str, document: Any) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    (folder / name).write_text(json.dumps(document, indent=1) + "\n", encoding="utf-8")


def account(number: str, asset: str, kind: str, owner: str, pool: str) -> dict[str, str]:
    account_class, kind = ("custody", "hot") if kind == "custody" else ("client", "available")
    return {"id": number, "asset": asset, "class": account_class, "owner": owner, "kind": kind,
            "pool": pool}


def deposit(number: str, debit: str, credit: str, amount: str) -> dict[str, str]:
    return {"id": number, "debit_account": debit, "credit_account": credit, "amount": amount,
            "code": "deposit"}


def two_assets(work: Path) -> None:
    db = work / "two-assets" / "ringfence.db"  # rounds go to por/ beside it
    db.parent.mkdir()
    ringfence(db, "init")
    for code, scale, number in (("BTC", "8", "1"), ("ETH", "18", "2")):
        ringfence(db, "assets", "create", "--code", code, "--scale", scale, "--number", number)
    ringfence(db, "clients", "create", "alice", "bob")
    ringfence(db, "pools", "create", "omni", "--kind", "omnibus", "--terms", "custody")
    accounts = [account("1", "BTC", "custody", "wallet-1", "omni"),
                account("2", "BTC", "client", "alice", "omni"),
                account("3", "BTC", "client", "bob", "omni"),
                account("6", "ETH", "custody", "wallet-2", "omni"),
                account("7", "ETH", "client", "alice", "omni")]
    ringfence(db, "accounts", "import", lines(db.parent / "accounts.jsonl", accounts))
    transfers = [deposit("1", "1", "2", "0.8"), deposit("2", "1", "3", "1.5"),
                 deposit("3", "6", "7", "2.000000000000000001")]
    ringfence(db, "transfers", "submit", lines(db.parent / "transfers.jsonl", transfers))
    built = ringfence(db, "por", "build")
    record = json.loads(Path(built["round_file"]).read_text(encoding="utf-8"))
    bundle = ringfence(db, "por", "proof", "alice")
    folder = HERE / "two-assets"
    save(folder, "round.json", record)
    save(folder, "bundle.json", bundle)
    save(folder, "proof-btc.json", bundle["proofs"][0])
    (folder / "public-key.txt").write_text(record["public_key"] + "\n", encoding="utf-8")


def attested(work: Path) -> None:
    db = work / "attested" / "ringfence.db"
    db.parent.mkdir()
    ringfence(db, "init")
    ringfence(db, "assets", "create", "--code", "ETH", "--scale", "18", "--number", "1",
              "--chain", "ethereum")
    ringfence(db, "clients", "create", "alice")
    ringfence(db, "pools", "create", "omni", "--kind", "omnibus", "--terms", "custody")
    ringfence(db, "wallets", "create", "omni-eth", "--chain", "ethereum", "--scheme", "eth",
              "--key", str(ACCOUNT.PublicKey().ToExtended()), "--pool", "omni")
    ringfence(db, "wallets", "assign", "omni-eth", "--client", "alice")
    ringfence(db, "accounts", "create", "--id", "7", "--asset", "ETH", "--class", "client",
              "--owner", "alice", "--kind", "available", "--pool", "omni")
    custody = next(row["account"] for row in ringfence(db, "balances")["balances"]
                   if row["owner"] == "omni-eth")
    ringfence(db, "transfers", "submit",
              lines(db.parent / "transfers.jsonl", [deposit("1", custody, "7", "2")]))
    holdings = lines(db.parent / "holdings.jsonl", [
        {"chain": "ethereum", "address": SIGNER.address, "asset": "ETH",
         "amount": str(3 * 10**18), "height": 100, "time_ns": 0, "source": "node-1"}])
    control = db.parent / "control.json"
    folder = HERE / "attested"
    for number, block in enumerate(BLOCKS, start=1):
        asked = ringfence(db, "por", "challenges", "--block", f"ethereum={block}")
        if number == 1:  # round 2 replays round 1's signatures
            control.write_text(json.dumps({"proofs": [
                {"chain": "ethereum", "address": challenge["address"],
                 "message": challenge["message"],
                 "signature": "0x" + SIGNER.sign_message(
                     encode_defunct(text=challenge["message"])).signature.hex()}
                for challenge in asked["challenges"]]}), encoding="utf-8")
        built = ringfence(db, "por", "build", "--holdings", holdings, "--control", str(control),)
        record = json.loads(Path(built["round_file"]).read_text(encoding="utf-8"))
        save(folder, f"round-{number}.json", record)
        save(folder, f"bundle-{number}.json",
             ringfence(db, "por", "proof", "alice", "--round", str(number)))
    (folder / "public-key.txt").write_text(record["public_key"] + "\n", encoding="utf-8")


def main() -> None:
    work = Path(tempfile.mkdtemp(prefix="ringfence-verifier-"))
    try:
        two_assets(work)
        attested(work)
    finally:
        shutil.rmtree(work)


if __name__ == "__main__":
    main()
