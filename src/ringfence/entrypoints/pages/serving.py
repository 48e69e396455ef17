"""The console and the portal, served by ``ringfence serve`` beside the REST API: the same
process, the same API keys and roles, the same service functions under the same lock.

``site.add_pages(app, api)`` adds the sign-in pages and the static assets (here), and the
routes of ``console/routes.py`` (staff) and ``portal/routes.py`` (clients). What every page
shares is here, in ``Pages``:

1. the session cookie names a signed-in session (service/sessions.py says why a session id
   and not the key); no session, an expired one or a revoked key sends the browser to the
   sign-in page;
2. a posted form is ``application/x-www-form-urlencoded``, at most ``form_bytes_max`` bytes,
   read strictly, and must carry the session's form token;
3. each page makes one or a few service calls, in a worker thread holding the API's lock,
   with the session's actor, and renders what they return; a refusal is an HTML page with
   the status of core/errors.py's one table and the result code as its words;
4. every answer carries a strict Content-Security-Policy (scripts and styles from this
   server only: no inline script runs, and a name in the data cannot become one), and pages
   are never cached.

The pages are plain Starlette routes, not part of the REST API's OpenAPI document.
"""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable, Iterable, Sequence
from pathlib import Path
from typing import Any, TypeVar
from urllib.parse import quote

from fastapi import FastAPI, Request
from starlette.concurrency import run_in_threadpool
from starlette.responses import HTMLResponse, RedirectResponse, Response

from ringfence.core.errors import InputError, Result, RingfenceError
from ringfence.entrypoints.api.calls import Api
from ringfence.entrypoints.api.problems import code_of, http_status
from ringfence.entrypoints.pages.rendering import page_environment
from ringfence.service import sessions as signing_in
from ringfence.service.csv_cells import csv_text
from ringfence.service.ledger import LedgerService
from ringfence.service.sessions import Session, Sessions

session_cookie = "rf_session"
sign_in_cookie = "rf_sign_in"
form_media_type = "application/x-www-form-urlencoded"
static_path = Path(__file__).parent / "static"
verify_page_path = Path(__file__).parent / "web" / "verify.html"
verifier_marker = '<script id="ringfence-verifier">'
security_headers = {
    "Content-Security-Policy": (
        "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self'; "
        "connect-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'"
    ),
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "same-origin",
    "X-Frame-Options": "DENY",
    "Cache-Control": "no-store",
}
# Refusals that mean "who are you?": the browser is sent to sign in (again).
signing_in_results = frozenset({Result.session_missing, Result.session_expired,
                                Result.api_key_revoked, Result.api_key_invalid})  # fmt: skip
T = TypeVar("T")
PageHandler = Callable[[Request, Session], Awaitable[Response]]
FormHandler = Callable[[Request, Session, dict[str, str]], Awaitable[Response]]


class Pages:
    """What every page shares: the API's bundle and lock, the sessions, the templates."""

    def __init__(self, api: Api) -> None:
        assert api.bundle.sessions is not None
        self.api = api
        self.sessions: Sessions = api.bundle.sessions
        self.environment = page_environment()

    async def call(self, work: Callable[[LedgerService], T]) -> T:
        """Run one service call on the current ledger, holding the API's lock."""

        def locked() -> T:
            with self.api.lock:
                return work(self.api.bundle.current())

        return await run_in_threadpool(locked)

    def render(
        self, name: str, session: Session | None, answer_status: int = 200, **context: Any
    ) -> HTMLResponse:
        context.setdefault("current", "")
        text = self.environment.get_template(name).render(who=_who(session), **context)
        return HTMLResponse(text, answer_status, headers=security_headers)

    def session_of(self, request: Request) -> Session:
        return self.sessions.resume(request.cookies.get(session_cookie))

    async def page(self, request: Request, route: str, handler: PageHandler) -> Response:
        """A signed-in page (GET): the session, then the handler's calls and rendering."""
        session: Session | None = None
        try:
            session = self.session_of(request)
            response = await handler(request, session)
        except RingfenceError as error:
            return self.failure(request, route, error, session)
        self.api.metrics.count(route, "ok")
        return response

    async def form(self, request: Request, route: str, handler: FormHandler) -> Response:
        """A signed-in form post: the session, the form read strictly, its token checked."""
        session: Session | None = None
        try:
            session = self.session_of(request)
            fields = await read_form(request)
            signing_in.check_form_token(session, fields.pop("form_token", None))
            response = await handler(request, session, fields)
        except RingfenceError as error:
            return self.failure(request, route, error, session)
        self.api.metrics.count(route, "ok")
        return response

    def failure(
        self, request: Request, route: str, error: RingfenceError, session: Session | None
    ) -> Response:
        code = code_of(error)
        self.api.metrics.count(route, code)
        if isinstance(error, InputError) and error.code in signing_in_results:
            return redirect(f"/login?next={quote(request.url.path, safe='/')}&why={code}")
        status = http_status(error)
        detail = error.detail if isinstance(error, InputError) else str(error)
        if status == 404:  # nothing about what was not found, nor whether it exists
            detail = ""
        return self.render("site/error.html", session, status, status=status, code=code,
                           detail=detail)  # fmt: skip


