"""Range proofs (core/por/rangeproof.py) for random values and blindings: every value in
[0, 2^64) is proved and verifies (completeness); every value out of range, tried by a
cheating prover on its low 64 bits, and every proof shown for a commitment to another value,
is refused (soundness)."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from ringfence.core.por.rangeproof import _prove, prove_range, verify_range
from ringfence.core.por.ristretto import Transcript, commit, group_order

scalars = st.integers(min_value=0, max_value=group_order - 1)
seeds = st.binary(min_size=32, max_size=32)


def transcript(context: bytes) -> Transcript:
    opened = Transcript(b"ringfence/por/test")
    opened.append(b"context", context)
    return opened


@settings(max_examples=12, deadline=None)
@given(value=st.integers(min_value=0, max_value=2**64 - 1), blinding=scalars, seed=seeds,
       context=st.binary(max_size=8))
def test_every_value_in_range_is_proved(value: int, blinding: int, seed: bytes,
                                        context: bytes) -> None:
    commitment, proof = prove_range(value, blinding, transcript(context), seed)
    assert verify_range(commitment, proof, transcript(context))


@settings(max_examples=12, deadline=None)
@given(value=st.one_of(st.integers(min_value=-(2**64), max_value=-1),
                       st.integers(min_value=2**64, max_value=group_order - 1)),
       blinding=scalars, seed=seeds, other=st.integers(min_value=1, max_value=2**64))
def test_no_value_out_of_range_and_no_other_value_is_accepted(
    value: int, blinding: int, seed: bytes, other: int
) -> None:
    low = value % 2**64
    commitment, proof = _prove([(low >> i) & 1 for i in range(64)], value, blinding,
                               transcript(b"p"), seed)
    assert commitment == commit(value, blinding)
    assert not verify_range(commitment, proof, transcript(b"p"))
    # An honest proof of the low bits, shown for the out-of-range value (or any other).
    honest, proof = prove_range(low, blinding, transcript(b"p"), seed)
    assert verify_range(honest, proof, transcript(b"p"))
    assert not verify_range(commitment, proof, transcript(b"p"))
    assert not verify_range(commit(low + other, blinding), proof, transcript(b"p"))
