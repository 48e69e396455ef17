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

from ringfence.core.custody.control import ControlProof, verify_control
from ringfence.core.custody.registry import Chain
from ringfence.core.errors import InputError, Result, StorageError
from ringfence.core.por.attestation import challenges_for
from ringfence.service.custody import CustodyService
from ringfence.service.ledger import LedgerService
from ringfence.service.ports import ControlSigner, RoundStore


def sign_with_key_files(
    ledger: LedgerService, rounds: RoundStore, signer: ControlSigner
) -> dict[str, Any]:
    """``{"proofs": [...], "unsigned": [...]}``: the control file ``por build --control``
    reads (``proofs``), and the challenges no key file could answer, with why."""
    round_id, snapshot, blocks = _pending(rounds)
    custody = CustodyService(ledger, until_seq=snapshot)
    proofs: list[dict[str, str]] = []
    unsigned: list[dict[str, str]] = []
    for wallet, challenge in challenges_for(custody.registry, round_id, blocks):
        message = challenge.message()
        signature = signer.signature(challenge.chain.value, challenge.address, message)
        if signature is None:
            unsigned.append({"wallet": wallet, "address": challenge.address,
                             "reason": "no key file holds the address's key"})  # fmt: skip
            continue
        proof = ControlProof(challenge.chain, challenge.address, message, signature)
        result = verify_control(proof, round_id, list(blocks.values()))
        if result is not Result.ok:
            raise InputError(result, f"{wallet}: the key's proof for {challenge.address} fails")
        proofs.append({"chain": challenge.chain.value, "address": challenge.address,
                       "message": message, "signature": signature})  # fmt: skip
    return {"proofs": proofs, "unsigned": unsigned}


def _pending(rounds: RoundStore) -> tuple[str, int, dict[Chain, str]]:
    pending = rounds.pending()
    try:
        round_id = str(pending["round_id"])
        snapshot = int(pending["snapshot"])
        blocks = {Chain(chain): str(block) for chain, block in pending["blocks"].items()}
    except (KeyError, TypeError, ValueError, AttributeError) as error:
        raise StorageError(f"no pending round to sign (run `por challenges`): {error}") from None
    return round_id, snapshot, blocks
