"""The OpenAPI document: served, committed, and the same."""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path
from types import ModuleType

from fastapi.testclient import TestClient

root = Path(__file__).resolve().parents[4]


def load_tool() -> ModuleType:
    # tools/ is not a package: load the script by path, as `python tools/openapi.py` runs it.
    spec = importlib.util.spec_from_file_location(
        "ringfence_tools_openapi", root / "tools/openapi.py"
    )
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_the_committed_document_is_the_served_one() -> None:
    text = load_tool().document()
    committed = (root / "docs" / "openapi.json").read_text(encoding="utf-8")
    assert committed == text, "run `python tools/openapi.py` and commit docs/openapi.json"
    served = json.loads(text)
    paths = served["paths"]
    assert set(paths["/v1/transfers"]) == {"get", "post"}
    body = paths["/v1/transfers"]["post"]["requestBody"]["content"]["application/json"]
    assert body["schema"]["properties"]["transfers"]["maxItems"] == 8_189
    problem = paths["/v1/balances/{account_id}"]["get"]["responses"]["4XX"]
    assert "application/problem+json" in problem["content"]


def test_it_is_served() -> None:
    from ringfence import bootstrap
    from ringfence.entrypoints.api.app import create_app

    bundle = bootstrap.open_service("memory://")
    try:
        with TestClient(create_app(bundle)) as http:
            assert http.get("/openapi.json").json()["info"]["title"] == "ringfence"
    finally:
        bundle.close()
