"""The checks ``process`` runs just before it asks for a withdrawal's signature: the facts of
that moment gathered (the policy in force, the wallet registry, the pool's position, the other
withdrawals signed and not yet posted), the core deciding (core/withdrawals/signing.py). A
refusal is an ``InputError`` that the pass turns into the withdrawal's void, with its hold's,
before anything is signed.
"""

from __future__ import annotations

from typing import Final

from ringfence.core.errors import InputError, Result
from ringfence.core.money import format_amount
from ringfence.core.policy.movement import MovementKind
from ringfence.core.withdrawals.lifecycle import Status, Withdrawal
from ringfence.core.withdrawals.signing import fee_uncovered, whitelisting_lost
from ringfence.service.custody import CustodyService
from ringfence.service.ledger import LedgerService
from ringfence.service.policy import MovementBooks, books
from ringfence.service.withdrawal_facts import movement_request, native_asset

__all__ = ["check_before_signing"]

# Signed and not yet posted: the chain may take up to the order's fee bound for each, and the
# ledger has booked none of it yet.
_fee_unbooked: Final = frozenset({Status.signed, Status.broadcast, Status.confirmed})


def check_before_signing(ledger: LedgerService, withdrawal: Withdrawal) -> None:
    """Refuse to sign ``withdrawal`` if its destination is no longer allowed or the pool's
    residual interest does not cover its network fee's bound."""
    found = books(ledger)
    at_ns = ledger.clock.now_ns()
    _check_destination(ledger, found, withdrawal, at_ns)
    _check_fee_cover(ledger, found, withdrawal)


def _refused(withdrawal: Withdrawal, why: str) -> InputError:
    return InputError(
        Result.withdrawal_destination_not_allowed,
        f"withdrawal {withdrawal.spec.id} to {withdrawal.spec.destination}: {why}",
    )


def _check_destination(
    ledger: LedgerService, found: MovementBooks, withdrawal: Withdrawal, at_ns: int
) -> None:
    spec, decided = withdrawal.spec, withdrawal.decided
    assert decided is not None, f"withdrawal {spec.id} was never decided"
    in_force = found.policies.in_force(at_ns)
    if in_force is None or in_force.compiled is None:
        raise _refused(withdrawal, "no policy is in force")
    registry = CustodyService(ledger).registry
    owned = registry.addresses.get(spec.destination)
    if spec.kind is MovementKind.client_withdrawal:
        if owned is not None:
            raise _refused(withdrawal, f"now an address of the firm's wallet {owned.wallet}")
    else:
        wallet = registry.wallets.get(spec.destination_wallet)
        target_pool = "" if spec.kind is MovementKind.residual_sweep else spec.pool
        if wallet is None or wallet.pool != target_pool:
            raise _refused(withdrawal, f"{spec.destination_wallet} is no longer where it was")
        if owned is None or owned.wallet != wallet.wallet.name or owned.client or owned.change:
            raise _refused(withdrawal, f"no longer an own address of {spec.destination_wallet}")
    deciding = found.policies.versions.get(decided.decision.policy_version)
    lost = whitelisting_lost(
        None if deciding is None else deciding.compiled,
        in_force.compiled,
        movement_request(spec, withdrawal.requested_at_ns),
        at_ns,
    )
    if lost is not None:
        raise _refused(withdrawal, lost)


def _check_fee_cover(ledger: LedgerService, found: MovementBooks, withdrawal: Withdrawal) -> None:
    spec = withdrawal.spec
    engine = ledger.ledger
    native = native_asset(ledger, engine.assets[spec.asset])
    position = engine.positions.get((spec.pool, native.number))
    residual = 0 if position is None else position.excess_worst
    signed = sum(
        other.spec.fee_max
        for other in found.withdrawals.withdrawals.values()
        if other.status in _fee_unbooked
        and other.spec.pool == spec.pool
        and native_asset(ledger, engine.assets[other.spec.asset]).code == native.code
    )
    short = fee_uncovered(residual, signed, spec.fee_max)
    if short:
        raise InputError(
            Result.network_fee_exceeds_residual_interest,
            f"withdrawal {spec.id}: its network fee, up to "
            f"{format_amount(spec.fee_max, native)} {native.code}, is paid from the house's "
            f"residual interest in {spec.pool}, which lacks {format_amount(short, native)} "
            f"{native.code} (withdrawals signed and not yet posted may still take "
            f"{format_amount(signed, native)}): top it up, then ask again",
        )
