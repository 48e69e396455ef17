"""Per-pool solvency in zero knowledge: each pool's own reserves cover what it owes, shown
without revealing what it owes.

For one asset and each pool P holding its clients' liabilities L_P (proof units, each
client's balance in the pool rounded up) and public reserves R_P (the net attested holdings
of the pool's own wallets, rounded down), the firm publishes:

- C_P = L_P·B + r_P·B~, a Pedersen commitment to L_P (``r_P`` derived from the master
  secret, so the auditor can open it against the journal);
- a range proof that C_P holds a value in [0, 2^64) (no negative or wrapped total);
- when R_P ≥ L_P, a range proof that R_P·B - C_P = (R_P - L_P)·B - r_P·B~ holds a value in
  [0, 2^64): the pool is covered. When the pool is short no such proof can exist, and the
  pool is reported **not covered**, whatever the other pools hold;
- for the asset, the total the pools owe, T = Σ L_P, and Σ r_P: the verifier checks that
  Σ C_P = T·B + (Σ r_P)·B~ (the commitments add up, so none was left out or counted twice)
  and that T is at least the liabilities tree's root sum (T can only exceed it by rounding:
  a client with accounts in two pools is rounded up in each).

Each proof is bound by its transcript to the round, the asset, the pool and what it proves,
so a pool cannot present another pool's commitment or proofs (its reserves differ, and so
does its name in the transcript), nor a proof made for another round.

What this does not show: that L_P is what pool P really owes (a firm could commit pool P to
less and another pool to more, within the same total). Clients do not check their inclusion
in their pool's commitment; the auditor, who holds the master secret, opens every C_P
against the pool liabilities replayed from the journal (``commitment_opens``).
"""

from __future__ import annotations

import base64
import binascii
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Final

from ringfence.core import limits
from ringfence.core.por.hashes import hkdf_sha256
from ringfence.core.por.rangeproof import prove_range, verify_range
from ringfence.core.por.ristretto import (
    NotAPointError,
    Transcript,
    add,
    base_multiply,
    commit,
    group_order,
    identity,
    points_of,
    scalar_bytes,
    subtract,
)

solvency_format: Final = "ringfence-por-pools/1"
salt_pool_blinding: Final = b"ringfence/por/pool-blinding/1\x00"
pools_max: Final = 4_096
pool_name_bytes_max: Final = 64

# Why a statement is refused (pool by pool, a missing coverage proof is a verdict, not this).
rejection_reasons: Final = frozenset(
    {"malformed", "pool_proof_invalid", "pools_do_not_add_up", "pools_understate_liabilities"})


class PoolProofRejectedError(Exception):
    """The pools' statement does not show what it claims; ``reason`` names the check."""

    def __init__(self, reason: str, message: str) -> None:
        assert reason in rejection_reasons, reason
        super().__init__(message)
        self.reason = reason


@dataclass(frozen=True, slots=True)
class PoolPosition:
    """What the firm knows of one pool in one asset, in proof units."""

    pool: str
    liabilities: int
    reserves: int


@dataclass(frozen=True, slots=True)
class PoolVerdict:
    pool: str
    covered: bool
    reserves: int


def pool_blinding(master_secret: bytes, round_id: bytes, asset_number: int, pool: str) -> int:
    """r_P: uniform modulo the group order (64 bytes reduced), and the auditor's to rederive."""
    info = round_id + asset_number.to_bytes(4, "big") + pool.encode("utf-8")
    return int.from_bytes(hkdf_sha256(master_secret, salt_pool_blinding, info, 64),
                          "little") % group_order


def _transcript(round_id: bytes, asset_number: int, pool: str, statement: bytes) -> Transcript:
    transcript = Transcript(b"ringfence/por/pool-solvency/1")
    transcript.append(b"round", round_id)
    transcript.append(b"asset", asset_number.to_bytes(4, "big"))
    transcript.append(b"pool", pool.encode("utf-8"))
    transcript.append(b"statement", statement)
    return transcript


def _text(proof: bytes) -> str:
    return base64.b64encode(proof).decode("ascii")


def prove_pools(
    round_id: bytes, asset_number: int, positions: Sequence[PoolPosition], *,
    master_secret: bytes, seed: bytes,
) -> dict[str, Any]:
    """The statement for one asset's pools (a JSON object, pools in name order). ``seed`` is
    fresh secret randomness (the round's build seed serves)."""
    assert len(round_id) == 32
    assert 0 < len(positions) <= pools_max
    assert len({position.pool for position in positions}) == len(positions)
    lines, total, blinding_total = [], 0, 0
    for position in sorted(positions, key=lambda found: found.pool):
        owed, held, name = position.liabilities, position.reserves, position.pool
        assert 0 <= owed <= limits.proof_value_max
        assert 0 <= held <= limits.proof_value_max
        blinding = pool_blinding(master_secret, round_id, asset_number, name)
        commitment, owed_proof = prove_range(
            owed, blinding, _transcript(round_id, asset_number, name, b"liabilities"), seed)
        coverage_proof = None
        if held >= owed:
            difference, proof = prove_range(
                held - owed, -blinding, _transcript(round_id, asset_number, name, b"coverage"),
                seed)
            assert difference == subtract(base_multiply(held), commitment)
            coverage_proof = _text(proof)
        lines.append({"pool": name, "reserves": str(held), "commitment": commitment.hex(),
                      "liabilities_proof": _text(owed_proof), "coverage_proof": coverage_proof})
        total += owed
        blinding_total += blinding
    assert total <= limits.proof_value_max
    return {"v": solvency_format, "liabilities_total": str(total),
            "blinding_total": scalar_bytes(blinding_total).hex(), "pools": lines}


