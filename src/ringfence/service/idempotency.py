"""Idempotency-Key: a write retried with the same key answers as the first one did.

The transfer id is the idempotency key inside the ledger (the same transfer again is
``exists``); this is the key of the HTTP request around it, as the IETF draft
(draft-ietf-httpapi-idempotency-key-header) describes: the first response to a (principal,
key) is remembered with a fingerprint of the request (method, path and query, body); the same
key with the same request gets that response again, without calling the ledger; the same key
with another request is refused (``idempotency_key_reused_with_different_request``).

The answers are kept through the ``IdempotencyStore`` port: in a file beside an SQLite
database (``PATH.idempotency``) or in a table of a PostgreSQL ledger's database, so a retry
after a restart still answers as the first request did, the most recent
``limits.idempotency_responses_max`` of them. An answer is kept after the
call it answers has committed: a crash in between leaves the key unanswered, and the retry
is executed again, which the ledger makes harmless (each transfer answers ``exists``), so a
request still has one effect.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass

from ringfence.core import limits
from ringfence.core.access.roles import Actor
from ringfence.core.errors import InputError, Result
from ringfence.service.ports import IdempotencyStore, RememberedResponse

__all__ = ["IdempotentResponses", "Remembered", "fingerprint"]


@dataclass(frozen=True, slots=True)
class Remembered:
    fingerprint: bytes
    status: int
    body: bytes


def fingerprint(method: str, target: str, body: bytes) -> bytes:
    """SHA-256 over the method, the path with its query, and the body, length-prefixed."""
    digest = hashlib.sha256()
    for part in (method.encode("ascii"), target.encode("utf-8"), body):
        digest.update(len(part).to_bytes(8, "big"))
        digest.update(part)
    return digest.digest()


def check_key(key: str) -> str:
    if not 0 < len(key) <= limits.idempotency_key_length_max or not key.isprintable():
        raise InputError(
            Result.idempotency_key_invalid,
            f"1..{limits.idempotency_key_length_max} printable characters",
        )
    return key


class IdempotentResponses:
    """The answers kept in ``store``, by principal and key."""

    def __init__(self, store: IdempotencyStore) -> None:
        self.store = store

    def replay(self, actor: Actor, key: str, request: bytes) -> Remembered | None:
        """The remembered response for this request, None if the key is new; refuses a key
        used before for another request."""
        found = self.store.find(_principal(actor), check_key(key))
        if found is None:
            return None
        if found.fingerprint != request:
            raise InputError(
                Result.idempotency_key_reused_with_different_request,
                f"Idempotency-Key {key!r} was used for another request",
            )
        return Remembered(found.fingerprint, found.status, found.body)

    def remember(self, actor: Actor, key: str, response: Remembered) -> None:
        kept = RememberedResponse(response.fingerprint, response.status, response.body)
        self.store.keep(_principal(actor), check_key(key), kept)


def _principal(actor: Actor) -> str:
    """One key space per principal, role and client (a key's name never changes its role)."""
    return f"{actor.name}/{actor.role.name}/{actor.client}"
