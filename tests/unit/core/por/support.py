"""Shared by the tests of core/por: assets, secrets and a round built from liabilities."""

from __future__ import annotations

import hashlib

from ringfence.core.money import Asset
from ringfence.core.por.round import build_round

BTC = Asset("BTC", 8, 1)
ETH = Asset("ETH", 18, 2)
USDC = Asset("USDC", 6, 3)
MASTER = b"m" * 32
SIGNING = b"s" * 32
RESERVES = hashlib.sha256(b"reserves file").digest()
GENESIS = bytes(32)


def round_of(liabilities, seed: bytes = b"r" * 32, snapshot: int = 1, previous=GENESIS,
             attestation=None):
    return build_round(
        snapshot=snapshot,
        previous_round_hash=previous,
        liabilities=liabilities,
        reserves=attestation,
        master_secret=MASTER,
        signing_seed=SIGNING,
        seed=seed,
    )
