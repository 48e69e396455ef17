"""API keys: what a key looks like and what is kept about it.

A key is ``rf_<key id>_<secret>``: the key id (16 hex digits) is public and names the record,
the secret (43 URL-safe base64 characters, 256 bits) is shown once, when the key is made, and
kept only as an argon2id hash (service/keys.py). The id lets the service find the one record
to check without trying every hash; the secret is what proves possession.

A record never holds the secret. Revoking sets ``revoked_at_ns``; a revoked record is kept (the
id is never reused) so that a list of keys shows who could call the service and until when.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Final

from ringfence.core import limits
from ringfence.core.errors import InputError, Result
from ringfence.core.principals.records import PrincipalRole

__all__ = ["ApiKey", "key_id_of", "key_text"]

key_prefix: Final = "rf_"
key_id_hex_digits: Final = 16
secret_bytes: Final = 32
_key_pattern: Final = re.compile(r"rf_([0-9a-f]{16})_([A-Za-z0-9_-]{43})")
assert len(key_prefix) + key_id_hex_digits + 1 + 43 <= limits.api_key_length_max


@dataclass(frozen=True, slots=True)
class ApiKey:
    """One API key's record: its id, the principal it speaks for, and its secret's hash."""

    key_id: str
    name: str
    role: PrincipalRole
    client: str
    secret_hash: str  # argon2id, in the PHC string format
    created_at_ns: int
    revoked_at_ns: int = 0  # 0: active

    def __post_init__(self) -> None:
        assert re.fullmatch(r"[0-9a-f]{16}", self.key_id), self.key_id
        assert isinstance(self.role, PrincipalRole)
        assert self.secret_hash.startswith("$argon2id$")
        assert 0 <= self.revoked_at_ns <= limits.timestamp_ns_max

    @property
    def active(self) -> bool:
        return self.revoked_at_ns == 0


def key_text(key_id: str, secret: str) -> str:
    """The key as given to its holder, once."""
    text = f"{key_prefix}{key_id}_{secret}"
    assert _key_pattern.fullmatch(text), "key id or secret of the wrong shape"
    return text


def key_id_of(presented: str) -> str:
    """The key id of a presented key; ``api_key_invalid`` for anything not shaped like a key
    (checked before any hashing, so a malformed or oversized header costs nothing)."""
    if len(presented) > limits.api_key_length_max:
        raise InputError(Result.api_key_invalid, "longer than any key")
    found = _key_pattern.fullmatch(presented)
    if found is None:
        raise InputError(Result.api_key_invalid, "not an API key (rf_<id>_<secret>)")
    return found.group(1)
