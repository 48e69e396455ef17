"""OIDC/JWT bearer tokens: ``TokenVerifier`` tells who presents an identity provider's access
token, as ``KeyVerifier`` (service/keys.py) does for an API key. Optional: ``ringfence serve``
takes tokens only when given an issuer, an audience and a key set (docs/api.md).

Why PyJWT: the most used JWT library for Python, maintained, typed, and strict where it
matters here: ``decode`` takes an explicit list of algorithms, a key parsed from a JWK is
bound to that key's algorithm (a token cannot choose to be checked as HMAC with the public
key as the secret), and ``none`` is never accepted unless listed, which the settings forbid
(core/access/tokens.py). It checks the signature only: issuer, audience, times and the
principal's claims are the core's to decide, against the service's clock, not the library's.

Order of checks, each refusal named and nothing read or written before the last: length and
shape (``token_invalid``), the header's algorithm among the allowed ones
(``token_algorithm_forbidden``), its key id in the key set (``token_key_unknown``; an unknown
id reads the set again, at most every ``limits.token_key_set_refresh_s_min``, so an issuer's
key rotation is picked up and a stream of made-up ids cannot hammer it), the signature
(``token_signature_invalid``), the claims (core/access/tokens.py), and last the principal: a
name is one principal everywhere, so a token whose name belongs to another role or client,
among the API keys, the journal's principals or the clients, is ``token_principal_conflict``,
and a client claim naming no client is ``token_client_unknown``.

Revocation: with a list of revoked tokens (``RevokedTokens``, core/access/revocations.py), a
token whose claims are good is then refused as ``token_revoked`` if the list names its ``jti``
or revokes its principal's name since before it was issued. The list is read at start (a
malformed one stops the server from starting: ``token_revocations_invalid``) and again on the
first request after it changes (its file's stamp); a list that became unreadable refuses every
token (503) until it is fixed, never lets one through.

A token's principal acts exactly as an API key's: the service records its name wherever it
records who acted (a withdrawal's initiator and approvers, a policy's author and approvers).
"""

from __future__ import annotations

import json
import threading
from typing import Any

import jwt

from ringfence.core import limits
from ringfence.core.access.revocations import (
    TokenRevocations,
    check_not_revoked,
    parse_token_revocations,
)
from ringfence.core.access.roles import Actor
from ringfence.core.access.tokens import TokenSettings, token_actor
from ringfence.core.errors import InputError, Result, StorageError
from ringfence.core.principals.records import parse_role
from ringfence.service.keys import check_same_principal
from ringfence.service.ledger import LedgerService
from ringfence.service.ports import Clock, KeySetSource, KeyStore, TokenRevocationSource

__all__ = ["RevokedTokens", "TokenVerifier", "parse_key_set", "token_settings"]

_second_ns = 10**9
_reason_length_max = 200  # of why a revocation list was refused, as a refusal quotes it
_key_types = {"RSA", "EC", "OKP"}
_private_members = {"d", "p", "q", "dp", "dq", "qi", "oth", "k"}


def token_settings(
    issuer: str,
    audience: str,
    *,
    algorithms: str = "",
    roles: str = "",
    role_claim: str = "",
    client_claim: str = "",
    name_claim: str = "",
    leeway_s: int | None = None,
) -> TokenSettings:
    """Token settings from the command line's text (lists comma-separated; empty: the
    default), checked by ``TokenSettings`` (``token_settings_invalid``)."""
    defaults = TokenSettings("issuer", "audience")
    chosen_roles = defaults.roles
    if roles:
        try:
            chosen_roles = frozenset(parse_role(name.strip()) for name in roles.split(","))
        except InputError as error:
            raise InputError(Result.token_settings_invalid, error.detail) from None
    return TokenSettings(
        issuer,
        audience,
        tuple(a.strip() for a in algorithms.split(",")) if algorithms else defaults.algorithms,
        role_claim or defaults.role_claim,
        client_claim or defaults.client_claim,
        name_claim or defaults.name_claim,
        defaults.leeway_s if leeway_s is None else leeway_s,
        chosen_roles,
    )


