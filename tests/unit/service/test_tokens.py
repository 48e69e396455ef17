"""The key set the service accepts for tokens (service/tokens.py): public, asymmetric keys with
unique ids only; a symmetric or private key, or a set without ids, is refused whole; an
unknown key id reads the set again at most once a minute, and an issuer down keeps the keys."""

from __future__ import annotations

import json
import threading
from typing import Any

import pytest
from tests.support_tokens import AUDIENCE, ISSUER, Issuer

from ringfence.adapters.clock import ManualClock
from ringfence.core.access.tokens import TokenSettings
from ringfence.core.errors import InputError, Result, SourceError
from ringfence.service.tokens import (
    RevokedTokens,
    TokenVerifier,
    parse_key_set,
    token_settings,
)


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


class FlakySource:
    """A key set that can be swapped, or made to fail."""

    def __init__(self, document: dict[str, Any]) -> None:
        self.document = document
        self.reads = 0
        self.failing = False

    def read(self) -> bytes:
        self.reads += 1
        if self.failing:
            raise SourceError("issuer down")
        return json.dumps(self.document).encode()


def test_an_issuer_down_on_refresh_keeps_the_keys_it_had() -> None:
    issuer = Issuer.made()
    clock = ManualClock()
    issuer.now_s = clock.now_ns() // 10**9
    source = FlakySource(issuer.jwks())
    verifier = TokenVerifier(source, TokenSettings(ISSUER, AUDIENCE), clock)
    known = issuer.token("ann", "approver")
    assert verifier.claimed_actor(known).name == "ann"
    assert source.reads == 1
    issuer.rsa_keys["rsa-9"] = Issuer.made().rsa_keys["rsa-1"]
    unknown = issuer.token("ann", "approver", kid="rsa-9")
    with pytest.raises(InputError) as early:
        verifier.claimed_actor(unknown)
    assert (early.value.code, source.reads) == (Result.token_key_unknown, 1)
    clock.advance(seconds=61)
    issuer.now_s += 61
    source.failing = True
    with pytest.raises(SourceError):
        verifier.claimed_actor(issuer.token("ann", "approver", kid="rsa-9"))
    assert verifier.claimed_actor(issuer.token("ann", "approver")).name == "ann"
    with pytest.raises(InputError):  # no second read within the minute
        verifier.claimed_actor(issuer.token("ann", "approver", kid="rsa-9"))
    assert source.reads == 2


class SlowSource:
    """A key set whose second read waits until the test lets it go (an issuer that hangs)."""

    location = "slow"

    def __init__(self, document: dict[str, Any]) -> None:
        self.document = document
        self.reads = 0
        self.entered = threading.Event()
        self.release = threading.Event()

    def read(self) -> bytes:
        self.reads += 1
        if self.reads > 1:
            self.entered.set()
            assert self.release.wait(10)
        return json.dumps(self.document).encode()


def test_a_slow_refresh_holds_up_only_tokens_of_an_unknown_key() -> None:
    """An unknown key id makes the verifier read the set again; while that read hangs, a
    token signed with a key it already holds still verifies at once."""
    issuer = Issuer.made()
    clock = ManualClock()
    issuer.now_s = clock.now_ns() // 10**9
    source = SlowSource(issuer.jwks())
    verifier = TokenVerifier(source, TokenSettings(ISSUER, AUDIENCE), clock)
    known = issuer.token("ann", "approver")
    assert verifier.claimed_actor(known).name == "ann"
    clock.advance(seconds=61)
    issuer.now_s += 61
    issuer.rsa_keys["rsa-9"] = Issuer.made().rsa_keys["rsa-1"]  # not in the published set
    unknown = issuer.token("ann", "approver", kid="rsa-9")

    def refresh() -> None:
        with pytest.raises(InputError):  # not in the set read again either
            verifier.claimed_actor(unknown)

    refreshing = threading.Thread(target=refresh)
    refreshing.start()
    try:
        assert source.entered.wait(10)
        answered = []
        reader = threading.Thread(target=lambda: answered.append(verifier.claimed_actor(known)))
        reader.start()
        reader.join(5)
        assert [actor.name for actor in answered] == ["ann"]  # not held behind the refresh
    finally:
        source.release.set()
        refreshing.join(10)


class FlakyRevocations:
    """A revocation list whose stamp and bytes a test sets, and whose next read or stat can
    fail with any error."""

    location = "revoked"

    def __init__(self, data: bytes) -> None:
        self.data, self.version = data, 1
        self.failure: Exception | None = None
        self.stamp_failure: Exception | None = None

    def stamp(self) -> tuple[int, ...]:
        if self.stamp_failure is not None:
            raise self.stamp_failure
        return (self.version,)

    def read(self) -> bytes:
        if self.failure is not None:
            raise self.failure
        return self.data

    def change(self, data: bytes) -> None:
        self.data, self.version = data, self.version + 1


def refused_revocations(revoked: RevokedTokens) -> bool:
    try:
        revoked.current()
    except InputError as error:
        assert error.code is Result.token_revocations_invalid
        return True
    return False


@pytest.mark.parametrize(
    "failure", [SourceError("gone"), ValueError("int"), RecursionError("deep"), OSError("eio")]
)
def test_a_revocation_list_that_fails_to_read_is_never_replaced_by_the_old_one(
    failure: Exception,
) -> None:
    source = FlakyRevocations(b"jti old\n")
    revoked = RevokedTokens(source)
    source.change(b"jti old\njti stolen\n")
    source.failure = failure
    assert [refused_revocations(revoked) for _ in range(3)] == [True] * 3
    source.failure = None  # fixed, but not changed: still refused until its stamp changes
    assert refused_revocations(revoked)
    source.change(b"jti old\njti stolen\n")
    assert revoked.current().token_ids == {"old", "stolen"}


def test_a_revocation_list_whose_stamp_fails_is_refused_until_it_reads() -> None:
    source = FlakyRevocations(b"jti old\n")
    revoked = RevokedTokens(source)
    source.stamp_failure = SourceError("stat: no such file")
    assert [refused_revocations(revoked) for _ in range(2)] == [True] * 2
    source.stamp_failure = None  # back as it was: the list in force is the source's again
    assert revoked.current().token_ids == {"old"}
