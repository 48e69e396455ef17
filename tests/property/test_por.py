"""For random liabilities in several assets, every client's proof verifies with the stdlib
verifier, and each root's sum is the asset's total owed in proof units, each client rounded up."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from ringfence.core.money import Asset
from ringfence.core.por.hashes import client_key
from ringfence.core.por.liabilities import proof_unit_exponent
from ringfence.core.por.round import build_round, verify_round_signature
from ringfence.verifier import verify_inclusion

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
            key = client_key(MASTER, client)
            balance = -(-units // divisor)
            assert verify_inclusion(proofs[0], built.record, key, balance) == balance
