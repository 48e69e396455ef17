"""Failure scenario files (the ``ScenarioFiles`` port): JSON in UTF-8, docs/insolvency.md.

A scenario is read whole and parsed in memory, so its size is checked before it is read
(``limits.scenario_file_bytes_max``); what it says is checked by core/insolvency/scenario.py.
"""

from __future__ import annotations

import json
from pathlib import Path

from ringfence.core import limits
from ringfence.core.errors import InputError, Result


class JsonScenarioFiles:
    """Scenario files on the local file system."""

    def read_scenario(self, path: str) -> object:
        file = Path(path)
        size = file.stat().st_size
        if size > limits.scenario_file_bytes_max:
            raise InputError(Result.scenario_invalid, f"{path} is {size} bytes, too large")
        try:
            return json.loads(file.read_bytes().decode("utf-8"))
        except (json.JSONDecodeError, UnicodeDecodeError) as error:
            raise InputError(Result.scenario_invalid, f"{path}: {error}") from None
