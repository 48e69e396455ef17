"""service/sessions.py: a session opens only for a valid key, ends on sign-out, after a quiet
spell, after its lifetime, and at once when its key is revoked; a session id reveals nothing
of the key; forms carry their session's token; posted forms are read strictly."""

from __future__ import annotations

import pytest
from tests.support import build_custodian, journal_signer
from tests.support_api import fast_hasher

from ringfence.adapters.clock import ManualClock
from ringfence.adapters.keys.memory import MemoryKeyStore
from ringfence.adapters.storage.memory import MemoryStore
from ringfence.core import limits
from ringfence.core.errors import InputError, Result
from ringfence.service.keys import KeyVerifier, create_key, revoke_key
from ringfence.service.ledger import LedgerService
from ringfence.service.sessions import (
    Sessions,
    check_form_token,
    check_sign_in_token,
    new_sign_in_token,
    parse_form,
)


@pytest.fixture
def world() -> tuple[Sessions, dict[str, str], MemoryKeyStore, ManualClock]:
    clock = ManualClock()
    ledger = LedgerService(MemoryStore(), clock, journal_signer())
    build_custodian(ledger)
    store = MemoryKeyStore()
    keys = {
        "operator": create_key(store, clock, fast_hasher(), ledger, role="operator")[1],
        "alice": create_key(store, clock, fast_hasher(), ledger, role="client", client="alice")[1],
    }
    return Sessions(KeyVerifier(store, fast_hasher()), clock), keys, store, clock


def refused(code: Result, call, *arguments) -> None:
    with pytest.raises(InputError) as caught:
        call(*arguments)
    assert caught.value.code is code


def test_a_valid_key_opens_a_session_that_knows_its_actor(world) -> None:
    sessions, keys, _, _ = world
    session_id, session = sessions.sign_in(keys["alice"])
    assert (session.actor.role.name, session.actor.client) == ("client", "alice")
    assert sessions.resume(session_id).actor == session.actor
    # The id is random, not derived from the key: nothing of the key is in the cookie.
    assert keys["alice"] not in session_id
    assert session.key_id not in session_id
    assert sessions.sign_in(keys["alice"])[0] != session_id


@pytest.mark.parametrize("presented", ["", "rf_0000000000000000_nope", "x" * 500, "not a key"])
def test_no_session_for_a_bad_key(world, presented: str) -> None:
    sessions, *_ = world
    with pytest.raises(InputError) as caught:
        sessions.sign_in(presented)
    assert caught.value.code in (Result.api_key_missing, Result.api_key_invalid)
    assert sessions.open_count() == 0


def test_a_session_ends_on_sign_out_when_idle_and_when_old(world) -> None:
    sessions, keys, _, clock = world
    session_id, _ = sessions.sign_in(keys["operator"])
    sessions.sign_out(session_id)
    refused(Result.session_missing, sessions.resume, session_id)

    session_id, _ = sessions.sign_in(keys["operator"])
    clock.advance(seconds=limits.console_session_idle_s_max - 1)
    sessions.resume(session_id)  # used: the quiet spell starts again
    clock.advance(seconds=limits.console_session_idle_s_max - 1)
    sessions.resume(session_id)
    clock.advance(seconds=limits.console_session_idle_s_max + 1)
    refused(Result.session_expired, sessions.resume, session_id)

    session_id, _ = sessions.sign_in(keys["operator"])
    for _ in range(limits.console_session_lifetime_s_max // limits.console_session_idle_s_max):
        clock.advance(seconds=limits.console_session_idle_s_max - 1)
        sessions.resume(session_id)
    clock.advance(seconds=limits.console_session_idle_s_max - 1)
    refused(Result.session_expired, sessions.resume, session_id)


def test_revoking_the_key_ends_its_sessions_at_once(world) -> None:
    sessions, keys, store, clock = world
    session_id, session = sessions.sign_in(keys["alice"])
    revoke_key(store, clock, session.key_id)
    refused(Result.api_key_revoked, sessions.resume, session_id)
    refused(Result.session_missing, sessions.resume, session_id)
    refused(Result.api_key_revoked, sessions.sign_in, keys["alice"])


def test_unknown_or_oversized_session_ids_are_missing_sessions(world) -> None:
    sessions, *_ = world
    for session_id in (None, "", "made-up", "x" * 10_000):
        refused(Result.session_missing, sessions.resume, session_id)


def test_forms_carry_their_sessions_token(world) -> None:
    sessions, keys, _, _ = world
    _, mine = sessions.sign_in(keys["operator"])
    _, theirs = sessions.sign_in(keys["alice"])
    check_form_token(mine, mine.form_token)
    for presented in (None, "", theirs.form_token, mine.form_token + "x"):
        refused(Result.form_token_invalid, check_form_token, mine, presented)
    token = new_sign_in_token()
    check_sign_in_token(token, token)
    for cookie, field in ((None, token), (token, None), (token, new_sign_in_token())):
        refused(Result.form_token_invalid, check_sign_in_token, cookie, field)


def test_the_oldest_session_gives_way_at_the_limit(world, monkeypatch) -> None:
    sessions, keys, _, clock = world
    monkeypatch.setattr(limits, "console_sessions_max", 3)
    opened = []
    for _ in range(4):
        clock.advance(seconds=1)
        opened.append(sessions.sign_in(keys["operator"])[0])
    assert sessions.open_count() == 3
    refused(Result.session_missing, sessions.resume, opened[0])
    assert sessions.resume(opened[-1])


def test_a_form_is_read_strictly() -> None:
    assert parse_form(b"cause=loss&action=top+up+%C3%A9&empty=") == {
        "cause": "loss", "action": "top up é", "empty": ""}  # fmt: skip
    assert parse_form(b"") == {}
    too_many = b"&".join(b"f%d=1" % n for n in range(limits.console_form_fields_max + 1))
    for body in (b"a=1&a=2", b"\xff=1", b"a=%FF", too_many, b"a=1&&b"):
        refused(Result.form_malformed, parse_form, body)
