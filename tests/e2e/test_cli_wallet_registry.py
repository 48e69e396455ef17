"""``ringfence wallets create|designate|assign|client-address|list|scan`` end to end: the
registry journaled in a real SQLite file, deposits scanned from a real anvil node."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from bip_utils import Bip32Secp256k1, Bip39SeedGenerator
from tests.support_anvil import AnvilNode
from tests.support_cli import run, run_installed, run_json

MASTER = Bip32Secp256k1.FromSeed(Bip39SeedGenerator("abandon " * 11 + "about").Generate())
BIP84_ZPUB = (
    "zpub6rFR7y4Q2AijBEqTUquhVz398htDFrtymD9xYYfG1m4wAcvPhXNfE3EfH1r1ADqtfSdVCToUG868RvUUkgDKf31m"
    "GDtKsAYz2oz2AGutZYs"
)
ETH_ACCOUNT = str(MASTER.DerivePath("m/44'/60'/0'").PublicKey().ToExtended())


def results(document: Any) -> list[str]:
    return [row["result"] for row in document["results"]]


def build(db: Path) -> None:
    assert run_json(db, "init")["ok"] is True
    for code, scale, number, chain in (
        ("BTC", "8", "1", "bitcoin"),
        ("ETH", "18", "2", "ethereum"),
    ):
        run_json(db, "assets", "create", "--code", code, "--scale", scale, "--number", number,
                 "--chain", chain)  # fmt: skip
    run_json(db, "clients", "create", "alice", "bob")
    run_json(db, "pools", "create", "omni", "--kind", "omnibus", "--terms", "custody")


def test_the_registry_is_built_journaled_and_audited(tmp_path: Path) -> None:
    db = tmp_path / "ringfence.db"
    build(db)
    created = run_installed(db, "wallets", "create", "omni-btc", "--chain", "bitcoin", "--scheme",
                            "bip84", "--key", BIP84_ZPUB, "--pool", "omni", "--json")  # fmt: skip
    assert results(created.document) == ["ok"], created.stderr
    assigned = run_json(db, "wallets", "assign", "omni-btc", "--count", "2", "--client", "alice")
    assert [row["record"] for row in assigned["results"]] == [
        "bc1qcr8te4kr609gcawutmrza0j4xv80jy8z306fyu",
        "bc1qnjg0jd8228aq7egyzacy8cys3knf9xvrerkf9g",
    ]
    again = run(db, "wallets", "assign", "omni-btc", "--client", "bob", "--json")
    assert again.status == 1
    assert results(again.document) == ["address_designated_twice"]
    assert results(run_json(db, "wallets", "designate", "omni-btc", "--pool", "omni", "--tier",
                            "cold")) == ["ok"]  # fmt: skip
    listed = run_json(db, "wallets", "list")["wallets"]
    assert [(w["name"], w["pool"], w["tier"], w["addresses"]) for w in listed] == [
        ("omni-btc", "omni", "cold", 2)
    ]
    assert [h["tier"] for h in listed[0]["history"]] == ["hot", "cold"]
    assert run_json(db, "audit", "verify")["ok"] is True


def test_bad_registry_input_is_named_and_changes_nothing(tmp_path: Path) -> None:
    db = tmp_path / "ringfence.db"
    build(db)
    before = run_json(db, "audit", "verify")["head_seq"]
    cases = [
        (["--scheme", "bip84", "--key", "zpub-garbage", "--pool", "omni"], "xpub_malformed"),
        (["--scheme", "bip84", "--key", BIP84_ZPUB, "--pool", "omni", "--network", "testnet"],
         "xpub_wrong_network"),
        (["--scheme", "bip84", "--key", BIP84_ZPUB, "--pool", "nowhere"], "pool_not_found"),
    ]  # fmt: skip
    for arguments, code in cases:
        failed = run(db, "wallets", "create", "w", "--chain", "bitcoin", *arguments, "--json")
        assert failed.status in (1, 2), failed.stdout
        document = failed.document
        assert code in (document.get("error"), *(r["result"] for r in document.get("results", [])))
    assert run_json(db, "audit", "verify")["head_seq"] == before


def test_scan_posts_deposits_from_a_real_node_once(anvil_node: AnvilNode, tmp_path: Path) -> None:
    db = tmp_path / "ringfence.db"
    build(db)
    run_json(db, "wallets", "create", "omni-eth", "--chain", "ethereum", "--scheme", "eth",
             "--key", ETH_ACCOUNT, "--pool", "omni")  # fmt: skip
    (row,) = run_json(db, "wallets", "assign", "omni-eth", "--client", "bob")["results"]
    sent = anvil_node.send_eth(row["record"], 2 * 10**18)
    scan = ("wallets", "scan", "--eth-rpc", anvil_node.url, "--chain-id", "31337",
            "--confirmations", "0")  # fmt: skip
    refused = run(db, "wallets", "scan", "--eth-rpc", anvil_node.url, "--json")
    assert (refused.status, refused.document["error"]) == (2, "field_required")
    wrong = run(db, *scan[:4], "--chain-id", "1", "--confirmations", "0", "--json")
    assert wrong.status == 3  # the node answers another chain: nothing read, nothing posted
    deep = run_json(db, *scan[:4], "--chain-id", "31337")  # 12 confirmations by default
    assert deep["posted"] == []
    first = run_json(db, *scan)
    assert [(d["reference"], d["client"], d["amount"]) for d in first["posted"]] == [
        (sent.reference, "bob", str(2 * 10**18))
    ]
    second = run_json(db, *scan)
    assert (second["posted"], len(second["already_posted"])) == ([], 1)
    balances = run_json(db, "balances", "--client", "bob")["balances"]
    assert [(b["asset"], b["balance"]) for b in balances] == [("ETH", "2.000000000000000000")]
    assert run_json(db, "audit", "verify")["ok"] is True


def snapshot_file(folder: Path, address: str, height: int) -> Path:
    rows = [
        "# ringfence utxo snapshot v1",
        "# chain: bitcoin",
        "# network: mainnet",
        f"# height: {height}",
        f"# block_hash: {'00' * 31}ab",
        "address,txid,vout,amount,height",
        f"{address},{'c4' * 32},1,150000000,{height - 3}",
        f"bc1q8c6fshw2dlwun7ekn9qwf37cu2rn755upcp6el,{'d5' * 32},0,7,{height - 2}",
    ]
    path = folder / f"utxo-{height}.csv"
    path.write_text("\n".join(rows) + "\n", encoding="ascii")
    return path


def test_a_utxo_snapshot_becomes_deposits_and_observations(tmp_path: Path) -> None:
    db = tmp_path / "ringfence.db"
    build(db)
    run_json(db, "wallets", "create", "omni-btc", "--chain", "bitcoin", "--scheme", "bip84",
             "--key", BIP84_ZPUB, "--pool", "omni")  # fmt: skip
    (row,) = run_json(db, "wallets", "assign", "omni-btc", "--client", "alice")["results"]
    snapshot = snapshot_file(tmp_path, row["record"], 871_002)
    first = run_json(db, "wallets", "scan", "--utxo-snapshot", str(snapshot))
    assert [(d["reference"], d["client"], d["amount"]) for d in first["posted"]] == [
        ("c4" * 32 + ":1", "alice", "150000000")
    ]
    assert first["height"] == 871_002
    again = run_json(db, "wallets", "scan", "--utxo-snapshot", str(snapshot))
    assert (again["posted"], len(again["already_posted"])) == ([], 1)
    out = tmp_path / "observed.jsonl"
    written = run_json(db, "wallets", "holdings", "--utxo-snapshot", str(snapshot), "--out",
                       str(out))  # fmt: skip
    assert written["observations"] == 1  # the change address is not registered
    line = json.loads(out.read_text())
    assert (line["address"], line["amount"], line["height"]) == (row["record"], "150000000",
                                                                 871_002)  # fmt: skip
    bad = run(db, "wallets", "scan", "--json")
    assert bad.status == 2
    assert bad.document["error"] == "field_required"
