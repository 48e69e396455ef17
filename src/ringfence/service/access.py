"""The ledger as a principal may use it: every read and write the service offers over the
network, each taking the ``Actor`` a request acts as (core/access/roles.py).

Isolation lives here, not in the routes: a function first checks the actor's role may do the
action at all (``role_forbidden``), then shows or accepts only what the actor may see, so a
client principal reading another client's account gets ``account_not_found``, exactly as if
the account did not exist (its existence is not disclosed either). The entry points (the REST
API, entrypoints/api/) parse a request, call one function here, and render what it returns.

Bodies are JSON documents read strictly (``decode_body``): numbers with a fraction decode as
``Decimal`` so that a float amount is refused by name, duplicate keys, NaN and Infinity are
refused, and each object is read by the wire format's parsers (core/ledger/wire.py), which
refuse unknown fields. Any bad item refuses the whole request, naming its index; nothing is
changed. Lists are pages in a fixed order with a cursor: the last item's id (a transfer's
timestamp for transfers).

Definitions (assets, clients, pools, accounts created) are in ``service/access_definitions.py``,
transfers in ``service/access_transfers.py``.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Sequence
from typing import Any, TypeVar

from ringfence.core import limits
from ringfence.core.access.keys import key_prefix
from ringfence.core.access.roles import Action, Actor, require, sees_account, sees_client
from ringfence.core.errors import InputError, Result
from ringfence.core.ledger import wire
from ringfence.core.ledger.engine import Ledger
from ringfence.core.ledger.model import AccountClass, AccountDefinition, check_id
from ringfence.core.ledger.state import AccountState
from ringfence.core.money import format_amount, format_signed_amount
from ringfence.service.audit import verify_store
from ringfence.service.history import as_of_point, ledger_as_of
from ringfence.service.ledger import LedgerService

__all__ = [
    "Actor",
    "Page",
    "account",
    "accounts",
    "audit",
    "balance",
    "balances",
    "body_bytes_max",
    "decode_body",
    "definitions_per_request_max",
    "parse_id",
    "positions",
    "transfers_per_request_max",
]

Page = dict[str, Any]  # {"items": [...], "next_cursor": str | None}
# The entry points bound a request body before asking the service to read it, and describe
# the bounds of a request in their documents (the OpenAPI document).
body_bytes_max = limits.api_request_body_bytes_max
definitions_per_request_max = limits.definitions_per_request_max
transfers_per_request_max = limits.batch_events_max
T = TypeVar("T")


# ---------------------------------------------------------------------- bodies and pages


def looks_like_api_key(presented: str) -> bool:
    """Whether a bearer credential is meant as an API key (``rf_...``) rather than a token."""
    return presented.startswith(key_prefix)


def decode_body(body: bytes) -> object:
    """A request body as a JSON value, strictly (see the module docstring)."""
    assert len(body) <= limits.api_request_body_bytes_max  # the entry point bounds it first
    return wire.strict_json(body, Result.request_body_malformed)


def items_of(document: object, key: str, count_max: int) -> list[object]:
    """The list under ``key`` of a request document ``{key: [...]}``, and nothing else."""
    if not isinstance(document, dict):
        raise InputError(Result.request_body_malformed, f'a JSON object {{"{key}": [...]}}')
    unknown = sorted(str(name) for name in document if name != key)
    if unknown:
        raise InputError(Result.field_unknown, ", ".join(unknown))
    found = document.get(key)
    if not isinstance(found, list):
        raise InputError(Result.field_required, f"{key}: a list")
    if not found:
        raise InputError(Result.field_required, f"{key}: at least one")
    if len(found) > count_max:
        raise InputError(Result.batch_too_large, f"{len(found)} {key}, at most {count_max}")
    return found


def parsed_items(items: Sequence[object], parse: Callable[[object], T]) -> list[T]:
    """Each item parsed, or the first refusal naming its index: nothing is partly accepted."""
    parsed: list[T] = []
    for index, item in enumerate(items):
        try:
            parsed.append(parse(item))
        except InputError as error:
            raise InputError(error.code, f"item {index}: {error.detail}") from None
    return parsed


def page_size(limit: int | None) -> int:
    size = limits.api_page_size_default if limit is None else limit
    if not 0 < size <= limits.api_page_size_max:
        raise InputError(Result.page_size_too_large, f"limit {size}: 1..{limits.api_page_size_max}")
    return size


def cursor_value(cursor: str | None) -> int:
    """A cursor's integer (an id or a timestamp); 0 for the first page."""
    if cursor is None or cursor == "":
        return 0
    if len(cursor) > limits.api_cursor_length_max or not cursor.isdigit() or not cursor.isascii():
        raise InputError(Result.cursor_invalid, repr(cursor[: limits.api_cursor_length_max]))
    return int(cursor)


