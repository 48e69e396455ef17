"""Definitions as a principal may use them: assets, clients and pools listed, and assets,
clients, pools and accounts defined (an admin's duty); see service/access.py for the actor,
the strict bodies and the results.

A client principal sees every asset, only itself among the clients, and only the pools it
holds an account in (another client's individual pool would name that client).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from ringfence.core import limits
from ringfence.core.access.roles import Action, Actor, require, sees_account, sees_client
from ringfence.core.errors import InputError, Result
from ringfence.core.ledger import wire
from ringfence.core.ledger.model import Pool, PoolKind, Purpose, Terms, check_name
from ringfence.core.money import Asset
from ringfence.service.access import items_of, parsed_items, results_document
from ringfence.service.ledger import LedgerService

__all__ = ["assets", "clients", "define", "pools"]


def assets(ledger: LedgerService, actor: Actor) -> list[dict[str, Any]]:
    require(actor, Action.read_definitions)
    found = sorted(ledger.ledger.assets.values(), key=lambda asset: asset.number)
    return [
        {
            "code": asset.code,
            "scale": asset.scale,
            "number": asset.number,
            "chain": asset.chain,
            "contract": asset.contract,
        }
        for asset in found
    ]


def clients(ledger: LedgerService, actor: Actor) -> list[dict[str, Any]]:
    """The clients the actor may see: every one for staff, its own for a client."""
    require(actor, Action.read_definitions)
    found = sorted(ledger.ledger.clients.values(), key=lambda client: client.number)
    return [{"name": c.name} for c in found if sees_client(actor, c.name)]


def pools(ledger: LedgerService, actor: Actor) -> list[dict[str, Any]]:
    """Every pool for staff; for a client, the pools it holds an account in."""
    require(actor, Action.read_definitions)
    shown: set[str] | None = None
    if actor.is_client:
        shown = {
            state.definition.pool
            for state in ledger.ledger.accounts.values()
            if sees_account(actor, state.definition)
        }
    found = sorted(ledger.ledger.pools.values(), key=lambda pool: pool.name)
    return [pool_to_json(pool) for pool in found if shown is None or pool.name in shown]


def pool_to_json(pool: Pool) -> dict[str, Any]:
    return {
        "name": pool.name,
        "kind": pool.kind.value,
        "terms": pool.terms.value,
        "purpose": pool.purpose.value,
        "client": pool.client,
    }


def define(ledger: LedgerService, actor: Actor, what: str, document: object) -> dict[str, Any]:
    """Define ``what`` (assets, clients, pools, accounts) from ``{what: [...]}``: a result per
    item, as the ledger decides it (``exists`` for the same definition again)."""
    require(actor, Action.define)
    items = items_of(document, what, limits.definitions_per_request_max)
    if what == "assets":
        parsed_assets = parsed_items(items, _parse_asset)
        return results_document(
            [asset.code for asset in parsed_assets], ledger.define_assets(parsed_assets), "asset"
        )
    if what == "clients":
        names = parsed_items(items, lambda item: check_name(item, "client"))
        return results_document(names, ledger.define_clients(names), "client")
    if what == "pools":
        parsed_pools = parsed_items(items, _parse_pool)
        return results_document(
            [pool.name for pool in parsed_pools], ledger.define_pools(parsed_pools), "pool"
        )
    assert what == "accounts", what
    parsed_accounts = parsed_items(items, wire.parse_account)
    return results_document(
        [str(account.id) for account in parsed_accounts],
        ledger.define_accounts(parsed_accounts),
        "account",
    )


_asset_fields = frozenset({"code", "scale", "number", "chain", "contract"})
_pool_fields = frozenset({"name", "kind", "terms", "purpose", "client"})


def _fields(item: object, allowed: frozenset[str], required: Sequence[str]) -> dict[str, Any]:
    if not isinstance(item, dict):
        raise InputError(Result.request_body_malformed, "each item is a JSON object")
    unknown = sorted(str(key) for key in item if key not in allowed)
    if unknown:
        raise InputError(Result.field_unknown, ", ".join(unknown))
    for key in required:
        if key not in item:
            raise InputError(Result.field_required, key)
    return item


def _parse_asset(item: object) -> Asset:
    fields = _fields(item, _asset_fields, ("code", "scale", "number"))
    for key in ("scale", "number"):
        if type(fields[key]) is not int:
            code = Result.asset_scale_invalid if key == "scale" else Result.asset_number_invalid
            raise InputError(code, f"{key} is a JSON integer")
    return Asset(
        fields["code"],
        fields["scale"],
        fields["number"],
        fields.get("chain", ""),
        fields.get("contract", ""),
    )


def _parse_pool(item: object) -> Pool:
    fields = _fields(item, _pool_fields, ("name", "kind", "terms"))
    choices: tuple[tuple[str, Any, Result], ...] = (
        ("kind", PoolKind, Result.pool_kind_invalid),
        ("terms", Terms, Result.pool_terms_invalid),
        ("purpose", Purpose, Result.pool_purpose_invalid),
    )
    chosen: dict[str, Any] = {"purpose": Purpose.spot_custody}
    for key, kind, refusal in choices:
        if key in fields:
            value = fields[key]
            if not isinstance(value, str) or value not in {member.value for member in kind}:
                raise InputError(refusal, f"{key} {value!r}")
            chosen[key] = kind(value)
    client = fields.get("client", "")
    if not isinstance(client, str):
        raise InputError(Result.name_invalid, f"client {client!r}")
    return Pool(check_name(fields["name"], "pool"), **chosen, client=client)
