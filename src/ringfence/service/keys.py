"""API keys: making them, revoking them, and telling who presents one.

- ``create_key``: a new key for a role (and, for ``client``, one existing client); the key's
  text is returned once and only its argon2id hash is kept (the ``KeyStore`` port);
- ``revoke_key``: the key is refused from the next request on, in every process;
- ``keys_document``: every key, revoked ones included, without any secret or hash;
- ``KeyVerifier``: the actor a presented key speaks for (core/access/roles.py).

Verifying an argon2id hash costs tens of milliseconds and much memory on purpose, which a
request cannot pay each time. ``KeyVerifier`` therefore remembers, per process, the SHA-256 of
each key it has verified (never the key itself), and on a later request compares digests
instead of hashing again. The record is still read from the store on every request, so a
revocation takes effect at once: the memory only saves the hashing, never the check.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets
import threading
from collections import OrderedDict
from typing import Any

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError

from ringfence.core import limits
from ringfence.core.access.keys import ApiKey, key_id_of, key_text, secret_bytes
from ringfence.core.access.roles import Actor
from ringfence.core.errors import InputError, Result
from ringfence.core.ledger.model import check_name
from ringfence.core.principals.records import PrincipalRole, parse_role
from ringfence.service.ledger import LedgerService
from ringfence.service.ports import Clock, KeyStore

__all__ = ["KeyVerifier", "create_key", "default_hasher", "keys_document", "revoke_key"]


def default_hasher() -> PasswordHasher:
    """argon2id with RFC 9106's second recommended parameters (3 passes, 64 MiB, 4 lanes)."""
    return PasswordHasher(time_cost=3, memory_cost=64 * 1024, parallelism=4)


def create_key(
    store: KeyStore,
    clock: Clock,
    hasher: PasswordHasher,
    ledger: LedgerService,
    *,
    role: str,
    client: str = "",
    name: str = "",
) -> tuple[ApiKey, str]:
    """A new key for ``role`` (``client``: acting for ``client``, which must exist) held by the
    principal ``name`` (default: the client's name for a client key, else ``key-<id>``);
    returns its record and its text, which is shown once and kept nowhere.

    A name is one principal everywhere: its role and client must be those of the principal of
    that name in the journal and of every other key of that name, and a client's name is only
    ever a principal acting for that client, as for journaled principals
    (core/principals/records.py). So a key's name can later stand for its holder in signed
    evidence, and four-eyes rules can tell two people apart."""
    parsed = parse_role(role)
    if parsed is PrincipalRole.client:
        if not client:
            raise InputError(Result.principal_client_required, "--client names the client")
        if client not in ledger.ledger.clients:
            raise InputError(Result.client_not_found, client)
    elif client:
        raise InputError(Result.principal_client_forbidden_for_staff, f"{role} acts for none")
    key_id = secrets.token_bytes(8).hex()
    name = check_name(name or client or f"key-{key_id}", "name")
    actor = Actor(name, parsed, client)  # the same checks a request's actor gets
    check_same_principal(store, ledger, actor)
    secret = base64.urlsafe_b64encode(secrets.token_bytes(secret_bytes)).decode("ascii")
    text = key_text(key_id, secret.rstrip("="))
    record = ApiKey(key_id, name, parsed, client, hasher.hash(text), clock.now_ns())
    store.add(record)
    return record, text


def check_same_principal(store: KeyStore, ledger: LedgerService, actor: Actor) -> None:
    """Refuse an actor whose name belongs to a principal of another role or client: a
    client's name, another key's holder, or a journaled principal (service/tokens.py asks the
    same of a token's principal)."""
    if actor.name in ledger.ledger.clients and actor.client != actor.name:
        raise InputError(Result.principal_name_taken_by_client, actor.name)
    held = [(key.role, key.client) for key in store.named(actor.name)]
    journaled = ledger.ledger.principals.by_name.get(actor.name)
    if journaled is not None:
        held.append((journaled.principal.role, journaled.principal.client))
    for role, client in held:
        if role is not actor.role:
            raise InputError(Result.principal_exists_with_different_role, actor.name)
        if client != actor.client:
            raise InputError(Result.principal_exists_with_different_client, actor.name)


def revoke_key(store: KeyStore, clock: Clock, key_id: str) -> ApiKey:
    """Revoke a key by its id (the public part of the key, as ``keys list`` shows it)."""
    revoked = store.revoke(key_id, clock.now_ns())
    if revoked is None:
        raise InputError(Result.api_key_not_found, key_id)
    assert not revoked.active
    return revoked


def key_to_json(key: ApiKey) -> dict[str, Any]:
    return {
        "key_id": key.key_id,
        "name": key.name,
        "role": key.role.name,
        "client": key.client,
        "created_at_ns": str(key.created_at_ns),
        "revoked_at_ns": str(key.revoked_at_ns) if key.revoked_at_ns else None,
        "status": "active" if key.active else "revoked",
    }


def keys_document(store: KeyStore) -> dict[str, Any]:
    return {"ok": True, "keys": [key_to_json(key) for key in store.records()]}


class KeyVerifier:
    """The actor behind a presented key. Thread-safe (the server verifies from its worker
    threads) as far as its store is; the hashing itself runs outside the lock."""

    def __init__(self, store: KeyStore, hasher: PasswordHasher) -> None:
        self.store = store
        self.hasher = hasher
        self._lock = threading.Lock()
        self._verified: OrderedDict[bytes, str] = OrderedDict()  # SHA-256 of key -> key id
        self.hashes_checked = 0  # argon2 verifications run, for tests and metrics

    def actor_of(self, presented: str | None) -> Actor:
        """The actor, or ``api_key_missing``, ``api_key_invalid`` (unknown id, wrong secret,
        not a key) or ``api_key_revoked``."""
        if not presented:
            raise InputError(Result.api_key_missing, "Authorization: Bearer <API key>")
        key_id = key_id_of(presented)
        record = self.store.get(key_id)
        if record is None:
            raise InputError(Result.api_key_invalid, "no such key")
        digest = hashlib.sha256(presented.encode("ascii")).digest()
        if not self._remembered(digest, key_id):
            self._verify(record, presented)
            self._remember(digest, key_id)
        if not record.active:
            raise InputError(Result.api_key_revoked, key_id)
        return Actor(record.name, record.role, record.client)

    def _remembered(self, digest: bytes, key_id: str) -> bool:
        with self._lock:
            found = self._verified.get(digest)
        return found is not None and hmac.compare_digest(found, key_id)

    def _verify(self, record: ApiKey, presented: str) -> None:
        self.hashes_checked += 1
        try:
            self.hasher.verify(record.secret_hash, presented)
        except (VerificationError, InvalidHashError):
            raise InputError(Result.api_key_invalid, "no such key") from None

    def _remember(self, digest: bytes, key_id: str) -> None:
        with self._lock:
            self._verified[digest] = key_id
            while len(self._verified) > limits.api_key_verifications_cached_max:
                self._verified.popitem(last=False)
