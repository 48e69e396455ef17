"""OIDC/JWT bearer tokens: which tokens the service accepts, and who a verified token says the
caller is. The signature is checked in the shell (service/tokens.py, with PyJWT, against the
configured key set); everything a token *claims* is decided here, as plain values against a
time the shell passes in:

- the algorithm must be one of ``settings.algorithms``, which may hold only asymmetric
  signature algorithms: never ``none``, and never an HMAC (``HS*``), whose "key" would be the
  public key set that anyone can read;
- ``iss`` must equal the configured issuer and ``aud`` (a string or a list) must hold the
  configured audience;
- ``exp`` is required; ``nbf`` and ``iat`` are honoured when present; each with at most
  ``leeway_s`` of clock skew (bounded by ``limits.token_leeway_s_max``), and a token may not
  claim to live longer than ``limits.token_lifetime_s_max``;
- the role claim names a principal role, which must be one the settings let tokens carry;
  the name claim (``sub`` by default) is the principal's name, as an API key's name is; a
  client role needs the client claim, and a staff role must not carry one.

The name a token gives is one principal everywhere, as for API keys: the shell refuses a token
whose name belongs to a principal of another role or client (``token_principal_conflict``).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Final

from ringfence.core import limits
from ringfence.core.access.roles import Actor
from ringfence.core.errors import InputError, Result
from ringfence.core.ledger.model import check_name
from ringfence.core.principals.records import PrincipalRole

__all__ = ["TokenSettings", "asymmetric_algorithms", "token_actor"]

# JWS algorithms (RFC 7518, RFC 8037) whose verification key is public.
asymmetric_algorithms: Final = frozenset(
    {"RS256", "RS384", "RS512", "PS256", "PS384", "PS512", "ES256", "ES384", "ES512", "EdDSA"}
)
_claim_length_max: Final = 64


@dataclass(frozen=True, slots=True)
class TokenSettings:
    """What the service accepts: the issuer, the audience (this service), the signature
    algorithms, the claims that carry the principal's role, client and name, the clock skew
    allowed, and the roles a token may carry at all."""

    issuer: str
    audience: str
    algorithms: tuple[str, ...] = ("RS256", "ES256", "EdDSA")
    role_claim: str = "ringfence_role"
    client_claim: str = "ringfence_client"
    name_claim: str = "sub"
    leeway_s: int = 30
    roles: frozenset[PrincipalRole] = frozenset(PrincipalRole)

    def __post_init__(self) -> None:
        if not self.issuer or not self.audience:
            raise InputError(Result.token_settings_invalid, "an issuer and an audience")
        if not self.algorithms:
            raise InputError(Result.token_settings_invalid, "at least one algorithm")
        for algorithm in self.algorithms:
            if algorithm not in asymmetric_algorithms:
                allowed = ", ".join(sorted(asymmetric_algorithms))
                raise InputError(
                    Result.token_settings_invalid, f"algorithm {algorithm!r}: one of {allowed}"
                )
        if type(self.leeway_s) is not int or not 0 <= self.leeway_s <= limits.token_leeway_s_max:
            raise InputError(
                Result.token_settings_invalid,
                f"leeway {self.leeway_s!r}: 0..{limits.token_leeway_s_max} seconds",
            )
        claims = (self.role_claim, self.client_claim, self.name_claim)
        if len(set(claims)) != len(claims) or not all(claims):
            raise InputError(Result.token_settings_invalid, "role, client and name claims differ")
        if not self.roles or not all(isinstance(role, PrincipalRole) for role in self.roles):
            raise InputError(Result.token_settings_invalid, "at least one role")


def token_actor(claims: Mapping[str, object], settings: TokenSettings, now_s: int) -> Actor:
    """The actor a token whose signature verified speaks for, or the named refusal."""
    _check_issuer_and_audience(claims, settings)
    _check_times(claims, settings, now_s)
    role_text = claims.get(settings.role_claim)
    if not isinstance(role_text, str) or role_text not in PrincipalRole.__members__:
        raise InputError(Result.token_claims_invalid, f"{settings.role_claim}: {_shown(role_text)}")
    role = PrincipalRole[role_text]
    if role not in settings.roles:
        raise InputError(Result.token_role_forbidden, f"{role.name} is not given by tokens")
    name = claims.get(settings.name_claim)
    try:
        check_name(name, settings.name_claim)
    except InputError:
        raise InputError(
            Result.token_claims_invalid, f"{settings.name_claim}: {_shown(name)}"
        ) from None
    client = claims.get(settings.client_claim, "")
    if role is PrincipalRole.client:
        try:
            check_name(client, settings.client_claim)
        except InputError:
            raise InputError(
                Result.token_claims_invalid, f"{settings.client_claim}: {_shown(client)}"
            ) from None
    elif client not in ("", None):
        raise InputError(
            Result.token_claims_invalid, f"{settings.client_claim}: a {role.name} acts for none"
        )
    assert isinstance(name, str)
    if role is not PrincipalRole.client:
        return Actor(name, role)
    assert isinstance(client, str)
    return Actor(name, role, client)


def _check_issuer_and_audience(claims: Mapping[str, object], settings: TokenSettings) -> None:
    if claims.get("iss") != settings.issuer:
        raise InputError(Result.token_issuer_invalid, f"iss {_shown(claims.get('iss'))}")
    audience = claims.get("aud")
    audiences = audience if isinstance(audience, list) else [audience]
    if settings.audience not in audiences:
        raise InputError(Result.token_audience_invalid, f"aud {_shown(audience)}")


def _check_times(claims: Mapping[str, object], settings: TokenSettings, now_s: int) -> None:
    leeway = settings.leeway_s
    expires = _seconds(claims, "exp", required=True)
    assert expires is not None
    if now_s >= expires + leeway:
        raise InputError(Result.token_expired, f"exp {expires}, now {now_s}")
    if expires - now_s > limits.token_lifetime_s_max:
        raise InputError(
            Result.token_claims_invalid,
            f"exp {expires}: more than {limits.token_lifetime_s_max} s ahead",
        )
    for claim in ("nbf", "iat"):
        at = _seconds(claims, claim, required=False)
        if at is not None and at > now_s + leeway:
            raise InputError(Result.token_not_yet_valid, f"{claim} {at}, now {now_s}")


def _seconds(claims: Mapping[str, object], claim: str, *, required: bool) -> int | None:
    """A NumericDate claim in whole seconds; a fraction is refused (issuers write integers,
    and the core reads no binary fractions)."""
    value = claims.get(claim)
    if value is None and not required:
        return None
    if isinstance(value, bool) or not isinstance(value, int):
        raise InputError(Result.token_claims_invalid, f"{claim}: {_shown(value)}")
    if not 0 <= value <= limits.timestamp_ns_max // 10**9:
        raise InputError(Result.token_claims_invalid, f"{claim}: {value}")
    return value


def _shown(value: object) -> str:
    """A claim as a refusal may quote it: bounded, so a huge claim cannot bloat a log."""
    return repr(value)[:_claim_length_max]
