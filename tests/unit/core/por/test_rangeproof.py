"""core/por/rangeproof.py: Bulletproofs range proofs. Honest proofs of the edge values verify;
a prover who tries a value out of range, another value, another commitment or another context,
or changes any part of a proof, is refused."""

from __future__ import annotations

import pytest

from ringfence.core.por.rangeproof import _prove, proof_bytes, prove_range, verify_range
from ringfence.core.por.ristretto import Transcript, commit, group_order, scalar_bytes

SEED = b"k" * 32


def transcript(context: bytes = b"pool a") -> Transcript:
    opened = Transcript(b"ringfence/por/test")
    opened.append(b"context", context)
    return opened


def forged(value: int, bits: int = 64) -> tuple[bytes, bytes]:
    """A cheating prover's best try for a value out of range: the protocol run on the value's
    low ``bits`` bits, against a commitment to the value itself."""
    low = value % 2**bits
    return _prove([(low >> i) & 1 for i in range(bits)], value, 99, transcript(), SEED)


@pytest.mark.parametrize("value", [0, 1, 2**32, 2**64 - 1])
def test_a_value_in_range_is_proved_in_672_bytes(value: int) -> None:
    commitment, proof = prove_range(value, 12345, transcript(), SEED)
    assert commitment == commit(value, 12345)
    assert len(proof) == proof_bytes() == 672
    assert verify_range(commitment, proof, transcript())


@pytest.mark.parametrize("value", [-1, -(2**63), 2**64, 2**64 + 5, group_order - 1])
def test_a_value_out_of_range_cannot_be_proved(value: int) -> None:
    commitment, proof = forged(value)
    assert not verify_range(commitment, proof, transcript())
    with pytest.raises(AssertionError):
        prove_range(value, 99, transcript(), SEED)


def test_a_proof_checks_only_for_its_commitment_and_its_context() -> None:
    commitment, proof = prove_range(500, 7, transcript(), SEED)
    other_commitment, other_proof = prove_range(600, 8, transcript(), SEED)
    assert not verify_range(commit(501, 7), proof, transcript())  # another value
    assert not verify_range(other_commitment, proof, transcript())  # swapped proofs
    assert not verify_range(commitment, other_proof, transcript())
    assert not verify_range(commitment, proof, transcript(b"pool b"))  # another pool
    assert not verify_range(commitment, proof, transcript(), bits=32)
    assert verify_range(commitment, proof, transcript())


def test_any_changed_part_of_a_proof_is_refused() -> None:
    commitment, proof = prove_range(2**40 + 3, 77, transcript(), SEED)
    for at in range(0, len(proof), 32):  # every point and scalar, one bit each
        changed = bytearray(proof)
        changed[at] ^= 1
        assert not verify_range(commitment, bytes(changed), transcript()), at
    # A scalar written unreduced (the same number plus the group order) is refused too.
    t_hat = int.from_bytes(proof[6 * 32 : 7 * 32], "little")
    unreduced = proof[: 6 * 32] + (t_hat + group_order).to_bytes(32, "little") + proof[7 * 32 :]
    if t_hat + group_order < 2**256:
        assert not verify_range(commitment, unreduced, transcript())
    for broken in (proof[:-32], proof + bytes(32), b"", proof[:32] + b"\xff" * 32 + proof[64:]):
        assert not verify_range(commitment, broken, transcript())
    assert not verify_range(b"\x01" + bytes(31), proof, transcript())  # not a point


def test_shorter_ranges_are_proved_and_bounded_too() -> None:
    commitment, proof = prove_range(255, 3, transcript(), SEED, bits=8)
    assert len(proof) == proof_bytes(8) == 480
    assert verify_range(commitment, proof, transcript(), bits=8)
    commitment, proof = forged(256, bits=8)
    assert not verify_range(commitment, proof, transcript(), bits=8)
    assert scalar_bytes(-1) == (group_order - 1).to_bytes(32, "little")
