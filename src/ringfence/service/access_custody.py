"""Custody wallets and deposit addresses as a principal may use them: each one call of the
service function the matching ``ringfence wallets`` command calls (service/custody_requests.py)
with the actor's duty checked first. The REST API calls these.

- The wallet registry (each wallet's chain, scheme, keys, pool, tier, designation history and
  addresses) is staff's reading (``read_wallets``): it names the house's and every pool's
  wallets.
- A client's deposit addresses (the addresses assigned to it, where it pays in) are read by
  staff and by that client alone (``read_deposit_addresses``); another client's name is
  ``client_not_found``, exactly as a name never defined.
- A wallet is a definition: only ``admin`` creates one (``define``), as ``wallets create``
  does, designates it to another pool or tier (``wallets designate``), assigns its addresses
  to clients or its pool (``wallets assign``) and records a client's own outside address
  (``wallets client-address``); each change is journaled like every registry change.

Lists are pages in a fixed order with a cursor (service/access.py): wallets by number, a
wallet's addresses by (change branch, index), a client's deposit addresses by (wallet number,
change branch, index).
"""

from __future__ import annotations

from typing import Any, Final

from ringfence.core import limits
from ringfence.core.access.roles import Action, Actor, require
from ringfence.core.custody.registry import AddressAssignment
from ringfence.core.errors import InputError, Result
from ringfence.core.ledger.model import check_name
from ringfence.service import custody_requests
from ringfence.service.access import Page, check_client, cursor_value, page_size, paged
from ringfence.service.custody import CustodyService
from ringfence.service.ledger import LedgerService

__all__ = ["assign_addresses", "create_wallet", "deposit_addresses", "designate_wallet",
           "record_client_address", "wallet", "wallets"]  # fmt: skip

# The fields of a wallet to create: the options of ``wallets create``.
_wallet_fields: Final = {"name", "chain", "scheme", "keys", "pool", "tier", "network"}
_wallet_required: Final = ("name", "chain", "scheme", "keys")
# The longest key (an xpub, or a fixed address) a wallet may name, for the API's schema.
key_length_max: Final = limits.wallet_key_length_max
assigned_max: Final = limits.api_addresses_assigned_max
# An address's place in a cursor: the wallet's number (below 2^32), the index (below 2^31) and
# the branch, packed into one integer (at most 20 digits, inside limits.api_cursor_length_max).
_index_bits: Final = 32


def wallets(
    ledger: LedgerService,
    actor: Actor,
    *,
    pool: str = "",
    house: bool = False,
    chain: str = "",
    cursor: str | None = None,
    limit: int | None = None,
) -> Page:
    """The wallets by number, each as ``wallets list`` shows it; only those of ``pool``, of
    the house (``house``: designated to no pool) and of ``chain``, when given."""
    require(actor, Action.read_wallets)
    after, size = cursor_value(cursor), page_size(limit)
    if chain:
        custody_requests.chain_word(chain)
    if house and pool:
        raise InputError(Result.field_unknown, "house and pool: one or the other")
    rows = custody_requests.list_wallets(CustodyService(ledger))["wallets"]
    chosen = (
        (row["number"], row)
        for row in rows
        if row["number"] > after
        and (not pool or row["pool"] == pool)
        and (not house or row["pool"] == "")
        and (not chain or row["chain"] == chain)
    )
    return paged(chosen, size)


def wallet(
    ledger: LedgerService,
    actor: Actor,
    name: str,
    *,
    cursor: str | None = None,
    limit: int | None = None,
) -> dict[str, Any]:
    """One wallet as ``wallets list`` shows it, with a page of its addresses (each with its
    index, branch and the client it is a deposit address of, "" for the pool's)."""
    require(actor, Action.read_wallets)
    after, size = cursor_value(cursor), page_size(limit)
    check_name(name, "wallet")
    custody = CustodyService(ledger)
    state = custody.registry.wallets.get(name)
    if state is None:
        raise InputError(Result.wallet_not_found, name)
    row = next(r for r in custody.wallets() if r["name"] == name)
    keyed = sorted((_place(state.number, a), a) for a in custody.addresses_of(name))
    addresses = paged(((key, _address(a)) for key, a in keyed if key > after), size)
    return {"ok": True, **row, "address_page": addresses}


def deposit_addresses(
    ledger: LedgerService,
    actor: Actor,
    client: str,
    *,
    cursor: str | None = None,
    limit: int | None = None,
) -> Page:
    """The addresses assigned to ``client`` (where it pays in), each with its wallet, chain,
    pool and tier: staff, and that client alone."""
    require(actor, Action.read_deposit_addresses)
    after, size = cursor_value(cursor), page_size(limit)
    check_client(ledger.ledger, actor, check_name(client, "client"))
    registry = CustodyService(ledger).registry
    keyed = sorted(
        (_place(registry.wallets[a.wallet].number, a), a)
        for a in registry.addresses.values()
        if a.client == client
    )
    rows = (
        (key, {**_address(a), **_wallet_of(registry.wallets[a.wallet])})
        for key, a in keyed
        if key > after
    )
    return paged(rows, size)


