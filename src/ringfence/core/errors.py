"""Result codes and the exception tree.

Rejections are values: every event in a batch gets exactly one ``Result`` that reads as a
sentence (``exceeds_available_balance``, ``client_to_house_forbidden``). Programmer errors are
assertions and are never caught. Exceptions are kept for what a caller cannot express as a
per-event result:

    RingfenceError
    ├── InputError          bad input outside a batch (a malformed file, an unknown asset, a
    │                       float where an amount belongs); carries a ``Result`` code
    ├── StorageError        the store could not do what was asked (unreachable, locked, full)
    │   └── HeadConflictError  another writer appended first; nothing was written
    │   └── SourceError     a holdings source (a chain node) did not answer, or answered
    │                       inconsistently; nothing was observed
    │   └── SnapshotMovedError  a batch task found the store at another journal entry than
    │                       the run's cut; nothing of the run was kept
    ├── ExecutorError       the batch executor lost its scheduler or its workers mid-run;
    │                       nothing of the run was kept
    └── IntegrityError      the store's contents contradict the journal (tampering, corruption)
        └── MalformedEntryError  a stored journal row is not a journal entry at all
        └── AuthorisationError  a journaled authorisation or endorsement is not valid evidence

One table (``error_reports``) maps every exception class to the code it is reported with, its
CLI exit status and its HTTP status (``error_code``, ``exit_status``, ``http_status``).

Length (over 500 lines, argued): ``Result`` is the catalogue of every code the system answers
with, kept as one list on purpose, so that a new code is seen beside its neighbours and no two
modules invent the same sentence.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum, unique


@unique
class Result(StrEnum):
    """What happened to one event. ``ok`` and ``exists`` are successes; all else is rejection."""

    ok = "ok"
    exists = "exists"

    # Linked chains.
    linked_event_failed = "linked_event_failed"
    linked_event_chain_open = "linked_event_chain_open"
    linked_chain_too_long = "linked_chain_too_long"

    # Shape of the event.
    event_must_be_a_transfer = "event_must_be_a_transfer"
    id_must_not_be_zero = "id_must_not_be_zero"
    id_must_be_below_2_128 = "id_must_be_below_2_128"
    id_must_be_integer = "id_must_be_integer"
    id_must_not_be_negative = "id_must_not_be_negative"
    flags_are_mutually_exclusive = "flags_are_mutually_exclusive"
    flag_unknown = "flag_unknown"
    code_unknown = "code_unknown"
    amount_must_not_be_zero = "amount_must_not_be_zero"
    amount_must_not_be_negative = "amount_must_not_be_negative"
    amount_must_be_below_2_128 = "amount_must_be_below_2_128"
    amount_must_not_be_float = "amount_must_not_be_float"
    amount_must_be_decimal_string = "amount_must_be_decimal_string"
    amount_finer_than_asset_scale = "amount_finer_than_asset_scale"
    amount_required = "amount_required"
    timeout_reserved_for_pending_transfer = "timeout_reserved_for_pending_transfer"
    timeout_too_large = "timeout_too_large"
    timeout_must_be_integer = "timeout_must_be_integer"
    timeout_must_not_be_negative = "timeout_must_not_be_negative"
    pending_id_must_be_zero = "pending_id_must_be_zero"
    pending_id_required = "pending_id_required"
    pending_id_must_be_different = "pending_id_must_be_different"
    pending_id_must_be_u128 = "pending_id_must_be_u128"
    debit_account_must_be_u128 = "debit_account_must_be_u128"
    credit_account_must_be_u128 = "credit_account_must_be_u128"
    reference_must_be_u128 = "reference_must_be_u128"
    reference_required = "reference_required"
    pending_not_allowed_for_code = "pending_not_allowed_for_code"
    authorisation_must_be_empty = "authorisation_must_be_empty"
    name_invalid = "name_invalid"
    # A transfer's metadata (core/ledger/metadata.py): a key or value that is not well formed,
    # or more of it than the limits allow.
    metadata_invalid = "metadata_invalid"
    metadata_too_large = "metadata_too_large"
    field_unknown = "field_unknown"
    field_required = "field_required"
    line_malformed = "line_malformed"
    line_too_long = "line_too_long"
    json_nested_too_deeply = "json_nested_too_deeply"
    batch_too_large = "batch_too_large"
    batch_empty = "batch_empty"

    # Accounts.
    accounts_must_be_different = "accounts_must_be_different"
    debit_account_not_found = "debit_account_not_found"
    credit_account_not_found = "credit_account_not_found"
    accounts_must_have_same_asset = "accounts_must_have_same_asset"
    asset_does_not_match_accounts = "asset_does_not_match_accounts"
    asset_not_found = "asset_not_found"

    # Two-phase transfers.
    pending_transfer_not_found = "pending_transfer_not_found"
    pending_transfer_not_pending = "pending_transfer_not_pending"
    pending_transfer_already_posted = "pending_transfer_already_posted"
    pending_transfer_already_voided = "pending_transfer_already_voided"
    pending_transfer_expired = "pending_transfer_expired"
    pending_transfer_has_different_debit_account = "pending_transfer_has_different_debit_account"
    pending_transfer_has_different_credit_account = (
        "pending_transfer_has_different_credit_account"
    )
    pending_transfer_has_different_code = "pending_transfer_has_different_code"
    exceeds_pending_transfer_amount = "exceeds_pending_transfer_amount"
    void_amount_must_match_pending_amount = "void_amount_must_match_pending_amount"

    # Balances.
    exceeds_available_balance = "exceeds_available_balance"
    exceeds_wallet_holdings = "exceeds_wallet_holdings"
    exceeds_house_balance = "exceeds_house_balance"
    overflows_balance = "overflows_balance"

    # Segregation.
    client_to_house_forbidden = "client_to_house_forbidden"
    house_to_client_forbidden = "house_to_client_forbidden"
    cross_pool_forbidden = "cross_pool_forbidden"
    segregation_rule_missing = "segregation_rule_missing"
    pool_terms_forbid_code = "pool_terms_forbid_code"
    owners_must_match = "owners_must_match"
    owners_must_differ = "owners_must_differ"
    authorisation_required = "authorisation_required"
    authorisation_not_by_debit_client = "authorisation_not_by_debit_client"
    # Authorisation evidence (core/principals/authorisation.py): the authoriser is a registered
    # principal whose Ed25519 signature over the canonical instruction verifies with its active key.
    authorisation_signature_required = "authorisation_signature_required"
    authorisation_signature_invalid = "authorisation_signature_invalid"
    authorisation_malformed = "authorisation_malformed"
    authoriser_has_no_key = "authoriser_has_no_key"
    authoriser_revoked = "authoriser_revoked"
    pool_coverage_would_break = "pool_coverage_would_break"

    # References (reversals and break cures).
    reversed_transfer_not_found = "reversed_transfer_not_found"
    reversal_must_swap_accounts = "reversal_must_swap_accounts"
    reversal_exceeds_transfer_amount = "reversal_exceeds_transfer_amount"
    reversal_of_pending_transfer_forbidden = "reversal_of_pending_transfer_forbidden"
    break_not_found = "break_not_found"
    break_cure_must_match_break = "break_cure_must_match_break"
    break_cure_exceeds_break_amount = "break_cure_exceeds_break_amount"

    # Idempotency: the same id with another body names the first field that differs.
    exists_with_different_flags = "exists_with_different_flags"
    exists_with_different_debit_account = "exists_with_different_debit_account"
    exists_with_different_credit_account = "exists_with_different_credit_account"
    exists_with_different_amount = "exists_with_different_amount"
    exists_with_different_pending_id = "exists_with_different_pending_id"
    exists_with_different_reference = "exists_with_different_reference"
    exists_with_different_timeout = "exists_with_different_timeout"
    exists_with_different_code = "exists_with_different_code"
    exists_with_different_authorisation = "exists_with_different_authorisation"
    exists_with_different_asset = "exists_with_different_asset"
    exists_with_different_metadata = "exists_with_different_metadata"

    # The journal key (core/ledger/authenticity.py): a writer needs the key the journal declares.
    journal_key_missing = "journal_key_missing"
    journal_key_mismatch = "journal_key_mismatch"
    journal_key_exists = "journal_key_exists"
    journal_key_invalid = "journal_key_invalid"
    published_head_invalid = "published_head_invalid"

    # Definitions (assets, pools, clients, accounts).
    definition_exists_with_different_body = "definition_exists_with_different_body"
    pool_not_found = "pool_not_found"
    client_not_found = "client_not_found"
    client_not_in_pool = "client_not_in_pool"
    individual_pool_has_one_client = "individual_pool_has_one_client"
    account_class_requires_pool = "account_class_requires_pool"
    account_class_forbids_pool = "account_class_forbids_pool"
    account_kind_invalid = "account_kind_invalid"
    account_class_invalid = "account_class_invalid"
    pool_kind_invalid = "pool_kind_invalid"
    pool_terms_invalid = "pool_terms_invalid"
    pool_purpose_invalid = "pool_purpose_invalid"
    asset_scale_invalid = "asset_scale_invalid"
    asset_number_invalid = "asset_number_invalid"

    # Principals (core/principals/records.py): who may authorise, with which key; every change but
    # the first admin's registration is endorsed by an active admin.
    principal_not_found = "principal_not_found"
    principal_role_unknown = "principal_role_unknown"
    principal_key_invalid = "principal_key_invalid"
    principal_key_in_use = "principal_key_in_use"
    principal_key_revoked = "principal_key_revoked"
    principal_client_required = "principal_client_required"
    principal_client_forbidden_for_staff = "principal_client_forbidden_for_staff"
    principal_name_taken_by_client = "principal_name_taken_by_client"
    principal_exists_with_different_role = "principal_exists_with_different_role"
    principal_exists_with_different_client = "principal_exists_with_different_client"
    principal_is_last_admin = "principal_is_last_admin"
    principal_first_must_be_admin = "principal_first_must_be_admin"
    principals_exceeded = "principals_exceeded"
    endorsement_required = "endorsement_required"
    endorser_not_an_active_admin = "endorser_not_an_active_admin"
    endorsement_signature_invalid = "endorsement_signature_invalid"
    signing_key_invalid = "signing_key_invalid"

    # Risk: configuration, instruments, buckets, fills and orders.
    risk_config_invalid = "risk_config_invalid"
    instrument_invalid = "instrument_invalid"
    instrument_not_found = "instrument_not_found"
    instrument_exists_with_different_body = "instrument_exists_with_different_body"
    bucket_invalid = "bucket_invalid"
    bucket_not_found = "bucket_not_found"
    bucket_exists_with_different_body = "bucket_exists_with_different_body"
    instrument_not_allowed_in_bucket = "instrument_not_allowed_in_bucket"
    price_invalid = "price_invalid"
    price_finer_than_tick = "price_finer_than_tick"
    quantity_invalid = "quantity_invalid"
    mark_price_missing = "mark_price_missing"
    fill_exists_with_different_body = "fill_exists_with_different_body"
    positions_per_bucket_exceeded = "positions_per_bucket_exceeded"
    market_positions_not_balanced = "market_positions_not_balanced"
    settlement_exceeds_collateral = "settlement_exceeds_collateral"
    # Liquidation: money never leaves the market it arose in; a market with loss nobody could
    # absorb is halted; a liquidation round's ids were already used for a different plan.
    cross_market_forbidden = "cross_market_forbidden"
    market_halted = "market_halted"
    liquidation_round_conflict = "liquidation_round_conflict"
    # ``risk import-book`` into a journal that already holds a venue's book.
    venue_book_exists = "venue_book_exists"

    # Custody: addresses
    xpub_malformed = "xpub_malformed"
    xpub_checksum_invalid = "xpub_checksum_invalid"
    xpub_version_unknown = "xpub_version_unknown"
    xpub_not_public = "xpub_not_public"
    xpub_wrong_network = "xpub_wrong_network"
    xpub_wrong_script_type = "xpub_wrong_script_type"
    xpub_depth_inconsistent = "xpub_depth_inconsistent"
    xpub_depth_unexpected = "xpub_depth_unexpected"
    xpub_key_invalid = "xpub_key_invalid"
    multisig_requires_three_xpubs = "multisig_requires_three_xpubs"
    multisig_xpubs_must_differ = "multisig_xpubs_must_differ"
    single_signature_requires_one_xpub = "single_signature_requires_one_xpub"
    # derivation_index_invalid: shared with the wallet registry, defined in its block.
    derivation_count_invalid = "derivation_count_invalid"
    address_kind_unknown = "address_kind_unknown"
    network_unknown = "network_unknown"

    # Custody: the wallet registry.
    wallet_not_found = "wallet_not_found"
    wallet_exists_with_different_body = "wallet_exists_with_different_body"
    wallet_tier_invalid = "wallet_tier_invalid"
    wallet_scheme_wrong_chain = "wallet_scheme_wrong_chain"
    wallet_keys_invalid = "wallet_keys_invalid"
    wallet_not_empty = "wallet_not_empty"
    wallet_has_client_addresses = "wallet_has_client_addresses"
    wallets_exceeded = "wallets_exceeded"
    chain_unknown = "chain_unknown"
    address_designated_twice = "address_designated_twice"
    address_not_canonical = "address_not_canonical"
    addresses_exceeded = "addresses_exceeded"
    house_wallet_has_no_client_addresses = "house_wallet_has_no_client_addresses"
    derivation_index_invalid = "derivation_index_invalid"
    encumbrance_not_found = "encumbrance_not_found"
    encumbrance_exists_with_different_body = "encumbrance_exists_with_different_body"
    encumbrance_period_invalid = "encumbrance_period_invalid"
    observation_point_invalid = "observation_point_invalid"
    chain_reference_invalid = "chain_reference_invalid"
    observation_duplicate = "observation_duplicate"
    asset_wrong_chain = "asset_wrong_chain"

    # Custody: holdings files (UTXO snapshots, custodian statements).
    holdings_file_too_large = "holdings_file_too_large"
    holdings_file_not_ascii = "holdings_file_not_ascii"
    holdings_file_header_invalid = "holdings_file_header_invalid"
    holdings_file_empty = "holdings_file_empty"
    holdings_row_malformed = "holdings_row_malformed"
    holdings_row_column_count_wrong = "holdings_row_column_count_wrong"
    network_mismatch = "network_mismatch"
    snapshot_amount_must_be_whole_sats = "snapshot_amount_must_be_whole_sats"
    amount_must_be_below_2_64 = "amount_must_be_below_2_64"
    amount_exceeds_asset_supply = "amount_exceeds_asset_supply"
    txid_invalid = "txid_invalid"
    vout_invalid = "vout_invalid"
    utxo_height_invalid = "utxo_height_invalid"
    outpoint_duplicate = "outpoint_duplicate"
    address_invalid_for_network = "address_invalid_for_network"
    account_invalid = "account_invalid"
    timestamp_invalid = "timestamp_invalid"
    statement_row_duplicate = "statement_row_duplicate"

    # Custody: the Ethereum holdings source (adapters/chains/ethereum.py).
    source_confirmations_invalid = "source_confirmations_invalid"
    source_asset_code_duplicate = "source_asset_code_duplicate"

    # Custody: proof of control (core/custody/control.py).
    control_challenge_invalid = "control_challenge_invalid"
    control_address_type_unsupported = "control_address_type_unsupported"
    control_signature_invalid = "control_signature_invalid"
    control_signer_mismatch = "control_signer_mismatch"
    control_signatures_insufficient = "control_signatures_insufficient"
    control_message_mismatch = "control_message_mismatch"
    control_round_mismatch = "control_round_mismatch"
    control_block_not_recent = "control_block_not_recent"

    # Spends (core/custody/spends.py, spend_checks.py, service/spends.py): the chain transaction
    # paying one approved withdrawal, and what the signer refuses before any key is asked.
    spend_asset_unsupported = "spend_asset_unsupported"
    spend_order_invalid = "spend_order_invalid"
    spend_funds_insufficient = "spend_funds_insufficient"
    spend_fee_exceeds_bound = "spend_fee_exceeds_bound"
    spend_fee_rate_invalid = "spend_fee_rate_invalid"
    spend_not_found = "spend_not_found"
    spend_malformed = "spend_malformed"
    spend_not_approved = "spend_not_approved"
    spend_input_unknown = "spend_input_unknown"
    spend_input_outside_pool = "spend_input_outside_pool"
    spend_input_mismatch = "spend_input_mismatch"
    spend_destination_missing = "spend_destination_missing"
    spend_amount_mismatch = "spend_amount_mismatch"
    spend_output_outside_pool = "spend_output_outside_pool"
    spend_output_extra = "spend_output_extra"
    spend_sender_outside_pool = "spend_sender_outside_pool"
    spend_chain_mismatch = "spend_chain_mismatch"
    spend_signers_insufficient = "spend_signers_insufficient"
    spend_signature_invalid = "spend_signature_invalid"
    spend_signature_mismatch = "spend_signature_mismatch"
    spend_not_signed = "spend_not_signed"
    spend_broadcast_replayed = "spend_broadcast_replayed"
    spend_failed_on_chain = "spend_failed_on_chain"
    spend_keys_invalid = "spend_keys_invalid"
    # The ledger's hold of the withdrawal, read back before anything is signed or sent.
    spend_hold_not_found = "spend_hold_not_found"
    spend_hold_not_pending = "spend_hold_not_pending"
    spend_hold_mismatch = "spend_hold_mismatch"

    # Insolvency: the scenario file and the simulation (core/insolvency/).
    scenario_invalid = "scenario_invalid"
    scenario_price_missing = "scenario_price_missing"
    scenario_pool_unknown = "scenario_pool_unknown"
    scenario_wallet_unknown = "scenario_wallet_unknown"
    scenario_loss_exceeds_holdings = "scenario_loss_exceeds_holdings"
    scenario_payout_unknown = "scenario_payout_unknown"
    petition_before_last_transfer = "petition_before_last_transfer"

    # Reconciliation (core/recon): breaks, settings, observation and price files, statements.
    break_already_cured = "break_already_cured"
    break_difference_remains = "break_difference_remains"
    break_not_corrected = "break_not_corrected"
    break_not_made_good = "break_not_made_good"
    make_good_transfer_not_found = "make_good_transfer_not_found"
    make_good_transfer_invalid = "make_good_transfer_invalid"
    make_good_transfer_used = "make_good_transfer_used"
    break_cause_unknown = "break_cause_unknown"
    recon_settings_invalid = "recon_settings_invalid"
    price_invalid_for_statement = "price_invalid_for_statement"
    statement_period_invalid = "statement_period_invalid"

    # The command line: what Typer refuses before a command runs.
    usage_invalid = "usage_invalid"  # an unknown option, a missing argument, a bad value
    file_not_found = "file_not_found"  # a file named on the command line is not there

    # Regulatory reports (core/regulatory/): the register, policy, haircut and margin files.
    regulatory_file_invalid = "regulatory_file_invalid"
    regulatory_file_version_unsupported = "regulatory_file_version_unsupported"
    sub_custodian_duplicate = "sub_custodian_duplicate"
    sub_custodian_status_invalid = "sub_custodian_status_invalid"
    sub_custodian_wallet_listed_twice = "sub_custodian_wallet_listed_twice"
    insurance_policy_invalid = "insurance_policy_invalid"
    insurance_policy_duplicate = "insurance_policy_duplicate"
    haircut_invalid = "haircut_invalid"
    haircut_missing = "haircut_missing"
    margin_requirement_invalid = "margin_requirement_invalid"
    margin_requirement_duplicate = "margin_requirement_duplicate"
    price_missing_for_report = "price_missing_for_report"
    # Batch runs: where they run (`--executor`: in-process, dask-local:N, dask://HOST:PORT).
    executor_invalid = "executor_invalid"
    # The service (``ringfence serve``): identities, requests and their bounds.
    api_key_missing = "api_key_missing"
    api_key_invalid = "api_key_invalid"
    api_key_revoked = "api_key_revoked"
    api_key_not_found = "api_key_not_found"
    api_keys_exceeded = "api_keys_exceeded"
    role_forbidden = "role_forbidden"
    # OIDC/JWT bearer tokens (core/access/tokens.py, service/tokens.py): who a token says the
    # caller is, refused before anything is read or written.
    token_invalid = "token_invalid"
    token_algorithm_forbidden = "token_algorithm_forbidden"
    token_key_unknown = "token_key_unknown"
    token_signature_invalid = "token_signature_invalid"
    token_expired = "token_expired"
    token_not_yet_valid = "token_not_yet_valid"
    token_issuer_invalid = "token_issuer_invalid"
    token_audience_invalid = "token_audience_invalid"
    token_claims_invalid = "token_claims_invalid"
    token_role_forbidden = "token_role_forbidden"
    token_client_unknown = "token_client_unknown"
    token_principal_conflict = "token_principal_conflict"
    token_settings_invalid = "token_settings_invalid"
    token_key_set_invalid = "token_key_set_invalid"
    token_revoked = "token_revoked"
    token_revocations_invalid = "token_revocations_invalid"
    tls_settings_invalid = "tls_settings_invalid"
    account_not_found = "account_not_found"
    transfer_not_found = "transfer_not_found"
    route_not_found = "route_not_found"
    method_not_allowed = "method_not_allowed"
    content_type_unsupported = "content_type_unsupported"
    request_body_too_large = "request_body_too_large"
    request_body_malformed = "request_body_malformed"
    query_parameter_invalid = "query_parameter_invalid"
    cursor_invalid = "cursor_invalid"
    page_size_too_large = "page_size_too_large"
    idempotency_key_invalid = "idempotency_key_invalid"
    idempotency_key_reused_with_different_request = "idempotency_key_reused_with_different_request"
    # The console and the portal (pages served by ``ringfence serve``): sessions and forms.
    session_missing = "session_missing"
    session_expired = "session_expired"
    form_token_invalid = "form_token_invalid"
    form_malformed = "form_malformed"
    # Events and webhooks (core/events/).
    event_position_invalid = "event_position_invalid"
    event_position_beyond_journal = "event_position_beyond_journal"
    event_type_unknown = "event_type_unknown"
    webhook_url_invalid = "webhook_url_invalid"
    webhook_not_found = "webhook_not_found"
    webhook_subscriptions_exceeded = "webhook_subscriptions_exceeded"
    # The other domains' routes: a round or a report the service does not have.
    round_not_found = "round_not_found"
    # A round already built asked again with another snapshot, mode or reserves.
    round_exists_with_different_body = "round_exists_with_different_body"
    # Another build of a round holds the rounds of this ledger now (``por build`` beside
    # ``serve``'s, or on another host), or kept the round asked for meanwhile: nothing was done.
    por_build_busy = "por_build_busy"
    report_not_found = "report_not_found"

    # Withdrawal policy (core/policy/): the document, its versions and their publication.
    policy_document_malformed = "policy_document_malformed"
    policy_document_too_large = "policy_document_too_large"
    policy_format_unsupported = "policy_format_unsupported"
    policy_rule_invalid = "policy_rule_invalid"
    policy_rule_id_duplicate = "policy_rule_id_duplicate"
    policy_rules_exceeded = "policy_rules_exceeded"
    policy_condition_unknown = "policy_condition_unknown"
    policy_condition_invalid = "policy_condition_invalid"
    policy_scope_invalid = "policy_scope_invalid"
    policy_action_invalid = "policy_action_invalid"
    policy_group_invalid = "policy_group_invalid"
    policy_group_unknown = "policy_group_unknown"
    policy_governance_invalid = "policy_governance_invalid"
    policy_whitelist_invalid = "policy_whitelist_invalid"
    policy_residual_interest_invalid = "policy_residual_interest_invalid"
    policy_fee_max_invalid = "policy_fee_max_invalid"
    movement_kind_unknown = "movement_kind_unknown"
    policy_version_not_found = "policy_version_not_found"
    policy_already_published = "policy_already_published"
    policy_approver_is_author = "policy_approver_is_author"
    policy_approver_not_eligible = "policy_approver_not_eligible"
    policy_approval_duplicate = "policy_approval_duplicate"
    policy_quorum_not_reached = "policy_quorum_not_reached"
    policy_versions_exceeded = "policy_versions_exceeded"
    # Why a policy decision blocked a movement before any rule was read, or by its rules.
    no_policy_in_force = "no_policy_in_force"
    exceeds_residual_interest = "exceeds_residual_interest"
    senior_approval_group_missing = "senior_approval_group_missing"
    blocked_by_rule = "blocked_by_rule"
    no_rule_matched = "no_rule_matched"

    # Withdrawals (core/withdrawals/): requests, approvals and the steps of their lifecycle.
    withdrawal_not_found = "withdrawal_not_found"
    withdrawal_exists_with_different_body = "withdrawal_exists_with_different_body"
    withdrawal_not_awaiting_approval = "withdrawal_not_awaiting_approval"
    withdrawal_step_out_of_order = "withdrawal_step_out_of_order"
    withdrawal_already_final = "withdrawal_already_final"
    withdrawal_expired = "withdrawal_expired"
    withdrawal_rejected = "withdrawal_rejected"
    withdrawal_destination_invalid = "withdrawal_destination_invalid"
    withdrawal_wallet_invalid = "withdrawal_wallet_invalid"
    withdrawal_fee_max_missing = "withdrawal_fee_max_missing"
    withdrawal_chain_missing = "withdrawal_chain_missing"
    withdrawal_reference_invalid = "withdrawal_reference_invalid"
    withdrawal_confirmations_invalid = "withdrawal_confirmations_invalid"
    # Checked again when a withdrawal's transaction is about to be signed: its destination
    # under the policy and the wallet registry of that moment, and whether the firm's residual
    # interest in the pool covers the network fee's bound (else clients' assets would pay it).
    withdrawal_destination_not_allowed = "withdrawal_destination_not_allowed"
    network_fee_exceeds_residual_interest = "network_fee_exceeds_residual_interest"
    # Another ``process`` is moving the withdrawals of this ledger now: nothing was done.
    withdrawals_busy = "withdrawals_busy"
    # A transfer only the withdrawal lifecycle books (a ``withdrawal`` or ``sweep``, the post
    # or void of a withdrawal's hold), sent to a general transfer path.
    transfer_code_reserved = "transfer_code_reserved"
    approver_is_initiator = "approver_is_initiator"
    approver_not_eligible = "approver_not_eligible"
    approval_duplicate = "approval_duplicate"
    # Approval evidence (core/principals/approval.py): a policy that requires signed approvals
    # refuses one without a signature, and every approval refuses a signature that does not
    # verify against the approver's active key.
    approval_signature_required = "approval_signature_required"
    approval_signature_invalid = "approval_signature_invalid"
    principal_key_mismatch = "principal_key_mismatch"
    # Checking an inclusion proof (``ringfence por verify``): what the client gives, named as
    # the stdlib verifier names it (verifier.refusal_reasons).
    client_id_required = "client_id_required"
    client_id_malformed = "client_id_malformed"
    nonce_required = "nonce_required"
    nonce_malformed = "nonce_malformed"
    public_key_malformed = "public_key_malformed"
    balance_malformed = "balance_malformed"
    decimals_malformed = "decimals_malformed"
    decimals_unknown = "decimals_unknown"
    decimals_mismatch = "decimals_mismatch"

    @property
    def succeeded(self) -> bool:
        return self in (Result.ok, Result.exists)


# Results a retry can turn into success without changing the event: balances, pending states
# and chains move on; shapes, rules and identities do not.
transient_results = frozenset(
    {
        Result.linked_event_failed,
        Result.debit_account_not_found,
        Result.credit_account_not_found,
        Result.pending_transfer_not_found,
        Result.exceeds_available_balance,
        Result.exceeds_wallet_holdings,
        Result.exceeds_house_balance,
        Result.pool_coverage_would_break,
        Result.reversed_transfer_not_found,
        Result.break_not_found,
    }
)


class RingfenceError(Exception):
    """Root of every exception ringfence raises on purpose."""


class InputError(RingfenceError):
    """Input that cannot become an event or a definition; nothing was changed."""

    def __init__(self, code: Result, detail: str = "") -> None:
        assert code not in (Result.ok, Result.exists)
        self.code = code
        self.detail = detail
        super().__init__(f"{code.value}: {detail}" if detail else code.value)


class StorageError(RingfenceError):
    """The store failed; what was acknowledged before stays acknowledged."""


class HeadConflictError(StorageError):
    """Another writer appended first; nothing of this entry was written: reload and retry."""


class SourceError(StorageError):
    """A holdings source (an Ethereum node) could not be reached or gave an inconsistent answer
    (a reorganisation mid-scan, a token that is no contract); nothing was observed. A scan is
    idempotent, so the caller retries it from where the last good one ended."""


class SnapshotMovedError(StorageError):
    """A batch task read the store at another journal entry than the cut its run was planned
    on (a writer checkpointed in between, on a store that cannot hold one snapshot for many
    readers); nothing of the run was kept: run it again."""


class ExecutorError(RingfenceError):
    """The executor of a batch run (a Dask scheduler, its workers) failed mid-run: a scheduler
    that died, workers lost for good. Nothing of the run was kept (no round, no statement);
    the run may be started again once the cluster is back."""


class IntegrityError(RingfenceError):
    """The store's contents contradict its journal."""


