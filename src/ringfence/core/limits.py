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
# How deep any JSON document read from outside may nest (arrays and objects within each other).
# Ours nest four deep at most (a request body, its batch, a transfer, its flags). The JSON
# reader recurses once per level on the C stack, and an interpreter whose recursion limit a
# library raised lets a deep enough document overflow that stack and kill the process: this
# bound is checked before parsing, far below any recursion limit.
json_depth_max: Final = 64

# A transfer's metadata (core/ledger/metadata.py): a few short keys naming what the transfer
# refers to outside the ledger (a chain txid, an external reference, a memo), each with one
# value, part of the transfer's journaled body. Keys are 1-32 of ``a-z 0-9 _ . -`` starting with
# a letter; values are 1-256 bytes of UTF-8; the whole canonical encoding is at most 1 KiB, so a
# full batch carries at most about 8 MiB of it. A list filters by at most a few pairs.
metadata_keys_max: Final = 8
metadata_key_length_max: Final = 32
metadata_value_bytes_max: Final = 256
metadata_bytes_max: Final = 1_024
metadata_filters_max: Final = 4

# Canonical journal record widths (bytes).
transfer_record_bytes: Final = 128
expiry_record_bytes: Final = 32
# A journal batch is one hash-chain link; it carries at most one batch of events plus the
# pending transfers that expire at its timestamp.
journal_records_per_batch_max: Final = 1_000_000
# Balances are written as a checkpoint at most this many batches apart (replay is cheap).
checkpoint_interval_batches_max: Final = 1_024
# Past reads (as_of) start from the nearest snapshot of the past the service keeps in memory
# (service/ledger/past.py): one taken every this many replayed transfers (a full batch: a read
# replays at most about one entry), at most this many, holding at most this many rows
# (balances and pending transfers, about 200 bytes each) in all.
as_of_snapshot_transfers: Final = 8_189
as_of_snapshots_max: Final = 256
as_of_snapshot_rows_max: Final = 1_000_000
# The snapshots of the past persisted beside the ledger (service/ledger/past_seal.py): a load
# reads at most this many bytes of their bodies, in all, and none bigger (a snapshot within
# the rows bound holds at most 80 bytes a balance, with room left for breaks and reversal
# totals; one bigger is never written, so only a body someone else wrote is left out).
as_of_snapshot_bytes_max: Final = 128 * 2**20
# Writing them is derived work a past read does on the side: on SQLite it waits at most this
# long for another writer, then leaves them for a later read.
as_of_persist_busy_ms: Final = 100

# Principals (core/principals/records.py): the people and systems that may authorise a movement,
# each with an Ed25519 key, numbered u32 in journal records. Evidence (an authorising principal's
# number and signature) follows a transfers entry's records, one fixed-width record each.
principals_max: Final = 1_000_000
ed25519_public_key_bytes: Final = 32
ed25519_seed_bytes: Final = 32
ed25519_signature_bytes: Final = 64
evidence_record_bytes: Final = 80
# The canonical instruction an authoriser signs, and an admin's endorsement of a principal.
authorisation_message_bytes: Final = 208
endorsement_message_bytes: Final = 224
# The canonical approval instruction an approver signs (core/principals/approval.py).
approval_message_bytes: Final = 160

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

# A batch refused because another process appended first is decided again after a pause that
# starts at the minimum and doubles up to the maximum (each drawn at random from its upper
# half, so that writers stop colliding); the writer gives up only after conflicts for this
# long. Each conflict means another writer committed, so the ledger as a whole moves on.
head_conflict_backoff_ns_min: Final = 1_000_000
head_conflict_backoff_ns_max: Final = 100_000_000
head_conflict_wait_ns_max: Final = 60_000_000_000

# Results of a stream (service/streams.py) decided before the engine sees them (refused lines,
# chains refused whole) held back at most while the batch they travel with fills.
stream_results_held_max: Final = 8 * batch_events_max

# Custody: registry. Wallets get u32 numbers in journal records; addresses are ASCII of at most
# 90 characters (the longest bech32 string); extended public keys are 111 base58 characters.
wallets_max: Final = 1_000_000
addresses_max: Final = 100_000_000
address_length_max: Final = 90
wallet_key_length_max: Final = 111
# BIP32 non-hardened child indexes: 0 .. 2^31 - 1.
derivation_index_max: Final = 2**31 - 1
# Holdings and inflows: a block height far beyond any chain's; a chain reference is at most a
# 32-byte hash in hex with its 0x, a colon and an output or log index.
block_height_max: Final = 2**40
chain_reference_length_max: Final = 2 + 64 + 1 + 10

