"""Principals at the edges: registering, rotating and revoking keys, and signing instructions.

The registry's rules are the core's (core/principals/records.py) and the ledger service journals its
changes; this module holds the workflows the command line and library users run:

- ``add_principal``: register a principal, or rotate its key, endorsed by an admin whose key the
  caller holds (a ledger's first principal, its admin, needs no endorsement);
- ``revoke_principal``: revoke a principal's current key, endorsed by an admin;
- ``principals_document``: the registry with each principal's history, as JSON;
- ``sign_transfer_lines``: the client's side: read transfer lines (the wire format,
  core/ledger/wire.py) and give each one that needs authorisation back signed by the principal whose
  key the caller holds; every other line passes through unchanged.

The ``ringfence principals`` commands call the workflows at the end of this module, which take
the principal's fields as text and key files by name (through the ``PrincipalFiles`` port):
``create_key``, ``register_principal``, ``revoke_with_key_file``, ``signed_transfer_lines``
and ``sign_transfer_file``.
"""

from __future__ import annotations

import json
import secrets
from collections.abc import Iterable, Iterator
from dataclasses import replace
from typing import Any

from ringfence.core import limits
from ringfence.core.errors import InputError, Result
from ringfence.core.ledger import wire
from ringfence.core.ledger.segregation import codes_needing_authorisation
from ringfence.core.money import Asset
from ringfence.core.principals.authorisation import public_key_of
from ringfence.core.principals.records import (
    Principal,
    PrincipalChange,
    PrincipalRole,
    PrincipalState,
    PrincipalStatus,
    parse_public_key_hex,
    parse_role,
)
from ringfence.service.ledger import LedgerService
from ringfence.service.ports import PrincipalFiles


def add_principal(
    ledger: LedgerService,
    principal: Principal,
    endorser: str = "",
    endorser_seed: bytes | None = None,
) -> Result:
    """Register ``principal`` (or rotate its key), endorsed by the admin ``endorser`` with the
    key of ``endorser_seed``; without an endorser only a ledger's first admin is accepted."""
    return ledger.change_principals([_change(ledger, principal, endorser, endorser_seed)])[0]


def revoke_principal(
    ledger: LedgerService, name: str, endorser: str, endorser_seed: bytes | None
) -> Result:
    """Revoke the current key of principal ``name``, endorsed by the admin ``endorser``."""
    state = ledger.ledger.principals.by_name.get(name)
    if state is None:
        raise InputError(Result.principal_not_found, name)
    current = state.principal
    revoked = Principal(
        current.name, current.role, current.public_key, current.client, PrincipalStatus.revoked
    )
    return ledger.change_principals([_change(ledger, revoked, endorser, endorser_seed)])[0]


def _change(
    ledger: LedgerService, principal: Principal, endorser: str, endorser_seed: bytes | None
) -> PrincipalChange:
    if not endorser:
        return PrincipalChange(principal, None)
    if endorser_seed is None:
        raise InputError(Result.endorsement_required, f"{endorser} needs a key to endorse with")
    return ledger.endorse(principal, endorser, endorser_seed)


def principals_document(ledger: LedgerService) -> dict[str, Any]:
    return {
        "ok": True,
        "ledger_id": ledger.ledger_id.hex(),
        "principals": [principal_to_json(state) for state in ledger.principals()],
    }


def principal_to_json(state: PrincipalState) -> dict[str, Any]:
    principal = state.principal
    return {
        "number": state.number,
        "name": principal.name,
        "role": principal.role.name,
        "client": principal.client,
        "public_key": principal.public_key.hex(),
        "status": principal.status.name,
        "history": [
            {"timestamp_ns": str(timestamp), "public_key": key.hex(), "status": status.name}
            for timestamp, key, status in state.history
        ],
    }


