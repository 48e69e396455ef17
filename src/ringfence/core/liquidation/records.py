"""Liquidation records: the policy, the book as the planner sees it, and the plan it
returns (close orders, planned transfers by account name, deleveraging, settled values),
with the transfer ids that make a replayed plan post nothing new."""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from enum import StrEnum, unique
from fractions import Fraction
from typing import NamedTuple

from ringfence.core.errors import InputError, Result
from ringfence.core.risk.config import ppm
from ringfence.core.risk.instruments import Position


@unique
class LiquidationCode(StrEnum):
    """Why a planned transfer moves value; the next step maps these to ``TransferCode``s."""

    liquidation_settlement = "liquidation_settlement"  # bucket <-> clearing:<market>
    liquidation_fee = "liquidation_fee"  # bucket -> insurance:<market>
    insurance_payout = "insurance_payout"  # insurance:<market> -> clearing:<market>
    global_insurance_payout = "global_insurance_payout"  # global fund -> clearing:<market>


# A close's settlement and fee take the two halves of one digest (``RoundIds.close``).
close_codes = {LiquidationCode.liquidation_settlement: 0, LiquidationCode.liquidation_fee: 1}


@dataclass(frozen=True, slots=True)
class LiquidationPolicy:
    """Parameters of the liquidation loop (ppm of one)."""

    partial_fraction_ppm: int = 500_000
    slippage_ppm: int = 5_000
    fee_ppm: int = 5_000
    global_fund_allowed: bool = False

    def __post_init__(self) -> None:
        for name in ("partial_fraction_ppm", "slippage_ppm", "fee_ppm"):
            value = getattr(self, name)
            if type(value) is not int or not 0 <= value < ppm:
                raise InputError(Result.risk_config_invalid, f"{name} {value!r}")
        if self.partial_fraction_ppm == 0:
            raise InputError(Result.risk_config_invalid, "partial_fraction_ppm must be > 0")


@dataclass(frozen=True, slots=True)
class BucketState:
    """One bucket as the scan saw it: ledger collateral, scan equity and maintenance (integer
    minor units) and its positions."""

    name: str
    settlement: str
    collateral: int
    equity: int
    maintenance: int
    positions: tuple[Position, ...]
    # Cross buckets may be liquidated in part (their maintenance is the sum of each position's
    # tiered one); a portfolio bucket's is the scan's worst loss, so it is liquidated in part
    # only when the planner is given that requirement (``PortfolioMaintenance``).
    cross: bool = False
    portfolio: bool = False

    @property
    def open(self) -> bool:
        return any(p.quantity_lots for p in self.positions)


# A portfolio bucket's maintenance if it held only these positions, as the scan computes it
# (integer minor units, rounded up): the shell builds it from the scan's risk arrays.
PortfolioMaintenance = Callable[[str, Sequence[Position]], int]


class PlannedTransfer(NamedTuple):
    """A ledger transfer as plain data: account names, amount in minor units, why. A named
    tuple, as the engine's records are: a crash plans tens of thousands of them."""

    id: int
    debit: str
    credit: str
    amount: int
    code: LiquidationCode
    asset: str
    bucket: str = ""  # the liquidated bucket the transfer is for (a chain never splits one)

    @property
    def market(self) -> str:
        """The one market the transfer belongs to (every transfer names exactly one)."""
        for account in (self.credit, self.debit):
            family, _, symbol = account.partition(":")
            if family in ("clearing", "insurance"):
                return symbol
        raise AssertionError(f"a liquidation transfer names a market: {self}")


class CloseOrder(NamedTuple):
    """A reduce-only order for the venue, at the fillable price the plan assumed."""

    bucket: str
    symbol: str
    quantity_lots: int  # signed fill: a long closes with a negative quantity
    price_units: int
    full: bool


@dataclass(frozen=True, slots=True)
class Deleveraging:
    """Lots of a profitable counterparty closed against a bankrupt bucket, in one market."""

    bucket: str
    symbol: str
    quantity_lots: int  # signed fill for ``bucket``
    lot_value: Fraction  # the bankrupt position's per-lot bankruptcy value
    rank: Fraction
    against: str


class SettledValue(NamedTuple):
    """The exact value a liquidated position realised (before rounding)."""

    bucket: str
    symbol: str
    exact: Fraction


@dataclass(frozen=True, slots=True)
class LiquidationPlan:
    round_id: int
    orders: tuple[CloseOrder, ...]
    transfers: tuple[PlannedTransfer, ...]
    deleveraging: tuple[Deleveraging, ...]
    positions: tuple[Position, ...]  # every changed position, after (zero lots: closed)
    settled: tuple[SettledValue, ...]
    insurance_after: Mapping[str, int]
    global_after: Mapping[str, int]
    unresolved: Mapping[str, int]  # per market: loss no one could absorb, rounded up
    liquidated: tuple[str, ...]
    partial: tuple[str, ...]
    deferred: tuple[str, ...]  # candidates holding an option with no premium mark


def collateral_account(bucket: str) -> str:
    return f"collateral:{bucket}"


def clearing_account(symbol: str) -> str:
    return f"clearing:{symbol}"


def insurance_account(symbol: str) -> str:
    return f"insurance:{symbol}"


def global_fund_account(asset: str) -> str:
    return f"insurance-global:{asset.lower()}"


def transfer_id(round_id: int, *parts: object) -> int:
    """A u128 id from the round and what the transfer is for: posting the same plan twice
    gives the same ids, so the ledger answers ``exists`` the second time."""
    text = ":".join(str(p) for p in ("ringfence-liquidation", round_id, *parts))
    return int.from_bytes(hashlib.sha256(text.encode()).digest()[:16], "big") or 1


class RoundIds:
    """``transfer_id`` for one round, hashing the round's prefix once (SHA-256 of the same
    text, so the same ids): a crash derives tens of thousands of them."""

    def __init__(self, round_id: int) -> None:
        self.prefix = f"ringfence-liquidation:{round_id}:".encode()
        self._prefixed = hashlib.sha256(self.prefix)  # copied, then fed the rest of the text

    def __call__(self, *parts: object) -> int:
        return self.of(":".join(str(p) for p in parts))

    def of(self, text: str) -> int:
        """The id of ``code:bucket:market`` text (the parts already joined)."""
        hashed = self._prefixed.copy()
        hashed.update(text.encode())
        return int.from_bytes(hashed.digest()[:16], "big") or 1

    def close(self, bucket: str, symbol: str) -> tuple[int, int]:
        """The ids of a close's settlement and fee: the two halves of one digest of
        ``close:bucket:market`` (one hash for both; a crash closes thousands of positions)."""
        hashed = self._prefixed.copy()
        hashed.update(f"close:{bucket}:{symbol}".encode())
        digest = hashed.digest()
        return (int.from_bytes(digest[:16], "big") or 1,
                int.from_bytes(digest[16:], "big") or 1)
