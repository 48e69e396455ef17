"""Signed-in sessions of the console and the portal: a person presents an API key once, on a
form, and the pages then know them by a session.

Why a server-side session id in the cookie, and not the key or its hash: the cookie is sent
with every page, so what it holds is a bearer credential. A random session id stands for the
key without being it: it ends on sign-out, after ``console_session_idle_s_max`` of quiet and
after ``console_session_lifetime_s_max`` in any case, and leaking it never leaks a key that
also opens the REST API. A key hash in the cookie would be a second, permanent password for
the same principal, valid until the key is revoked. The server keeps only the SHA-256 of each
id, so its memory holds nothing a cookie could be made from.

Each session remembers the id of the key that opened it, and every page checks that key again
in the key store: a revoked key ends its sessions at once, as it ends its API calls.

Every form a signed-in page posts carries the session's form token (the synchroniser token
pattern), compared in constant time; the sign-in form, which has no session yet, carries a
token that must equal the one set in its own cookie (double submit). With ``SameSite=Strict``
cookies, that is two independent defences against a forged cross-site post.

Sessions live in the server's memory: a restart signs everyone out, which is the safe failure.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
import threading
import urllib.parse
from dataclasses import dataclass, replace

from ringfence.core import limits
from ringfence.core.access.keys import key_id_of
from ringfence.core.access.roles import Actor
from ringfence.core.errors import InputError, Result
from ringfence.service.keys import KeyVerifier
from ringfence.service.ports import Clock

__all__ = [
    "Session", "Sessions", "check_form_token", "check_sign_in_token", "form_bytes_max",
    "new_sign_in_token", "parse_form",
]  # fmt: skip

_token_bytes = 32
_second_ns = 10**9


@dataclass(frozen=True, slots=True)
class Session:
    """One signed-in person: who they act as, the key that opened the session, the token
    their forms carry, and when the session opened and was last used."""

    actor: Actor
    key_id: str
    form_token: str
    opened_ns: int
    seen_ns: int


class Sessions:
    """The signed-in sessions of one server process. Thread-safe."""

    def __init__(self, verifier: KeyVerifier, clock: Clock) -> None:
        self.verifier = verifier
        self.clock = clock
        self._lock = threading.Lock()
        self._open: dict[bytes, Session] = {}  # SHA-256 of the session id -> session

    def sign_in(self, presented_key: str) -> tuple[str, Session]:
        """A new session for the holder of ``presented_key`` (checked as an API call checks
        it: ``api_key_missing``, ``api_key_invalid``, ``api_key_revoked``); returns the
        session id, which only the cookie keeps, and the session."""
        presented = presented_key.strip()
        if len(presented) > limits.api_key_length_max:
            raise InputError(Result.api_key_invalid, "no such key")
        actor = self.verifier.actor_of(presented)
        now = self.clock.now_ns()
        form_token = secrets.token_urlsafe(_token_bytes)
        session = Session(actor, key_id_of(presented), form_token, now, now)
        session_id = secrets.token_urlsafe(_token_bytes)
        with self._lock:
            self._forget_ended(now)
            if len(self._open) >= limits.console_sessions_max:
                self._open.pop(min(self._open, key=lambda k: self._open[k].seen_ns))
            self._open[_digest(session_id)] = session
        return session_id, session

    def resume(self, session_id: str | None) -> Session:
        """The session a cookie names, still open and its key still active, now marked used:
        ``session_missing``, ``session_expired`` or ``api_key_revoked`` otherwise."""
        if not session_id or len(session_id) > 2 * _token_bytes:
            raise InputError(Result.session_missing, "sign in with an API key")
        digest = _digest(session_id)
        now = self.clock.now_ns()
        with self._lock:
            session = self._open.get(digest)
            if session is None:
                raise InputError(Result.session_missing, "sign in with an API key")
            if _ended(session, now):
                del self._open[digest]
                raise InputError(Result.session_expired, "sign in again")
        record = self.verifier.store.get(session.key_id)
        if record is None or not record.active:
            self.sign_out(session_id)
            raise InputError(Result.api_key_revoked, session.key_id)
        resumed = replace(session, seen_ns=now)
        with self._lock:
            if digest in self._open:
                self._open[digest] = resumed
        return resumed

    def sign_out(self, session_id: str | None) -> None:
        if session_id:
            with self._lock:
                self._open.pop(_digest(session_id), None)

    def open_count(self) -> int:
        with self._lock:
            return len(self._open)

    def _forget_ended(self, now: int) -> None:
        for digest in [d for d, s in self._open.items() if _ended(s, now)]:
            del self._open[digest]


def check_form_token(session: Session, presented: str | None) -> None:
    """A posted form must carry its session's form token (``form_token_invalid``)."""
    if not presented or not hmac.compare_digest(presented.encode(), session.form_token.encode()):
        raise InputError(Result.form_token_invalid, "reload the page and try again")


def new_sign_in_token() -> str:
    """The token the sign-in form and its cookie both carry."""
    return secrets.token_urlsafe(_token_bytes)


def check_sign_in_token(from_cookie: str | None, from_form: str | None) -> None:
    """The sign-in form's token equals its cookie's (``form_token_invalid``)."""
    if not from_cookie or not from_form:
        raise InputError(Result.form_token_invalid, "reload the sign-in page and try again")
    if not hmac.compare_digest(from_cookie.encode(), from_form.encode()):
        raise InputError(Result.form_token_invalid, "reload the sign-in page and try again")


def _digest(session_id: str) -> bytes:
    return hashlib.sha256(session_id.encode("utf-8", "replace")).digest()


def _ended(session: Session, now: int) -> bool:
    idle = now - session.seen_ns > limits.console_session_idle_s_max * _second_ns
    old = now - session.opened_ns > limits.console_session_lifetime_s_max * _second_ns
    return idle or old


# ---------------------------------------------------------------------- forms

form_bytes_max = limits.console_form_bytes_max


def parse_form(body: bytes) -> dict[str, str]:
    """A posted form (``application/x-www-form-urlencoded``) as its fields, strictly: at most
    ``console_form_fields_max`` fields, each named once, UTF-8 (``form_malformed``)."""
    assert len(body) <= limits.console_form_bytes_max  # the entry point bounds it first
    try:
        text = body.decode("utf-8")
        pairs = urllib.parse.parse_qsl(
            text,
            keep_blank_values=True,
            strict_parsing=bool(text),
            max_num_fields=limits.console_form_fields_max,
            errors="strict",
        )
    except (UnicodeDecodeError, ValueError) as error:
        raise InputError(Result.form_malformed, str(error)[:200]) from None
    fields: dict[str, str] = {}
    for name, value in pairs:
        if name in fields:
            raise InputError(Result.form_malformed, f"field {name!r} given twice")
        fields[name] = value
    return fields
