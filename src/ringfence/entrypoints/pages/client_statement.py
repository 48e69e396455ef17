"""A client's statement of position as a self-contained HTML page (inline CSS, no scripts),
rendered from the JSON document ``statement client --json`` prints."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from ringfence.entrypoints.pages.rendering import page_environment


def render_client_statement(document: Mapping[str, Any]) -> str:
    return page_environment().get_template("client_statement.html").render(statement=document)
