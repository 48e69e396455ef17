"""Bulletproofs range proofs on ristretto255: a commitment V = v·B + gamma·B~ holds a v in
[0, 2^n), shown without revealing v (Bünz, Bootle, Boneh, Poelstra, Wuille and Maxwell,
"Bulletproofs: Short Proofs for Confidential Transactions and More", IEEE S&P 2018, §4.1 and
the inner-product argument of §3, Protocol 2; notation as in the paper and the dalek
bulletproofs notes).

Written out here because no maintained Python library proves ranges on ristretto255; the
group operations are libsodium's (``ristretto.py``). The proof is made non-interactive by a
Fiat-Shamir transcript that the caller opens with the statement's context (round, asset,
pool, what is proved), so a proof checks only for the commitment and the context it was
made for. A proof for n = 64 is 672 bytes: A, S, T1, T2, τx, μ, t̂, then log2(n) pairs
(L, R) of the inner-product argument and its two final scalars.

Aggregation (§4.3): one proof that each of m commitments holds a value in [0, 2^n), over
vectors of m·n bits, for 2·log2(m·n) points more than one proof (m = 32, n = 64: 992 bytes,
where 32 single proofs take 21,504). m is a power of two; ``prove_ranges`` pads the values
given with commitments to zero under blinding zero (the identity), which the verifier adds
itself, so the padding is part of the statement and never sent. The aggregated transcript
binds its own protocol label, n, m, the number of values given and every commitment, in
order.

Soundness rests on the discrete logarithm problem in ristretto255 and on the generators'
independence (``ristretto.vector_generators``); it is tested by trying to prove values out
of range, tampering with each part, and moving proofs between commitments and contexts
(tests/unit/core/por/test_rangeproof.py, tests/property/test_rangeproof.py).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Final

from ringfence.core.por.ristretto import (
    NotAPointError,
    Transcript,
    add,
    blinding_generator,
    commit,
    group_order,
    identity,
    inner_product,
    inverse,
    multi_multiply,
    multiply,
    points_of,
    powers,
    scalar_bytes,
    subtract,
    value_generator,
    vector_generators,
)

bits_default: Final = 64
bits_allowed: Final = (8, 16, 32, 64)
values_max: Final = 64  # m of an aggregated proof: m·n generators of each kind
_label_g: Final = b"bulletproofs-G"
_label_h: Final = b"bulletproofs-H"


def proof_bytes(bits: int = bits_default, values: int = 1) -> int:
    """The size of a proof for ``values`` (a power of two) of ``bits`` each: 4 points,
    3 scalars, the pairs (L, R), 2 scalars."""
    return 32 * (4 + 3 + 2 * ((bits * values).bit_length() - 1) + 2)


def padded_count(count: int) -> int:
    """m for ``count`` values: the next power of two."""
    assert 0 < count <= values_max
    return 1 << (count - 1).bit_length()


def _start(transcript: Transcript, commitments: Sequence[bytes], bits: int, given: int) -> None:
    """The statement, first in the transcript. One value keeps the transcript of the
    single proofs (format 1, which rounds already hold); several bind m and the count."""
    if given == 0:
        (commitment,) = commitments
        transcript.append(b"protocol", b"ringfence/por/rangeproof/1")
        transcript.append(b"n", bits.to_bytes(4, "big"))
        transcript.append(b"V", commitment)
        return
    transcript.append(b"protocol", b"ringfence/por/rangeproof-aggregated/1")
    transcript.append(b"n", bits.to_bytes(4, "big"))
    transcript.append(b"m", len(commitments).to_bytes(4, "big"))
    transcript.append(b"given", given.to_bytes(4, "big"))
    for commitment in commitments:
        transcript.append(b"V", commitment)


# ---------------------------------------------------------------------- proving


def prove_range(
    value: int, blinding: int, transcript: Transcript, seed: bytes, bits: int = bits_default
) -> tuple[bytes, bytes]:
    """The commitment to ``value`` under ``blinding`` and a proof that it is in [0, 2^bits).
    ``seed`` is the prover's secret randomness (with the transcript, it makes the proof's
    blinding scalars). A value out of range cannot be proved: asking is a programmer error."""
    assert bits in bits_allowed
    assert 0 <= value < 2**bits
    return _prove([(value >> i) & 1 for i in range(bits)], value, blinding, transcript, seed)


def prove_ranges(
    openings: Sequence[tuple[int, int]], transcript: Transcript, seed: bytes,
    bits: int = bits_default,
) -> tuple[list[bytes], bytes]:
    """The commitments to the (value, blinding) ``openings`` and one aggregated proof that
    each holds a value in [0, 2^bits); the commitments returned are those given (the
    padding is not). A value out of range is a programmer error, as in ``prove_range``."""
    assert bits in bits_allowed
    assert 0 < len(openings) <= values_max
    for value, _ in openings:
        assert 0 <= value < 2**bits
    padded = [*openings, *[(0, 0)] * (padded_count(len(openings)) - len(openings))]
    value_bits = [(value >> i) & 1 for value, _ in padded for i in range(bits)]
    commitments, proof = _prove_many(value_bits, padded, transcript, seed, len(openings))
    return commitments[: len(openings)], proof


def _prove(
    value_bits: Sequence[int], value: int, blinding: int, transcript: Transcript, seed: bytes
) -> tuple[bytes, bytes]:
    """The single protocol on the bits given; ``prove_range`` passes ``value``'s own. (The
    tests give it bits that are not ``value``'s, as a cheating prover would, and see the
    proof fail.)"""
    (commitment,), proof = _prove_many(value_bits, [(value, blinding)], transcript, seed, 0)
    return commitment, proof


def _prove_many(
    value_bits: Sequence[int], openings: Sequence[tuple[int, int]], transcript: Transcript,
    seed: bytes, given: int,
) -> tuple[list[bytes], bytes]:
    """The protocol over m = len(openings) values of n bits each (``value_bits``, value by
    value, least significant first); ``given`` 0 is the single proof's transcript."""
    total_bits, count = len(value_bits), len(openings)
    bits = total_bits // count
    assert bits * count == total_bits
    generators_g = vector_generators(_label_g, total_bits)
    generators_h = vector_generators(_label_h, total_bits)
    commitments = [commit(value, blinding) for value, blinding in openings]
    _start(transcript, commitments, bits, given)
    rng = transcript.rng(seed, b"".join(
        scalar_bytes(value) + scalar_bytes(blinding) for value, blinding in openings))
    alpha, rho, tau_1, tau_2 = rng.scalars(4)
    # A = alpha·B~ + <a_L, G> + <a_R, H>, with a_L in {0, 1} and a_R = a_L - 1: additions only.
    a_commitment = multiply(alpha, blinding_generator)
    for bit, point_g, point_h in zip(value_bits, generators_g, generators_h, strict=True):
        a_commitment = add(a_commitment, point_g) if bit else subtract(a_commitment, point_h)
    blind_left, blind_right = rng.scalars(total_bits), rng.scalars(total_bits)
    s_commitment = add(multiply(rho, blinding_generator), multi_multiply(
        [*blind_left, *blind_right], [*generators_g, *generators_h]))
    transcript.append(b"A", a_commitment)
    transcript.append(b"S", s_commitment)
    y, z = transcript.challenge(b"y"), transcript.challenge(b"z")
    y_powers = powers(y, total_bits)
    offsets = _offsets(z, bits, count)  # z^(2+j)·2^i for bit i of value j
    left_0 = [(bit - z) % group_order for bit in value_bits]
    right_0 = [(y_power * (bit - 1 + z) + offset) % group_order
               for y_power, bit, offset in zip(y_powers, value_bits, offsets, strict=True)]
    right_1 = [y_power * s % group_order for y_power, s in zip(y_powers, blind_right, strict=True)]
    t_1 = (inner_product(left_0, right_1) + inner_product(blind_left, right_0)) % group_order
    t_2 = inner_product(blind_left, right_1)
    t1_commitment, t2_commitment = commit(t_1, tau_1), commit(t_2, tau_2)
    transcript.append(b"T1", t1_commitment)
    transcript.append(b"T2", t2_commitment)
    x = transcript.challenge(b"x")
    left = [(l0 + x * l1) % group_order for l0, l1 in zip(left_0, blind_left, strict=True)]
    right = [(r0 + x * r1) % group_order for r0, r1 in zip(right_0, right_1, strict=True)]
    t_hat = inner_product(left, right)
    blindings = sum(power * blinding for power, (_, blinding)
                    in zip(powers(z, count + 2)[2:], openings, strict=True))
    tau_x = (tau_2 * x * x + tau_1 * x + blindings) % group_order
    mu = (alpha + rho * x) % group_order
    for label, scalar in ((b"tau_x", tau_x), (b"mu", mu), (b"t_hat", t_hat)):
        transcript.append_scalar(label, scalar)
    q_point = multiply(transcript.challenge(b"w"), value_generator)
    pairs, final = _prove_inner_product(
        transcript, q_point, (list(generators_g), list(generators_h)),
        powers(inverse(y), total_bits), (left, right))
    head = a_commitment + s_commitment + t1_commitment + t2_commitment
    scalars = b"".join(map(scalar_bytes, (tau_x, mu, t_hat)))
    return commitments, head + scalars + b"".join(pairs) + b"".join(map(scalar_bytes, final))