# Custody: addresses. Addresses one derivation request may ask for (core/custody/addresses.py;
# the index bound is derivation_index_max above, the key's text wallet_key_length_max): about
# half a minute of work and 100 MB of strings on one core.
derivation_count_max: Final = 1_000_000
assert derivation_count_max <= derivation_index_max + 1

# Proof of liabilities (core/por/). Every leaf and node sum is a u64 in proof units; a
# client's balance is split into 2 to 4 pieces; trees get 3 levels of slack over the pieces
# they hold; a client's pieces share one neighbourhood of 2^10 slots, so their paths share
# the top of the tree (proofs stay under 4 KB at 10^7 clients).
proof_value_max: Final = 2**64 - 1
proof_tree_height_max: Final = 48
proof_pieces_min: Final = 2
proof_pieces_max: Final = 4
proof_height_slack_levels: Final = 3
proof_neighbourhood_levels: Final = 10
# A client's identifier as a format 3 leaf binds it (UTF-8 bytes): a client id, or the hex of
# a hash of an e-mail address, fits many times over.
proof_client_id_bytes_max: Final = 255
proof_snapshot_ns_max: Final = 253_402_300_800 * 10**9  # the year 10000, as verifier.py
# Clients owed one asset in one round: 10^8 fit (built with bounded memory by the spilled
# build, adapters/por_spill.py; the in-memory build needs about 0.45 GB per million).
proof_entries_max: Final = 2**27
# Leaves one subtree job holds: bounds its memory (about 400 B per leaf) and keeps its arrays
# small enough that the allocator reuses them (2^20 spent a third of the CPU in the kernel).
proof_subtree_leaves_max: Final = 2**16
assert proof_entries_max * proof_pieces_max * 2**proof_height_slack_levels <= 2**33
assert proof_tree_height_max < 256  # one byte in the node hash
assert proof_entries_max < 2**32  # client numbers are u32
# Private mode (core/por/private.py): every tree has this height whatever its clients, so a
# proof says nothing of their number; one aggregated range proof covers a path's siblings
# (m = 32 values of 64 bits).
proof_private_height: Final = 32
proof_private_clients_max: Final = 2**26
assert proof_private_clients_max <= 2**proof_private_height
# The aggregated range proof pads its values to a power of two; a proof's size is computed
# from the height itself (core/por/private.py), so the height must be one.
assert proof_private_height & (proof_private_height - 1) == 0

# Custody: holdings files (UTXO snapshots, custodian statements). A file is read whole and
# parsed in memory (at the peak about 1 KiB per row, measured), so it is bounded in bytes and
# rows; a UTXO snapshot row is at most 201 bytes, a statement row 215 and a header line 256.
holdings_file_bytes_max: Final = 2**29
holdings_file_rows_max: Final = 5_000_000
holdings_header_lines_max: Final = 16
holdings_line_bytes_max: Final = 256
# Bitcoin: an output index is a u32; no amount in a snapshot is 2^64 sats or more (Bitcoin
# Core's amounts are 64-bit), nor more than all bitcoins that will ever exist.
bitcoin_vout_max: Final = 2**32 - 1
bitcoin_supply_sats_max: Final = 21_000_000 * 100_000_000
assert bitcoin_supply_sats_max < 2**64

# Custody: Ethereum JSON-RPC (adapters/chains/ethereum.py). Requests in one JSON-RPC batch;
# watched addresses in one eth_getLogs topic filter (nodes cap filter sizes); blocks one inflow
# scan covers (each is fetched with its transactions, about 200 on mainnet); confirmations a
# source may wait for (a day of Ethereum blocks is about 7,200).
ethereum_rpc_batch_requests_max: Final = 500
ethereum_log_filter_addresses_max: Final = 1_000
ethereum_scan_blocks_max: Final = 1_000
ethereum_confirmations_max: Final = 10_000
# Proof of control (core/custody/control.py): a round id is at most 64 characters (a round hash
# in hex); a signature's text at most 1,024 (a BIP-322 simple P2WPKH signature is about 144
# base64 characters, an EIP-191 one 132 hex digits); a verifier accepts challenges naming one
# of at most 1,024 recent block hashes; a signed challenge text is at most 512 characters
# (core/custody/control.py asserts its longest fits).
control_round_id_length_max: Final = 64
control_signature_length_max: Final = 1_024
control_recent_blocks_max: Final = 1_024
control_message_length_max: Final = 512
# A control key file's extended private key is searched for an address on both branches up to
# this index (adapters/control_keys.py; about half a millisecond an index): a signer for a
# wallet that derives further holds each address's own key instead.
control_key_search_index_max: Final = 2_000
# Key files one `por sign` takes, and the challenges file it reads (one per address at most).
control_key_files_max: Final = 64

