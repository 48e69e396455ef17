"""The segregation rules applied to one transfer: the rule table's verdict, its conditions
(terms, owners, markets, breaks), the debited client's authorisation, reversals, and the
comparison of a retry with the transfer already committed under its id.
"""

from __future__ import annotations

from collections.abc import Mapping

from ringfence.core import limits
from ringfence.core.errors import Result
from ringfence.core.ledger.changes import LedgerState
from ringfence.core.ledger.checks import authorisation_must_be_empty, check_optional_fields
from ringfence.core.ledger.model import (
    Transfer,
    TransferCode,
    TransferFlags,
    TransferRecord,
)
from ringfence.core.ledger.segregation import (
    Markets,
    Owners,
    Pools,
    Rule,
    codes_not_reversible,
    market_relation_result,
    missing_rule_result,
)
from ringfence.core.ledger.state import AccountState
from ringfence.core.principals.authorisation import (
    instruction_message,
    signature_verifies,
)
from ringfence.core.principals.records import PrincipalRole

_exists = Result.exists
_pending = TransferFlags.pending
_post = TransferFlags.post_pending
_void = TransferFlags.void_pending
_u128 = limits.amount_units_max
_same_pool = Pools.same
_pending_bit = int(TransferFlags.pending)
# A field left at its default: the one ``""`` CPython keeps (see engine.py).
_empty = ""


