"""Checking a client's proofs as the client would (``ringfence por verify``), and the key a
client pins (``ringfence por page``).

``verify_proofs`` is the standard-library verifier's report (``verifier.verify_bundle``: the
round's signature, snapshot and coverage, each proof as the client who types their id), the
signature checked once more with libsodium, and each pool's solvency checked in zero
knowledge where the round proves it (``core/por/solvency.py``), which the standard library
cannot do. What the client gives that cannot be used is refused with the codes of
``core/errors.py``.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any, Final

from ringfence.core.errors import InputError, Result
from ringfence.core.ledger.wire import check_json_depth
from ringfence.core.por.private import private_root_of, verify_private_proof
from ringfence.core.por.round import round_hash, round_public_key, verify_round_signature
from ringfence.core.por.solvency import PoolProofRejectedError, verify_pools
from ringfence.service.ports import RoundStore
from ringfence.verifier import (
    InputRefusedError,
    ProofRejectedError,
    hex_bytes,
    major_units,
    parse_amounts,
    render_text,
    verdict_exit_status,
    verify_bundle,
)

__all__ = ["render_verification", "signing_public_key", "verify_proofs"]

# What the client gave, refused by the stdlib verifier, as the codes every entry point reports.
_refusal_results: Final = {
    "json_malformed": Result.line_malformed,
    "input_too_large": Result.line_too_long,
    "client_id_required": Result.client_id_required,
    "client_id_malformed": Result.client_id_malformed,
    "nonce_required": Result.nonce_required,
    "nonce_malformed": Result.nonce_malformed,
    "public_key_malformed": Result.public_key_malformed,
    "balance_malformed": Result.balance_malformed,
    "balance_finer_than_scale": Result.amount_finer_than_asset_scale,
    "balance_too_large": Result.amount_must_be_below_2_64,
    "decimals_malformed": Result.decimals_malformed,
    "decimals_unknown": Result.decimals_unknown,
    "decimals_mismatch": Result.decimals_mismatch,
}


def verify_proofs(
    proof_text: bytes, round_text: bytes, *, client_id: str | None, nonce_hex: str = "",
    balances: list[str] | None = None, decimals: list[str] | None = None, public_key: str = "",
) -> dict[str, Any]:
    """Check a proof document (``por proof`` output, or one proof) against a round record
    obtained from a second channel, as the client ``client_id``, with the standard-library
    verifier (``verifier.verify_bundle``: the signature, the snapshot, each asset's
    coverage, each proof); the signature is checked again with libsodium. ``public_key`` pins
    the firm's signing key; ``balances`` (ASSET=AMOUNT) are in the asset's major unit.
    The report's ``verdict`` says accepted, not_covered or rejected; ``exit_status`` is the
    stdlib verifier's for it."""
    bundle = _document(proof_text, "proof")
    record = _document(round_text, "round")
    try:
        nonce = None if not nonce_hex else _hex_input(nonce_hex, "nonce_malformed", "nonce")
        pinned = None if not public_key else _hex_input(
            public_key, "public_key_malformed", "public key")
        amounts, places = parse_amounts(balances or [], decimals or [])
        report = verify_bundle(bundle, record, client_id=client_id, nonce=nonce,
                               pinned_key=pinned, balances=amounts, decimals=places,
                               private_check=check_private_proof)
    except InputRefusedError as refusal:
        raise InputError(_refusal_results.get(refusal.reason, Result.line_malformed),
                         str(refusal)) from None
    if report["round"] is not None and not verify_round_signature(record):
        report = {**report, "ok": False, "verdict": "rejected", "round": None, "results": [
            {"asset": None, "ok": False, "reason": "bad_signature",
             "detail": "libsodium refuses the round's Ed25519 signature"}]}
    if report["round"] is not None:
        report = _with_pools(report, record)
    return {**report, "exit_status": verdict_exit_status[report["verdict"]]}


_private_details: Final = {
    "malformed": "the private proof is malformed",
    "root_mismatch": "your leaf and the siblings do not fold to the round's private root",
    "root_does_not_open": "the round's private root does not open to its total",
    "sibling_out_of_range": "the range proof does not show every sibling in [0, 2^64)",
}