def _who(session: Session | None) -> dict[str, Any] | None:
    if session is None:
        return None
    actor = session.actor
    return {
        "name": actor.name,
        "role": actor.role.name,
        "client": actor.client,
        "staff": not actor.is_client,
        "form_token": session.form_token,
    }


def exported(document: Any, name: str) -> Response:
    """A JSON export, offered as a file: amounts exact, as the service wrote them."""
    body = json.dumps(document, indent=2, sort_keys=True) + "\n"
    headers = {**security_headers, "Content-Disposition": f'attachment; filename="{name}"'}
    return Response(body, media_type="application/json", headers=headers)


def exported_csv(header: Sequence[str], rows: Iterable[Sequence[str]], name: str) -> Response:
    """A CSV export, offered as a file."""
    headers = {**security_headers, "Content-Disposition": f'attachment; filename="{name}"'}
    text = csv_text(header, rows)
    return Response(text, media_type="text/csv; charset=utf-8", headers=headers)


def redirect(location: str) -> RedirectResponse:
    """See Other: after a post, and to send a browser where it belongs."""
    return RedirectResponse(location, 303, headers=security_headers)


def local_path(target: str | None, fallback: str) -> str:
    """``target`` if it is a path on this server (never another site), else ``fallback``."""
    if not target or not target.startswith("/") or target.startswith("//") or "\\" in target:
        return fallback
    return target


async def read_form(request: Request) -> dict[str, str]:
    media = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if media != form_media_type:
        raise InputError(Result.content_type_unsupported, f"{media or 'none'}: a form")
    chunks: list[bytes] = []
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > signing_in.form_bytes_max:
            raise InputError(Result.request_body_too_large, "a form is a few short fields")
        chunks.append(chunk)
    return signing_in.parse_form(b"".join(chunks))


def home_of(session: Session) -> str:
    """Where a signed-in person starts: a client on its own portal, staff on the console."""
    if session.actor.is_client:
        return f"/portal/clients/{quote(session.actor.client, safe='')}"
    return "/console"


# ---------------------------------------------------------------------- the routes


