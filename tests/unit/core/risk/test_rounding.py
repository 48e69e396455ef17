"""core/risk/rounding.py: requirements round up, collateral values down, never otherwise."""

from __future__ import annotations

from fractions import Fraction

import numpy as np

from ringfence.core.risk.rounding import against_client, collateral_units, requirement_units


def test_requirements_round_up_and_collateral_down() -> None:
    values = np.array([0.0, 0.2, 1.0, 2.5, -2.5])  # float-ok: test values
    assert requirement_units(values).tolist() == [0, 1, 2, 3, -2]
    # An exact integer is pushed by the guard: a unit against the client, never for them.
    assert collateral_units(values).tolist() == [0, 0, 0, 2, -3]
    big = np.array([1e15 + 0.5])  # float-ok: test value
    assert 10**15 + 1 <= int(requirement_units(big)[0]) <= 10**15 + 1 + 10**15 // 2**40
    assert 10**15 - 10**15 // 2**40 - 1 <= int(collateral_units(big)[0]) <= 10**15


def test_large_values_become_python_integers() -> None:
    wei = np.array([5e19])  # float-ok: 50 ETH in wei
    result = requirement_units(wei)
    assert result.dtype == object
    assert int(result[0]) >= 5 * 10**19


def test_against_client_is_floor_for_gains_and_losses() -> None:
    assert against_client(Fraction(11, 2)) == 5
    assert against_client(Fraction(-11, 2)) == -6
    assert against_client(7) == 7