def create_wallet(ledger: LedgerService, actor: Actor, document: object) -> dict[str, Any]:
    """Define a wallet (``wallets create``): ``{"name", "chain", "scheme", "keys": [...],
    "pool", "tier", "network"}``, the last three optional (the house, hot, mainnet). The
    answer is a result per record, ``ok`` whether it was accepted."""
    require(actor, Action.define)
    if not isinstance(document, dict):
        raise InputError(Result.request_body_malformed, "a JSON object: the wallet")
    unknown = sorted(str(key) for key in document if key not in _wallet_fields)
    if unknown:
        raise InputError(Result.field_unknown, ", ".join(unknown))
    for field in _wallet_required:
        if field not in document:
            raise InputError(Result.field_required, field)
    for field in _wallet_fields - {"keys"}:
        if field in document and not isinstance(document[field], str):
            raise InputError(Result.field_unknown, f"{field}: a string")
    keys = document["keys"]
    if not isinstance(keys, list) or not keys or not all(isinstance(k, str) for k in keys):
        raise InputError(Result.wallet_keys_invalid, "keys: a list of strings")
    name = check_name(document["name"], "wallet")
    return custody_requests.create_wallet(
        CustodyService(ledger), name, chain=document["chain"], scheme=document["scheme"],
        keys=keys, pool=document.get("pool", ""), tier=document.get("tier", "hot"),
        network=document.get("network", "mainnet"),
    )  # fmt: skip


def assign_addresses(
    ledger: LedgerService, actor: Actor, wallet_name: str, document: object
) -> dict[str, Any]:
    """``wallets assign``: derive ``count`` addresses of the wallet from index ``start`` (on
    the change branch with ``change``) and assign them to ``client``, or with none to the
    wallet's pool; ``{"count"?: 1, "start"?: 0, "client"?: "", "change"?: false}``, at most
    ``limits.api_addresses_assigned_max`` at a time. A registry change: ``admin``."""
    require(actor, Action.define)
    fields = _fields(document, {"count": int, "start": int, "client": str, "change": bool})
    count = fields.get("count", 1)
    if not 1 <= count <= limits.api_addresses_assigned_max:
        raise InputError(
            Result.derivation_count_invalid, f"{count}; 1 to {limits.api_addresses_assigned_max}"
        )
    return custody_requests.assign_addresses(
        CustodyService(ledger), check_name(wallet_name, "wallet"), count=count,
        start=fields.get("start", 0), client=fields.get("client", ""),
        change=fields.get("change", False),
    )  # fmt: skip


def designate_wallet(
    ledger: LedgerService, actor: Actor, wallet_name: str, document: object
) -> dict[str, Any]:
    """``wallets designate``: move the wallet to another pool (``""``: the house; only when
    it holds nothing) or tier, ``{"pool"?, "tier"?}``, what is not given unchanged; journaled
    with its history. A registry change: ``admin``."""
    require(actor, Action.define)
    fields = _fields(document, {"pool": str, "tier": str})
    return custody_requests.designate_wallet(
        CustodyService(ledger),
        check_name(wallet_name, "wallet"),
        fields.get("pool"),
        fields.get("tier"),
    )


def record_client_address(
    ledger: LedgerService, actor: Actor, client: str, document: object
) -> dict[str, Any]:
    """``wallets client-address``: record ``{"address"}`` as the client's own outside address
    (where it sends from and withdraws to). A registry change: ``admin``."""
    require(actor, Action.define)
    fields = _fields(document, {"address": str})
    if "address" not in fields:
        raise InputError(Result.field_required, "address")
    check_client(ledger.ledger, actor, check_name(client, "client"))
    return custody_requests.record_client_address(CustodyService(ledger), fields["address"], client)


def _fields(document: object, types: dict[str, type]) -> dict[str, Any]:
    """A body's fields, each of its type (an integer is never a boolean), and no others."""
    if not isinstance(document, dict):
        raise InputError(Result.request_body_malformed, "a JSON object")
    unknown = sorted(str(key) for key in document if key not in types)
    if unknown:
        raise InputError(Result.field_unknown, ", ".join(unknown))
    for name, value in document.items():
        if type(value) is not types[name]:
            raise InputError(Result.field_unknown, f"{name}: a {types[name].__name__}")
    return dict(document)


def _place(number: int, address: AddressAssignment) -> int:
    return (number << _index_bits) | (address.index << 1) | int(address.change)


def _address(address: AddressAssignment) -> dict[str, Any]:
    return {
        "address": address.address,
        "wallet": address.wallet,
        "index": address.index,
        "change": address.change,
        "client": address.client,
    }


def _wallet_of(state: Any) -> dict[str, Any]:
    return {
        "chain": state.wallet.chain.value,
        "network": state.wallet.network,
        "pool": state.pool,
        "tier": state.tier,
    }