def _offsets(z: int, bits: int, count: int) -> list[int]:
    """z^(2+j)·2^i, for bit i of value j: where each value's bits are weighed in r(X)."""
    two_powers = powers(2, bits)
    return [z_power * two % group_order
            for z_power in powers(z, count + 2)[2:] for two in two_powers]


def _prove_inner_product(
    transcript: Transcript, q_point: bytes, generators: tuple[list[bytes], list[bytes]],
    h_factors: list[int], vectors: tuple[list[int], list[int]],
) -> tuple[list[bytes], tuple[int, int]]:
    """Protocol 2: halve the vectors log2(n) times, sending L and R each time. The H
    generators are H' = y⁻ⁱ·H: ``h_factors`` carries y⁻ⁱ into the first halving, so H' is
    never made (one product per generator saved)."""
    (generators_g, generators_h), (left, right) = generators, vectors
    pairs = []
    while len(left) > 1:
        half = len(left) // 2
        left_lo, left_hi, right_lo, right_hi = left[:half], left[half:], right[:half], right[half:]
        c_left, c_right = inner_product(left_lo, right_hi), inner_product(left_hi, right_lo)
        l_point = multi_multiply(
            [*left_lo, *(r * f for r, f in zip(right_hi, h_factors[:half], strict=True)), c_left],
            [*generators_g[half:], *generators_h[:half], q_point])
        r_point = multi_multiply(
            [*left_hi, *(r * f for r, f in zip(right_lo, h_factors[half:], strict=True)), c_right],
            [*generators_g[:half], *generators_h[half:], q_point])
        transcript.append(b"L", l_point)
        transcript.append(b"R", r_point)
        u = transcript.challenge(b"u")
        u_inverse = inverse(u)
        pairs += [l_point, r_point]
        left = [(lo * u + hi * u_inverse) % group_order
                for lo, hi in zip(left_lo, left_hi, strict=True)]
        right = [(lo * u_inverse + hi * u) % group_order
                 for lo, hi in zip(right_lo, right_hi, strict=True)]
        generators_g = [add(multiply(u_inverse, lo), multiply(u, hi))
                        for lo, hi in zip(generators_g[:half], generators_g[half:], strict=True)]
        generators_h = [add(multiply(u * f_lo, lo), multiply(u_inverse * f_hi, hi))
                        for lo, hi, f_lo, f_hi in zip(generators_h[:half], generators_h[half:],
                                                      h_factors[:half], h_factors[half:],
                                                      strict=True)]
        h_factors = [1] * half
    return pairs, (left[0], right[0])


