"""BIP173/BIP350 checksum primitives shared by address derivation (``addresses``) and
address validation (``snapshots``): one implementation, so what the firm derives and what it
accepts can never drift apart.

The checksum state is linear in its bits, so the generator's feedback is precomputed: one
table lookup per character, or per pair of characters (a 1,024-entry table), instead of five
conditional XORs.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Final

charset: Final = "qpzry9x8gf2tvdw0s3jn54khce6mua7l"
values: Final = {character: value for value, character in enumerate(charset)}
bech32_constant: Final = 1  # witness version 0 (BIP173)
bech32m_constant: Final = 0x2BC830A3  # witness versions 1 and up (BIP350)
_generators: Final = (0x3B6A57B2, 0x26508E6D, 0x1EA119FA, 0x3D4233DD, 0x2A1462B3)


def generator_table(steps: int) -> tuple[int, ...]:
    """What the top ``5 * steps`` bits of the checksum state feed back after ``steps`` steps:
    the BCH generator applied for each bit shifted out, precomputed."""
    table = []
    for top in range(32**steps):
        state = top << (30 - 5 * steps)
        for _ in range(steps):
            feedback = state >> 25
            state = (state & 0x1FFFFFF) << 5
            for bit, generator in enumerate(_generators):
                if (feedback >> bit) & 1:
                    state ^= generator
        table.append(state)
    return tuple(table)


generator_xor: Final = generator_table(1)
generator_xor_pair: Final = generator_table(2)


def polymod(state: int, data: Sequence[int]) -> int:
    """BIP173's checksum over ``data`` (5-bit values) from ``state``, two values per step."""
    pairs = generator_xor_pair
    if len(data) % 2:
        state = ((state & 0x1FFFFFF) << 5) ^ data[0] ^ generator_xor[state >> 25]
        data = data[1:]
    for high, low in zip(data[0::2], data[1::2], strict=True):
        state = ((state & 0xFFFFF) << 10) ^ (high << 5 | low) ^ pairs[state >> 20]
    return state


def hrp_state(human_readable_part: str) -> int:
    """The checksum state after the expanded human-readable part (BIP173)."""
    expanded = [ord(c) >> 5 for c in human_readable_part] + [0]
    expanded += [ord(c) & 31 for c in human_readable_part]
    return polymod(1, bytes(expanded))
