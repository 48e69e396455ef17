"""The venue's writes over the REST API, as a principal may make them.

- ``apply_fills``: fills from the venue's matching engine ``{"fills": [...]}``, each as a line
  of ``ringfence risk fills`` reads it (``{"id", "bucket", "symbol", "lots", "price", "fee"}``),
  applied to the book in the journal, each group journaled with its fees in one store
  transaction; a result per fill, in order. An operator's duty (``submit_fills``).
"""

from __future__ import annotations

from typing import Any

from ringfence.core import limits
from ringfence.core.access.roles import Action, Actor, require
from ringfence.service import risk_book
from ringfence.service.access import items_of
from ringfence.service.ledger import LedgerService

__all__ = ["apply_fills", "fills_per_request_max"]
fills_per_request_max = limits.fills_per_request_max


def apply_fills(ledger: LedgerService, actor: Actor, document: object) -> dict[str, Any]:
    require(actor, Action.submit_fills)
    items = items_of(document, "fills", limits.fills_per_request_max)
    return risk_book.apply_fill_documents(ledger, items)
