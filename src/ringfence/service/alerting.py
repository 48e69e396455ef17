"""Scriptable alerting: the conditions ``--fail-on`` names, found in what a command reports.

A scheduled ``reconcile`` or ``por build`` must be able to page someone without parsing its
output: given ``--fail-on undersegregated,below_target,not_covered`` it still prints its whole
report and then exits with ``exit_status_alert`` (core/errors.py) when one of the conditions
named is in it. The conditions:

- ``undersegregated``: a custody pool's funds in segregation are below what its clients are
  owed (the segregation statement's immediate-notice alert; ``reconcile``);
- ``below_target``: a pool's residual interest is under management's target (``reconcile``);
- ``not_covered``: an asset's attested reserves do not cover its liabilities (``por build``).
"""

from __future__ import annotations

from collections.abc import Collection, Mapping
from typing import Any, Final

from ringfence.core.errors import InputError, Result

recon_conditions: Final = ("undersegregated", "below_target")
round_conditions: Final = ("not_covered",)


def parse_fail_on(text: str | None, known: Collection[str]) -> frozenset[str]:
    """The conditions of a ``--fail-on`` list (comma-separated); a word this command cannot
    find is refused, so that a typo never silences an alert."""
    if not text:
        return frozenset()
    words = [word.strip() for word in text.split(",")]
    unknown = [word for word in words if word not in known]
    if unknown:
        raise InputError(Result.usage_invalid,
                         f"--fail-on {','.join(unknown)}: this command can fail on "
                         f"{', '.join(known)}")  # fmt: skip
    return frozenset(words)


def recon_alerts(document: Mapping[str, Any], fail_on: frozenset[str]) -> list[str]:
    """The conditions asked for that the reconciliation (or segregation statement) found."""
    raised = {line["alert"] for line in document["segregated"]}
    return sorted(fail_on & raised)


def round_alerts(document: Mapping[str, Any], fail_on: frozenset[str]) -> list[str]:
    """The conditions asked for that the round found (``not_covered``: an asset's reserves
    below its liabilities; a round without reserves attests nothing and so covers nothing)."""
    uncovered = any(row.get("covered") is not True for row in document["assets"])
    return sorted(fail_on & ({"not_covered"} if uncovered else set()))
