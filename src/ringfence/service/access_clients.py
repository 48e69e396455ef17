"""What a client reads in the client portal, as a principal may: its balances per pool, its
withdrawals and their status, and its proof of inclusion in the latest proof-of-reserves round
(its statements of position are service/access_recon.py's, as the REST API's are).

Each function takes the ``Actor`` a signed-in page acts as and the client the page names. A
client principal naming another client gets ``client_not_found``, exactly as if that client
did not exist, so a page of another client is a 404 that discloses nothing; staff see any
client as the REST API lets them (``read_proofs``, which carries the client's round nonce, is the
client's own and the auditor's only).
"""

from __future__ import annotations

from typing import Any

from ringfence.core.access.roles import Action, Actor, require
from ringfence.core.errors import InputError, Result
from ringfence.core.ledger.model import AccountClass
from ringfence.core.money import format_signed_amount, format_signed_units
from ringfence.core.por.round import round_public_key
from ringfence.service import withdrawals
from ringfence.service.access import check_client
from ringfence.service.access_reports import client_proofs, round_summary
from ringfence.service.ledger import LedgerService
from ringfence.service.ports import RoundStore

__all__ = ["client_balances", "client_inclusion", "client_withdrawals"]


def client_withdrawals(ledger: LedgerService, actor: Actor, client: str) -> dict[str, Any]:
    """The client's withdrawals, newest first, each with its status and, once sent, its
    chain transaction (service/withdrawals.py; a client reads no policy trace)."""
    require(actor, Action.read_withdrawals)
    check_client(ledger.ledger, actor, client)
    found = withdrawals.of_client(ledger, actor, client)
    return {"ok": True, "client": client, "total": found["total"], "withdrawals": found["items"]}


def client_balances(ledger: LedgerService, actor: Actor, client: str) -> dict[str, Any]:
    """The client's accounts grouped by pool, each pool with its kind and terms (custody:
    the client keeps title; title transfer: the client holds a claim on the firm)."""
    require(actor, Action.read_accounts)
    check_client(ledger.ledger, actor, client)
    engine = ledger.ledger
    pools: dict[str, dict[str, Any]] = {}
    for state in sorted(engine.accounts.values(), key=lambda s: s.definition.id):
        definition = state.definition
        if definition.account_class is not AccountClass.client or definition.owner != client:
            continue
        pool = engine.pools[definition.pool]
        entry = pools.setdefault(
            pool.name,
            {
                "pool": pool.name,
                "kind": pool.kind.value,
                "terms": pool.terms.value,
                "purpose": pool.purpose.value,
                "accounts": [],
            },
        )
        asset = engine.assets[definition.asset]
        found = ledger.balance(definition.id)
        entry["accounts"].append(
            {
                "account": str(definition.id),
                "asset": asset.code,
                "kind": definition.kind,
                "balance": format_signed_amount(found.balance, asset),
                "balance_units": str(found.balance),
                "pending_out": format_signed_amount(found.debits_pending, asset),
                "pending_in": format_signed_amount(found.credits_pending, asset),
            }
        )
    return {"ok": True, "client": client, "pools": list(pools.values())}


def client_inclusion(
    ledger: LedgerService, rounds: RoundStore | None, actor: Actor, client: str
) -> dict[str, Any]:
    """The latest round as the portal shows it (snapshot time, each asset's reserves and
    coverage), its signed record, the firm's pinned signing key, and the client's inclusion
    proofs with their total per asset (``proofs`` None when the client is owed nothing in
    that round). The browser checks the proofs against the record itself."""
    require(actor, Action.read_proofs)
    check_client(ledger.ledger, actor, client)
    numbers = rounds.numbers() if rounds is not None else []
    if rounds is None or not numbers:
        return {"ok": True, "client": client, "round": None}
    number = numbers[-1]
    record = rounds.round(number).record()
    summary = round_summary(ledger, rounds, number)
    try:
        bundle: dict[str, Any] | None = client_proofs(ledger, rounds, actor, client, str(number))
    except InputError as error:
        if error.code is not Result.client_not_found:
            raise
        bundle = None
    scales = {line["asset"]: line["scale"] for line in summary["assets"]}
    proven = (
        []
        if bundle is None
        else [
            {
                "asset": proof["asset"],
                "amount": format_signed_units(
                    sum(int(piece["value"]) for piece in proof["pieces"]), scales[proof["asset"]]
                ),
            }
            for proof in bundle["proofs"]
        ]
    )
    return {
        "ok": True,
        "client": client,
        "round": summary,
        "record": record,
        "pinned_public_key": round_public_key(rounds.signing_seed()),
        "proofs": bundle,
        "proven": proven,
    }
