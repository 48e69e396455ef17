"""``por sign``: the pending round's challenges signed by the keys that sign withdrawals, on
SoftHSM2 (EIP-191 for an Ethereum wallet, BIP-322 simple for a P2WPKH wallet, BIP-322 full
by two devices for a 2-of-3 vault), each proof verifying as ``por build`` verifies it; a vault
with only one of its keys configured is listed unsigned, with why."""

from __future__ import annotations

from pathlib import Path

import coincurve
import pytest
from tests.support import journal_signer
from tests.support_hsm import token_label, user_pin, vault_token_labels

from ringfence.adapters.clock import ManualClock
from ringfence.adapters.files.rounds import RoundFiles
from ringfence.adapters.files.spends import MemorySpendStore
from ringfence.adapters.hsm import KeyLocation
from ringfence.adapters.hsm_chain import HsmChainSigner
from ringfence.adapters.storage.memory import MemoryStore
from ringfence.core.custody.addresses import Network
from ringfence.core.custody.control import ControlProof, verify_control
from ringfence.core.custody.registry import Chain, Scheme, Wallet
from ringfence.core.custody.spends import SpendScript
from ringfence.core.custody.spends_ethereum import address_of_key
from ringfence.core.errors import Result
from ringfence.core.ledger.model import Pool, PoolKind, Terms
from ringfence.core.money import Asset
from ringfence.service import por
from ringfence.service.custody import CustodyService
from ringfence.service.ledger import LedgerService
from ringfence.service.por_control import sign_challenges
from ringfence.service.spends import SpendService, WalletSigning

BLOCK = "ab" * 32


def test_the_round_is_signed_by_the_withdrawal_keys(
    softhsm: str, request: pytest.FixtureRequest, tmp_path: Path
) -> None:
    label = request.node.name[:40]
    hot = HsmChainSigner(KeyLocation(softhsm, token_label, f"{label}-eth"), user_pin)
    btc = HsmChainSigner(KeyLocation(softhsm, token_label, f"{label}-btc"), user_pin)
    vault_keys = [HsmChainSigner(KeyLocation(softhsm, t, f"{label}-v"), user_pin)
                  for t in vault_token_labels]  # fmt: skip
    for key in (hot, btc, *vault_keys):
        key.create()
    eth_public = hot.public_key(compressed=False)
    assert eth_public is not None
    single = SpendScript((btc.public_key() or b"",))
    vault = SpendScript(
        (
            *(k.public_key() or b"" for k in vault_keys),
            coincurve.PrivateKey(b"\x01" * 32).public_key.format(),
        ),
        2,
    )
    ledger = LedgerService(MemoryStore(), ManualClock(10**18), journal_signer())
    ledger.define_assets([Asset("BTC", 8, 1, "bitcoin"), Asset("ETH", 18, 2, "ethereum")])
    ledger.define_pools([Pool("omni", PoolKind.omnibus, Terms.custody)])
    custody = CustodyService(ledger)
    wallets = [
        Wallet("omni-eth", Chain.ethereum, Scheme.address, (address_of_key(eth_public),), "omni"),
        Wallet(
            "omni-btc", Chain.bitcoin, Scheme.address, (single.address(Network.mainnet),), "omni"
        ),
        Wallet(
            "omni-vault", Chain.bitcoin, Scheme.address, (vault.address(Network.mainnet),), "omni"
        ),
    ]
    assert custody.change(wallets) == [Result.ok] * 3
    signing = {
        "omni-eth": WalletSigning("omni-eth", (hot,)),
        "omni-btc": WalletSigning("omni-btc", (btc,), single),
        "omni-vault": WalletSigning("omni-vault", tuple(vault_keys), vault),
    }
    rounds = RoundFiles(tmp_path / "por")
    announced = por.announce_round(
        ledger, rounds, blocks=[f"ethereum={BLOCK}", f"bitcoin={BLOCK}"], snapshot=None
    )
    assert len(announced["challenges"]) == 3

    document = sign_challenges(ledger, rounds, SpendService(custody, MemorySpendStore(), signing))
    signed = {proof["address"]: proof for proof in document["proofs"]}
    assert set(signed) == {
        address_of_key(eth_public),
        single.address(Network.mainnet),
        vault.address(Network.mainnet),
    }
    assert document["unsigned"] == []
    for proof in document["proofs"]:
        checked = ControlProof(Chain(proof["chain"]), proof["address"], proof["message"],
                               proof["signature"])  # fmt: skip
        assert verify_control(checked, announced["round_id"], [BLOCK]) is Result.ok
        # The same signature does not prove control in another round.
        assert verify_control(checked, "another-round", [BLOCK]) is not Result.ok

    # One device of the vault is not enough: the vault is listed unsigned, the rest signed.
    signing["omni-vault"] = WalletSigning("omni-vault", tuple(vault_keys[:1]), vault)
    document = sign_challenges(ledger, rounds, SpendService(custody, MemorySpendStore(), signing))
    assert len(document["proofs"]) == 2
    (unsigned,) = document["unsigned"]
    assert unsigned["wallet"] == "omni-vault"
    assert "1 of the vault's keys configured, 2 needed" in unsigned["reason"]
