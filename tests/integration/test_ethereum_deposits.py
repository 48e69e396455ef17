"""Deposits on a real Ethereum node (anvil): ETH and ERC-20 transfers to clients' derived
addresses become ledger deposits exactly once, scanned twice or after a restart; a client's
payment to a house wallet becomes a misdirected deposit with a break."""

from __future__ import annotations

from pathlib import Path

from bip_utils import Bip44, Bip44Coins
from tests.support import journal_signer
from tests.support_anvil import AnvilNode

from ringfence.adapters.chains.ethereum import EthereumHoldings
from ringfence.adapters.clock import SystemClock
from ringfence.adapters.storage.sqlite import SqliteStore
from ringfence.core.custody.registry import Chain, ClientAddress, Scheme, Wallet
from ringfence.core.errors import Result
from ringfence.core.ledger.metadata import decode_metadata
from ringfence.core.ledger.model import BreakState, Pool, PoolKind, Terms
from ringfence.core.money import Asset
from ringfence.service.audit import verify_store
from ringfence.service.custody import CustodyService
from ringfence.service.ledger import LedgerService

MAIN = "main"


def eth_account_xpub() -> str:
    """An Ethereum BIP44 account key (m/44'/60'/0') from a fixed test seed."""
    account = Bip44.FromSeed(bytes(range(64)), Bip44Coins.ETHEREUM).Purpose().Coin().Account(0)
    return str(account.PublicKey().ToExtended())


def open_custody(path: Path) -> CustodyService:
    return CustodyService(LedgerService(SqliteStore(path), SystemClock(), journal_signer()))


def build(path: Path, node: AnvilNode, token_address: str) -> CustodyService:
    custody = open_custody(path)
    ledger = custody.ledger
    assets = [
        Asset("ETH", 18, 1, "ethereum"),
        Asset("TUSD", 6, 2, "ethereum", token_address),
    ]
    assert ledger.define_assets(assets) == [Result.ok] * 2
    assert ledger.define_clients(["alice", "bob", "carol"]) == [Result.ok] * 3
    assert ledger.define_pools([Pool(MAIN, PoolKind.omnibus, Terms.custody)]) == [Result.ok]
    house_address = node.new_account(0).address
    wallets = [
        Wallet("omni-eth", Chain.ethereum, Scheme.eth, (eth_account_xpub(),), MAIN, "hot"),
        Wallet("house-eth", Chain.ethereum, Scheme.address, (house_address,), "", "hot"),
    ]
    assert custody.change(wallets) == [Result.ok] * 2
    assert custody.assign_derived("omni-eth", 0, 1, client="alice") == [Result.ok]
    assert custody.assign_derived("omni-eth", 1, 1, client="bob") == [Result.ok]
    custody.client_account("carol", MAIN, "ETH")  # carol's account in the pool, empty so far
    return custody


def test_deposits_on_chain_are_posted_exactly_once(anvil_node: AnvilNode, tmp_path: Path) -> None:
    token = anvil_node.deploy_token("Test USD", "TUSD", decimals=6, supply=10**15)
    path = tmp_path / "ledger.db"
    custody = build(path, anvil_node, token.address)
    alice, bob = (
        a.address for a in sorted(custody.addresses_of("omni-eth"), key=lambda a: a.index)
    )
    carol_own = anvil_node.new_account(10**19)
    assert custody.change([ClientAddress(carol_own.address, "carol")]) == [Result.ok]
    house = custody.registry.wallets["house-eth"].wallet.keys[0]

    sent = [
        anvil_node.send_eth(alice, 3 * 10**18),
        anvil_node.send_token(token, bob, 250_000_000),
        anvil_node.send_eth(house, 10**18, sender=carol_own),
    ]
    source = EthereumHoldings(anvil_node.url, "ETH", {token.address: "TUSD"})

    first = custody.scan_deposits(source)
    assert sorted(d.inflow.reference for d in first.posted) == sorted(s.reference for s in sent)
    assert {(d.client, d.inflow.asset, d.misdirected) for d in first.posted} == {
        ("alice", "ETH", False),
        ("bob", "TUSD", False),
        ("carol", "ETH", True),
    }
    assert first.unattributed == []

    second = custody.scan_deposits(source)
    assert second.posted == []
    assert len(second.already_posted) == 3

    custody.ledger.close()
    reopened = open_custody(path)
    after_restart = reopened.scan_deposits(source)
    assert (after_restart.posted, len(after_restart.already_posted)) == ([], 3)

    balances = {
        (b.account.owner, b.account.asset): b.balance
        for b in reopened.ledger.balances()
        if b.account.account_class.value == "client"
    }
    assert balances == {
        ("alice", "ETH"): 3 * 10**18,
        ("bob", "TUSD"): 250_000_000,
        ("carol", "ETH"): 10**18,
    }
    (opened,) = reopened.ledger.breaks()
    assert (opened.pool, opened.amount, opened.state) == (MAIN, 10**18, BreakState.open)
    # Each deposit's chain transaction, recorded once and replayed: the token's log index too.
    recorded = {(s.chain, s.reference) for s in reopened.deposit_sources().values()}
    assert recorded == {(Chain.ethereum, s.reference) for s in sent}
    # The transfers carry it too, as metadata: the token's transfer with its log index.
    store = reopened.ledger.store
    ids = [d.transfer_id for d in first.posted]
    carried = [decode_metadata(encoded) for encoded in store.transfer_metadata(ids).values()]
    references = {m["txid"] + (":" + m["log_index"] if "log_index" in m else "") for m in carried}
    assert references == {s.reference for s in sent}
    assert {m["chain"] for m in carried} == {"ethereum"}
    observed = {(o.address, o.asset): o.amount for o in reopened.observe(source)}
    assert observed[(alice, "ETH")] == 3 * 10**18
    assert observed[(bob, "TUSD")] == 250_000_000
    reopened.ledger.close()
    report = verify_store(SqliteStore(path))
    assert report.ok, report.problems
