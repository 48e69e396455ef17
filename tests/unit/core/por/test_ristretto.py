"""core/por/ristretto.py: libsodium's ristretto255 through rbcl against RFC 9496's vectors, the
encodings it must refuse, Pedersen commitments' homomorphism, and the transcript."""

from __future__ import annotations

import pytest

from ringfence.core.por import ristretto
from ringfence.core.por.ristretto import Transcript, commit, group_order

# RFC 9496, appendix A.1: the encodings of 0·B to 5·B.
MULTIPLES = [
    "0000000000000000000000000000000000000000000000000000000000000000",
    "e2f2ae0a6abc4e71a884a961c500515f58e30b6aa582dd8db6a65945e08d2d76",
    "6a493210f7499cd17fecb510ae0cea23a110e8d5b901f8acadd3095c73a3b919",
    "94741f5d5d52755ece4f23f044ee27d5d1ea1e2bd196b462166b16152a9d0259",
    "da80862773358b466ffadfe0b3293ab3d9fd53c5ea6c955358f568322daf6a57",
    "e882b131016b52c1d3337080187cf768423efccbb517bb495ab812c4160ff44e",
]
# Not canonical (a field element of p or more) or "negative" (odd): never a point (RFC 9496
# §4.3.1), whatever the arithmetic would make of them.
BAD = [
    "00ffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff",
    "ffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff7f",
    "edffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff7f",
    "0100000000000000000000000000000000000000000000000000000000000000",
    "01ffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff7f",
]


def test_the_multiples_of_the_base_point_are_rfc_9496s() -> None:
    for scalar, encoded in enumerate(MULTIPLES):
        assert ristretto.base_multiply(scalar).hex() == encoded
        assert ristretto.multiply(scalar, ristretto.value_generator).hex() == encoded
    assert ristretto.value_generator.hex() == MULTIPLES[1]
    assert ristretto.base_multiply(group_order + 2).hex() == MULTIPLES[2]
    assert ristretto.add(ristretto.base_multiply(2), ristretto.base_multiply(3)).hex() == (
        MULTIPLES[5])
    assert ristretto.subtract(ristretto.base_multiply(2), ristretto.base_multiply(2)) == (
        ristretto.identity)


@pytest.mark.parametrize("encoded", BAD)
def test_bad_encodings_are_not_points(encoded: str) -> None:
    assert not ristretto.is_point(bytes.fromhex(encoded))
    with pytest.raises(ristretto.NotAPointError):
        ristretto.points_of([bytes.fromhex(MULTIPLES[1]), bytes.fromhex(encoded)])
    assert not ristretto.is_point(bytes.fromhex(MULTIPLES[1])[:31])
    assert not ristretto.is_point(MULTIPLES[1])


def test_generators_are_distinct_points_nobody_chose() -> None:
    generators = ristretto.vector_generators(b"label", 8)
    assert len({*generators, ristretto.value_generator, ristretto.blinding_generator}) == 10
    assert all(ristretto.is_point(point) for point in generators)
    assert ristretto.vector_generators(b"other", 8)[0] not in generators


def test_pedersen_commitments_add_up_and_hide_the_value() -> None:
    assert ristretto.add(commit(5, 11), commit(7, 13)) == commit(12, 24)
    assert ristretto.subtract(ristretto.base_multiply(20), commit(12, 24)) == commit(8, -24)
    assert commit(5, 11) != commit(5, 12)  # another blinding, another commitment
    assert commit(-1, 0) == commit(group_order - 1, 0)  # values live modulo the order


def test_a_transcripts_challenges_depend_on_everything_absorbed_before() -> None:
    def challenges(context: bytes, message: bytes) -> tuple[int, int]:
        transcript = Transcript(b"test")
        transcript.append(b"context", context)
        first = transcript.challenge(b"x")
        transcript.append(b"message", message)
        return first, transcript.challenge(b"y")

    assert challenges(b"a", b"m") == challenges(b"a", b"m")
    assert challenges(b"a", b"m")[0] != challenges(b"b", b"m")[0]
    assert challenges(b"a", b"m")[1] != challenges(b"a", b"n")[1]
    # Framing: moving a byte from one message to the next changes the transcript.
    assert challenges(b"ab", b"")[1] != challenges(b"a", b"b")[1]