def commitment_opens(
    statement: Mapping[str, Any], round_id: bytes, asset_number: int,
    liabilities: Mapping[str, int], master_secret: bytes,
) -> list[str]:
    """For the auditor: the pools whose commitment does not open to the liabilities given
    (replayed from the journal), and pools missing from either side."""
    lines = {line.get("pool"): line for line in statement.get("pools", [])}
    wrong = sorted(str(pool) for pool in set(lines) ^ set(liabilities))
    for pool, owed in sorted(liabilities.items()):
        if pool in lines:
            blinding = pool_blinding(master_secret, round_id, asset_number, pool)
            if lines[pool].get("commitment") != commit(owed, blinding).hex():
                wrong.append(pool)
    return wrong


# ---------------------------------------------------------------------- verifying


def _number(text: object, what: str) -> int:
    if not isinstance(text, str) or not text.isascii() or not text.isdigit() or len(text) > 20:
        raise PoolProofRejectedError("malformed", f"{what} is not a decimal string")
    value = int(text)
    if value > limits.proof_value_max:
        raise PoolProofRejectedError("malformed", f"{what} is 2^64 or more")
    return value


def _bytes_of(text: object, what: str) -> bytes:
    try:
        if isinstance(text, str):
            return base64.b64decode(text.encode("ascii"), validate=True)
    except (binascii.Error, UnicodeEncodeError):
        pass
    raise PoolProofRejectedError("malformed", f"{what} is not base64")


def _point(text: object, what: str) -> bytes:
    try:
        if isinstance(text, str) and len(text) == 64:
            return points_of([bytes.fromhex(text)])[0]
    except (ValueError, NotAPointError):
        pass
    raise PoolProofRejectedError("malformed", f"{what} is not a ristretto255 point")


def _scalar(text: object, what: str) -> int:
    """A scalar as 64 lowercase hex digits, little-endian and reduced."""
    if isinstance(text, str) and len(text) == 64 and not text.strip("0123456789abcdef"):
        value = int.from_bytes(bytes.fromhex(text), "little")
        if value < group_order:
            return value
    raise PoolProofRejectedError("malformed", f"{what} is not a reduced scalar")


def _pool_name(text: object) -> str:
    if (not isinstance(text, str) or not text
            or len(text.encode("utf-8", "replace")) > pool_name_bytes_max):
        raise PoolProofRejectedError("malformed", "a pool has no name")
    return text


def verify_pools(
    statement: object, round_id: bytes, asset_number: int, root_sum: int
) -> list[PoolVerdict]:
    """Check one asset's pools statement against its round and the tree's root sum: each
    pool covered or not, or ``PoolProofRejectedError`` when the statement cannot be relied
    on (a proof that fails, commitments that do not add up, a total below the tree's)."""
    if not isinstance(statement, dict) or statement.get("v") != solvency_format:
        raise PoolProofRejectedError("malformed", "not a pools statement of a known format")
    total = _number(statement.get("liabilities_total"), "liabilities_total")
    blinding = _scalar(statement.get("blinding_total"), "blinding_total")
    lines = statement.get("pools")
    if not isinstance(lines, list) or not 0 < len(lines) <= pools_max:
        raise PoolProofRejectedError("malformed", f"pools is not a list of 1 to {pools_max}")
    verdicts: list[PoolVerdict] = []
    commitments = identity
    for line in lines:
        verdict, commitment = _verify_pool(line, round_id, asset_number)
        if any(found.pool == verdict.pool for found in verdicts):
            raise PoolProofRejectedError("malformed", f"pool {verdict.pool} is listed twice")
        verdicts.append(verdict)
        commitments = add(commitments, commitment)
    if commitments != commit(total, blinding):
        raise PoolProofRejectedError(
            "pools_do_not_add_up", "the pools' commitments do not add up to the total they owe")
    if total < root_sum:
        raise PoolProofRejectedError(
            "pools_understate_liabilities",
            f"the pools owe {total} in all, less than the tree's {root_sum}")
    return verdicts


def _verify_pool(line: object, round_id: bytes, asset_number: int) -> tuple[PoolVerdict, bytes]:
    if not isinstance(line, dict):
        raise PoolProofRejectedError("malformed", "a pool line is not an object")
    name = _pool_name(line.get("pool"))
    held = _number(line.get("reserves"), f"pool {name}'s reserves")
    commitment = _point(line.get("commitment"), f"pool {name}'s commitment")
    owed_proof = _bytes_of(line.get("liabilities_proof"), f"pool {name}'s liabilities proof")
    if not verify_range(commitment, owed_proof,
                        _transcript(round_id, asset_number, name, b"liabilities")):
        raise PoolProofRejectedError(
            "pool_proof_invalid", f"pool {name}'s committed liabilities are not shown in range")
    coverage = line.get("coverage_proof")
    if coverage is None:
        return PoolVerdict(name, False, held), commitment
    proof = _bytes_of(coverage, f"pool {name}'s coverage proof")
    difference = subtract(base_multiply(held), commitment)
    if not verify_range(difference, proof, _transcript(round_id, asset_number, name,
                                                       b"coverage")):
        raise PoolProofRejectedError(
            "pool_proof_invalid", f"pool {name}'s coverage proof does not check: its reserves "
            "are not shown to cover what it owes")
    return PoolVerdict(name, True, held), commitment
