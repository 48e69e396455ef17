"""core/por/liabilities.py: proof units round up; a balance that is not an amount, or reaches
2^64 proof units, is refused."""

from __future__ import annotations

import pytest
from tests.unit.core.por.support import BTC, ETH, USDC, round_of

from ringfence.core.errors import InputError, Result
from ringfence.core.por.liabilities import proof_unit_exponent, to_proof_units


def test_proof_units_are_gwei_for_eth_and_sats_for_btc_rounding_up() -> None:
    assert proof_unit_exponent(ETH) == 9
    assert proof_unit_exponent(BTC) == 0
    assert proof_unit_exponent(USDC) == 0
    assert to_proof_units(1, ETH) == 1  # one wei owed counts as one gwei
    assert to_proof_units(10**9, ETH) == 1
    assert to_proof_units(10**9 + 1, ETH) == 2
    assert to_proof_units(0, ETH) == 0
    assert to_proof_units(12_345, BTC) == 12_345

def test_a_balance_of_2_64_proof_units_is_refused() -> None:
    with pytest.raises(InputError) as caught:
        round_of([(BTC, {"alice": 2**64})])
    assert caught.value.code is Result.overflows_balance
    round_of([(BTC, {"alice": 2**64 - 1})])  # the largest balance that fits

@pytest.mark.parametrize(
    ("balance", "code"),
    [(-1, Result.amount_must_not_be_negative), (1.5, Result.amount_must_not_be_float),
     (True, Result.amount_must_be_decimal_string)],
)
def test_a_balance_that_is_not_an_amount_is_refused(balance: object, code: Result) -> None:
    with pytest.raises(InputError) as caught:
        round_of([(BTC, {"alice": balance})])
    assert caught.value.code is code
