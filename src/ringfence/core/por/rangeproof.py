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
_label_g: Final = b"bulletproofs-G"
_label_h: Final = b"bulletproofs-H"


def proof_bytes(bits: int = bits_default) -> int:
    """The size of a proof for ``bits``: 4 points, 3 scalars, the pairs (L, R), 2 scalars."""
    return 32 * (4 + 3 + 2 * (bits.bit_length() - 1) + 2)


def _start(transcript: Transcript, commitment: bytes, bits: int) -> None:
    transcript.append(b"protocol", b"ringfence/por/rangeproof/1")
    transcript.append(b"n", bits.to_bytes(4, "big"))
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


def _prove(
    value_bits: Sequence[int], value: int, blinding: int, transcript: Transcript, seed: bytes
) -> tuple[bytes, bytes]:
    """The protocol on the bits given; ``prove_range`` passes ``value``'s own. (The tests give
    it bits that are not ``value``'s, as a cheating prover would, and see the proof fail.)"""
    bits = len(value_bits)
    generators_g = vector_generators(_label_g, bits)
    generators_h = vector_generators(_label_h, bits)
    commitment = commit(value, blinding)
    _start(transcript, commitment, bits)
    rng = transcript.rng(seed, scalar_bytes(value) + scalar_bytes(blinding))
    alpha, rho, tau_1, tau_2 = rng.scalars(4)
    left_bits = [bit % group_order for bit in value_bits]
    right_bits = [(bit - 1) % group_order for bit in value_bits]
    # A = alpha·B~ + <a_L, G> + <a_R, H>, with a_L in {0, 1} and a_R = a_L - 1: additions only.
    a_commitment = multiply(alpha, blinding_generator)
    for bit, point_g, point_h in zip(value_bits, generators_g, generators_h, strict=True):
        a_commitment = add(a_commitment, point_g) if bit else subtract(a_commitment, point_h)
    blind_left, blind_right = rng.scalars(bits), rng.scalars(bits)
    s_commitment = add(multiply(rho, blinding_generator), multi_multiply(
        [*blind_left, *blind_right], [*generators_g, *generators_h]))
    transcript.append(b"A", a_commitment)
    transcript.append(b"S", s_commitment)
    y, z = transcript.challenge(b"y"), transcript.challenge(b"z")
    y_powers, two_powers = powers(y, bits), powers(2, bits)
    z_squared = z * z % group_order
    left_0 = [(bit - z) % group_order for bit in left_bits]
    right_0 = [(y_power * (bit + z) + z_squared * two) % group_order
               for y_power, bit, two in zip(y_powers, right_bits, two_powers, strict=True)]
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
    tau_x = (tau_2 * x * x + tau_1 * x + z_squared * blinding) % group_order
    mu = (alpha + rho * x) % group_order
    for label, scalar in ((b"tau_x", tau_x), (b"mu", mu), (b"t_hat", t_hat)):
        transcript.append_scalar(label, scalar)
    q_point = multiply(transcript.challenge(b"w"), value_generator)
    y_inverse_powers = powers(inverse(y), bits)
    generators_h_prime = [multiply(power, point)
                          for power, point in zip(y_inverse_powers, generators_h, strict=True)]
    pairs, final = _prove_inner_product(transcript, q_point, list(generators_g),
                                        generators_h_prime, (left, right))
    head = a_commitment + s_commitment + t1_commitment + t2_commitment
    scalars = b"".join(map(scalar_bytes, (tau_x, mu, t_hat)))
    return commitment, head + scalars + b"".join(pairs) + b"".join(map(scalar_bytes, final))


