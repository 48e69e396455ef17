"""What is decided again at the last moment before a withdrawal's transaction is signed.

Between a withdrawal's approval and its signature, time passes (approvals, a chain that
cannot be reached, a queue of passes), and the world may move: a policy version may take
effect that no longer whitelists the destination, or the destination may become one of the
firm's own addresses. The signature is the last point where nothing has left the pool, so
two facts are decided again there, on the state of that moment; a refusal voids the
withdrawal and its hold, and nothing is signed:

- **the destination** (``withdrawal_destination_not_allowed``): a policy is in force; a
  client's withdrawal does not pay an address of the firm's wallets; a sweep or a rebalance
  pays its named wallet's own address, still designated where it was; and a destination the
  deciding policy whitelisted is still whitelisted (past its cool-down, for this client or for
  anyone) by the policy in force. A destination that was not whitelisted when decided was
  approved by people, not by the whitelist, and its approval stands.
- **the network fee** (``network_fee_exceeds_residual_interest``): the house pays a
  withdrawal's fee out of its residual interest in the pool (``network_fee``: from the paying
  wallet to the house's network fees). The signer only guarantees that the fee stays within
  the order's bound, so the bound is what must be covered: by the pool's residual interest in
  the chain's native asset (pending movements taken off), less the bounds of the pool's
  withdrawals already signed whose fee is not booked yet. Otherwise the fee would be paid with
  the clients' assets.
"""

from __future__ import annotations

from dataclasses import replace

from ringfence.core.policy.decide import CompiledPolicy
from ringfence.core.policy.movement import Destination, MovementRequest

__all__ = ["fee_uncovered", "whitelisting_lost"]


def whitelisting_lost(
    deciding: CompiledPolicy | None,
    in_force: CompiledPolicy,
    request: MovementRequest,
    at_ns: int,
) -> str | None:
    """Why a destination whitelisted when ``request`` was decided (under ``deciding``) is no
    longer whitelisted at ``at_ns`` under ``in_force``; None when it still is, or never was."""
    if deciding is None:
        return None
    then, _ = deciding.destination_of(request)
    if then is not Destination.whitelisted:
        return None
    now, line = in_force.destination_of(replace(request, at_ns=at_ns))
    if now is Destination.whitelisted:
        return None
    return (
        f"whitelisted when decided (policy version {deciding.version}); "
        f"now, under version {in_force.version}: {line}"
    )


def fee_uncovered(residual_interest: int, bounds_signed: int, fee_max: int) -> int:
    """How much of ``fee_max`` the residual interest does not cover once the bounds of the
    withdrawals already signed are set aside (0: covered). All in minor units of the chain's
    native asset; the residual interest may be negative (a shortfall)."""
    assert bounds_signed >= 0
    assert fee_max >= 0
    return max(0, bounds_signed + fee_max - residual_interest)
