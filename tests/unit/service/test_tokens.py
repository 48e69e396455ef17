"""The key set the service accepts for tokens (service/tokens.py): public, asymmetric keys with
unique ids only; a symmetric or private key, or a set without ids, is refused whole."""

from __future__ import annotations

import json
from typing import Any

import pytest
from tests.support_tokens import Issuer

from ringfence.core.errors import InputError, Result
from ringfence.service.tokens import parse_key_set, token_settings


def refused(document: Any) -> Result:
    with pytest.raises(InputError) as raised:
        parse_key_set(json.dumps(document).encode())
    return raised.value.code


def test_a_public_key_set_is_read_by_kid() -> None:
    keys = parse_key_set(json.dumps(Issuer.made().jwks()).encode())
    assert {kid: key.algorithm_name for kid, key in keys.items()} == {
        "rsa-1": "RS256",
        "ed-1": "EdDSA",
    }


def test_encryption_keys_are_left_out() -> None:
    document = Issuer.made().jwks()
    document["keys"][0]["use"] = "enc"
    assert set(parse_key_set(json.dumps(document).encode())) == {"ed-1"}


@pytest.mark.parametrize(
    "change",
    [
        lambda keys: keys.append({"kty": "oct", "k": "c2VjcmV0", "kid": "hmac"}),
        lambda keys: keys[0].update(d="AQAB"),
        lambda keys: keys[0].pop("kid"),
        lambda keys: keys[1].update(kid=keys[0]["kid"]),
        lambda keys: keys.clear(),
        lambda keys: keys[0].update(n="not base64!"),
    ],
)
def test_a_symmetric_private_or_unnamed_key_refuses_the_whole_set(change: Any) -> None:
    document = Issuer.made().jwks()
    change(document["keys"])
    assert refused(document) is Result.token_key_set_invalid


def test_what_is_not_a_key_set_is_refused() -> None:
    assert refused([]) is Result.token_key_set_invalid
    assert refused({"keys": "x"}) is Result.token_key_set_invalid
    with pytest.raises(InputError):
        parse_key_set(b"{")


def test_settings_from_the_command_line_refuse_hmac_and_unknown_roles() -> None:
    assert token_settings("https://id", "rf", algorithms="ES256, EdDSA").algorithms == (
        "ES256",
        "EdDSA",
    )
    for bad in ({"algorithms": "HS256"}, {"algorithms": "none"}, {"roles": "client,root"}):
        with pytest.raises(InputError) as raised:
            token_settings("https://id", "rf", **bad)
        assert raised.value.code is Result.token_settings_invalid
