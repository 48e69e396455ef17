"""Spends: the chain transaction that pays exactly one approved withdrawal from its own pool.

A ``SpendOrder`` is what the withdrawal lifecycle hands to the chain side once a withdrawal is
approved and its ledger hold is in place: everything the transaction must say, and nothing it
may add. Building, the signer's checks and broadcasting all take their facts from it, so a
transaction that differs from its order in any input, output, amount or fee is refused before
a key is asked.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class SpendOrder:
    """One approved withdrawal, as the chain side must pay it.

    ``amount`` and ``fee_max`` are minor units of the pool's asset (``fee_max`` of the chain's
    fee asset: satoshis, wei); ``destination`` is the chain address the amount goes to.
    """

    withdrawal_id: str
    pool: str
    asset: str
    amount: int
    destination: str
    fee_max: int