# ---------------------------------------------------------------------- verifying


def _parse(proof: bytes, total_bits: int) -> tuple[list[bytes], list[int], list[bytes], list[int]]:
    """Points (A, S, T1, T2), scalars (τx, μ, t̂), the pairs (L, R) and the final scalars;
    ``ValueError`` for a wrong length, an invalid point or a non-canonical scalar."""
    if not isinstance(proof, bytes) or len(proof) != proof_bytes(total_bits):
        raise ValueError("a range proof of the wrong length")
    chunks = [proof[at : at + 32] for at in range(0, len(proof), 32)]
    rounds = total_bits.bit_length() - 1
    head, scalars = points_of(chunks[:4]), chunks[4:7]
    pairs, final = points_of(chunks[7 : 7 + 2 * rounds]), chunks[7 + 2 * rounds :]
    numbers = [int.from_bytes(chunk, "little") for chunk in (*scalars, *final)]
    if any(number >= group_order for number in numbers):
        raise ValueError("a scalar that is not reduced")
    return head, numbers[:3], pairs, numbers[3:]


def verify_range(
    commitment: bytes, proof: bytes, transcript: Transcript, bits: int = bits_default
) -> bool:
    """True when ``proof`` shows that ``commitment`` holds a value in [0, 2^bits), for the
    context the caller opened ``transcript`` with."""
    assert bits in bits_allowed
    return _verify_many([commitment], proof, transcript, bits, 0)


def verify_ranges(
    commitments: Sequence[bytes], proof: bytes, transcript: Transcript,
    bits: int = bits_default,
) -> bool:
    """True when ``proof`` shows that every one of ``commitments`` (at most ``values_max``)
    holds a value in [0, 2^bits), for the context the caller opened ``transcript`` with."""
    assert bits in bits_allowed
    if not 0 < len(commitments) <= values_max:
        return False
    padding = [identity] * (padded_count(len(commitments)) - len(commitments))
    return _verify_many([*commitments, *padding], proof, transcript, bits, len(commitments))


