"""The README's walkthrough ("Using it") runs as written: its shell block, marked for this
test, is taken from README.md and run by bash with ``-euo pipefail`` in a temporary folder
that holds a copy of ``examples/``, and every command must exit 0.

One subprocess per command of the block, by design: this is what a new user types. A DEBUG
trap logs each command as it starts, so a failure names its command and a clean run shows that
every command of the block ran (and, under ``-e``, exited 0); ``ringfence`` is the console
script of this environment.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

root = Path(__file__).resolve().parents[2]
marker = "<!-- tested: tests/e2e/test_readme.py"


def walkthrough(readme: str) -> str:
    """The shell block that follows the marker comment."""
    found = re.search(re.escape(marker) + r".*?-->\n```sh\n(.*?)\n```", readme, re.DOTALL)
    assert found is not None, "README.md has no block marked for tests/e2e/test_readme.py"
    return found.group(1)


def commands_of(block: str) -> list[str]:
    """The block's commands, continuation lines joined, comments and blanks left out."""
    joined = block.replace("\\\n", " ")
    lines = [line.split(" #")[0] for line in joined.splitlines()]
    return [" ".join(line.split()) for line in lines if line.strip() and not line.startswith("#")]


def test_the_block_is_found_and_every_command_uses_one_database() -> None:
    block = walkthrough((root / "README.md").read_text(encoding="utf-8"))
    commands = commands_of(block)
    assert "export RINGFENCE_DB=" in block
    assert not [command for command in commands if "--db" in command]
    assert sum(command.startswith("ringfence ") for command in commands) >= 25


@pytest.mark.slow
def test_the_readme_walkthrough_runs_as_written(tmp_path: Path) -> None:
    block = walkthrough((root / "README.md").read_text(encoding="utf-8"))
    shutil.copytree(root / "examples", tmp_path / "examples")
    started = tmp_path / "started"
    # Each simple command is logged before it runs; under -e the first that fails ends the
    # script, so the log's last line names it, and a clean run has logged every command.
    script = f"trap 'printf \"%s\\n\" \"$BASH_COMMAND\" >> {started}' DEBUG\n{block}\n"
    environment = {key: value for key, value in os.environ.items()
                   if not key.startswith("RINGFENCE_")}  # fmt: skip
    environment["PATH"] = f"{Path(sys.executable).parent}{os.pathsep}{environment['PATH']}"
    done = subprocess.run(["bash", "-euo", "pipefail", "-c", script], cwd=tmp_path,
                          env=environment, capture_output=True, text=True, timeout=300,
                          check=False)  # fmt: skip
    log = started.read_text(encoding="utf-8").splitlines()
    assert done.returncode == 0, f"exit {done.returncode} at: {log[-1]}\n{done.stderr[-3000:]}"
    ran = [line for line in log if line.startswith("ringfence ")]
    expected = [command for command in commands_of(block) if command.startswith("ringfence ")]
    assert [" ".join(line.split()) for line in ran] == expected
    assert (tmp_path / "walkthrough" / "pack.zip").is_file()
