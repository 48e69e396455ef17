"""What a verified token's claims may say (core/access/tokens.py): settings that would accept
unsigned or HMAC tokens are refused; issuer, audience, times with bounded leeway, the role,
the client and the name are each refused by name when wrong; a property test: no token is
accepted after its expiry plus the leeway, nor before its nbf minus the leeway."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from ringfence.core import limits
from ringfence.core.access.roles import Actor
from ringfence.core.access.tokens import TokenSettings, token_actor
from ringfence.core.errors import InputError, Result
from ringfence.core.principals.records import PrincipalRole

NOW = 1_700_000_000
SETTINGS = TokenSettings("https://id.example", "ringfence")


def claims(**changes: Any) -> dict[str, Any]:
    base: dict[str, Any] = {
        "iss": "https://id.example",
        "aud": "ringfence",
        "sub": "ann",
        "exp": NOW + 300,
        "iat": NOW,
        "nbf": NOW,
        "ringfence_role": "approver",
    }
    base.update(changes)
    return {key: value for key, value in base.items() if value is not None}


def refused(found: dict[str, Any], settings: TokenSettings = SETTINGS, now: int = NOW) -> Result:
    with pytest.raises(InputError) as raised:
        token_actor(found, settings, now)
    return raised.value.code


def test_a_staff_token_and_a_client_token_become_their_actors() -> None:
    assert token_actor(claims(), SETTINGS, NOW) == Actor("ann", PrincipalRole.approver)
    client = claims(sub="alice-phone", ringfence_role="client", ringfence_client="alice")
    assert token_actor(client, SETTINGS, NOW) == Actor("alice-phone", PrincipalRole.client, "alice")
    listed_audience = claims(aud=["other", "ringfence"])
    assert token_actor(listed_audience, SETTINGS, NOW).name == "ann"


@pytest.mark.parametrize(
    "algorithms", [("none",), ("HS256",), ("RS256", "HS512"), (), ("rs256",), ("RSA1_5",)]
)
def test_settings_refuse_unsigned_symmetric_and_unknown_algorithms(
    algorithms: tuple[str, ...],
) -> None:
    with pytest.raises(InputError) as raised:
        TokenSettings("https://id.example", "ringfence", algorithms)
    assert raised.value.code is Result.token_settings_invalid


@pytest.mark.parametrize(
    "changes",
    [
        {"issuer": ""},
        {"audience": ""},
        {"leeway_s": limits.token_leeway_s_max + 1},
        {"leeway_s": -1},
        {"role_claim": "sub"},
        {"roles": frozenset()},
    ],
)
def test_settings_refuse_what_would_weaken_them(changes: dict[str, Any]) -> None:
    arguments: dict[str, Any] = {"issuer": "https://id.example", "audience": "ringfence"}
    arguments.update(changes)
    with pytest.raises(InputError) as raised:
        TokenSettings(**arguments)
    assert raised.value.code is Result.token_settings_invalid


@pytest.mark.parametrize(
    ("changes", "code"),
    [
        ({"iss": "https://evil.example"}, Result.token_issuer_invalid),
        ({"iss": None}, Result.token_issuer_invalid),
        ({"aud": "other"}, Result.token_audience_invalid),
        ({"aud": ["other"]}, Result.token_audience_invalid),
        ({"aud": None}, Result.token_audience_invalid),
        ({"exp": None}, Result.token_claims_invalid),
        ({"exp": "1700000300"}, Result.token_claims_invalid),
        ({"exp": True}, Result.token_claims_invalid),
        ({"exp": NOW - 31}, Result.token_expired),
        ({"exp": NOW + limits.token_lifetime_s_max + 1}, Result.token_claims_invalid),
        ({"nbf": NOW + 31}, Result.token_not_yet_valid),
        ({"iat": NOW + 31}, Result.token_not_yet_valid),
        ({"ringfence_role": "root"}, Result.token_claims_invalid),
        ({"ringfence_role": ["admin"]}, Result.token_claims_invalid),
        ({"ringfence_role": None}, Result.token_claims_invalid),
        ({"sub": "Ann Smith"}, Result.token_claims_invalid),
        ({"sub": "x" * 33}, Result.token_claims_invalid),
        ({"sub": None}, Result.token_claims_invalid),
        ({"ringfence_client": "alice"}, Result.token_claims_invalid),
        ({"ringfence_role": "client"}, Result.token_claims_invalid),
        ({"ringfence_role": "client", "ringfence_client": ["alice"]}, Result.token_claims_invalid),
    ],
)
def test_each_wrong_claim_is_refused_by_name(changes: dict[str, Any], code: Result) -> None:
    assert refused(claims(**changes)) is code


def test_a_role_the_settings_do_not_give_to_tokens_is_forbidden() -> None:
    clients_only = TokenSettings(
        "https://id.example", "ringfence", roles=frozenset({PrincipalRole.client})
    )
    assert refused(claims(ringfence_role="admin"), clients_only) is Result.token_role_forbidden
    client = claims(ringfence_role="client", ringfence_client="alice")
    assert token_actor(client, clients_only, NOW).client == "alice"


def test_the_leeway_is_exactly_the_settings() -> None:
    strict = TokenSettings("https://id.example", "ringfence", leeway_s=0)
    assert refused(claims(exp=NOW), strict) is Result.token_expired
    assert token_actor(claims(exp=NOW + 1), strict, NOW).name == "ann"
    assert token_actor(claims(exp=NOW - 29), SETTINGS, NOW).name == "ann"
    assert refused(claims(exp=NOW - 30)) is Result.token_expired
    assert token_actor(claims(nbf=NOW + 30), SETTINGS, NOW).name == "ann"


@given(
    exp=st.integers(0, 2 * NOW),
    nbf=st.integers(0, 2 * NOW),
    now=st.integers(0, 2 * NOW),
    leeway=st.integers(0, limits.token_leeway_s_max),
)
def test_no_token_is_accepted_outside_its_window_widened_by_the_leeway(
    exp: int, nbf: int, now: int, leeway: int
) -> None:
    settings = TokenSettings("https://id.example", "ringfence", leeway_s=leeway)
    try:
        token_actor(claims(exp=exp, nbf=nbf, iat=None), settings, now)
    except InputError as error:
        assert error.code in (
            Result.token_expired,
            Result.token_not_yet_valid,
            Result.token_claims_invalid,
        )
        return
    assert now < exp + leeway
    assert nbf <= now + leeway
    assert exp - now <= limits.token_lifetime_s_max