class MalformedEntryError(IntegrityError):
    """A journal row that is no entry (an unknown kind, a body shorter than its header, a hash
    that is not 32 bytes, a sequence number below 1): ``seq`` says which row, so that a reader
    walking the journal can name it and go on after it."""

    def __init__(self, seq: object, detail: str) -> None:
        self.seq = seq
        self.detail = detail
        super().__init__(f"journal entry {seq}: {detail}")


class AuthorisationError(IntegrityError):
    """The journal holds a movement or a principal without valid evidence of who authorised
    it: a signature that does not verify, a key not registered (or revoked) at that point, a
    principal acting for another client. Raised by a replay; the audit names it."""


# The refusals that say an authorisation or an endorsement is not valid evidence.
authorisation_results = frozenset(
    {
        Result.authorisation_required,
        Result.authorisation_signature_required,
        Result.authorisation_signature_invalid,
        Result.authorisation_malformed,
        Result.authorisation_must_be_empty,
        Result.authorisation_not_by_debit_client,
        Result.authoriser_has_no_key,
        Result.authoriser_revoked,
        Result.endorsement_required,
        Result.endorser_not_an_active_admin,
        Result.endorsement_signature_invalid,
        Result.principal_first_must_be_admin,
    }
)


# CLI exit statuses: 0 success, 1 some events rejected, 2 usage or input error, 3 storage,
# 4 integrity, 5 a condition named by --fail-on was found (the report was printed whole).
# Commands use these names, never bare numbers.
exit_status_ok = 0
exit_status_rejected = 1
exit_status_input = 2
exit_status_storage = 3
exit_status_integrity = 4
exit_status_alert = 5


