"""Private-mode trees (core/por/private.py) for random liabilities: every client's proof
verifies against the round's private root and shows their balance in proof units, rounded up
(completeness), and the root opens to the asset's total."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from ringfence.core.money import Asset
from ringfence.core.por.hashes import round_nonce
from ringfence.core.por.private import (
    build_private_tree,
    private_proof,
    private_root_of,
    verify_private_proof,
)
from ringfence.core.por.ristretto import commit

MASTER = b"m" * 32
ETH = Asset("ETH", 18, 2)
names = st.text(alphabet="abcdefgh", min_size=1, max_size=6)


# Each proof is one aggregated range proof of 32 values (about a second of CPU): few examples.
@pytest.mark.slowest
@settings(max_examples=4, deadline=None)
@given(balances=st.dictionaries(names, st.integers(min_value=1, max_value=10**27), min_size=1,
                                max_size=9),
       round_id=st.binary(min_size=32, max_size=32), seed=st.binary(min_size=32, max_size=32),
       pick=st.integers(min_value=0))
def test_every_clients_proof_verifies_with_their_balance_rounded_up(
    balances: dict[str, int], round_id: bytes, seed: bytes, pick: int
) -> None:
    tree = build_private_tree(round_id, ETH, balances, MASTER, seed)
    units = {name: -(-balance // 10**9) for name, balance in balances.items()}
    root = private_root_of({"mode": "private", "root": tree.root_json()})
    assert root is not None
    assert root.total == sum(units.values())
    assert root.commitment == commit(root.total, root.blinding)
    assert len(set(tree.leaves.values())) == len(balances)
    client = sorted(balances)[pick % len(balances)]
    proof = private_proof(tree, client, "00" * 32)
    assert proof is not None
    nonce = round_nonce(MASTER, round_id, client)
    assert verify_private_proof(proof, root, round_id, client, nonce) == (None, units[client])
