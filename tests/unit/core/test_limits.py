"""core/limits.py: the bounds the rest of the code relies on, and how they relate."""

from __future__ import annotations

from ringfence.core import limits
from ringfence.core.ledger.journal import header_bytes


def test_amounts_and_ids_are_unsigned_128_bit() -> None:
    assert limits.amount_units_max == 2**128 - 1
    assert limits.id_max == 2**128 - 1


def test_the_finest_scale_still_leaves_one_whole_unit() -> None:
    # 10^38 < 2^128 < 10^39: a u128 holds one whole unit at scale 38, not at 39.
    assert 10**limits.asset_scale_max <= limits.amount_units_max
    assert 10 ** (limits.asset_scale_max + 1) > limits.amount_units_max


def test_the_longest_valid_amount_text_fits_the_text_limit() -> None:
    longest = f"{limits.amount_units_max}." + "0" * limits.asset_scale_max
    assert len(longest) <= limits.amount_text_length_max


def test_a_full_batch_fits_one_journal_entry_of_about_a_megabyte() -> None:
    body = header_bytes + limits.batch_events_max * limits.transfer_record_bytes
    assert body < 2**20
    assert limits.batch_events_max < limits.journal_records_per_batch_max


def test_the_longest_timeout_cannot_overflow_a_timestamp() -> None:
    assert limits.timeout_seconds_max == 2**32 - 1
    assert limits.timeout_seconds_max * 10**9 < limits.timestamp_ns_max


def test_a_full_batch_of_the_longest_lines_fits_one_request_body() -> None:
    # Each transfer object at most one JSONL line, a comma and a space between them.
    longest_batch = limits.batch_events_max * (limits.jsonl_line_bytes_max + 2)
    assert longest_batch + len('{"transfers": []}') <= limits.api_request_body_bytes_max
    assert limits.api_page_size_default <= limits.api_page_size_max