@dataclass(frozen=True, slots=True)
class ErrorReport:
    """How one exception class is reported: the code printed (empty for ``InputError``, which
    prints its own ``Result``), the CLI exit status and the HTTP status of the REST API."""

    code: str
    exit_status: int
    http_status: int


# The one table from exception class to code, exit status and HTTP status. HTTP statuses:
# input the request itself got wrong is 422 (but see ``http_status``: a name that is not there
# is 404 and a body that contradicts the stored one is 409); another writer appending first is
# 409 (nothing was written: retry), and so is a batch run whose store moved under it; a store,
# a chain node or a batch executor that failed is 503 (the request may succeed later); a store
# that contradicts its journal is 500 (nothing the client can fix).
# Every class of the core has its own row (a test checks); a class outside the core inherits
# the row of the core class it derives from.
error_reports: dict[type[RingfenceError], ErrorReport] = {
    InputError: ErrorReport("", exit_status_input, 422),
    StorageError: ErrorReport("storage_error", exit_status_storage, 503),
    HeadConflictError: ErrorReport("storage_error", exit_status_storage, 409),
    SourceError: ErrorReport("storage_error", exit_status_storage, 503),
    SnapshotMovedError: ErrorReport("snapshot_moved", exit_status_storage, 409),
    ExecutorError: ErrorReport("executor_failed", exit_status_storage, 503),
    IntegrityError: ErrorReport("integrity_error", exit_status_integrity, 500),
    MalformedEntryError: ErrorReport("integrity_error", exit_status_integrity, 500),
    AuthorisationError: ErrorReport("integrity_error", exit_status_integrity, 500),
}

