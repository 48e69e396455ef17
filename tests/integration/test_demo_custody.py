"""demo/custody.py with the real chain adapters: derived wallets and addresses, a UTXO
snapshot and (with anvil installed) real Ethereum transactions, each deposit posted once."""

from __future__ import annotations

import os
from pathlib import Path

from tests.support import MAIN, build_custodian
from tests.support_anvil import require_anvil

from ringfence.bootstrap import DemoChainFiles
from ringfence.core.custody.addresses import AddressKind, derive_addresses
from ringfence.core.custody.registry import Chain, Scheme
from ringfence.core.errors import Result
from ringfence.core.ledger.model import AccountClass, AccountDefinition
from ringfence.demo.custody import demo_account_key, run_custody_demo
from ringfence.service.audit import verify_store
from ringfence.service.custody import CustodyService
from ringfence.service.ledger import LedgerService


def test_the_custody_demo_takes_deposits_from_both_chains(
    memory_service: LedgerService, tmp_path: Path
) -> None:
    require_anvil()  # skipped without anvil, failed under CI=true
    build_custodian(memory_service)
    # The small custodian's wallets hold both chains' assets; a registry wallet is of one
    # chain, so the pool gets an Ethereum hot wallet of its own.
    ether_wallet = AccountDefinition(10**6, "ETH", AccountClass.custody, "main-eth", "hot", MAIN)
    assert memory_service.define_accounts([ether_wallet]) == [Result.ok]
    section = run_custody_demo(memory_service, DemoChainFiles(tmp_path), seed=3)
    assert (tmp_path / "utxo-snapshot.csv").is_file()
    for chain in ("bitcoin", "ethereum"):
        scan = section[chain]
        assert scan["posted"] == section["client_deposit_addresses"][chain] > 0
        assert scan["rescanned_already_posted"] == scan["posted"]
        assert scan["unattributed"] == 0
    custody = CustodyService(memory_service)
    wallet = custody.registry.wallets["main-hot"].wallet
    assert (wallet.scheme, wallet.pool) == (Scheme.bip84, MAIN)
    assert wallet.keys == (demo_account_key("main-hot", Chain.bitcoin),)
    pool_address = derive_addresses(AddressKind.bip84, wallet.keys, 0, 1)[0]
    assert custody.registry.addresses[pool_address].client == ""
    report = verify_store(memory_service.store)
    assert report.ok, report.problems
    assert os.environ.get("CI") != "true" or section["ethereum"]["posted"] > 0
