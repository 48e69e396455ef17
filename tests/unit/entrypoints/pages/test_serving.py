"""entrypoints/pages/serving.py: the portal checks proofs with the offline page's own
verifier, and a browser is only ever sent to a page of this server."""

from __future__ import annotations

import pytest

from ringfence.entrypoints.pages.serving import (
    exported_csv,
    local_path,
    verifier_script,
    verify_page_path,
)


def test_the_portal_serves_the_offline_pages_verifier_and_nothing_else() -> None:
    script = verifier_script().decode("utf-8")
    page = verify_page_path.read_text(encoding="utf-8")
    assert script in page  # the very same text: one verifier, two ways to run it
    assert "const RingfenceVerifier" in script
    assert "verifyBundle" in script
    assert 'byId("verify")' not in script  # the offline page's own buttons stay there
    assert "<script" not in script


@pytest.mark.parametrize(
    ("target", "expected"),
    [
        ("/console/breaks?pool=main", "/console/breaks?pool=main"),
        ("//evil.example/x", "/home"),
        ("https://evil.example/", "/home"),
        ("/\\evil.example", "/home"),
        ("", "/home"),
        (None, "/home"),
        ("console", "/home"),
    ],
)
def test_a_browser_goes_only_to_a_page_of_this_server(target: str | None, expected: str) -> None:
    assert local_path(target, "/home") == expected


def test_a_console_or_portal_export_writes_no_formula_cell() -> None:
    # Breaks carry notes and withdrawals reasons: others' text, exported to spreadsheets.
    response = exported_csv(["note", "amount"], [['=HYPERLINK("x")', "-1.50"]], "breaks.csv")
    assert bytes(response.body).decode() == 'note,amount\n"\'=HYPERLINK(""x"")",-1.50\n'