# Insolvency (core/insolvency/): a scenario file is read whole and parsed in memory, so it is
# bounded in bytes; each of its lists (hacks, losses, breaches, loans, displayed transfers) in
# entries; the preference window is at most ten years of days. Clients one simulation covers
# bound its tables (about 1 KB of Python objects per client and asset).
scenario_file_bytes_max: Final = 2**24
scenario_entries_max: Final = 100_000
preference_window_days_max: Final = 3_650
insolvency_clients_max: Final = 10_000_000

# Reconciliation (core/recon/): coverage lines one run journals in full (beyond, only lines
# with an alert); the text an operator attaches to a break action is bounded by its record
# (core/recon/codec.py); observation, price and settings files are read whole; a client
# statement's period is at most ten years.
recon_coverage_lines_journaled_max: Final = 100_000
recon_file_bytes_max: Final = 2**29
statement_period_days_max: Final = 3_660

# A proof-of-reserves control file: a signature per client-designated address, at most.
control_file_bytes_max: Final = 256 * 2**20

# The 70-line rule for functions is checked by tools/tidy.py, not here.

assert amount_units_max == id_max
assert asset_scale_max < len(str(amount_units_max))
assert amount_text_length_max > len(str(amount_units_max)) + 1
assert batch_events_max * transfer_record_bytes < 2**20
assert batch_events_max < journal_records_per_batch_max
assert timeout_seconds_max * 10**9 < timestamp_ns_max
assert as_of_snapshot_rows_max * 80 < as_of_snapshot_bytes_max
assert name_length_max <= 32
assert bucket_name_length_max + len("collateral:") <= name_length_max
assert quantity_lots_max < 2**53
assert wallets_max < 2**32
assert 0 < head_conflict_backoff_ns_min <= head_conflict_backoff_ns_max < head_conflict_wait_ns_max
assert principals_max < 2**32
assert journal_records_per_batch_max < 2**24  # evidence records per entry: a u24

# Liquidation (core/liquidation/plan.py): buckets one plan may liquidate, and the bound on the
# int64 products of the vectorised path (lots x lot value x rate); anything larger is planned
# with exact Python integers instead.
liquidations_per_plan_max: Final = 1_000_000
liquidation_vector_product_max: Final = 2**62

# Risk (service/risk.py): a market's accounts are named ``clearing:<symbol>`` and
# ``insurance:<symbol>``, within an account name's length.
instrument_symbol_length_max: Final = name_length_max - len("insurance:")
# The synthetic venue (``ringfence risk venue``): buckets it may open.
venue_buckets_max: Final = 300_000
# The venue's book in the journal (core/venue/codec.py): a position's exact basis (numerator
# and denominator bytes; a basis past it is a programming error: prices are below 2^63, so a
# basis settled at a mark needs a few dozen bytes), and the risk configuration's JSON text.
position_basis_bytes_max: Final = 4_096
tier_schedule_name_length_max: Final = 16  # an instrument's tier schedule, by name
venue_config_bytes_max: Final = 65_536
# Fills a REST request may carry (one fee chain: at most one ledger batch).
fills_per_request_max: Final = batch_events_max


# Reconciliation and custody, continued. The text an operator attaches to a break action fills
# its field of the 128-byte action record (core/recon/codec.py).
break_action_text_bytes_max: Final = 94

# The demo (demo/): client names carry six digits (c000001); below the minimum some scenes of
# the day would lack a cast. The CLI bounds ``ringfence demo --clients`` with these.
demo_clients_min: Final = 10
demo_clients_max: Final = 999_999
assert demo_clients_max < 10**6
# The demo registers its wallets and addresses in chunks of this many registry changes: one
# journal entry each, well inside a request's bound.
demo_registry_changes_per_request_max: Final = 10_000
assert demo_registry_changes_per_request_max <= definitions_per_request_max
# Clients listed in the table of ``ringfence insolvency simulate`` (its JSON lists them all).
insolvency_clients_shown_max: Final = 20

