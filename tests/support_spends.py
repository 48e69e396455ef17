"""Ledger holds for spends made straight through the signing service: the service signs and
sends nothing that the ledger does not hold (a pending transfer out of the paying wallet), so
a test that hands it orders first places the holds the lifecycle would have placed.

``held(ledger, wallet, pool, asset=, amount=, hold_id=)`` defines a client ``holder`` in the pool
(once), books a deposit of ``amount`` into its account from the wallet's custody account, and
holds it as a pending withdrawal with id ``hold_id``: the order then names ``hold_id``.
"""

from __future__ import annotations

from ringfence.core.errors import Result
from ringfence.core.ledger.model import Transfer, TransferCode, TransferFlags
from ringfence.service.custody import CustodyService
from ringfence.service.ledger import LedgerService

HOLDER = "holder"
_deposit_offset = 10**30  # deposit ids apart from any hold id a test chooses


def held(
    ledger: LedgerService, wallet: str, pool: str, *, asset: str, amount: int, hold_id: int
) -> int:
    custody = CustodyService(ledger)
    source = custody.ensure_custody_accounts(wallet)[asset]
    if HOLDER not in ledger.ledger.clients:
        assert ledger.define_clients([HOLDER]) == [Result.ok]
    client = custody.client_account(HOLDER, pool, asset)
    results = ledger.submit(
        [
            Transfer(_deposit_offset + hold_id, source, client, amount, TransferCode.deposit),
            Transfer(hold_id, client, source, amount, TransferCode.withdrawal,
                     TransferFlags.pending),
        ]
    )  # fmt: skip
    assert all(result.succeeded for result in results), results  # exists: placed before
    return hold_id


def void_hold(ledger: LedgerService, hold_id: int) -> None:
    """Void the hold as the ledger would on a lifecycle's terminal failure (or as someone
    writing around the lifecycle might)."""
    (result,) = ledger.submit(
        [Transfer(hold_id + 1, 0, 0, None, TransferCode.withdrawal, TransferFlags.void_pending,
                  pending_id=hold_id)]
    )  # fmt: skip
    assert result is Result.ok, result
