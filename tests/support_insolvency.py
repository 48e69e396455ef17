"""A small custodian about to fail, built through the ledger service (tests/support.py's firm),
and the scenario that fails it; every figure below is worked out by hand in the tests.

BTC at $20,000.00. The ledger, in BTC:

- ``main`` (omnibus custody): alice 59.9, bob 39, carol 1 and erin 0.1 (100 in all). carol's
  1 BTC and erin's 0.1 came from earn 30 minutes before the petition, each as a linked
  withdrawal-deposit pair: carol's $20,000 is above the $7,500 de minimis, erin's $2,000 not.
- ``vault-dave`` (dave's individual custody pool): 2.
- ``earn`` (title transfer): carol 2 and erin 0.9, held in ``earn-hot`` (2.9).
- the house: 5 in ``house-hot``.
- erin's app showed a 0.5 BTC withdrawal from earn (transfer 900): the ledger holds it only as
  a pending reservation, never posted.

The scenario: a hack takes 10 BTC from ``main-hot``. Then ``main`` holds 90 against 100: 90%
in kind. carol's 1 BTC is held back (0.9 of it, the pool's share, goes to the estate). The estate
holds 5 + 2.9 + 0.9 = 8.8 BTC against unsecured claims of 5.99 (alice) + 3.9 (bob) + 3 (carol:
1 held back and 2 in earn) + 0.91 (erin: 0.01 shortfall and 0.9 in earn) = 13.8 BTC.
"""

from __future__ import annotations

from tests.support import EARN, MAIN, VAULT, Custodian, build_custodian

from ringfence.core.ledger.model import Transfer, TransferCode, TransferFlags
from ringfence.service.ledger import LedgerService

COIN = 10**8
MINUTE_S = 60
PENDING_ID = 900

SCENARIO = {
    "description": "a hot-wallet hack at a custodian with an earn product",
    "prices": {"BTC": "20000.00", "ETH": "1000.00"},
    "hacks": [{"wallet": "main-hot", "asset": "BTC", "amount": "10"}],
    "preference": {"window_days": 90, "de_minimis": "7500.00"},
    "displayed_transfers": [
        {"id": str(PENDING_ID), "client": "erin", "asset": "BTC", "amount": "0.5",
         "description": "withdrawal shown as sent in the app"},
    ],
}


def move(custodian: Custodian, first_id: int, client: str, units: int) -> list[Transfer]:
    """A linked pair: out of earn, into main."""
    return [
        Transfer(first_id, custodian.client(client, EARN), custodian.wallet(EARN), units,
                 TransferCode.withdrawal, TransferFlags.linked),
        custodian.deposit(first_id + 1, client, units, pool=MAIN),
    ]


def build_failing_firm(service: LedgerService, advance: object = None) -> Custodian:
    """Define and fund the firm; ``advance(seconds)`` moves the clock between steps."""
    custodian = build_custodian(service)
    events = [
        custodian.house_funding(1, 5 * COIN),
        custodian.deposit(2, "alice", 599 * COIN // 10),
        custodian.deposit(3, "bob", 39 * COIN),
        custodian.deposit(4, "dave", 2 * COIN, pool=VAULT),
        custodian.deposit(5, "carol", 3 * COIN, pool=EARN),
        custodian.deposit(6, "erin", COIN, pool=EARN),
    ]
    results = service.submit(events)
    assert all(r.succeeded for r in results), results
    if callable(advance):
        advance(3_600)
    pairs = [*move(custodian, 10, "carol", COIN), *move(custodian, 12, "erin", COIN // 10)]
    pending = custodian.withdrawal(
        PENDING_ID, "erin", COIN // 2, pool=EARN, flags=TransferFlags.pending
    )
    results = service.submit([*pairs, pending])
    assert all(r.succeeded for r in results), results
    return custodian