# Proof of reserves (core/por, service/por.py): a proof unit is at most this many decimals of
# the major unit (gwei for ETH); an audit verifies at most this many sampled proofs.
proof_unit_decimals_max: Final = 9
proof_audit_sample_size_max: Final = 100_000

# Batch runs (core/batch.py, service/batch.py): a task reads the client accounts of at most
# this many client numbers (about 200 B a row in the task while it sums them); the default
# keeps a 10M-client ledger in 40 tasks, enough to spread over a few dozen workers. A local
# cluster (``dask-local:N``) starts at most this many worker processes.
batch_range_clients_max: Final = 2**20
batch_range_clients_default: Final = 2**18
assert batch_range_clients_default <= batch_range_clients_max
batch_local_workers_max: Final = 64
# A risk scan's task scans this many buckets (their positions and the instrument arrays travel
# with it): a venue of a million buckets in 61 tasks.
batch_range_buckets_default: Final = 2**14


# Regulatory reports (core/regulatory/): the sub-custodian register, insurance policies, haircuts
# and margin requirements are files read whole, so each is bounded in bytes and in entries; a
# SOC report older than a year at the as-of time no longer supports a sub-custodian's approval
# (the annual due diligence of the SEC's Sep 2025 no-action position); haircuts are basis points
# of value, at most all of it; report values are in the quote currency's minor units at a scale
# of at most ``price_scale_max``.
regulatory_file_bytes_max: Final = 2**24
regulatory_entries_max: Final = 100_000
soc_report_age_days_max: Final = 365
haircut_bps_max: Final = 10_000
assert regulatory_file_bytes_max <= recon_file_bytes_max