def _verify_many(
    commitments: Sequence[object], proof: bytes, transcript: Transcript, bits: int, given: int
) -> bool:
    total_bits = bits * len(commitments)
    try:
        checked = points_of(commitments)
        head, (tau_x, mu, t_hat), pairs, (final_a, final_b) = _parse(proof, total_bits)
    except (NotAPointError, ValueError):
        return False
    a_commitment, s_commitment, t1_commitment, t2_commitment = head
    _start(transcript, checked, bits, given)
    transcript.append(b"A", a_commitment)
    transcript.append(b"S", s_commitment)
    y, z = transcript.challenge(b"y"), transcript.challenge(b"z")
    transcript.append(b"T1", t1_commitment)
    transcript.append(b"T2", t2_commitment)
    x = transcript.challenge(b"x")
    for label, scalar in ((b"tau_x", tau_x), (b"mu", mu), (b"t_hat", t_hat)):
        transcript.append_scalar(label, scalar)
    w = transcript.challenge(b"w")
    challenges = []
    for at in range(0, len(pairs), 2):
        transcript.append(b"L", pairs[at])
        transcript.append(b"R", pairs[at + 1])
        challenges.append(transcript.challenge(b"u"))
    return _polynomial_holds(checked, (t1_commitment, t2_commitment), (y, z, x),
                             (tau_x, t_hat), bits) and _inner_product_holds(
        (a_commitment, s_commitment), pairs, (y, z, x, w), (mu, t_hat, final_a, final_b),
        challenges, (bits, len(checked)))


def _polynomial_holds(
    commitments: Sequence[bytes], t_commitments: tuple[bytes, bytes],
    challenges: tuple[int, int, int], scalars: tuple[int, int], bits: int,
) -> bool:
    """t̂·B + τx·B~ = Σ z^(2+j)·V_j + δ(y, z)·B + x·T1 + x²·T2: t̂ is t(x) for a t0 made from
    the values, with δ(y, z) = (z - z²)·<1, yᵐⁿ> - Σ z^(3+j)·(2ⁿ - 1)."""
    y, z, x = challenges
    tau_x, t_hat = scalars
    count = len(commitments)
    z_powers = powers(z, count + 3)
    delta = ((z - z_powers[2]) * sum(powers(y, bits * count))
             - sum(z_powers[3:]) * (2**bits - 1)) % group_order
    return multi_multiply(
        [(t_hat - delta) % group_order, tau_x, *(-power for power in z_powers[2 : 2 + count]),
         -x, -x * x],
        [value_generator, blinding_generator, *commitments, *t_commitments]) == identity


def _weights(u_challenges: Sequence[int], u_inverses: Sequence[int]) -> list[int]:
    """s_i: the product over rounds of u_j when bit j of i (first round: the highest bit) is
    set, else of its inverse; built by doubling, two products per weight."""
    weights = [1]
    for u, u_inverse in zip(u_challenges, u_inverses, strict=True):
        weights = [product for weight in weights
                   for product in (weight * u_inverse % group_order, weight * u % group_order)]
    return weights


def _inner_product_holds(  # noqa: PLR0917 -- the protocol's parts, each named
    commitments: tuple[bytes, bytes], pairs: Sequence[bytes],
    challenges: tuple[int, int, int, int], scalars: tuple[int, int, int, int],
    u_challenges: Sequence[int], shape: tuple[int, int],
) -> bool:
    """The inner-product argument over P = A + x·S - z·<1, G> + <z·yᵐⁿ + offsets, H'> - μ·B~,
    as one multi-scalar product that must vanish (H' = y⁻ⁱ·H; ``shape`` is (n, m))."""
    y, z, x, w = challenges
    mu, t_hat, final_a, final_b = scalars
    bits, count = shape
    total_bits = bits * count
    u_inverses = [inverse(u) for u in u_challenges]
    weights, weight_inverses = _weights(u_challenges, u_inverses), _weights(u_inverses,
                                                                             u_challenges)
    y_inverse_powers, offsets = powers(inverse(y), total_bits), _offsets(z, bits, count)
    g_scalars = [(-z - final_a * weight) % group_order for weight in weights]
    h_scalars = [(z + (offset - final_b * weight_inverse) * y_inverse) % group_order
                 for weight_inverse, offset, y_inverse
                 in zip(weight_inverses, offsets, y_inverse_powers, strict=True)]
    pair_scalars = []
    for u, u_inverse in zip(u_challenges, u_inverses, strict=True):
        pair_scalars += [u * u % group_order, u_inverse * u_inverse % group_order]
    total = multi_multiply(
        [1, x, -mu % group_order, (t_hat - final_a * final_b) * w % group_order,
         *pair_scalars, *g_scalars, *h_scalars],
        [*commitments, blinding_generator, value_generator, *pairs,
         *vector_generators(_label_g, total_bits), *vector_generators(_label_h, total_bits)])
    return total == identity