def parse_key_set(data: bytes) -> dict[str, jwt.PyJWK]:
    """The key set's public signature keys by key id, or ``token_key_set_invalid``: every key
    must be public, asymmetric, have a unique ``kid`` and, if it says, be for signatures."""
    try:
        document = json.loads(data)
    except ValueError:
        raise InputError(Result.token_key_set_invalid, "not JSON") from None
    keys = document.get("keys") if isinstance(document, dict) else None
    if not isinstance(keys, list) or not 0 < len(keys) <= limits.token_key_set_keys_max:
        raise InputError(
            Result.token_key_set_invalid, f'"keys": 1..{limits.token_key_set_keys_max} keys'
        )
    found: dict[str, jwt.PyJWK] = {}
    for index, key in enumerate(keys):
        if not isinstance(key, dict) or key.get("kty") not in _key_types:
            raise InputError(Result.token_key_set_invalid, f"key {index}: RSA, EC or OKP only")
        if _private_members & set(key):
            raise InputError(Result.token_key_set_invalid, f"key {index}: a private key")
        kid = key.get("kid")
        if not isinstance(kid, str) or not kid or kid in found:
            raise InputError(Result.token_key_set_invalid, f"key {index}: a unique kid")
        if key.get("use", "sig") != "sig":
            continue
        try:
            found[kid] = jwt.PyJWK(key)
        except jwt.PyJWTError as error:
            raise InputError(Result.token_key_set_invalid, f"key {kid}: {error}") from None
    return found


class RevokedTokens:
    """The revocation list as it is now: read at start, and read again when its source's
    stamp changes. Thread-safe; one stat of the source per token checked.

    Fails closed: a list that cannot be read or parsed, for whatever reason (an unreadable
    file, a directory in its place, bytes the parser refuses or chokes on), refuses every
    token until a read succeeds; the list read before is never served again in its place.
    The stamp of the list in force changes only with a list read and parsed whole."""

    def __init__(self, source: TokenRevocationSource) -> None:
        self.source = source
        self._lock = threading.Lock()
        self._stamp = source.stamp()
        self._revocations = parse_token_revocations(source.read())
        # The last refused read: its stamp (None: the stamp itself failed) and why.
        self._refused: tuple[tuple[int, ...] | None, str] | None = None

    def current(self) -> TokenRevocations:
        """The list; ``token_revocations_invalid`` while the changed list is unreadable."""
        with self._lock:
            try:
                stamp = self.source.stamp()
            except Exception as error:  # fail closed on any failure, asked again next time
                self._refused = (None, _why_unreadable(error))
            else:
                if stamp == self._stamp:  # the list in force is the source's again
                    self._refused = None
                elif self._refused is None or stamp != self._refused[0]:
                    self._read(stamp)
            if self._refused is not None:
                raise InputError(
                    Result.token_revocations_invalid,
                    f"{self.source.location}: {self._refused[1]}",
                )
            return self._revocations

    def _read(self, stamp: tuple[int, ...]) -> None:
        """Read and parse the list whose stamp is ``stamp`` (taken before the bytes: a change
        meanwhile reads again), and put it in force; any failure refuses until the next
        change of stamp (so a refused list is not read again on every request)."""
        try:
            revocations = parse_token_revocations(self.source.read())
        except Exception as error:  # fail closed on whatever a read raises
            self._refused = (stamp, _why_unreadable(error))
        else:
            self._stamp, self._revocations, self._refused = stamp, revocations, None


def _why_unreadable(error: Exception) -> str:
    """A refused list's reason as a refusal quotes it: the named detail of an ``InputError``
    or ``StorageError``, else the error's type and text (bounded, it may quote the file)."""
    if isinstance(error, InputError):
        return error.detail
    if isinstance(error, StorageError):
        return str(error)[:_reason_length_max]
    return f"unreadable ({type(error).__name__}: {str(error)[:_reason_length_max]})"


