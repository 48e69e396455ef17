"""What a policy decides about: one movement of assets out of a pool's wallet, and the facts
from the ledger and the journal it is judged against.

The service gathers the facts (service/withdrawals.py): the client's available balance in the
pool, the pool's residual interest now and at the prior day's close, the day's sweeps so far,
and the sums of earlier movements over each velocity window the policy reads. The policy
never reads a store itself, so the same request and facts always get the same decision.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from enum import StrEnum, unique
from typing import Final

from ringfence.core.principals.records import PrincipalRole


@unique
class MovementKind(StrEnum):
    client_withdrawal = "client_withdrawal"  # a client's assets out to an external address
    residual_sweep = "residual_sweep"  # the house's residual interest out to a house wallet
    rebalance = "rebalance"  # between two wallets (tiers) of one pool


@unique
class Per(StrEnum):
    """Whose earlier movements a velocity window sums (always of the same asset and kind)."""

    client = "client"
    initiator = "initiator"
    pool = "pool"
    firm = "firm"


@unique
class Destination(StrEnum):
    """What a movement's destination is, as a policy condition reads it."""

    whitelisted = "whitelisted"  # on the whitelist, for this client, past its cool-down
    not_whitelisted = "not_whitelisted"  # any other external address (cool-down included)
    internal = "internal"  # a wallet of the firm's own (a sweep, a rebalance)


WindowKey = tuple[int, Per]  # (window_s, per)
internal_kinds: Final = frozenset({MovementKind.residual_sweep, MovementKind.rebalance})


@dataclass(frozen=True, slots=True)
class MovementRequest:
    """One movement as asked for. ``wallet`` is the source wallet (of ``pool``) and ``tier``
    its tier; ``destination`` the chain address paid; ``destination_wallet`` the firm's own
    wallet it belongs to for a sweep or a rebalance (empty for a client's withdrawal);
    ``client`` the client whose assets move (empty for the house's)."""

    kind: MovementKind
    initiator: str
    initiator_role: PrincipalRole
    pool: str
    wallet: str
    tier: str
    asset: str
    amount: int
    destination: str
    at_ns: int
    client: str = ""
    destination_wallet: str = ""

    def __post_init__(self) -> None:
        assert self.amount > 0
        assert (self.kind is MovementKind.client_withdrawal) == bool(self.client)
        assert (self.kind in internal_kinds) == bool(self.destination_wallet)


@dataclass(frozen=True, slots=True)
class Facts:
    """The ledger's and the journal's facts a decision rests on, in the asset's minor units.

    ``available``: the client's available balance in the pool (pending debits taken off);
    ``residual_interest``: what the pool holds beyond what it owes (pending movements taken
    off), the most a sweep may take; ``residual_prior_day``: the same at the prior day's
    close; ``swept_today``: the pool's sweeps of the asset since the day began (holds
    included); ``windows``: for each (window, per) the policy reads, the sum of earlier
    movements of the same asset and kind within the window."""

    available: int = 0
    residual_interest: int = 0
    residual_prior_day: int = 0
    swept_today: int = 0
    windows: Mapping[WindowKey, int] = field(default_factory=dict)
