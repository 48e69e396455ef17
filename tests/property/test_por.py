"""For random liabilities in several assets, every client's proof verifies with the stdlib
verifier, as that client and no other, and each root's sum is the asset's total owed in proof
units, each client rounded up. And two clients never share a leaf, whatever nonces the firm
hands them."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from ringfence import verifier
from ringfence.core.money import Asset
from ringfence.core.por.hashes import round_nonce
from ringfence.core.por.liabilities import proof_unit_exponent
from ringfence.core.por.round import build_round, verify_round_signature
from ringfence.verifier import ProofRejectedError, verify_inclusion

ASSETS = (Asset("BTC", 8, 1), Asset("ETH", 18, 2), Asset("USDC", 6, 3))
MASTER = b"m" * 32

names = st.text("abcdefghij", min_size=1, max_size=6)
# Up to 2^59 minor units: twenty balances stay below 2^64 proof units in any asset.
balances = st.one_of(st.integers(0, 10), st.integers(0, 2**59), st.just(10**9 + 1))
ledgers = st.dictionaries(names, balances, min_size=1, max_size=20)


@settings(max_examples=40, deadline=None)
@given(st.lists(ledgers, min_size=1, max_size=3), st.binary(min_size=32, max_size=32))
def test_every_proof_verifies_and_roots_sum_the_rounded_up_liabilities(
    per_asset: list[dict[str, int]], seed: bytes
) -> None:
    liabilities = list(zip(ASSETS, per_asset, strict=False))
    built = build_round(snapshot=7, previous_round_hash=bytes(32),
                                 liabilities=liabilities,
                                 master_secret=MASTER, signing_seed=b"s" * 32, seed=seed)
    assert verify_round_signature(built.record)
    round_id = bytes.fromhex(built.record["round_id"])
    for asset, owed in liabilities:
        divisor = 10 ** proof_unit_exponent(asset)
        entry = next(e for e in built.record["assets"] if e["asset"] == asset.code)
        expected = sum(-(-units // divisor) for units in owed.values())
        assert int(entry["root"]["sum"]) == expected
        for client, units in owed.items():
            proofs = [p for p in built.proofs(client) if p["asset"] == asset.code]
            if units == 0:
                assert not proofs
                continue
            nonce = round_nonce(MASTER, round_id, client)
            balance = -(-units // divisor)
            assert verify_inclusion(proofs[0], built.record, nonce, balance, client) == balance
            # The same proof and nonce, checked by anyone else, lead to another root.
            try:
                verify_inclusion(proofs[0], built.record, nonce, balance, client + "x")
            except ProofRejectedError as rejection:
                assert rejection.reason == "root_mismatch"
            else:
                raise AssertionError("a proof verified for another client id")


client_ids = st.text(min_size=1, max_size=12).filter(lambda text: "\x00" not in text)


@settings(max_examples=300, deadline=None)
@given(ids=st.lists(client_ids, min_size=2, max_size=2, unique=True),
       nonces=st.lists(st.binary(min_size=32, max_size=32), min_size=2, max_size=2),
       round_id=st.binary(min_size=32, max_size=32), asset=st.integers(0, 2**32 - 1),
       piece=st.integers(0, 3), index=st.integers(0, 2**48 - 1), value=st.integers(0, 2**64 - 1))
def test_two_clients_never_share_a_leaf_whatever_nonces_they_are_given(  # noqa: PLR0917
    ids: list[str], nonces: list[bytes], round_id: bytes, asset: int, piece: int, index: int,
    value: int,
) -> None:
    """The clash: a firm that hands bob alice's nonce (or any nonce it likes) cannot make
    bob's verifier rebuild alice's leaf, because the salt binds a hash of the client's id."""
    leaves = [verifier.leaf_hash(round_id, asset, index, value, verifier.leaf_salt(
        nonce, round_id, asset, piece, verifier.identity_hash(client)))
        for client, nonce in zip(ids, nonces, strict=True)]
    assert leaves[0] != leaves[1]
    same_nonce = verifier.leaf_hash(round_id, asset, index, value, verifier.leaf_salt(
        nonces[0], round_id, asset, piece, verifier.identity_hash(ids[1])))
    assert same_nonce != leaves[0]