class TokenVerifier:
    """The actor behind a presented token. Thread-safe; the key set is read at start and
    again on an unknown key id, not more often than ``token_key_set_refresh_s_min``; with
    ``revoked``, a token the revocation list names is refused."""

    def __init__(
        self,
        source: KeySetSource,
        settings: TokenSettings,
        clock: Clock,
        revoked: RevokedTokens | None = None,
    ) -> None:
        self.source = source
        self.settings = settings
        self.clock = clock
        self.revoked = revoked
        self._lock = threading.Lock()
        self._keys = parse_key_set(source.read())
        self._read_at_ns = clock.now_ns()

    def actor_of(self, presented: str, ledger: LedgerService, keys: KeyStore) -> Actor:
        """The actor, or one of the refusals of the module docstring: ``claimed_actor`` and
        then ``check_principal`` (which reads ``ledger``: the caller holds its lock)."""
        actor = self.claimed_actor(presented)
        self.check_principal(actor, ledger, keys)
        return actor

    def claimed_actor(self, presented: str) -> Actor:
        """Who a token with a good signature and good claims says the caller is. Reads no
        ledger, so a server checks it outside the ledger's lock (a key set read from a slow
        issuer then holds up only the requests that wait for it)."""
        claims = self.verified_claims(presented)
        actor = token_actor(claims, self.settings, self.clock.now_ns() // _second_ns)
        if self.revoked is not None:
            check_not_revoked(claims, actor.name, self.revoked.current())
        return actor

    @staticmethod
    def check_principal(actor: Actor, ledger: LedgerService, keys: KeyStore) -> None:
        """Refuse a token's actor whose client does not exist, or whose name is a principal
        of another role or client (among the clients, API keys and journaled principals)."""
        if actor.is_client and actor.client not in ledger.ledger.clients:
            raise InputError(Result.token_client_unknown, actor.client)
        try:
            check_same_principal(keys, ledger, actor)
        except InputError as error:
            raise InputError(
                Result.token_principal_conflict, f"{actor.name}: {error.code.value}"
            ) from None

    def verified_claims(self, presented: str) -> dict[str, Any]:
        """The claims of a token whose algorithm, key and signature are good (nothing else
        about it is checked here)."""
        if len(presented) > limits.token_length_max:
            raise InputError(Result.token_invalid, f"longer than {limits.token_length_max}")
        try:
            header = jwt.get_unverified_header(presented)
        except jwt.PyJWTError:
            raise InputError(Result.token_invalid, "not a signed JWT") from None
        algorithm = header.get("alg")
        if not isinstance(algorithm, str) or algorithm not in self.settings.algorithms:
            shown = repr(algorithm)[:32]
            raise InputError(Result.token_algorithm_forbidden, f"alg {shown}")
        key = self._key(header.get("kid"))
        if key.algorithm_name != algorithm:
            raise InputError(
                Result.token_algorithm_forbidden, f"alg {algorithm} with a {key.algorithm_name} key"
            )
        try:
            claims: dict[str, Any] = jwt.decode(
                presented,
                key,
                algorithms=[algorithm],
                options={
                    "verify_signature": True,
                    "verify_exp": False,
                    "verify_nbf": False,
                    "verify_iat": False,
                    "verify_aud": False,
                    "verify_iss": False,
                },
            )
        except jwt.InvalidSignatureError:
            raise InputError(Result.token_signature_invalid, "the signature") from None
        except jwt.PyJWTError as error:
            raise InputError(Result.token_invalid, type(error).__name__) from None
        return claims

    def _key(self, kid: object) -> jwt.PyJWK:
        if not isinstance(kid, str) or not kid:
            raise InputError(Result.token_key_unknown, "no kid")
        # A known key is looked up without the lock: the key set is replaced whole, never
        # changed in place, so a refresh in flight (up to a slow issuer's timeout) holds up
        # only the tokens whose key id is not known yet.
        key = self._keys.get(kid)
        if key is not None:
            return key
        with self._lock:
            key = self._keys.get(kid)
            if key is not None:
                return key
            now = self.clock.now_ns()
            if now - self._read_at_ns < limits.token_key_set_refresh_s_min * _second_ns:
                raise InputError(Result.token_key_unknown, kid[:64])
            self._read_at_ns = now
            self._keys = parse_key_set(self.source.read())
            key = self._keys.get(kid)
        if key is None:
            raise InputError(Result.token_key_unknown, kid[:64])
        return key
