"""Every bound the ledger relies on, in one place.

Python integers have no width, so each bound here is asserted where it is used. The
relationships between bounds are asserted at import time, which stands in for the compile-time
checks a systems language would give us.
"""

from __future__ import annotations

from typing import Final

# Amounts and balances are unsigned 128-bit integers in the asset's minor unit (sats, wei).
amount_units_max: Final = 2**128 - 1
# Identifiers chosen by the caller (transfers, accounts) are unsigned 128-bit and never zero.
id_max: Final = 2**128 - 1
# The asset "ledger" number is a u32, as in TigerBeetle; zero is reserved for "none".
asset_number_max: Final = 2**32 - 1
# A u128 holds 38 full decimal digits, so no asset can usefully have a finer scale.
asset_scale_max: Final = 38
# Decimal strings longer than this cannot be valid amounts (39 digits, a point, 38 decimals).
amount_text_length_max: Final = 80

# One batch of events, as in TigerBeetle's message size for 128-byte transfers.
batch_events_max: Final = 8_189
# Pending timeouts are whole seconds in a u32.
timeout_seconds_max: Final = 2**32 - 1
# Timestamps are nanoseconds since the Unix epoch; they fit a signed 64-bit integer (as SQLite
# and PostgreSQL store them) until the year 2262.
timestamp_ns_max: Final = 2**63 - 1

# Names of clients, pools, wallets and house accounts: short, printable, fixed-width encodable.
name_length_max: Final = 32
# Accounts, pools and clients the CLI may create in one request.
definitions_per_request_max: Final = 100_000
# One JSONL line of a transfer file; anything longer is refused before parsing.
jsonl_line_bytes_max: Final = 4_096
# Lines a transfer file may hold (about 1,200 full batches).
jsonl_lines_max: Final = 10_000_000

# Canonical journal record widths (bytes).
transfer_record_bytes: Final = 128
expiry_record_bytes: Final = 32
# A journal batch is one hash-chain link; it carries at most one batch of events plus the
# pending transfers that expire at its timestamp.
journal_records_per_batch_max: Final = 1_000_000
# Balances are written as a checkpoint at most this many batches apart (replay is cheap).
checkpoint_interval_batches_max: Final = 1_024

# Risk. Each bound caps the size of an array the scan allocates or a loop the engine runs.
instruments_max: Final = 100_000
buckets_max: Final = 10_000_000
positions_per_bucket_max: Final = 1_024
scenarios_max: Final = 256
# Prices and contract sizes are integers with a decimal scale.
price_scale_max: Final = 18
# Lots in one position or one fill; far beyond any venue's size, far below float64's 2^53.
quantity_lots_max: Final = 10**15
# Returns one volatility estimate may be fed at once (twenty years of daily closes).
volatility_observations_max: Final = 7_300
# Orders a pre-trade check may add to one bucket.
orders_per_check_max: Final = 64
# Bucket names fit an account kind ``collateral:<bucket>`` of at most 32 characters.
bucket_name_length_max: Final = 21

# A batch refused because another process appended first is decided again at most this often.
head_conflict_retries_max: Final = 16

# The 70-line rule for functions is checked by tools/tidy.py, not here.

assert amount_units_max == id_max
assert asset_scale_max < len(str(amount_units_max))
assert amount_text_length_max > len(str(amount_units_max)) + 1
assert batch_events_max * transfer_record_bytes < 2**20
assert batch_events_max < journal_records_per_batch_max
assert timeout_seconds_max * 10**9 < timestamp_ns_max
assert name_length_max <= 32
assert bucket_name_length_max + len("collateral:") <= name_length_max
assert quantity_lots_max < 2**53
