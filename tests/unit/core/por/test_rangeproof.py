"""core/por/rangeproof.py: Bulletproofs range proofs. Honest proofs of the edge values verify;
a prover who tries a value out of range, another value, another commitment or another context,
or changes any part of a proof, is refused."""

from __future__ import annotations

import pytest

from ringfence.core.por.rangeproof import (
    _prove,
    _prove_many,
    padded_count,
    proof_bytes,
    prove_range,
    prove_ranges,
    verify_range,
    verify_ranges,
)
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


# ---------------------------------------------------------------------- aggregated proofs


def forged_many(values: list[int], bits: int = 8) -> tuple[list[bytes], bytes]:
    """A cheating prover's aggregated proof: each value's low ``bits`` bits, against
    commitments to the values themselves."""
    openings = [(value, 50 + at) for at, value in enumerate(values)]
    value_bits = [((value % 2**bits) >> i) & 1 for value in values for i in range(bits)]
    return _prove_many(value_bits, openings, transcript(), SEED, len(values))


@pytest.mark.parametrize("count", [1, 2, 3, 4, 7])
def test_values_are_proved_in_one_aggregated_proof_of_the_padded_size(count: int) -> None:
    openings = [((at * 37 + 1) % 256, 1000 + at) for at in range(count)]
    commitments, proof = prove_ranges(openings, transcript(), SEED, bits=8)
    assert commitments == [commit(value, blinding) for value, blinding in openings]
    assert len(proof) == proof_bytes(8, padded_count(count))
    assert verify_ranges(commitments, proof, transcript(), bits=8)


def test_thirty_two_values_of_64_bits_take_992_bytes() -> None:
    assert proof_bytes(64, 32) == 992
    assert padded_count(32) == 32
    assert padded_count(17) == 32


@pytest.mark.parametrize("bad", [-1, 256, 2**64, group_order - 3])
def test_one_value_out_of_range_among_several_cannot_be_proved(bad: int) -> None:
    values = [3, 200, bad, 0]
    commitments, proof = forged_many(values)
    assert commitments[2] == commit(bad, 52)
    assert not verify_ranges(commitments, proof, transcript(), bits=8)
    honest, honest_proof = forged_many([3, 200, bad % 256, 0])
    assert verify_ranges(honest, honest_proof, transcript(), bits=8)
    assert not verify_ranges(commitments, honest_proof, transcript(), bits=8)


def test_an_aggregated_proof_checks_only_for_its_commitments_in_order_and_context() -> None:
    openings = [(5, 1), (6, 2), (7, 3)]
    commitments, proof = prove_ranges(openings, transcript(), SEED, bits=8)
    swapped = [commitments[1], commitments[0], commitments[2]]
    assert not verify_ranges(swapped, proof, transcript(), bits=8)
    assert not verify_ranges(commitments[:2], proof, transcript(), bits=8)
    # The padding is the verifier's own: the same commitments and an explicit identity are
    # another statement (the count given is in the transcript).
    assert not verify_ranges([*commitments, commit(0, 0)], proof, transcript(), bits=8)
    assert not verify_ranges([commitments[0], commit(8, 2), commitments[2]], proof,
                             transcript(), bits=8)  # a proof for another value
    assert not verify_ranges(commitments, proof, transcript(b"pool b"), bits=8)
    assert not verify_ranges(commitments, proof, transcript(), bits=16)
    assert not verify_ranges([], proof, transcript(), bits=8)
    single_commitment, single = prove_range(5, 1, transcript(), SEED, bits=8)
    assert not verify_ranges([single_commitment], single, transcript(), bits=8)
    assert verify_ranges(commitments, proof, transcript(), bits=8)


def test_any_changed_part_of_an_aggregated_proof_is_refused() -> None:
    commitments, proof = prove_ranges([(1, 9), (255, 10)], transcript(), SEED, bits=8)
    for at in range(0, len(proof), 32):
        changed = bytearray(proof)
        changed[at] ^= 1
        assert not verify_ranges(commitments, bytes(changed), transcript(), bits=8), at
