"""A venue's book as a JSON file, as earlier versions kept it beside the database: the
``RiskBookStore`` that ``ringfence risk import-book FILE`` reads (the book itself now lives in
the journal, docs/risk.md).

One JSON object, indented by one space. A write goes to ``<file>.tmp`` first and then replaces
the file, so a reader sees the old book or the new one, never half of one.
"""

from __future__ import annotations

import json
from pathlib import Path

from ringfence.core.errors import InputError, Result


class RiskBookFile:
    """The book in one JSON file at ``path``."""

    def __init__(self, path: Path) -> None:
        self.path = path

    def read(self) -> dict[str, object]:
        try:
            document = json.loads(self.path.read_text(encoding="utf-8"))
        except FileNotFoundError:
            raise InputError(Result.file_not_found, f"no risk book at {self.path}") from None
        except (json.JSONDecodeError, UnicodeDecodeError) as error:
            raise InputError(Result.line_malformed, f"risk book {self.path}: {error}") from None
        if not isinstance(document, dict):
            raise InputError(Result.line_malformed, f"risk book {self.path} is not an object")
        return document

    def write(self, document: dict[str, object]) -> None:
        temporary = self.path.with_suffix(self.path.suffix + ".tmp")
        temporary.write_text(json.dumps(document, indent=1), encoding="utf-8")
        temporary.replace(self.path)
