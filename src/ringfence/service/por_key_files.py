"""Proof-of-control signatures from wallet keys held in files (``ringfence por sign --key``).

The pending round (``por challenges``) names its id, snapshot and blocks; the wallet registry
at that snapshot says which addresses must prove control; a ``ControlSigner`` (key files,
adapters/control_keys.py) signs each challenge it holds the key for. Every proof is verified as
``por build --control`` will verify it before it is returned, so a key that signs wrongly is
found here, not in the round. Keys in files serve development, tests and the README's
walkthrough; a firm's production keys sign in its HSM (the withdrawal keys, docs/spends.md).
"""

from __future__ import annotations

from typing import Any

from ringfence.core.custody.control import Challenge
from ringfence.core.custody.registry import Registry
from ringfence.service.ledger import LedgerService
from ringfence.service.por_control import answer_challenges
from ringfence.service.ports import ControlSigner, RoundStore


def sign_with_key_files(
    ledger: LedgerService, rounds: RoundStore, signer: ControlSigner
) -> dict[str, Any]:
    """The pending round's challenges answered by the keys in files (``answer_challenges``):
    the proofs, and the challenges no key file could answer."""

    def answer(wallet: str, challenge: Challenge, registry: Registry) -> tuple[str, str]:
        found = signer.signature(challenge.chain.value, challenge.address, challenge.message())
        return (found, "") if found is not None else ("", "no key file holds the address's key")

    return answer_challenges(ledger, rounds, answer)
