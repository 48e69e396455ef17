"""The JSON documents the REST API answers with, as typed dictionaries (docs/api.md).

Amounts and ids are decimal strings, as on the wire: the client never turns an amount into a
number, so nothing is rounded between the service and its caller. Documents whose fields
depend on a report or a policy are ``Document`` (a JSON object)."""

from __future__ import annotations

from typing import Any, Generic, TypedDict, TypeVar

__all__ = [
    "Account",
    "Balance",
    "Document",
    "Event",
    "ItemResult",
    "Page",
    "Results",
    "Transfer",
]

Document = dict[str, Any]
T = TypeVar("T")


class Page(TypedDict, Generic[T]):
    """One page of a list: pass ``next_cursor`` back until it is None."""

    items: list[T]
    next_cursor: str | None


class ItemResult(TypedDict):
    """One item of a create: its id and its result code (``ok``, ``exists`` or a refusal)."""

    id: str
    result: str


class Results(TypedDict):
    """A create's answer: a result per item, in order; ``ok`` when all were accepted."""

    ok: bool
    results: list[ItemResult]


# ``class`` is a keyword, hence the functional form.
Account = TypedDict(
    "Account",
    {"id": str, "asset": str, "class": str, "owner": str, "kind": str, "pool": str},
    total=False,
)

Balance = TypedDict(
    "Balance",
    {
        "account": str,
        "asset": str,
        "class": str,
        "owner": str,
        "kind": str,
        "pool": str,
        "balance": str,
        "debits_pending": str,
        "debits_posted": str,
        "credits_pending": str,
        "credits_posted": str,
    },
    total=False,
)


class Transfer(TypedDict):
    """A committed transfer (``GET /v1/transfers/{id}``)."""

    id: str
    debit_account: str
    credit_account: str
    amount: str
    asset: str
    code: str
    flags: list[str]
    pending_id: str | None
    reference: str | None
    timeout_s: int
    timestamp_ns: str
    authorised_by: str | None
    metadata: dict[str, str]  # {} for none (docs/api.md, "Transfer metadata")


class Event(TypedDict):
    """One event of the stream (docs/events.md)."""

    id: str
    type: str
    timestamp: str
    timestamp_ns: str
    seq: str
    journal_hash: str
    data: Document
