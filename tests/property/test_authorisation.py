"""Property: no single-bit change of a signed instruction keeps its signature valid.

Whatever the instruction (any ids, accounts, amounts and flags in range, any principal name,
any ledger), flipping any one of its 1,664 bits, or any one bit of any field of the transfer
it came from, or any bit of the signature, makes verification fail.
"""

from __future__ import annotations

from dataclasses import replace

from hypothesis import given, settings
from hypothesis import strategies as st

from ringfence.core import limits
from ringfence.core.ledger.model import Transfer, TransferCode, TransferFlags
from ringfence.core.principals.authorisation import (
    instruction_message,
    public_key_of,
    sign,
    signature_verifies,
    transfer_instruction,
)

u128 = st.integers(0, 2**128 - 1)
names = st.from_regex(r"[a-z0-9][a-z0-9_.:-]{0,31}", fullmatch=True)
instructions = st.fixed_dictionaries(
    {
        "principal": names,
        "transfer_id": u128,
        "debit_account": u128,
        "credit_account": u128,
        "amount": u128,
        "pending_id": u128,
        "reference": u128,
        "timeout_s": st.integers(0, 2**32 - 1),
        "asset": st.integers(0, 2**32 - 1),
        "code": st.integers(0, 2**16 - 1),
        "flags": st.integers(0, 2**16 - 1),
    }
)
seeds = st.binary(min_size=32, max_size=32)
ledgers = st.binary(min_size=32, max_size=32)


@settings(max_examples=300, deadline=None)
@given(seeds, ledgers, instructions, st.integers(0, limits.authorisation_message_bytes * 8 - 1))
def test_a_bit_flipped_in_the_message_voids_the_signature(
    seed: bytes, ledger: bytes, fields: dict[str, object], bit: int
) -> None:
    message = instruction_message(ledger, **fields)  # type: ignore[arg-type]
    signature = sign(seed, message)
    assert signature_verifies(public_key_of(seed), message, signature)
    flipped = bytearray(message)
    flipped[bit // 8] ^= 1 << (bit % 8)
    assert not signature_verifies(public_key_of(seed), bytes(flipped), signature)


@settings(max_examples=300, deadline=None)
@given(seeds, ledgers, st.data())
def test_a_bit_flipped_in_any_field_of_the_transfer_voids_the_signature(
    seed: bytes, ledger: bytes, data: st.DataObject
) -> None:
    transfer = Transfer(
        data.draw(st.integers(1, 2**128 - 1)),
        data.draw(st.integers(1, 2**128 - 1)),
        data.draw(st.integers(1, 2**128 - 1)),
        data.draw(st.integers(1, 2**128 - 1)),
        TransferCode.internal_transfer,
        TransferFlags(data.draw(st.integers(0, 15))),
        0,
        data.draw(st.integers(0, 2**32 - 1)),
        data.draw(u128),
        data.draw(names),
    )
    asset = data.draw(st.integers(1, 2**32 - 1))
    signature = sign(seed, transfer_instruction(ledger, transfer, asset))
    widths = {
        "id": 128,
        "debit_account": 128,
        "credit_account": 128,
        "amount": 128,
        "pending_id": 128,
        "reference": 128,
        "timeout_s": 32,
        "flags": 4,
        "asset": 32,
        "ledger": 256,
    }
    field = data.draw(st.sampled_from(sorted(widths)))
    bit = 1 << data.draw(st.integers(0, widths[field] - 1))
    changed_ledger, changed_asset, changed = ledger, asset, transfer
    if field == "ledger":
        changed_ledger = (int.from_bytes(ledger, "big") ^ bit).to_bytes(32, "big")
    elif field == "asset":
        changed_asset = asset ^ bit
    elif field == "flags":
        changed = replace(transfer, flags=TransferFlags(int(transfer.flags) ^ bit))
    else:
        changed = replace(transfer, **{field: getattr(transfer, field) ^ bit})
    message = transfer_instruction(changed_ledger, changed, changed_asset)
    assert not signature_verifies(public_key_of(seed), message, signature)


@settings(max_examples=200, deadline=None)
@given(seeds, ledgers, instructions, st.integers(0, limits.ed25519_signature_bytes * 8 - 1))
def test_a_bit_flipped_in_the_signature_voids_it(
    seed: bytes, ledger: bytes, fields: dict[str, object], bit: int
) -> None:
    message = instruction_message(ledger, **fields)  # type: ignore[arg-type]
    signature = bytearray(sign(seed, message))
    signature[bit // 8] ^= 1 << (bit % 8)
    assert not signature_verifies(public_key_of(seed), message, bytes(signature))