def paged(rows: Iterable[tuple[int, dict[str, Any]]], size: int) -> Page:
    """The first ``size`` rows (already past the cursor, in order) and the next cursor."""
    items: list[dict[str, Any]] = []
    last = 0
    for key, row in rows:
        if len(items) == size:
            return {"items": items, "next_cursor": str(last)}
        items.append(row)
        last = key
    return {"items": items, "next_cursor": None}


def results_document(names: Sequence[str], results: Sequence[Result], key: str) -> dict[str, Any]:
    pairs = zip(names, results, strict=True)
    rows = [{key: name, "result": result.value} for name, result in pairs]
    return {"ok": all(result.succeeded for result in results), "results": rows}


# ---------------------------------------------------------------------- accounts and balances


def _visible(engine: Ledger, actor: Actor) -> Iterator[AccountState]:
    for state in engine.accounts.values():
        if sees_account(actor, state.definition):
            yield state


def check_client(engine: Ledger, actor: Actor, client: str) -> None:
    """``client_not_found`` for a client that does not exist and for one the actor may not
    see: another client's name reads exactly as a name that was never defined."""
    if client not in engine.clients or not sees_client(actor, client):
        raise InputError(Result.client_not_found, client)


def _account_state(engine: Ledger, actor: Actor, account_id: int) -> AccountState:
    state = engine.accounts.get(account_id)
    if state is None or not sees_account(actor, state.definition):
        raise InputError(Result.account_not_found, str(account_id))
    return state


def _engine_at(ledger: LedgerService, as_of: str | None, as_of_seq: str | None) -> Ledger:
    """The engine now, or as it stood at the point ``as_of`` / ``as_of_seq`` names
    (service/history.py: replayed from the journal)."""
    point = as_of_point(ledger, as_of, as_of_seq)
    if point is None:
        ledger.positions()  # rebuilds the engine first if a failure left it stale
        return ledger.ledger
    return ledger_as_of(ledger, point)


def account(ledger: LedgerService, actor: Actor, account_id: int) -> dict[str, Any]:
    require(actor, Action.read_accounts)
    return wire.account_to_json(_account_state(ledger.ledger, actor, account_id).definition)


def accounts(
    ledger: LedgerService,
    actor: Actor,
    *,
    client: str = "",
    pool: str = "",
    asset: str = "",
    cursor: str | None = None,
    limit: int | None = None,
) -> Page:
    """Accounts the actor sees, by id, filtered by owner client, pool and asset."""
    require(actor, Action.read_accounts)
    return _account_page(
        ledger.ledger,
        actor,
        client=client,
        pool=pool,
        asset=asset,
        cursor=cursor,
        limit=limit,
        row=_account_row,
    )


def balance(
    ledger: LedgerService,
    actor: Actor,
    account_id: int,
    *,
    as_of: str | None = None,
    as_of_seq: str | None = None,
) -> dict[str, Any]:
    """One account's balances, now or at a past point (a time, or a journal sequence); an
    account not yet defined then is ``account_not_found``."""
    require(actor, Action.read_accounts)
    engine = _engine_at(ledger, as_of, as_of_seq)
    return _balance_row(engine, _account_state(engine, actor, account_id))


def balances(
    ledger: LedgerService,
    actor: Actor,
    *,
    client: str = "",
    pool: str = "",
    asset: str = "",
    cursor: str | None = None,
    limit: int | None = None,
    as_of: str | None = None,
    as_of_seq: str | None = None,
) -> Page:
    """Balances of the accounts the actor sees, by account id, filtered as ``accounts``; now
    or at a past point, as ``balance``."""
    require(actor, Action.read_accounts)
    cursor_value(cursor), page_size(limit)  # refused before any replay
    engine = _engine_at(ledger, as_of, as_of_seq)
    return _account_page(
        engine,
        actor,
        client=client,
        pool=pool,
        asset=asset,
        cursor=cursor,
        limit=limit,
        row=_balance_row,
    )


