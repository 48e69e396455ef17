"""What each wallet holds of each asset, with where it sits: the common input of the reports.

The shell takes the amounts from observations when it has them (what the chain or the
custodian's statement says) or from the ledger's custody accounts (the book), as the
segregation statement does, and says which in every report (``basis``).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from ringfence.core.recon.segregation_statement import WalletAsset, WalletFacts
from ringfence.core.regulatory.files import SubCustodian

tier_order = {"hot": 0, "warm": 1, "cold": 2}


@dataclass(frozen=True, slots=True)
class WalletHolding:
    """One wallet's holding of one asset. ``pool`` "" is the house; ``sub_custodian`` "" means
    the firm holds the keys itself (a controlled location)."""

    wallet: str
    pool: str
    tier: str
    asset: str
    amount: int
    encumbered: int  # of ``amount``, pledged or locked at the as-of time
    sub_custodian: str = ""
    approved: bool = True  # the sub-custodian's approval at the as-of time (True if none)

    def __post_init__(self) -> None:
        assert 0 <= self.encumbered <= self.amount
        assert self.tier in tier_order

    @property
    def free(self) -> int:
        return self.amount - self.encumbered


def wallet_holdings(
    wallets: Iterable[WalletFacts],
    held: Mapping[WalletAsset, int],
    encumbered: Mapping[WalletAsset, int],
    locations: Mapping[str, SubCustodian],
    at_ns: int,
) -> list[WalletHolding]:
    """Every wallet's non-zero holding, sorted by wallet and asset; an encumbrance larger than
    the holding counts only up to it (the pledge cannot lock what is not there)."""
    facts = {wallet.name: wallet for wallet in wallets}
    found = []
    for (name, asset), amount in sorted(held.items()):
        wallet = facts.get(name)
        if wallet is None or amount == 0:
            continue
        location = locations.get(name)
        found.append(
            WalletHolding(
                name,
                wallet.pool,
                wallet.tier if wallet.tier in tier_order else "hot",
                asset,
                amount,
                min(encumbered.get((name, asset), 0), amount),
                location.name if location else "",
                location.approved_at(at_ns) if location else True,
            )
        )
    return found
