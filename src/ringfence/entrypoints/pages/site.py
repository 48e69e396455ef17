"""The pages ``ringfence serve`` adds to its REST API: signing in, the static assets, the
operator console and the client portal (serving.py says what they share)."""

from __future__ import annotations

from fastapi import FastAPI

from ringfence.entrypoints.api.calls import Api
from ringfence.entrypoints.pages.console.routes import add_console_routes
from ringfence.entrypoints.pages.portal.routes import add_portal_routes
from ringfence.entrypoints.pages.serving import Pages, add_signing_in, add_static


def add_pages(app: FastAPI, api: Api) -> None:
    """The sign-in pages, the static assets, the console and the portal."""
    pages = Pages(api)
    add_signing_in(app, pages)
    add_static(app)
    add_console_routes(app, pages)
    add_portal_routes(app, pages)
