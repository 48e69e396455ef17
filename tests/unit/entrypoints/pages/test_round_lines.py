"""A proof-of-reserves round's asset line reads the same on the console and in the portal:
one standing and tone (pages/rendering.py), each page's own words for its reader."""

from __future__ import annotations

from typing import Any

import pytest

from ringfence.entrypoints.pages.console.views import round_view
from ringfence.entrypoints.pages.portal.views import proof_view
from ringfence.entrypoints.pages.rendering import basis_points_text, reserve_standing


def line(**given: Any) -> dict[str, Any]:
    found = {"asset": "BTC", "liabilities_units": "5", "attested": True, "covered": True,
             "coverage_bp": "10250", "shortfall": "0.00000000"}  # fmt: skip
    return {**found, **given}


CASES = [
    (line(liabilities_units="0", attested=False), "nothing_owed", "ok", "nothing owed"),
    (line(attested=False, coverage_bp=None), "not_attested", "title", "reserves not attested"),
    (line(), "covered", "ok", "covered"),
    (line(covered=False, coverage_bp="9950", shortfall="1234.5"), "short", "short",
     "NOT covered: short 1,234.5 BTC"),
]  # fmt: skip


@pytest.mark.parametrize(("given", "standing", "tone", "console_words"), CASES)
def test_each_standing_has_one_tone_and_each_reader_its_words(
    given: dict[str, Any], standing: str, tone: str, console_words: str
) -> None:
    assert reserve_standing(given) == (standing, tone)
    summary = {"round": 1, "assets": [given]}
    (shown,) = round_view(summary)["assets"]
    assert (shown["status"], shown["tone"]) == (console_words, tone)
    document = {"round": summary, "record": {"public_key": "k"}, "proofs": None, "proven": [],
                "pinned_public_key": "k"}  # fmt: skip
    (told,) = proof_view(document)["lines"]
    assert told["tone"] == tone
    assert told["coverage"] == shown["coverage"] == basis_points_text(given["coverage_bp"])


def test_basis_points_read_as_a_percentage() -> None:
    assert [basis_points_text(bp) for bp in ("10250", "9905", "0", None)] == [
        "102.50%", "99.05%", "0.00%", "—"]  # fmt: skip
