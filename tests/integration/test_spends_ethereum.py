"""Ether and an ERC-20 token withdrawn on a real node (anvil) through the signing service: the
order built from the node's nonce and fees, checked, signed by a secp256k1 key on SoftHSM2,
mined, confirmed, and the balances read back through the holdings adapter."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import pytest
from eth_account import Account
from tests.support import journal_signer
from tests.support_anvil import AnvilNode
from tests.support_hsm import token_label, user_pin
from tests.support_spends import held, void_hold

from ringfence.adapters.chains.ethereum import EthereumHoldings
from ringfence.adapters.chains.ethereum_spends import EthereumSpendNode
from ringfence.adapters.clock import ManualClock
from ringfence.adapters.files.spends import SpendDirectory
from ringfence.adapters.hsm import KeyLocation
from ringfence.adapters.hsm_chain import HsmChainSigner
from ringfence.adapters.storage.memory import MemoryStore
from ringfence.core.custody.registry import Chain, Scheme, Wallet
from ringfence.core.custody.spends import SpendOrder, SpendState
from ringfence.core.custody.spends_ethereum import address_of_key
from ringfence.core.errors import InputError, Result
from ringfence.core.ledger.model import Pool, PoolKind, Terms
from ringfence.core.money import Asset
from ringfence.service.custody import CustodyService
from ringfence.service.ledger import LedgerService
from ringfence.service.spends import SpendService, WalletSigning

pytestmark = pytest.mark.chain

ETHER = 10**18
DESTINATION = Account.from_key(b"\x0c" * 32).address
DESTINATION_2 = Account.from_key(b"\x0d" * 32).address


def test_ether_and_a_token_are_withdrawn_signed_on_the_hsm_and_confirmed(
    anvil_node: AnvilNode, softhsm: str, request: pytest.FixtureRequest, tmp_path: Path
) -> None:
    key = HsmChainSigner(KeyLocation(softhsm, token_label, f"{request.node.name[:40]}"), user_pin)
    key.create()
    public = key.public_key(compressed=False)
    assert public is not None
    wallet_address = address_of_key(public)
    anvil_node.send_eth(wallet_address, 10 * ETHER)  # deposits, as real transfers
    token = anvil_node.deploy_token("Test USD", "USDC", decimals=6, supply=10**12)
    anvil_node.send_token(token, wallet_address, 7_000_000)

    ledger = LedgerService(MemoryStore(), ManualClock(10**18), journal_signer())
    ledger.define_assets(
        [Asset("ETH", 18, 1, "ethereum"), Asset("USDC", 6, 2, "ethereum", token.address)]
    )
    ledger.define_pools([Pool("omni", PoolKind.omnibus, Terms.custody)])
    custody = CustodyService(ledger)
    wallet = Wallet("omni-eth", Chain.ethereum, Scheme.address, (wallet_address,), "omni")
    assert custody.change([wallet]) == [Result.ok]
    node = EthereumSpendNode(anvil_node.url, anvil_node.chain_id)
    signing = {"omni-eth": WalletSigning("omni-eth", (key,))}
    service = SpendService(custody, SpendDirectory(tmp_path / "spends"), signing, ethereum=node)
    holdings = EthereumHoldings(anvil_node.url, "ETH", {token.address: "USDC"}, chain_id=31337)

    ether = SpendOrder(
        "wd-eth",
        "omni",
        "ETH",
        3 * ETHER // 2,
        DESTINATION,
        10**16,
        "omni-eth",
        held(ledger, "omni-eth", "omni", asset="ETH", amount=3 * ETHER // 2, hold_id=11),
    )
    tokens = SpendOrder(
        "wd-usdc",
        "omni",
        "USDC",
        2_500_000,
        DESTINATION,
        10**16,
        "omni-eth",
        held(ledger, "omni-eth", "omni", asset="USDC", amount=2_500_000, hold_id=12),
    )
    receipts = {}
    for order in (ether, tokens):
        spend_id = service.build(order)
        service.sign(order, spend_id)
        txid = service.broadcast(order, spend_id)
        assert service.record(spend_id).state is SpendState.broadcast
        receipts[order.asset] = anvil_node.web3.eth.get_transaction_receipt(txid)
        assert receipts[order.asset]["status"] == 1
        assert receipts[order.asset]["from"] == wallet_address  # the HSM key signed it
        sent = anvil_node.web3.eth.get_transaction_count(wallet_address, "pending")
        assert service.broadcast(order, spend_id) == txid  # answered, not sent again
        assert anvil_node.web3.eth.get_transaction_count(wallet_address, "pending") == sent
    assert service.record(service.build(tokens)).nonce == 1  # after the Ether spend's 0

    anvil_node.mine(2)
    assert service.confirmations(ether, receipts["ETH"]["transactionHash"].to_0x_hex()) == 4
    assert service.confirmations(tokens, receipts["USDC"]["transactionHash"].to_0x_hex()) == 3

    holding = {
        (o.address, o.asset): o.amount for o in holdings.holdings([wallet_address, DESTINATION])
    }
    gas = sum(r["gasUsed"] * r["effectiveGasPrice"] for r in receipts.values())
    assert holding[(DESTINATION, "ETH")] == 3 * ETHER // 2
    assert holding[(DESTINATION, "USDC")] == 2_500_000
    assert holding[(wallet_address, "ETH")] == 10 * ETHER - 3 * ETHER // 2 - gas
    assert holding[(wallet_address, "USDC")] == 4_500_000


def test_an_ether_spend_the_wallet_cannot_pay_or_the_order_does_not_allow_is_refused(
    anvil_node: AnvilNode, softhsm: str, request: pytest.FixtureRequest, tmp_path: Path
) -> None:
    key = HsmChainSigner(KeyLocation(softhsm, token_label, f"{request.node.name[:40]}"), user_pin)
    key.create()
    public = key.public_key(compressed=False)
    assert public is not None
    wallet_address = address_of_key(public)
    anvil_node.send_eth(wallet_address, ETHER)
    ledger = LedgerService(MemoryStore(), ManualClock(10**18), journal_signer())
    ledger.define_assets([Asset("ETH", 18, 1, "ethereum")])
    ledger.define_pools(
        [
            Pool("omni", PoolKind.omnibus, Terms.custody),
            Pool("earn", PoolKind.omnibus, Terms.custody),
        ]
    )
    custody = CustodyService(ledger)
    wallet = Wallet("omni-eth", Chain.ethereum, Scheme.address, (wallet_address,), "omni")
    assert custody.change([wallet]) == [Result.ok]
    node = EthereumSpendNode(anvil_node.url, anvil_node.chain_id)
    service = SpendService(
        custody, SpendDirectory(tmp_path), {"omni-eth": WalletSigning("omni-eth", (key,))},
        ethereum=node,
    )  # fmt: skip

    assert custody.change(
        [Wallet("earn-eth", Chain.ethereum, Scheme.address, (DESTINATION,), "earn")]
    ) == [Result.ok]
    holds = iter(range(21, 40))

    def order(name: str, pool: str, amount: int, fee_max: int = 10**16) -> SpendOrder:
        wallet = "omni-eth" if pool == "omni" else "earn-eth"
        hold = held(ledger, wallet, pool, asset="ETH", amount=amount, hold_id=next(holds))
        return SpendOrder(name, pool, "ETH", amount, DESTINATION_2, fee_max, wallet, hold)

    def refused(order: SpendOrder) -> Result:
        with pytest.raises(InputError) as error:
            service.sign(order, service.build(order))
        return error.value.code

    assert refused(order("a", "omni", 2 * ETHER)) is Result.spend_funds_insufficient
    assert refused(order("b", "omni", ETHER // 2, fee_max=1_000)) is (
        Result.spend_fee_exceeds_bound
    )
    assert refused(order("c", "earn", ETHER // 2)) is (
        Result.spend_funds_insufficient  # the earn pool's wallet has no keys here
    )
    # The key belongs to omni: an order of another pool naming omni's spend is not approved.
    omni = order("d", "omni", ETHER // 2)
    spend_id = service.build(omni)
    with pytest.raises(InputError) as error:
        service.sign(replace(omni, pool="earn", wallet="earn-eth"), spend_id)
    assert error.value.code is Result.spend_not_approved

    # The ledger's hold is read back before any key is asked: an order whose amount is not
    # what the ledger holds, or whose hold was voided after the spend was built, is refused.
    with pytest.raises(InputError) as error:
        service.sign(replace(omni, amount=ETHER // 2 - 1), spend_id)
    assert error.value.code is Result.spend_hold_mismatch
    void_hold(ledger, omni.hold_transfer_id)
    with pytest.raises(InputError) as error:
        service.sign(omni, spend_id)
    assert error.value.code is Result.spend_hold_not_pending
    assert service.record(spend_id).state is SpendState.built  # nothing was signed
