"""core/por/inclusion.py: inclusion proofs, with and without the client index; the multiproof
order."""

from __future__ import annotations

from tests.unit.core.por.support import BTC, round_of

from ringfence.core.por.inclusion import multiproof_order


def test_proofs_are_the_same_with_and_without_the_client_index() -> None:
    balances = {f"c{number}": 1_000 + number for number in range(500)}
    built = round_of([(BTC, balances)])
    scanned = [next(built.proofs(f"c{number}")) for number in (0, 77, 499)]
    built.trees[BTC.number].index_clients()
    assert [next(built.proofs(f"c{number}")) for number in (0, 77, 499)] == scanned
    assert list(built.proofs("nobody")) == []

def test_the_multiproof_sends_shared_siblings_once() -> None:
    order = list(multiproof_order([4, 5, 7], 3))
    # Level 0: 4 and 5 are siblings (none sent), 7 needs 6. Level 1: 2 and 3 are siblings.
    # Level 2: 1 needs 0.
    assert order == [(0, 6), (2, 0)]
