"""What the ledger's commands ask and render, as plain values: definitions requested with
text fields (parsed here, with named errors), and JSON-able documents with every amount
formatted by ``core/money.py`` (the CLI prints them; the REST API will return them).
"""

from __future__ import annotations

from collections.abc import Sequence

from ringfence.core.errors import InputError, Result
from ringfence.core.ledger import wire
from ringfence.core.money import Asset, format_amount, format_signed_amount
from ringfence.service.ledger.service import Balance, LedgerService
from ringfence.service.ports import Signer


def journal_head(ledger: LedgerService) -> dict[str, object]:
    """Where the journal stands: its head's sequence number and hash."""
    return {"head_seq": ledger.seq, "head_hash": ledger.hash.hex()}


# ---------------------------------------------------------------------- definitions


def create_asset(
    ledger: LedgerService, *, code: str, scale: int, number: int, chain: str, contract: str
) -> list[Result]:
    """Define one asset (a ledger of its own)."""
    return ledger.define_assets([Asset(code, scale, number, chain, contract)])


def create_clients(ledger: LedgerService, names: Sequence[str]) -> list[Result]:
    """Define clients; the request is refused whole if any name is not one."""
    return ledger.define_clients(names)


def create_pool(
    ledger: LedgerService, *, name: str, kind: str, terms: str, purpose: str, client: str
) -> list[Result]:
    """Define one pool from its fields as text (``pool_kind_invalid`` and so on)."""
    return ledger.define_pools([wire.parse_pool(name, kind, terms, purpose, client)])


def create_account(
    ledger: LedgerService,
    *,
    account_id: str,
    asset: str,
    account_class: str,
    owner: str,
    kind: str,
    pool: str,
) -> tuple[str, list[Result]]:
    """Define one account from its fields as text; returns its id as text and the result."""
    fields: dict[str, object] = {
        "id": account_id,
        "asset": asset,
        "class": account_class,
        "owner": owner,
        "kind": kind,
    }
    if pool:
        fields["pool"] = pool
    definition = wire.parse_account(fields)
    return str(definition.id), ledger.define_accounts([definition])


# ---------------------------------------------------------------------- reading


def balances_document(
    ledger: LedgerService, client: str = "", pool: str = "", asset: str = ""
) -> dict[str, object]:
    """Account balances, by account id, optionally only one client's, pool's or asset's
    (naming one that does not exist is ``client_not_found`` and so on)."""
    state = ledger.ledger
    if client and client not in state.clients:
        raise InputError(Result.client_not_found, client)
    if pool and pool not in state.pools:
        raise InputError(Result.pool_not_found, pool)
    if asset and asset not in state.assets:
        raise InputError(Result.asset_not_found, asset)
    found = sorted(ledger.balances(client, pool, asset), key=lambda b: b.account.id)
    rows = [balance_to_json(balance, state.assets[balance.account.asset]) for balance in found]
    return {"ok": True, "balances": rows}


def balance_to_json(balance: Balance, asset: Asset) -> dict[str, object]:
    account = balance.account
    return {
        "account": str(account.id),
        "asset": account.asset,
        "class": account.account_class.value,
        "owner": account.owner,
        "kind": account.kind,
        "pool": account.pool,
        # Only accounts without a limit (network fees, clearing) can be negative.
        "balance": format_signed_amount(balance.balance, asset),
        "debits_pending": format_amount(balance.debits_pending, asset),
        "debits_posted": format_amount(balance.debits_posted, asset),
        "credits_pending": format_amount(balance.credits_pending, asset),
        "credits_posted": format_amount(balance.credits_posted, asset),
    }


def positions_document(ledger: LedgerService) -> dict[str, object]:
    """Per pool and asset: holdings, client liabilities, residual interest, shortfall, breaks."""
    by_number = ledger.ledger.assets_by_number
    breaks_open: dict[tuple[str, int], int] = {}
    for broken in ledger.breaks():
        if broken.outstanding:
            key = (broken.pool, broken.asset)
            breaks_open[key] = breaks_open.get(key, 0) + 1
    rows = []
    for position in ledger.positions():
        asset = by_number[position.asset]
        pool = position.pool
        rows.append(
            {
                "pool": pool.name,
                "kind": pool.kind.value,
                "terms": pool.terms.value,
                "purpose": pool.purpose.value,
                "asset": asset.code,
                "holdings": format_signed_amount(position.holdings, asset),
                "liabilities": format_signed_amount(position.liabilities, asset),
                "residual_interest": format_signed_amount(position.residual_interest, asset),
                "shortfall_pending": format_amount(position.shortfall_pending, asset),
                "breaks_outstanding": format_amount(position.breaks_outstanding, asset),
                "breaks_open": breaks_open.get((pool.name, position.asset), 0),
            }
        )
    return {"ok": True, "positions": rows}


# ---------------------------------------------------------------------- the journal and its key


def signed_head_document(ledger: LedgerService) -> dict[str, object]:
    """The head to publish: entry, hash and the journal key's signature over them."""
    seq, head_hash, signature = ledger.signed_head()
    key = ledger.journal_key
    return {
        "ok": True,
        "seq": seq,
        "hash": head_hash.hex(),
        "signature": signature.hex(),
        "journal_key": key.hex() if key is not None else "",
        "expect_head": f"{seq}:{head_hash.hex()}",
    }


def journal_key_document(ledger: LedgerService, key_file: str) -> dict[str, object]:
    """The keys the journal declares (from which entry), and whether the signer's key (from
    ``key_file``) is the one in force."""
    declared = [
        {"from_seq": d.seq, "public_key": d.public_key.hex()}
        for d in ledger.journal_keys.declarations
    ]
    held = ledger.signer.public_key()
    in_force = declared[-1]["public_key"] if declared else ""
    return {
        "ok": True,
        "declared": declared,
        "key_file": key_file,
        "key_file_public_key": held.hex() if held is not None else "",
        "key_file_in_force": held is not None and held.hex() == in_force,
    }


def rotation_document(ledger: LedgerService, new: Signer, key_file: str) -> dict[str, object]:
    """Hand the journal on to ``new``'s key (made now if it has none, in ``key_file``)."""
    public_key = ledger.rotate_journal_key(new)
    return {"ok": True, "seq": ledger.seq, "public_key": public_key.hex(), "key_file": key_file}