def check_private_proof(
    proof: Mapping[str, Any], record: Mapping[str, Any], nonce: bytes, client_id: str,
    balance: int | None,
) -> int:
    """A private-mode proof checked as the client ``client_id`` with their ``nonce``
    (``core/por/private.py``); returns the value it counts, in proof units, or raises the
    stdlib verifier's ``ProofRejectedError`` with the reason."""
    if proof.get("round_hash") != round_hash(record).hex():
        raise ProofRejectedError("other_round", "proof names another round record")
    entry = next((line for line in record.get("assets", [])
                  if line.get("asset_number") == proof.get("asset_number")), None)
    if entry is None or entry.get("asset") != proof.get("asset"):
        raise ProofRejectedError("no_such_asset", "round record has no such asset")
    root = private_root_of(entry)
    if root is None:
        raise ProofRejectedError("malformed", "the round's asset has no private root")
    reason, value = verify_private_proof(
        proof, root, bytes.fromhex(record["round_id"]), client_id, nonce)
    if reason is not None:
        raise ProofRejectedError(reason, _private_details[reason])
    if balance is not None and value != balance:
        raise ProofRejectedError(
            "balance_mismatch", f"the proof counts {value} proof units, your balance is {balance}")
    return value


def _with_pools(report: dict[str, Any], record: dict[str, Any]) -> dict[str, Any]:
    """The report with each pool's solvency, checked in zero knowledge where the round
    proves it (``core/por/solvency.py``): a pool its own reserves do not cover makes the
    verdict not covered, whatever the asset's total; a statement that does not check, a
    rejection."""
    pools, refused = [], []
    round_id = bytes.fromhex(report["round"]["round_id"])
    for entry in record["assets"]:
        if "pools" not in entry:
            continue
        try:
            number = entry.get("asset_number")
            if type(number) is not int or not 0 <= number < 2**32:
                raise PoolProofRejectedError("malformed", "the asset has no valid number")
            verdicts = verify_pools(entry["pools"], round_id, number, int(entry["root"]["sum"]))
        except PoolProofRejectedError as rejection:
            refused.append({"asset": entry["asset"], "ok": False, "reason": rejection.reason,
                            "detail": str(rejection)})
            continue
        pools += [{"asset": entry["asset"], "pool": verdict.pool, "reserves": str(
            verdict.reserves), "status": "covered" if verdict.covered else "not_covered"}
            for verdict in verdicts]
    verdict = report["verdict"]
    if refused:
        verdict = "rejected"
    elif verdict == "accepted" and any(line["status"] == "not_covered" for line in pools):
        verdict = "not_covered"
    return {**report, "ok": verdict == "accepted", "verdict": verdict,
            "results": [*report["results"], *refused], "pools": pools}


def signing_public_key(rounds: RoundStore) -> str:
    """The key the firm's rounds are signed with (hex): the key it publishes, and its clients'
    verifiers pin (``ringfence por page`` writes it into the browser verifier)."""
    return round_public_key(rounds.signing_seed())


def render_verification(report: dict[str, Any]) -> str:
    """The report of ``verify_proofs`` for a person, as the stdlib verifier prints it, with
    each pool's solvency before the verdict."""
    lines = render_text(report).splitlines()
    verdict = lines.pop()
    pools = report.get("pools") or []
    if pools:
        scales = {line["asset"]: line for line in report["round"]["assets"]}
        lines.append("Pools, each against its own reserves (zero-knowledge proofs checked):")
        for pool in pools:
            line = scales[pool["asset"]]
            held = pool["reserves"] + " proof units" if line["scale"] is None else (
                major_units(int(pool["reserves"]), line["unit_exponent"], line["scale"])
                + " " + pool["asset"])
            lines.append(f"  {pool['asset']} pool {pool['pool']}: " + (
                "covered" if pool["status"] == "covered" else "NOT COVERED")
                + f" by its own reserves of {held}")
    short = [f"{pool['asset']} pool {pool['pool']}" for pool in pools
             if pool["status"] == "not_covered"]
    if short and report["verdict"] == "not_covered":
        verdict = ("NOT COVERED: your proofs check, but the round proves that the reserves of "
                   + ", ".join(short) + " do not cover what that pool owes.")
    return "\n".join([*lines, verdict]) + "\n"


def _hex_input(text: str, reason: str, what: str) -> bytes:
    found = hex_bytes(text, 32)
    if found is None:
        raise InputRefusedError(reason, f"the {what} is not 64 hex digits")
    return found


def _document(text: bytes, what: str) -> Any:
    check_json_depth(text)
    try:
        return json.loads(text)
    except (json.JSONDecodeError, UnicodeDecodeError) as error:
        raise InputError(Result.line_malformed, f"{what}: {error}") from None


