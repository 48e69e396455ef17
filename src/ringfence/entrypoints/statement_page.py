"""A client's statement of position as a self-contained HTML page (inline CSS, no scripts),
rendered from the JSON document ``statement client --json`` prints."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import jinja2

from ringfence.entrypoints.report import grouped, templates_path


def render_client_statement(document: Mapping[str, Any]) -> str:
    environment = jinja2.Environment(
        loader=jinja2.FileSystemLoader(templates_path),
        autoescape=True,
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    environment.filters["grouped"] = grouped
    return environment.get_template("client_statement.html").render(statement=document)