def _prove_inner_product(
    transcript: Transcript, q_point: bytes, generators_g: list[bytes],
    generators_h: list[bytes], vectors: tuple[list[int], list[int]],
) -> tuple[list[bytes], tuple[int, int]]:
    """Protocol 2: halve the vectors log2(n) times, sending L and R each time."""
    left, right = vectors
    pairs = []
    while len(left) > 1:
        half = len(left) // 2
        left_lo, left_hi, right_lo, right_hi = left[:half], left[half:], right[:half], right[half:]
        c_left, c_right = inner_product(left_lo, right_hi), inner_product(left_hi, right_lo)
        l_point = multi_multiply([*left_lo, *right_hi, c_left],
                                 [*generators_g[half:], *generators_h[:half], q_point])
        r_point = multi_multiply([*left_hi, *right_lo, c_right],
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
        generators_h = [add(multiply(u, lo), multiply(u_inverse, hi))
                        for lo, hi in zip(generators_h[:half], generators_h[half:], strict=True)]
    return pairs, (left[0], right[0])


# ---------------------------------------------------------------------- verifying


def _parse(proof: bytes, bits: int) -> tuple[list[bytes], list[int], list[bytes], list[int]]:
    """Points (A, S, T1, T2), scalars (τx, μ, t̂), the pairs (L, R) and the final scalars;
    ``ValueError`` for a wrong length, an invalid point or a non-canonical scalar."""
    if not isinstance(proof, bytes) or len(proof) != proof_bytes(bits):
        raise ValueError("a range proof of the wrong length")
    chunks = [proof[at : at + 32] for at in range(0, len(proof), 32)]
    rounds = bits.bit_length() - 1
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
    try:
        (commitment,) = points_of([commitment])
        head, (tau_x, mu, t_hat), pairs, (final_a, final_b) = _parse(proof, bits)
    except (NotAPointError, ValueError):
        return False
    a_commitment, s_commitment, t1_commitment, t2_commitment = head
    _start(transcript, commitment, bits)
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
    return _polynomial_holds(commitment, (t1_commitment, t2_commitment), (y, z, x),
                             (tau_x, t_hat), bits) and _inner_product_holds(
        (a_commitment, s_commitment), pairs, (y, z, x, w), (mu, t_hat, final_a, final_b),
        challenges, bits)


def _polynomial_holds(
    commitment: bytes, t_commitments: tuple[bytes, bytes], challenges: tuple[int, int, int],
    scalars: tuple[int, int], bits: int,
) -> bool:
    """t̂·B + τx·B~ = z²·V + δ(y, z)·B + x·T1 + x²·T2: t̂ is t(x) for a t0 made from v."""
    y, z, x = challenges
    tau_x, t_hat = scalars
    z_squared = z * z % group_order
    delta = ((z - z_squared) * sum(powers(y, bits)) - z_squared * z * (2**bits - 1)) % group_order
    return multi_multiply(
        [(t_hat - delta) % group_order, tau_x, -z_squared, -x, -x * x],
        [value_generator, blinding_generator, commitment, *t_commitments]) == bytes(32)


def _inner_product_holds(  # noqa: PLR0917 -- the protocol's parts, each named
    commitments: tuple[bytes, bytes], pairs: Sequence[bytes],
    challenges: tuple[int, int, int, int], scalars: tuple[int, int, int, int],
    u_challenges: Sequence[int], bits: int,
) -> bool:
    """The inner-product argument over P = A + x·S - z·<1, G> + <z·yⁿ + z²·2ⁿ, H'> - μ·B~,
    as one multi-scalar product that must vanish (H' = y⁻ⁱ·H)."""
    y, z, x, w = challenges
    mu, t_hat, final_a, final_b = scalars
    rounds = len(u_challenges)
    u_inverses = [inverse(u) for u in u_challenges]
    weights = []  # s_i: the product of u_j or its inverse, by the bits of i
    for index in range(bits):
        weight = 1
        for round_number in range(rounds):
            high = (index >> (rounds - 1 - round_number)) & 1
            weight = weight * (u_challenges[round_number] if high
                               else u_inverses[round_number]) % group_order
        weights.append(weight)
    y_inverse_powers, two_powers = powers(inverse(y), bits), powers(2, bits)
    z_squared = z * z % group_order
    g_scalars = [(-z - final_a * weight) % group_order for weight in weights]
    h_scalars = [(z + (z_squared * two - final_b * inverse(weight)) * y_inverse)
                 % group_order for weight, two, y_inverse
                 in zip(weights, two_powers, y_inverse_powers, strict=True)]
    pair_scalars = []
    for u, u_inverse in zip(u_challenges, u_inverses, strict=True):
        pair_scalars += [u * u % group_order, u_inverse * u_inverse % group_order]
    total = multi_multiply(
        [1, x, -mu % group_order, (t_hat - final_a * final_b) * w % group_order,
         *pair_scalars, *g_scalars, *h_scalars],
        [*commitments, blinding_generator, value_generator, *pairs,
         *vector_generators(_label_g, bits), *vector_generators(_label_h, bits)])
    return total == bytes(32)