def sign_transfer_lines(
    ledger: LedgerService, lines: Iterable[tuple[int, bytes]], seed: bytes, principal: str
) -> Iterator[str]:
    """Each (line number, line) back as a line of text: signed by ``principal`` with the key of
    ``seed`` when its code needs authorisation (naming ``principal`` when the line names none),
    unchanged otherwise. Refuses, naming the line, a line that does not parse or that names
    another principal, and a key that is not ``principal``'s active key."""
    state = ledger.ledger.principals.by_name.get(principal)
    if state is None:
        raise InputError(Result.principal_not_found, principal)
    if not state.active or state.principal.public_key != public_key_of(seed):
        raise InputError(Result.signing_key_invalid, f"not the active key of {principal}")
    engine = ledger.ledger

    def asset_of_account(account_id: int) -> Asset | None:
        account = engine.accounts.get(account_id)
        return None if account is None else engine.assets_by_number[account.asset]

    for number, raw in lines:
        if not raw.strip():
            yield raw.decode("utf-8", "replace").rstrip("\r\n")
            continue
        try:
            transfer = wire.parse_line(raw, asset_of_account, engine.assets.get)
        except InputError as error:
            raise InputError(error.code, f"line {number}: {error.detail}") from None
        if transfer.code not in codes_needing_authorisation:
            yield raw.decode("utf-8").rstrip("\r\n")
            continue
        if transfer.authorised_by not in ("", principal):
            raise InputError(
                Result.authorisation_not_by_debit_client,
                f"line {number} is authorised by {transfer.authorised_by}, not {principal}",
            )
        signed = ledger.authorise(replace(transfer, authorised_by=principal), seed)
        document = wire.transfer_to_json(signed, asset_of_account(transfer.debit_account))
        yield json.dumps(document, separators=(", ", ": "))


# ---------------------------------------------------------------------- with key files


def create_key(files: PrincipalFiles, path: str) -> dict[str, Any]:
    """A new Ed25519 key in a new key file at ``path`` (never replacing one), its public key
    beside it in ``PATH.pub``, as ``ringfence principals keygen`` reports it."""
    seed = secrets.token_bytes(limits.ed25519_seed_bytes)
    files.create_key(path, seed)
    return {"ok": True, "key_file": path, "public_key_file": path + ".pub",
            "public_key": public_key_of(seed).hex()}  # fmt: skip


def register_principal(
    ledger: LedgerService,
    files: PrincipalFiles,
    name: str,
    *,
    role: str,
    public_key: str,
    client: str = "",
    endorser: str = "",
    endorser_key: str | None = None,
) -> Result:
    """Register principal ``name`` (or rotate its key) from its fields as text: a client
    principal acts by default for the client of its own name; the endorsing admin's key is
    read from the key file ``endorser_key``."""
    parsed_role = parse_role(role)
    if parsed_role is PrincipalRole.client and not client:
        client = name
    principal = Principal(name, parsed_role, parse_public_key_hex(public_key), client)
    seed = None if endorser_key is None else files.read_key(endorser_key)
    return add_principal(ledger, principal, endorser, seed)


def revoke_with_key_file(
    ledger: LedgerService,
    files: PrincipalFiles,
    name: str,
    endorser: str,
    endorser_key: str | None = None,
) -> Result:
    """Revoke principal ``name``'s current key, endorsed by the admin ``endorser`` whose key is
    in the key file ``endorser_key``."""
    seed = None if endorser_key is None else files.read_key(endorser_key)
    return revoke_principal(ledger, name, endorser, seed)


def signed_transfer_lines(
    ledger: LedgerService,
    files: PrincipalFiles,
    lines: Iterable[tuple[int, bytes]],
    key: str,
    principal: str,
) -> Iterator[str]:
    """``sign_transfer_lines`` with the key in the key file ``key``, read before any line."""
    return sign_transfer_lines(ledger, lines, files.read_key(key), principal)


def sign_transfer_file(
    ledger: LedgerService,
    files: PrincipalFiles,
    lines: Iterable[tuple[int, bytes]],
    *,
    key: str,
    principal: str,
    out: str,
) -> None:
    """Write ``signed_transfer_lines`` to the file ``out``, whole or not at all: a refused line
    leaves no half-signed file."""
    files.write_lines(out, signed_transfer_lines(ledger, files, lines, key, principal))
