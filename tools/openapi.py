"""Write the API's OpenAPI document to docs/openapi.json (``python tools/openapi.py``).

The served document (``GET /openapi.json``) and the committed one must match;
tests/unit/entrypoints/api/test_openapi.py says so, and names this tool when they do not.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

from ringfence import bootstrap
from ringfence.entrypoints.api.app import create_app

committed = Path(__file__).resolve().parent.parent / "docs" / "openapi.json"


def document() -> str:
    bundle = bootstrap.open_service("memory://")
    try:
        return json.dumps(create_app(bundle).openapi(), indent=2, sort_keys=True) + "\n"
    finally:
        bundle.close()


def main() -> int:
    committed.write_text(document(), encoding="utf-8")
    sys.stdout.write(f"wrote {committed}\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
