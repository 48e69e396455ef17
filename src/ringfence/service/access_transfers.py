"""Transfers as a principal may use them: submit a batch, read one, list them
(see service/access.py for the actor, the strict bodies and the pages).

A client principal moves money only out of its own client accounts: a transfer whose debit
account is not its own, or that resolves a pending transfer not debiting its own account,
refuses the whole request (``account_not_found``, ``transfer_not_found``) before the ledger
sees any of it. Whatever the role, so does a transfer only the withdrawal lifecycle books
(``transfer_code_reserved``, service/reserved_transfers.py): a ``withdrawal``, a ``sweep``,
the post or void of a withdrawal's hold. The credit side is the ledger's to judge (the
segregation rules, and for an internal transfer the payer's Ed25519 authorisation). It sees a
transfer when one side is its own account (the other side, a counterparty's account id, is
part of its own record).

Lists run over the store's transfer projection in timestamp order (unique per transfer), the
cursor being the last transfer's timestamp. Filtered by metadata (``metadata=KEY=VALUE``, at most
``limits.metadata_filters_max`` pairs, all of which must match exactly), a list walks the
store's index of pairs (``LedgerStore.transfers_with_metadata``) from the cursor on; otherwise it
is a scan from the start of the journal per page: fine for the ledgers of today's tests and
demo, and the first thing to replace with an indexed query in the store when the service meets
a ledger of millions of transfers. Every transfer read shows its metadata.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping
from itertools import islice
from typing import Any

from ringfence.core import limits
from ringfence.core.access.roles import Action, Actor, require, sees_account
from ringfence.core.errors import InputError, Result
from ringfence.core.ledger import wire
from ringfence.core.ledger.metadata import decode_metadata, parse_metadata_filter
from ringfence.core.ledger.model import (
    AccountClass,
    Transfer,
    TransferCode,
    TransferFlags,
    TransferRecord,
    check_id,
)
from ringfence.core.ledger.state import AccountState
from ringfence.core.money import Asset
from ringfence.service.access import (
    Page,
    check_client,
    cursor_value,
    items_of,
    page_size,
    paged,
    parsed_items,
)
from ringfence.service.ledger import LedgerService
from ringfence.service.reserved_transfers import refuse_reserved

__all__ = ["metadata_filter", "metadata_filter_parameter", "submit", "transfer", "transfers"]


# The list's metadata filter as the OpenAPI document declares it: repeated, one ``KEY=VALUE``
# each (the route reads it from the query itself: FastAPI declares no parameter of that form).
metadata_filter_parameter: dict[str, Any] = {
    "name": "metadata",
    "in": "query",
    "required": False,
    "style": "form",
    "explode": True,
    "description": (
        "A metadata pair the transfer must carry exactly, as KEY=VALUE (metadata=txid=4a5e...); "
        f"repeat for more pairs, all of which must match (at most {limits.metadata_filters_max})."
    ),
    "schema": {
        "type": "array",
        "items": {"type": "string"},
        "maxItems": limits.metadata_filters_max,
    },
}


def submit(ledger: LedgerService, actor: Actor, document: object) -> dict[str, Any]:
    """A batch of up to 8,189 transfers ``{"transfers": [...]}`` (the wire format), decided
    by the ledger as one batch: a result per transfer, in order."""
    require(actor, Action.submit_transfers)
    items = items_of(document, "transfers", limits.batch_events_max)
    engine = ledger.ledger

    def asset_of_account(account_id: int) -> Asset | None:
        state = engine.accounts.get(account_id)
        return None if state is None else engine.assets[state.definition.asset]

    def parse(item: object) -> Transfer:
        if actor.is_client and isinstance(item, dict) and "debit_account" in item:
            _check_debit(ledger, actor, check_id(item["debit_account"], "debit_account"))
        parsed = wire.parse_transfer(item, asset_of_account, engine.assets.get)
        _check_scope(ledger, actor, parsed)
        refuse_reserved(ledger, parsed)
        return parsed

    events = parsed_items(items, parse)
    results = ledger.submit(events)
    rows = [
        {"id": str(event.id), "result": result.value}
        for event, result in zip(events, results, strict=True)
    ]
    return {"ok": all(result.succeeded for result in results), "results": rows}


def _check_debit(ledger: LedgerService, actor: Actor, account_id: int) -> None:
    """Refuse a client's transfer out of an account that is not its own (checked before the
    amount is read, so that nothing about the account, not even its asset, is disclosed)."""
    state = ledger.ledger.accounts.get(account_id)
    if state is None or not sees_account(actor, state.definition):
        raise InputError(Result.account_not_found, f"debit_account {account_id}")


def _check_scope(ledger: LedgerService, actor: Actor, parsed: Transfer) -> None:
    if not actor.is_client:
        return
    if parsed.flags & (TransferFlags.post_pending | TransferFlags.void_pending):
        pending = ledger.store.transfers([parsed.pending_id]).get(parsed.pending_id)
        if pending is None or not _debits_own(ledger, actor, pending):
            raise InputError(Result.transfer_not_found, f"pending_id {parsed.pending_id}")
        if parsed.debit_account and parsed.debit_account != pending.debit_account:
            raise InputError(Result.account_not_found, f"debit_account {parsed.debit_account}")
        return
    _check_debit(ledger, actor, parsed.debit_account)


def _debits_own(ledger: LedgerService, actor: Actor, record: TransferRecord) -> bool:
    state = ledger.ledger.accounts.get(record.debit_account)
    return state is not None and sees_account(actor, state.definition)


def _sees_record(ledger: LedgerService, actor: Actor, record: TransferRecord) -> bool:
    if not actor.is_client:
        return True
    accounts = ledger.ledger.accounts
    return any(
        (state := accounts.get(account_id)) is not None and sees_account(actor, state.definition)
        for account_id in (record.debit_account, record.credit_account)
    )


def transfer(ledger: LedgerService, actor: Actor, transfer_id: int) -> dict[str, Any]:
    require(actor, Action.read_transfers)
    record = ledger.store.transfers([transfer_id]).get(transfer_id)
    if record is None or not _sees_record(ledger, actor, record):
        raise InputError(Result.transfer_not_found, str(transfer_id))
    return record_to_json(ledger, record)


def transfers(
    ledger: LedgerService,
    actor: Actor,
    *,
    account: int = 0,
    client: str = "",
    code: str = "",
    from_ns: int = 0,
    to_ns: int = 0,
    cursor: str | None = None,
    limit: int | None = None,
    metadata: Mapping[str, str] | Iterable[str] | None = None,
) -> Page:
    """Transfers the actor sees, oldest first, filtered by an account on either side, a
    client owning either side, a transfer code, timestamps in [from_ns, to_ns) and metadata
    pairs, each exactly (a map, or ``KEY=VALUE`` texts: ``metadata_filter``)."""
    require(actor, Action.read_transfers)
    after, size = cursor_value(cursor), page_size(limit)
    wanted = metadata_filter(metadata)
    engine = ledger.ledger
    if account:
        state = engine.accounts.get(account)
        if state is None or not sees_account(actor, state.definition):
            raise InputError(Result.account_not_found, str(account))
    if client:
        check_client(engine, actor, client)
    code_number = 0
    if code:
        if code not in TransferCode.__members__:
            raise InputError(Result.code_unknown, repr(code))
        code_number = int(TransferCode[code])
    chosen = _chosen(
        ledger,
        actor,
        after=after,
        account=account,
        client=client,
        code=code_number,
        from_ns=from_ns,
        to_ns=to_ns,
        metadata=wanted,
    )
    page = list(islice(chosen, size + 1))  # one more, to know whether a page follows
    found = ledger.store.transfer_metadata([record.id for record in page]) if page else {}
    rows = (
        (record.timestamp, record_to_json(ledger, record, found.get(record.id, b"")))
        for record in page
    )
    return paged(rows, size)


def metadata_filter(metadata: Mapping[str, str] | Iterable[str] | None) -> dict[str, str]:
    """A list's metadata filter: a map, or ``KEY=VALUE`` texts as a query or a command line
    gives them (each key at most once, else ``metadata_invalid``); at most
    ``limits.metadata_filters_max`` pairs, each a pair a transfer could carry."""
    if not metadata:
        return {}
    if isinstance(metadata, Mapping):
        return parse_metadata_filter(metadata)
    wanted: dict[str, str] = {}
    for text in metadata:
        key, equals, value = text.partition("=") if isinstance(text, str) else ("", "", "")
        if not equals or key in wanted:
            detail = f"metadata filter {text!r}: KEY=VALUE, each key once"
            raise InputError(Result.metadata_invalid, detail)
        wanted[key] = value
    return parse_metadata_filter(wanted)


def _chosen(
    ledger: LedgerService,
    actor: Actor,
    *,
    after: int,
    account: int,
    client: str,
    code: int,
    from_ns: int,
    to_ns: int,
    metadata: Mapping[str, str],
) -> Iterator[TransferRecord]:
    accounts = ledger.ledger.accounts
    store = ledger.store
    start = max(after, from_ns - 1, 0)
    records = (
        store.transfers_with_metadata(metadata, start) if metadata else store.projected_transfers()
    )
    for record in records:
        if record.timestamp <= after or record.timestamp < from_ns:
            continue
        if to_ns and record.timestamp >= to_ns:
            return
        sides = (record.debit_account, record.credit_account)
        if account and account not in sides:
            continue
        if code and record.code != code:
            continue
        if client and not any(_owned_by(accounts.get(side), client) for side in sides):
            continue
        if _sees_record(ledger, actor, record):
            yield record


def _owned_by(state: AccountState | None, client: str) -> bool:
    if state is None:
        return False
    definition = state.definition
    return definition.account_class is AccountClass.client and definition.owner == client


def record_to_json(
    ledger: LedgerService, record: TransferRecord, metadata: bytes | None = None
) -> dict[str, Any]:
    """``record`` on the wire with its metadata: ``metadata`` is its canonical encoding when the
    caller looked it up already (``b""``: none), else the store is asked."""
    engine = ledger.ledger
    authoriser = engine.principals.by_number.get(record.authoriser)
    name = authoriser.principal.name if authoriser is not None else None
    if metadata is None:
        metadata = ledger.store.transfer_metadata([record.id]).get(record.id, b"")
    asset = engine.assets_by_number[record.asset]
    return wire.record_to_json(record, asset, name, decode_metadata(metadata))
