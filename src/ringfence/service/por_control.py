"""``ringfence por sign``: the proof-of-control signatures the pending round's challenges ask
for (``por challenges``), made by the same keys that sign withdrawals (service/spends.py's
``WalletSigning``), so the wallets the firm can spend from are the wallets it proves.

- Ethereum wallets: EIP-191 over the challenge, by the wallet's key.
- Bitcoin P2WPKH wallets: BIP-322 simple, by the wallet's key.
- Bitcoin 2-of-3 vaults: BIP-322 *full*, by two of the vault's keys, each on its own device
  (the two that would sign a withdrawal from it, service/spend_signers.py); a vault with fewer
  than two of its keys configured is listed unsigned, with why.

Every proof made is verified as ``por build`` will verify it before it is returned, so a key
that signs wrongly (or is not the address's) is found here, not in the round. Key files
(service/por_key_files.py) answer the same challenges through ``answer_challenges``.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from ringfence.core.custody.addresses import Network
from ringfence.core.custody.control import Challenge, ControlProof, verify_control
from ringfence.core.custody.control_signing import (
    bip322_full_signature,
    bip322_multisig_digest,
    bip322_simple_digest,
    bip322_simple_signature,
    eip191_digest,
    eip191_signature,
)
from ringfence.core.custody.registry import Chain, Registry
from ringfence.core.custody.spends import SpendScript, der_signature
from ringfence.core.custody.spends_ethereum import address_of_key
from ringfence.core.errors import InputError, Result, StorageError
from ringfence.core.por.attestation import challenges_for
from ringfence.service.custody import CustodyService
from ringfence.service.ledger import LedgerService
from ringfence.service.ports import RoundStore
from ringfence.service.spends import SpendService, WalletSigning

# How one challenge is answered: (wallet, challenge, the registry at the round's snapshot) ->
# (signature, "") or ("", why not).
Answer = Callable[[str, Challenge, Registry], tuple[str, str]]


def sign_challenges(
    ledger: LedgerService, rounds: RoundStore, spends: SpendService
) -> dict[str, Any]:
    """The pending round's challenges answered by the withdrawal keys (``answer_challenges``)."""

    def answer(wallet: str, challenge: Challenge, registry: Registry) -> tuple[str, str]:
        network = Network(registry.wallets[wallet].wallet.network)
        return _signature(spends.signing.get(wallet), challenge.chain, challenge.address,
                          challenge.message(), network)  # fmt: skip

    return answer_challenges(ledger, rounds, answer)


def answer_challenges(ledger: LedgerService, rounds: RoundStore, answer: Answer) -> dict[str, Any]:
    """``{"proofs": [...], "unsigned": [...]}``: the control file ``por build --control``
    reads (``proofs``), and the challenges ``answer`` could not answer, with why. Every proof
    is verified before it is returned."""
    round_id, snapshot, blocks = _pending(rounds)
    custody = CustodyService(ledger, until_seq=snapshot)
    proofs: list[dict[str, str]] = []
    unsigned: list[dict[str, str]] = []
    for wallet, challenge in challenges_for(custody.registry, round_id, blocks):
        message = challenge.message()
        signature, why = answer(wallet, challenge, custody.registry)
        if not signature:
            unsigned.append({"wallet": wallet, "address": challenge.address, "reason": why})
            continue
        proof = ControlProof(challenge.chain, challenge.address, message, signature)
        result = verify_control(proof, round_id, list(blocks.values()))
        if result is not Result.ok:
            raise InputError(result, f"{wallet}: the key's proof for {challenge.address} fails")
        proofs.append(
            {"chain": challenge.chain.value, "address": challenge.address, "message": message,
             "signature": signature}
        )  # fmt: skip
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


def _signature(
    signing: WalletSigning | None, chain: Chain, address: str, message: str, network: Network
) -> tuple[str, str]:
    """(signature, "") or ("", why not)."""
    if signing is None or not signing.keys:
        return "", "no key configured for the wallet"
    key = signing.keys[0]
    if chain is Chain.ethereum:
        public = key.public_key(compressed=False)
        if public is None or address_of_key(public).lower() != address.lower():
            return "", "the configured key is not the address's"
        return eip191_signature(key.sign_recoverable(eip191_digest(message))), ""
    script = signing.script
    if script is None or script.address(network) != address:
        return "", "the configured script is not the address's"
    if script.is_vault:
        return _vault_signature(signing, script, message)
    r, s = key.sign_digest(bip322_simple_digest(message, script.script_pubkey()))
    return bip322_simple_signature(der_signature(r, s), script.public_keys[0]), ""


def _vault_signature(signing: WalletSigning, script: SpendScript, message: str) -> tuple[str, str]:
    """BIP-322 full by the first ``threshold`` configured keys of the vault, their signatures
    in the order of the keys in the witness script (CHECKMULTISIG's)."""
    usable = [key for key in signing.keys if key.public_key() in script.public_keys]
    if len(usable) < script.threshold:
        return "", f"{len(usable)} of the vault's keys configured, {script.threshold} needed"
    witness_script = script.witness_script()
    digest = bip322_multisig_digest(message, witness_script)
    order = sorted(script.public_keys)
    signers = sorted(usable[: script.threshold], key=lambda k: order.index(k.public_key() or b""))
    ders = [der_signature(*key.sign_digest(digest)) for key in signers]
    return bip322_full_signature(message, witness_script, ders), ""