def _account_page(
    engine: Ledger,
    actor: Actor,
    *,
    client: str,
    pool: str,
    asset: str,
    cursor: str | None,
    limit: int | None,
    row: Callable[[Ledger, AccountState], dict[str, Any]],
) -> Page:
    after, size = cursor_value(cursor), page_size(limit)
    if client:
        check_client(engine, actor, client)
    if pool and pool not in engine.pools:
        raise InputError(Result.pool_not_found, pool)
    if asset and asset not in engine.assets:
        raise InputError(Result.asset_not_found, asset)
    chosen = sorted(
        (
            state
            for state in _visible(engine, actor)
            if state.definition.id > after and _matches(state.definition, client, pool, asset)
        ),
        key=lambda state: state.definition.id,
    )
    return paged(((state.definition.id, row(engine, state)) for state in chosen), size)


def _matches(definition: AccountDefinition, client: str, pool: str, asset: str) -> bool:
    if client and not (
        definition.owner == client and definition.account_class is AccountClass.client
    ):
        return False
    if pool and definition.pool != pool:
        return False
    return not asset or definition.asset == asset


def _account_row(engine: Ledger, state: AccountState) -> dict[str, Any]:
    return wire.account_to_json(state.definition)


def _balance_row(engine: Ledger, state: AccountState) -> dict[str, Any]:
    asset = engine.assets[state.definition.asset]
    debits_pending, debits_posted, credits_pending, credits_posted = state.balances()
    document = wire.account_to_json(state.definition)
    document["account"] = document.pop("id")
    document.update(
        {
            "balance": format_signed_amount(state.balance, asset),
            "debits_pending": format_amount(debits_pending, asset),
            "debits_posted": format_amount(debits_posted, asset),
            "credits_pending": format_amount(credits_pending, asset),
            "credits_posted": format_amount(credits_posted, asset),
        }
    )
    return document


# ---------------------------------------------------------------------- pools and the audit


def positions(
    ledger: LedgerService,
    actor: Actor,
    *,
    as_of: str | None = None,
    as_of_seq: str | None = None,
) -> list[dict[str, Any]]:
    """Each pool's position per asset, with its coverage (holdings over liabilities, as a
    decimal string; None when the pool owes nothing), now or at a past point (as
    ``balance``). Sums over every client: staff only."""
    require(actor, Action.read_positions)
    engine = _engine_at(ledger, as_of, as_of_seq)
    by_number = engine.assets_by_number
    rows = []
    for position in sorted(engine.positions.values(), key=lambda p: (p.pool.name, p.asset)):
        asset = by_number[position.asset]
        liabilities = position.liabilities
        rows.append(
            {
                "pool": position.pool.name,
                "kind": position.pool.kind.value,
                "terms": position.pool.terms.value,
                "purpose": position.pool.purpose.value,
                "asset": asset.code,
                "holdings": format_signed_amount(position.holdings, asset),
                "liabilities": format_signed_amount(liabilities, asset),
                "residual_interest": format_signed_amount(position.residual_interest, asset),
                "shortfall_pending": format_amount(position.shortfall_pending, asset),
                "breaks_outstanding": format_amount(position.breaks_outstanding, asset),
                "segregated": position.enforced,
                "coverage": coverage_text(position.holdings, liabilities),
            }
        )
    return rows


def coverage_text(holdings: int, liabilities: int) -> str | None:
    """Holdings over liabilities to six decimals, rounded down (never shows cover that is not
    there); None when nothing is owed."""
    if liabilities <= 0:
        return None
    millionths = max(holdings, 0) * 10**6 // liabilities
    return f"{millionths // 10**6}.{millionths % 10**6:06d}"


def coverage_ratios(ledger: LedgerService) -> list[tuple[str, str, float]]:
    """(pool, asset, holdings / liabilities) of every position that owes something, for
    metrics; a float is fine there: a gauge, never an amount."""
    by_number = ledger.ledger.assets_by_number
    return [
        (p.pool.name, by_number[p.asset].code, max(p.holdings, 0) / p.liabilities)
        for p in ledger.positions()
        if p.liabilities > 0
    ]


def audit(ledger: LedgerService, actor: Actor) -> dict[str, Any]:
    """``audit verify`` over the service's own store, trusting its own journal key."""
    require(actor, Action.audit)
    own = ledger.signer.public_key()
    report = verify_store(ledger.store, None, [] if own is None else [own], {})
    document: dict[str, Any] = report.to_json()
    return document


def parse_id(text: str, what: str) -> int:
    """An id from a path or a query (decimal digits, 1..2^128-1)."""
    return check_id(text, what)


def check_metrics_reader(actor: Actor) -> None:
    """Metrics sum every client's pools: staff only."""
    require(actor, Action.read_metrics)