# Input errors the REST API reports with another status than 422: a name that is not there
# (404), and a definition or key that already exists with another body (409).
not_found_results = frozenset(result for result in Result if result.value.endswith("_not_found"))
conflict_results = frozenset(
    result
    for result in Result
    if "_exists_with_different_" in result.value
    or result
    in (Result.journal_key_exists, Result.liquidation_round_conflict, Result.venue_book_exists)
)


def error_report(error: RingfenceError) -> ErrorReport:
    """The table's row for ``error``'s class, or for the nearest class of the core it derives
    from (an adapter's own error, such as the HSM's, is reported as what it is a kind of); a
    class with no row on its way up is a programmer error."""
    for kind in type(error).__mro__:
        if kind in error_reports:
            return error_reports[kind]
    raise AssertionError(f"unmapped error class {type(error).__name__}")


def error_code(error: RingfenceError) -> tuple[str, str]:
    """The code and detail an error is reported with (CLI and API alike)."""
    if isinstance(error, InputError):
        return error.code.value, error.detail
    return error_report(error).code, str(error)


def exit_status(error: RingfenceError) -> int:
    """The CLI exit status for an exception from the tree above."""
    return error_report(error).exit_status


# Refusals the REST API answers with a status of their own, by code: who is asking (401, 403),
# what the request itself is (400 malformed, 405, 413 too large, 415 wrong content type).
result_http_statuses: dict[Result, int] = {
    Result.api_key_missing: 401,
    Result.api_key_invalid: 401,
    Result.api_key_revoked: 401,
    Result.role_forbidden: 403,
    Result.transfer_code_reserved: 403,
    Result.withdrawals_busy: 409,
    Result.por_build_busy: 409,
    Result.token_invalid: 401,
    Result.token_algorithm_forbidden: 401,
    Result.token_key_unknown: 401,
    Result.token_signature_invalid: 401,
    Result.token_expired: 401,
    Result.token_not_yet_valid: 401,
    Result.token_issuer_invalid: 401,
    Result.token_audience_invalid: 401,
    Result.token_claims_invalid: 401,
    Result.token_revoked: 401,
    # A revocation list that became unreadable refuses every token until it is fixed: the
    # request may succeed later, and a token the list may revoke is never let through.
    Result.token_revocations_invalid: 503,
    Result.token_role_forbidden: 403,
    Result.token_client_unknown: 403,
    Result.token_principal_conflict: 403,
    Result.route_not_found: 404,
    Result.method_not_allowed: 405,
    Result.request_body_too_large: 413,
    Result.batch_too_large: 413,
    Result.content_type_unsupported: 415,
    Result.request_body_malformed: 400,
    Result.json_nested_too_deeply: 400,
    Result.query_parameter_invalid: 400,
    Result.cursor_invalid: 400,
    Result.page_size_too_large: 400,
    Result.idempotency_key_invalid: 400,
    Result.session_missing: 401,
    Result.session_expired: 401,
    Result.form_token_invalid: 403,
    Result.form_malformed: 400,
    Result.event_position_invalid: 400,
}


def result_http_status(result: Result) -> int:
    """The HTTP status of a refusal: its own (above), 404 for a name that is not there, 409 for a
    definition that exists with another body, else 422 (understood, and refused)."""
    if result in result_http_statuses:
        return result_http_statuses[result]
    if result in not_found_results:
        return 404
    if result in conflict_results:
        return 409
    return 422


def http_status(error: RingfenceError) -> int:
    """The HTTP status the REST API answers ``error`` with."""
    if isinstance(error, InputError):
        return result_http_status(error.code)
    return error_report(error).http_status