# The service (``ringfence serve``, entrypoints/api/). A request body holds at most one batch of
# transfers written as JSON objects of at most one JSONL line each, plus the envelope around
# them; anything larger is refused (413) before it is parsed.
api_request_envelope_bytes_max: Final = 4_096
api_request_body_bytes_max: Final = (
    batch_events_max * (jsonl_line_bytes_max + 2) + api_request_envelope_bytes_max
)
# Lists are read a page at a time; a cursor is the last item's decimal timestamp or id.
api_page_size_default: Final = 100
api_page_size_max: Final = 1_000
api_cursor_length_max: Final = 40
# Addresses one API request derives and assigns (``POST /v1/wallets/{name}/addresses``): the
# derivation runs under the service's one lock, about 30 ms per thousand.
api_addresses_assigned_max: Final = 1_000
# API keys (service/keys.py): how many a firm may have (revoked ones count), the length of a
# presented key (longer is refused before any hashing), and how many successful verifications
# are remembered so that argon2 runs once per key and process, not once per request.
api_keys_max: Final = 100_000
api_key_length_max: Final = 128
api_key_verifications_cached_max: Final = 10_000
# OIDC/JWT bearer tokens (core/access/tokens.py): a presented token's length (longer is refused
# before any parsing), the clock skew allowed on exp, nbf and iat, the longest lifetime a token
# may claim (a token valid for a year is a password, not a session), the key set's size in bytes
# and keys, and how often an unknown key id may make the server read the key set again.
token_length_max: Final = 16_384
token_leeway_s_max: Final = 300
token_lifetime_s_max: Final = 24 * 3600
token_key_set_bytes_max: Final = 1_048_576
token_key_set_keys_max: Final = 100
token_key_set_refresh_s_min: Final = 60
# Tokens revoked before their exp (core/access/revocations.py): the list's size in bytes and
# entries, the longest jti it holds (as long as a claim a refusal quotes), and the most digits
# of a revoked_at in Unix seconds (int() of more is slow, and past 4300 refused by Python).
token_revocations_bytes_max: Final = 4 * 1_048_576
token_revocations_max: Final = 100_000
token_id_length_max: Final = 256
token_revoked_at_digits_max: Final = 20
assert len(str(timestamp_ns_max // 10**9)) <= token_revoked_at_digits_max
assert token_leeway_s_max < token_lifetime_s_max
# Idempotency-Key header values and the responses remembered for replay, per server process.
idempotency_key_length_max: Final = 255
idempotency_responses_max: Final = 10_000
# The console and the portal (entrypoints/pages/): signed-in sessions held by the server (its
# memory: a restart signs everyone out), each ending after a quiet spell and in any case after
# a working day; a form's body is a few short fields, refused whole beyond this size.
console_sessions_max: Final = 10_000
console_session_idle_s_max: Final = 30 * 60
console_session_lifetime_s_max: Final = 12 * 3600
console_form_bytes_max: Final = 16_384
console_form_fields_max: Final = 16
assert console_session_idle_s_max <= console_session_lifetime_s_max
assert console_form_bytes_max < api_request_body_bytes_max
# Events and webhooks (core/events/): subscriptions a firm may have, the event types one may
# name, a receiver's URL, the error text kept of a failed delivery, how long a delivery may
# take, how many events one pass of the delivery worker sends per subscription, and how many
# events one read examines at most (a reader's page or a worker's pass goes on from where it
# stopped).
webhook_subscriptions_max: Final = 1_000
webhook_types_max: Final = 64
webhook_url_length_max: Final = 2_048
webhook_error_text_max: Final = 200
webhook_delivery_timeout_s: Final = 10
webhook_events_per_pass_max: Final = 1_000
events_examined_max: Final = 100_000
# An admin's replay retries its compare-and-set this often against the worker's progress.
webhook_update_attempts_max: Final = 8
assert api_request_body_bytes_max < 2**26
assert api_page_size_default <= api_page_size_max
assert len(str(id_max)) <= api_cursor_length_max

# Reports (the CLI): the rejected lines a table lists after a JSON-lines file (the JSON document
# lists every line), and the problems an audit reports before it stops listing them.
rejections_shown_max: Final = 50
audit_problems_max: Final = 100
# Ids a store looks up per statement (PostgreSQL): a batch refers to at most 8,189, a
# checkpoint's pending transfers to more.
store_lookup_ids_max: Final = 50_000

# Spends (core/custody/spends.py): a Bitcoin spend takes at most this many of its pool's outputs
# (a standard transaction stays under 100 kvB: 500 vault inputs are about 52 kvB); fee rates
# are whole satoshis per 1,000 vB, at most 10,000 sat/vB (a rate past that is a typing error,
# not a market); an Ethereum spend's gas limit is at most a block's 30M, and a token transfer's
# estimate gets a quarter more headroom, as wallets do.
spend_inputs_max: Final = 500
bitcoin_fee_rate_sat_per_kvb_max: Final = 10_000_000
bitcoin_dust_sats: Final = 546
ethereum_gas_limit_max: Final = 30_000_000
ethereum_gas_headroom_percent: Final = 25
spend_confirmations_max: Final = 1_000
# Withdrawal policy (core/policy/): a policy document is JSON read whole, journaled in chunks;
# its rules, groups and whitelist are bounded so that a decision stays a few milliseconds and a
# decision's trace fits its journal entry. Governance's time-lock may be long, never unbounded.
policy_document_bytes_max: Final = 2**20
policy_rules_max: Final = 10_000
policy_groups_max: Final = 100
policy_group_members_max: Final = 64
policy_whitelist_entries_max: Final = 100_000
policy_list_items_max: Final = 1_000  # names, assets or roles a condition lists
policy_versions_max: Final = 100_000
policy_time_lock_s_max: Final = 90 * 86_400
policy_window_s_max: Final = 366 * 86_400
policy_approvals_max: Final = policy_group_members_max
policy_trace_lines_journaled_max: Final = 256
policy_trace_line_bytes_max: Final = 111
# R2 (CFTC 2013): withdrawals of residual interest above 25% of the prior day's residual
# interest, in one day, need the named senior approvals and a notice; a policy may be stricter.
residual_daily_share_ppm_max: Final = 250_000
# Withdrawals (core/withdrawals/): destination addresses (a bech32 address is at most 90
# characters), chain references (a spend's digest, a transaction id) and the default time an
# awaiting withdrawal waits for its approvals before it expires.
withdrawal_destination_bytes_max: Final = 90
withdrawal_reference_bytes_max: Final = 80
withdrawal_approval_timeout_s_default: Final = 86_400
withdrawal_confirmations_max: Final = 1_000
withdrawal_confirmations_default: Final = 6  # blocks before a withdrawal is posted
assert policy_trace_line_bytes_max + 17 == 128
