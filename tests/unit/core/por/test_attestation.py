"""core/por/attestation.py: only client-designated, unencumbered, proven holdings count."""

from __future__ import annotations

import pytest
from eth_account import Account
from eth_account.messages import encode_defunct

from ringfence.core.custody.control import Challenge, ControlProof
from ringfence.core.custody.holdings import Observation
from ringfence.core.custody.registry import (
    Chain,
    Encumbrance,
    EncumbranceKind,
    LedgerView,
    Registry,
    Scheme,
    Wallet,
)
from ringfence.core.errors import InputError, Result
from ringfence.core.ledger.model import Pool, PoolKind, Terms
from ringfence.core.por.attestation import attest_reserves

ROUND = "ab" * 32
OLD_ROUND = "cd" * 32
BLOCK = "11" * 32
CHAINS = {"ETH": "ethereum", "BTC": "bitcoin"}
POOLS = {"main": Pool("main", PoolKind.omnibus, Terms.custody)}
VIEW = LedgerView(POOLS, {"alice"}, {"ETH"})
KEYS = [Account.from_key(bytes([k]) * 32) for k in (1, 2, 3, 4)]
CLIENT_A, CLIENT_B, HOUSE, STRANGER = KEYS


def registry() -> Registry:
    built = Registry()
    wallets = [
        Wallet("omni", Chain.ethereum, Scheme.address, (CLIENT_A.address,), "main"),
        Wallet("omni-2", Chain.ethereum, Scheme.address, (CLIENT_B.address,), "main"),
        Wallet("house", Chain.ethereum, Scheme.address, (HOUSE.address,), ""),
    ]
    for wallet in wallets:
        assert built.apply(wallet, VIEW, 1) is Result.ok
    return built


def observed(account: object, amount: int) -> Observation:
    address = account.address  # type: ignore[attr-defined]
    return Observation(Chain.ethereum, address, "ETH", amount, 100, 0, "node")


def proof(account: object, round_id: str = ROUND, block: str = BLOCK) -> ControlProof:
    address = account.address  # type: ignore[attr-defined]
    message = Challenge(round_id, Chain.ethereum, address, block).message()
    signed = account.sign_message(encode_defunct(text=message))  # type: ignore[attr-defined]
    return ControlProof(Chain.ethereum, address, message, "0x" + signed.signature.hex())


def attest(observations: list[Observation], proofs: list[ControlProof], at: int = 50) -> dict:
    reserves = attest_reserves(
        ROUND, at, observations=observations, proofs=proofs,
        block_hashes={Chain.ethereum: BLOCK}, registry=built, pools=POOLS,
        asset_chains=CHAINS,
    )  # fmt: skip
    (entry,) = reserves.document()["assets"]
    return entry


built = registry()


def test_house_wallets_never_count_and_unproven_addresses_only_count_gross() -> None:
    entry = attest(
        [observed(CLIENT_A, 700), observed(CLIENT_B, 300), observed(HOUSE, 10_000),
         observed(STRANGER, 5)],
        [proof(CLIENT_A), proof(HOUSE)],
    )  # fmt: skip
    assert entry == {
        "asset": "ETH", "gross": "1000", "encumbered": "0", "unproven": "300", "net": "700",
        "house_excluded": "10000", "pools": {"main": "700"},
    }  # fmt: skip


def test_a_proof_for_another_round_or_an_old_block_or_another_key_does_not_count() -> None:
    wrong_round = proof(CLIENT_A, OLD_ROUND)
    old_block = proof(CLIENT_A, block="22" * 32)
    message = Challenge(ROUND, Chain.ethereum, CLIENT_A.address, BLOCK).message()
    forged_signature = STRANGER.sign_message(encode_defunct(text=message)).signature.hex()
    forged = ControlProof(Chain.ethereum, CLIENT_A.address, message, "0x" + forged_signature)
    for bad in (wrong_round, old_block, forged):
        entry = attest([observed(CLIENT_A, 700)], [bad])
        assert (entry["net"], entry["unproven"]) == ("0", "700")
    reserves = attest_reserves(
        ROUND, 50, observations=[observed(CLIENT_A, 700)], proofs=[forged],
        block_hashes={Chain.ethereum: BLOCK}, registry=built, pools=POOLS,
        asset_chains=CHAINS,
    )  # fmt: skip
    assert reserves.lines[0]["control"] == Result.control_signer_mismatch.value


def test_encumbered_amounts_are_taken_off_while_active() -> None:
    pledged = registry()
    pledge = Encumbrance(1, "omni", "ETH", 250, EncumbranceKind.pledge, "lender", 10, 100)
    assert pledged.apply(pledge, VIEW, 1) is Result.ok
    for at, net in ((50, "450"), (100, "700")):
        reserves = attest_reserves(
            ROUND, at, observations=[observed(CLIENT_A, 700)], proofs=[proof(CLIENT_A)],
            block_hashes={Chain.ethereum: BLOCK}, registry=pledged, pools=POOLS,
            asset_chains=CHAINS,
        )  # fmt: skip
        assert reserves.document()["assets"][0]["net"] == net
    big = Encumbrance(2, "omni", "ETH", 10**6, EncumbranceKind.lock, "court", 0)
    assert pledged.apply(big, VIEW, 1) is Result.ok
    reserves = attest_reserves(
        ROUND, 50, observations=[observed(CLIENT_A, 700)], proofs=[proof(CLIENT_A)],
        block_hashes={Chain.ethereum: BLOCK}, registry=pledged, pools=POOLS,
            asset_chains=CHAINS,
    )  # fmt: skip
    assert reserves.document()["assets"][0]["net"] == "0"  # never negative


def test_the_document_hash_pins_what_was_counted() -> None:
    one = attest_reserves(
        ROUND, 50, observations=[observed(CLIENT_A, 700)], proofs=[proof(CLIENT_A)],
        block_hashes={Chain.ethereum: BLOCK}, registry=built, pools=POOLS,
        asset_chains=CHAINS,
    )  # fmt: skip
    two = attest_reserves(
        ROUND, 50, observations=[observed(CLIENT_A, 701)], proofs=[proof(CLIENT_A)],
        block_hashes={Chain.ethereum: BLOCK}, registry=built, pools=POOLS,
        asset_chains=CHAINS,
    )  # fmt: skip
    assert one.file_hash() != two.file_hash()
    assert len(one.file_hash()) == 32


def test_a_holding_given_twice_or_on_the_wrong_chain_is_refused() -> None:
    twice = [observed(CLIENT_A, 700), observed(CLIENT_A, 700)]
    wrong = [Observation(Chain.ethereum, CLIENT_A.address, "BTC", 5, 100, 0, "node")]
    for observations, code in ((twice, Result.observation_duplicate),
                               (wrong, Result.asset_wrong_chain)):  # fmt: skip
        with pytest.raises(InputError) as raised:
            attest_reserves(
                ROUND, 50, observations=observations, proofs=[proof(CLIENT_A)],
                block_hashes={Chain.ethereum: BLOCK}, registry=built, pools=POOLS,
                asset_chains=CHAINS,
            )  # fmt: skip
        assert raised.value.code is code