class LedgerRules(LedgerState):
    """The checks of a transfer against the rules and the state; they change nothing."""

    def _asset_number(self, code: str) -> int:
        asset = self.assets.get(code)
        return 0 if asset is None else asset.number

    def _check_asset(self, code: object, asset_number: int) -> Result | None:
        """The optional ``asset`` field against the asset of the accounts."""
        if code.__class__ is not str:
            return Result.asset_not_found
        assert isinstance(code, str)
        if code and self._asset_number(code) != asset_number:
            return Result.asset_does_not_match_accounts
        return None

    def _check_segregation(
        self,
        rule: Rule | None,
        event: Transfer,
        debit: AccountState,
        credit: AccountState,
        raw: int,
    ) -> tuple[Result | None, int]:
        """The rule table's verdict, and the authorising client's number if one is needed."""
        if rule is None:
            return missing_rule_result(debit.role, credit.role, debit.pool, credit.pool), 0
        if rule.pools is _same_pool and debit.pool != credit.pool:
            return Result.cross_pool_forbidden, 0
        if not rule.simple:
            return self._check_rule(rule, event, debit, credit, raw)
        if event.authorised_by is not _empty or event.authorisation:
            return authorisation_must_be_empty(event.authorised_by), 0
        return None, 0

    def _check_rule(
        self, rule: Rule, event: Transfer, debit: AccountState, credit: AccountState, raw: int
    ) -> tuple[Result | None, int]:
        """The conditions beyond roles and pools: terms, owners, authorisation, breaks."""
        if rule.terms is not None:
            position = debit.position or credit.position
            assert position is not None
            if position.pool.terms is not rule.terms:
                return Result.pool_terms_forbid_code, 0
        if rule.owners is Owners.same and debit.definition.owner != credit.definition.owner:
            return Result.owners_must_match, 0
        if rule.owners is Owners.different and debit.definition.owner == credit.definition.owner:
            return Result.owners_must_differ, 0
        if rule.markets is not Markets.any:
            crossed = market_relation_result(rule.markets, debit.definition.kind,
                                             credit.definition.kind)
            if crossed is not None:
                return crossed, 0
        authoriser = 0
        authorised_by = event.authorised_by
        if rule.authorisation:
            if authorised_by.__class__ is not str:
                return Result.name_invalid, 0
            refused, authoriser = self._check_authorisation(event, debit, credit, raw)
            if refused is not None:
                return refused, 0
        elif authorised_by is not _empty or event.authorisation:
            return authorisation_must_be_empty(authorised_by), 0
        if raw & _pending_bit and (rule.opens_break or rule.cures_break):
            return Result.pending_not_allowed_for_code, 0
        if rule.cures_break:
            return self._check_break_cure(event, debit), 0
        return None, authoriser

    def _check_authorisation(
        self, event: Transfer, debit: AccountState, credit: AccountState, raw: int
    ) -> tuple[Result | None, int]:
        """The evidence of the debited client's consent: an active principal acting for that
        client, and its signature over the instruction. Returns the principal's number."""
        name = event.authorised_by
        if not name:
            return Result.authorisation_required, 0
        state = self.principals.by_name.get(name) if type(name) is str else None
        if state is None:
            return Result.authoriser_has_no_key, 0
        principal = state.principal
        if not state.active:
            return Result.authoriser_revoked, 0
        if principal.role is not PrincipalRole.client or principal.client != debit.definition.owner:
            return Result.authorisation_not_by_debit_client, 0
        signature = event.authorisation
        if not signature:
            return Result.authorisation_signature_required, 0
        if type(signature) is not bytes:
            return Result.authorisation_malformed, 0
        reference, timeout_s = event.reference, event.timeout_s
        if type(reference) is not int or not 0 <= reference <= _u128 or type(timeout_s) is not int:
            # No instruction with such fields can be encoded, so none was signed.
            return Result.authorisation_signature_invalid, 0
        if self._verify_signatures:
            amount = event.amount
            assert type(amount) is int  # checked before the rules
            # The instruction of what would be committed: the fields as the record holds them.
            message = instruction_message(
                self.ledger_id,
                principal=name,
                transfer_id=event.id,
                debit_account=debit.id,
                credit_account=credit.id,
                amount=amount,
                pending_id=0,
                reference=reference,
                timeout_s=timeout_s,
                asset=debit.asset,
                code=int(event.code),
                flags=raw,
            )
            if not signature_verifies(principal.public_key, message, signature):
                return Result.authorisation_signature_invalid, 0
        return None, state.number

    def _check_break_cure(self, event: Transfer, debit: AccountState) -> Result | None:
        broken = self.breaks.get(event.reference) if event.reference else None
        if broken is None:
            return Result.break_not_found if event.reference else Result.reference_required
        if broken.pool != debit.definition.pool or broken.asset != debit.asset:
            return Result.break_cure_must_match_break
        assert event.amount is not None
        if event.amount > broken.outstanding:
            return Result.break_cure_exceeds_break_amount
        return None

    def _check_reversal(
        self,
        event: Transfer,
        debit: AccountState,
        credit: AccountState,
        known: Mapping[int, TransferRecord],
    ) -> Result | None:
        if not event.reference:
            return Result.reference_required
        if event.authorised_by is not _empty or event.authorisation:
            return authorisation_must_be_empty(event.authorised_by)
        original = self._batch.get(event.reference) or known.get(event.reference)
        if original is None:
            return Result.reversed_transfer_not_found
        if original.code in codes_not_reversible:
            return Result.segregation_rule_missing
        if original.flags & (_pending | _void):
            return Result.reversal_of_pending_transfer_forbidden
        if original.debit_account != credit.id:
            return Result.reversal_must_swap_accounts
        if original.credit_account != debit.id:
            return Result.reversal_must_swap_accounts
        assert event.amount is not None
        if event.amount > original.amount - self.reversed.get(original.id, 0):
            return Result.reversal_exceeds_transfer_amount
        if event.flags & _pending:
            return Result.pending_not_allowed_for_code
        return None

    # ------------------------------------------------------------------ idempotency

    def _compare_existing(self, event: Transfer, existing: TransferRecord) -> Result:
        """``exists`` for a retry of the same transfer; else name the first field that differs.

        Post and void events may leave accounts and amount to the pending transfer; a retry that
        leaves them out again matches the resolved values stored.
        """
        refused = check_optional_fields(event)
        if refused is not None:
            return refused
        if int(event.flags) != existing.flags:
            return Result.exists_with_different_flags
        resolving = bool(existing.flags & (_post | _void))
        debit, credit = event.debit_account, event.credit_account
        if debit != existing.debit_account and not (resolving and debit == 0):
            return Result.exists_with_different_debit_account
        if credit != existing.credit_account and not (resolving and credit == 0):
            return Result.exists_with_different_credit_account
        if event.amount != existing.amount and not (resolving and event.amount is None):
            return Result.exists_with_different_amount
        if event.pending_id != existing.pending_id:
            return Result.exists_with_different_pending_id
        if event.reference != existing.reference:
            return Result.exists_with_different_reference
        if event.timeout_s != existing.timeout_s:
            return Result.exists_with_different_timeout
        if type(event.code) not in (TransferCode, int) or int(event.code) != existing.code:
            return Result.exists_with_different_code
        if event.asset and self._asset_number(event.asset) != existing.asset:
            return Result.exists_with_different_asset
        # The authoriser is part of the body; its signature is evidence, kept in the journal
        # and checked when the transfer committed, so a retry is not checked again.
        if event.authorised_by:
            state = self.principals.by_name.get(event.authorised_by)
            if state is None or state.number != existing.authoriser:
                return Result.exists_with_different_authorisation
        elif existing.authoriser or event.authorisation:
            return Result.exists_with_different_authorisation
        return _exists

