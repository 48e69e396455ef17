"""Database URLs without a driver: which ones are PostgreSQL's, and how to print one without its
password. Apart from postgres_setup.py so that the composition root can tell and print URLs
without importing psycopg, which a command on an SQLite file never needs."""

from __future__ import annotations

import re

url_prefixes = ("postgresql://", "postgres://")


def redacted(url: str) -> str:
    """The URL without its passwords, for messages: ``user:***@`` and, in the query string
    (where libpq takes them too), ``password=***`` and ``sslpassword=***``."""
    url = re.sub(r"(//[^/:@?#]*):[^/@?#]*@", r"\1:***@", url)
    return re.sub(r"(?i)([?&](?:ssl)?password=)[^&#]*", r"\1***", url)
