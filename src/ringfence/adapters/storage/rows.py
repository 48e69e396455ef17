"""Rows of the SQL stores' definition tables back into definitions, shared by SQLite and
PostgreSQL so that both read them the same way (the audit compares them with the journal)."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any

from ringfence.core.journal import Definition, EntryKind
from ringfence.core.model import AccountClass, AccountDefinition, Pool, PoolKind, Purpose, Terms
from ringfence.core.money import Asset

# The columns each store selects, in this order; the caller appends its own ORDER BY.
definition_queries = {
    EntryKind.assets: "SELECT code, number, scale, chain, contract FROM assets",
    EntryKind.clients: "SELECT name, number FROM clients",
    EntryKind.pools: "SELECT name, kind, terms, purpose, client FROM pools",
    EntryKind.accounts: "SELECT id, asset, class, owner, kind, pool FROM accounts",
}


def definitions_from_rows(
    query: Callable[[EntryKind], Iterable[tuple[Any, ...]]],
) -> dict[EntryKind, list[Definition]]:
    """Build every definition kind from ``query(kind)``, which runs that kind's SELECT.

    Integers go through ``int()``: SQLite keeps u128 ids above 2^63 as decimal text, and
    PostgreSQL returns NUMERIC as ``int`` or ``Decimal`` depending on the adapter's loaders.
    """
    return {
        EntryKind.assets: [
            Asset(code, int(scale), int(number), chain, contract)
            for code, number, scale, chain, contract in query(EntryKind.assets)
        ],
        EntryKind.clients: [(name, int(number)) for name, number in query(EntryKind.clients)],
        EntryKind.pools: [
            Pool(name, PoolKind(kind), Terms(terms), Purpose(purpose), client)
            for name, kind, terms, purpose, client in query(EntryKind.pools)
        ],
        EntryKind.accounts: [
            AccountDefinition(int(i), asset, AccountClass(account_class), owner, kind, pool)
            for i, asset, account_class, owner, kind, pool in query(EntryKind.accounts)
        ],
    }
