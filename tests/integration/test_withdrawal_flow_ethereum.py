"""A client's Ether and token withdrawals end to end, on a real node (anvil) with a key on
SoftHSM2, through the REST API: requested by the client, decided by the published policy
(two approvers), refused to the initiator, approved by two approvers and held in the ledger;
processed by the operator (built from the pool's own wallet, the hold read back and every
check passed before the HSM signs, sent, mined); posted after three confirmations with the
network fee the chain took; and reconciled against the balances the holdings adapter reads
from the node: book = chain, no break.

The signing service is the one ``ringfence serve`` wires (bootstrap.withdrawal_chain from a
settings file naming the key's PKCS#11 URI), made per call from the ledger the call holds.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from eth_account import Account
from fastapi.testclient import TestClient
from tests.support import ADMIN, build_custodian, journal_signer, key_seed, principal_for
from tests.support_anvil import AnvilNode, Token
from tests.support_api import fast_hasher
from tests.support_hsm import token_label, user_pin
from tests.support_policy import policy_text
from tests.support_withdrawals import STAFF, publish_policy

from ringfence import bootstrap
from ringfence.adapters.chains.ethereum import EthereumHoldings
from ringfence.adapters.clock import ManualClock
from ringfence.adapters.hsm import KeyLocation
from ringfence.adapters.hsm_chain import HsmChainSigner
from ringfence.adapters.storage.memory import MemoryStore
from ringfence.core.custody.registry import Chain, Scheme, Wallet
from ringfence.core.custody.spends_ethereum import address_of_key
from ringfence.core.errors import Result
from ringfence.core.ledger.model import Transfer, TransferCode
from ringfence.core.money import Asset
from ringfence.core.principals.records import endorse
from ringfence.core.recon.run import ReconSettings
from ringfence.entrypoints.api.app import create_app
from ringfence.service.custody import CustodyService
from ringfence.service.keys import create_key
from ringfence.service.ledger import LedgerService
from ringfence.service.recon import ReconService

pytestmark = pytest.mark.chain

ETHER = 10**18
USDC = 10**6
DESTINATION = Account.from_key(b"\x0e" * 32).address
TWO_APPROVERS = [{"id": "two-of-treasury", "action": {"require": 2, "groups": ["treasury"]}}]


@dataclass
class Firm:
    ledger: LedgerService
    http: TestClient
    keys: dict[str, str]
    wallet_address: str
    token: Token

    def post(self, who: str, path: str, body: object) -> Any:
        headers = {"Authorization": f"Bearer {self.keys[who]}"}
        return self.http.post(path, headers=headers, json=body)

    def get(self, who: str, path: str) -> Any:
        return self.http.get(path, headers={"Authorization": f"Bearer {self.keys[who]}"})

    def custody_held(self, asset: str) -> int:
        """What the book says main-hot holds of ``asset``."""
        for state in self.ledger.ledger.accounts.values():
            d = state.definition
            if (d.owner, d.pool, d.asset, d.account_class.value) == (
                "main-hot", "main", asset, "custody",
            ):  # fmt: skip
                return state.debits_posted - state.credits_posted
        raise AssertionError(f"no custody account of main-hot for {asset}")


@pytest.fixture
def firm(
    anvil_node: AnvilNode,
    softhsm: str,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    request: pytest.FixtureRequest,
) -> Iterator[Firm]:
    """main-hot is the address of a secp256k1 key made on SoftHSM2; the chain pays it 10 ETH
    and 7 USDC (real transfers), which the book records as alice's deposits; alice pays the
    firm a 0.1 ETH fee, which stays in main-hot as the house's residual interest and pays the
    network's fees."""
    label = f"flow-{request.node.name[:40]}"  # the token lives as long as the test session
    key = HsmChainSigner(KeyLocation(softhsm, token_label, label), user_pin)
    key.create()
    public = key.public_key(compressed=False)
    assert public is not None
    wallet_address = address_of_key(public)
    anvil_node.send_eth(wallet_address, 10 * ETHER)
    token = anvil_node.deploy_token("Test USD", "USDC", decimals=6, supply=10**12)
    anvil_node.send_token(token, wallet_address, 7 * USDC)

    clock = ManualClock()
    ledger = LedgerService(MemoryStore(), clock, journal_signer())
    custodian = build_custodian(ledger)
    assert ledger.define_assets([Asset("USDC", 6, 3, "ethereum", token.address)]) == [Result.ok]
    staff = [endorse(ledger.ledger_id, ADMIN, key_seed(ADMIN), principal_for(name, role))
             for name, role in STAFF.items()]  # fmt: skip
    assert all(result is Result.ok for result in ledger.change_principals(staff))
    custody = CustodyService(ledger)
    wallet = Wallet("main-hot", Chain.ethereum, Scheme.address, (wallet_address,), "main", "hot")
    assert custody.change([wallet]) == [Result.ok]
    hot = custody.ensure_custody_accounts("main-hot")
    alice_usdc = custody.client_account("alice", "main", "USDC")
    booked = ledger.submit([
        custodian.deposit(1, "alice", 10 * ETHER, asset="ETH"),
        Transfer(2, hot["USDC"], alice_usdc, 7 * USDC, TransferCode.deposit),
        custodian.fee(3, "alice", ETHER // 10, asset="ETH"),
    ])  # fmt: skip
    assert booked == [Result.ok] * 3, booked
    publish_policy(ledger, clock, policy_text(rules=TWO_APPROVERS))

    settings = tmp_path / "spends.json"
    settings.write_text(json.dumps({
        "store": str(tmp_path / "spends"),
        "wallets": {"main-hot": {"keys": [f"pkcs11:token={token_label};object={label}"]}},
        "ethereum": {"rpc_url": anvil_node.url, "chain_id": anvil_node.chain_id},
    }))  # fmt: skip
    monkeypatch.setenv("RINGFENCE_HSM_PIN", user_pin)
    bundle = bootstrap.open_service("memory://", ledger=ledger, hasher=fast_hasher())
    bundle.chain_of = lambda current: bootstrap.withdrawal_chain(current, str(settings))
    keys = {"alice": create_key(bundle.keys, clock, fast_hasher(), ledger, role="client",
                                client="alice")[1]}  # fmt: skip
    for name in ("ops", "ann", "ben"):
        role = STAFF[name].name
        keys[name] = create_key(bundle.keys, clock, fast_hasher(), ledger, role=role, name=name)[1]
    http = TestClient(create_app(bundle))
    yield Firm(ledger, http, keys, wallet_address, token)
    http.close()


def test_ether_and_a_token_from_request_to_reconciled(firm: Firm, anvil_node: AnvilNode) -> None:
    requests = {
        "501": {"id": "501", "pool": "main", "asset": "ETH", "amount": "1.5",
                "destination": DESTINATION},
        "502": {"id": "502", "pool": "main", "asset": "USDC", "amount": "2.5",
                "destination": DESTINATION},
    }  # fmt: skip
    for withdrawal_id, body in requests.items():
        answer = firm.post("alice", "/v1/withdrawals", body).json()
        assert (answer["status"], answer["decision"]["approvals_required"]) == (
            "awaiting_approval", 2,
        ), answer  # fmt: skip
        refused = firm.post("alice", f"/v1/withdrawals/{withdrawal_id}/approve", {})
        assert (refused.status_code, refused.json()["code"]) == (422, "approver_is_initiator")
        assert firm.post("ann", f"/v1/withdrawals/{withdrawal_id}/approve", {}).json()[
            "status"
        ] == "awaiting_approval"
        assert firm.post("ben", f"/v1/withdrawals/{withdrawal_id}/approve", {}).json()[
            "status"
        ] == "held"
    assert firm.post("alice", "/v1/withdrawals/process", {}).json()["code"] == "role_forbidden"

    first = firm.post("ops", "/v1/withdrawals/process", {"confirmations": 3}).json()
    assert first["advanced"] == [{"id": "501", "status": "broadcast"},
                                 {"id": "502", "status": "broadcast"}]  # fmt: skip
    assert (first["voided"], first["waiting"], first["posted"]) == ([], [], [])
    shown = {w: firm.get("ops", f"/v1/withdrawals/{w}").json() for w in requests}
    receipts = {w: anvil_node.web3.eth.get_transaction_receipt(shown[w]["txid"]) for w in shown}
    for receipt in receipts.values():
        assert receipt["status"] == 1
        assert receipt["from"] == firm.wallet_address  # the pool's wallet, the HSM's key
    anvil_node.mine(2)

    second = firm.post("ops", "/v1/withdrawals/process", {"confirmations": 3}).json()
    gas = {w: r["gasUsed"] * r["effectiveGasPrice"] for w, r in receipts.items()}
    assert [row["id"] for row in second["posted"]] == ["501", "502"]
    for row in second["posted"]:
        assert row["network_fee"] == f"0.{gas[row['id']]:018d}"
        assert (row["network_fee_asset"], row["network_fee_result"]) == ("ETH", "ok")
    for withdrawal_id in requests:
        posted = firm.get("ops", f"/v1/withdrawals/{withdrawal_id}").json()
        assert posted["status"] == "posted"
        assert posted["confirmations"] >= 3
        assert posted["network_fee"]["amount"] == f"0.{gas[withdrawal_id]:018d}"
        assert firm.get("alice", f"/v1/withdrawals/{withdrawal_id}").json()["status"] == "posted"
    balances = firm.get("alice", "/v1/balances?client=alice&pool=main").json()["items"]
    owed = {row["asset"]: (row["balance"], row["debits_pending"]) for row in balances}
    assert owed["ETH"] == ("8.400000000000000000", "0.000000000000000000")
    assert owed["USDC"] == ("4.500000", "0.000000")

    # Book = chain: the holdings adapter reads main-hot's balances from the node.
    source = EthereumHoldings(anvil_node.url, "ETH", {firm.token.address: "USDC"}, chain_id=31337)
    on_chain = {o.asset: o.amount for o in source.holdings([firm.wallet_address])}
    assert on_chain["ETH"] == 10 * ETHER - 3 * ETHER // 2 - sum(gas.values())
    assert on_chain["USDC"] == 7 * USDC - 5 * USDC // 2
    assert {asset: firm.custody_held(asset) for asset in on_chain} == on_chain
    recon = ReconService(CustodyService(firm.ledger))
    run = recon.run_with_source(source, ReconSettings(), chain=Chain.ethereum)
    compared = {(line.wallet, line.asset): (line.book, line.observed) for line in run.external}
    assert compared[("main-hot", "ETH")] == (on_chain["ETH"], on_chain["ETH"])
    assert compared[("main-hot", "USDC")] == (on_chain["USDC"], on_chain["USDC"])
    assert all(line.difference == 0 for line in run.external)
    assert (run.snapshots, recon.history.book.open_breaks(), run.alerts) == ([], [], [])
    destination = {o.asset: o.amount for o in source.holdings([DESTINATION])}
    assert destination == {"ETH": 3 * ETHER // 2, "USDC": 5 * USDC // 2}
