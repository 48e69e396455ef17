"""What every page shares: the one template environment and its text filters.

Every HTML page ringfence writes (the demo's report, the reconciliation report, a client
statement) is rendered here, from a document the service built; pages import this module and
nothing of each other, so no page depends on another.
"""

from __future__ import annotations

from pathlib import Path

import jinja2

templates_path = Path(__file__).parent / "templates"


def page_environment() -> jinja2.Environment:
    """The one template environment every HTML page ringfence writes is rendered in: strict
    (a missing field is an error, not an empty cell), escaped, with the shared filters."""
    environment = jinja2.Environment(
        loader=jinja2.FileSystemLoader(templates_path),
        autoescape=True,
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    environment.filters["grouped"] = grouped
    return environment


def grouped(amount: str) -> str:
    """A decimal string with its whole part in groups of three: 1234567.5 -> 1,234,567.5."""
    sign = "-" if amount.startswith("-") else ""
    whole, point, fraction = amount.lstrip("-").partition(".")
    groups: list[str] = []
    while len(whole) > 3:
        whole, tail = whole[:-3], whole[-3:]
        groups.insert(0, tail)
    return sign + ",".join([whole, *groups]) + point + fraction


def age_text(seconds: int) -> str:
    """A break's age in the two largest units that matter: 45 s, 3 min 05 s, 2 d 04 h."""
    assert seconds >= 0
    minutes, second = divmod(seconds, 60)
    hours, minute = divmod(minutes, 60)
    days, hour = divmod(hours, 24)
    if days:
        return f"{days} d {hour:02d} h"
    if hours:
        return f"{hours} h {minute:02d} min"
    if minutes:
        return f"{minutes} min {second:02d} s"
    return f"{second} s"