def add_signing_in(app: FastAPI, pages: Pages) -> None:
    async def home(request: Request) -> Response:
        try:
            return redirect(home_of(pages.session_of(request)))
        except RingfenceError:
            return redirect("/login")

    async def sign_in_page(request: Request) -> Response:
        try:
            return redirect(home_of(pages.session_of(request)))
        except RingfenceError:
            pass
        why = request.query_params.get("why", "")
        return _sign_in_form(pages, request, "", _sign_in_reason(why), 200)

    async def sign_in(request: Request) -> Response:
        fields: dict[str, str] = {}
        try:
            fields = await read_form(request)
            signing_in.check_sign_in_token(
                request.cookies.get(sign_in_cookie), fields.get("form_token")
            )
            session_id, session = await run_in_threadpool(
                pages.sessions.sign_in, fields.get("api_key", "")
            )
        except RingfenceError as error:
            pages.api.metrics.count("/login", code_of(error))
            status = 401 if http_status(error) == 401 else http_status(error)
            words = _sign_in_reason(code_of(error)) or code_of(error).replace("_", " ")
            return _sign_in_form(pages, request, fields.get("next", ""), words, status)
        pages.api.metrics.count("/login", "ok")
        response = redirect(local_path(fields.get("next"), home_of(session)))
        response.set_cookie(session_cookie, session_id, httponly=True, samesite="strict",
                            secure=request.url.scheme == "https", path="/")  # fmt: skip
        response.delete_cookie(sign_in_cookie, path="/login")
        return response

    async def sign_out(request: Request) -> Response:
        async def done(request: Request, session: Session, fields: dict[str, str]) -> Response:
            pages.sessions.sign_out(request.cookies.get(session_cookie))
            response = redirect("/login?why=signed_out")
            response.delete_cookie(session_cookie, path="/")
            return response

        return await pages.form(request, "/logout", done)

    app.add_route("/", home, methods=["GET"], include_in_schema=False)
    app.add_route("/login", sign_in_page, methods=["GET"], include_in_schema=False)
    app.add_route("/login", sign_in, methods=["POST"], include_in_schema=False)
    app.add_route("/logout", sign_out, methods=["POST"], include_in_schema=False)


def _sign_in_form(
    pages: Pages, request: Request, next_path: str, message: str, status: int
) -> Response:
    token = signing_in.new_sign_in_token()
    target = local_path(next_path or request.query_params.get("next"), "")
    response = pages.render("site/login.html", None, status, form_token=token, next=target,
                            message=message, status=status)  # fmt: skip
    response.set_cookie(sign_in_cookie, token, httponly=True, samesite="strict",
                        secure=request.url.scheme == "https", path="/login",
                        max_age=15 * 60)  # fmt: skip
    return response


def _sign_in_reason(code: str) -> str:
    return {
        "session_missing": "Sign in to continue.",
        "session_expired": "Your session ended. Sign in again.",
        "api_key_revoked": "That key has been revoked.",
        "api_key_invalid": "That is not a valid key.",
        "api_key_missing": "Enter your API key.",
        "signed_out": "You are signed out.",
        "form_token_invalid": "The form was stale. Try again.",
    }.get(code, "")


def add_static(app: FastAPI) -> None:
    assets = {
        "site.css": ("text/css; charset=utf-8", (static_path / "site.css").read_bytes()),
        "portal.js": ("text/javascript; charset=utf-8", (static_path / "portal.js").read_bytes()),
        "verifier.js": ("text/javascript; charset=utf-8", verifier_script()),
    }

    def serve(name: str) -> Callable[[Request], Awaitable[Response]]:
        media, body = assets[name]

        async def asset(request: Request) -> Response:
            headers = {**security_headers, "Cache-Control": "public, max-age=300"}
            return Response(body, media_type=media, headers=headers)

        return asset

    for name in assets:
        app.add_route(f"/static/{name}", serve(name), methods=["GET"], include_in_schema=False)


signing_key_meta = '<meta name="ringfence-signing-key" content="">'


def pinned_verify_page(public_key: str) -> str:
    """The offline verifier page with the firm's signing key written in: a client who keeps
    this page refuses any round signed by another key, whatever they paste."""
    assert len(public_key) == 64
    assert not public_key.strip("0123456789abcdef")
    page = verify_page_path.read_text(encoding="utf-8")
    assert page.count(signing_key_meta) == 1
    return page.replace(signing_key_meta, signing_key_meta.replace(
        'content=""', f'content="{public_key}"'))


def verifier_script() -> bytes:
    """The client's browser verifier, taken from web/verify.html, so that the portal and the
    page a client saves and runs offline check proofs with the very same code."""
    page = verify_page_path.read_text(encoding="utf-8")
    start = page.index(verifier_marker) + len(verifier_marker)
    end = page.index("</script>", start)
    script = page[start:end]
    assert "const RingfenceVerifier" in script
    return script.encode("utf-8")
