"""Running ``ringfence`` commands from the end-to-end tests.

``run`` calls the real Typer application in this process (``typer.testing.CliRunner``): the
same parsing, the same service call, the same output and exit status as the console script,
without starting a Python interpreter and importing every dependency again for each command
(about a second and a half of CPU per command). ``run_installed`` starts the installed
``ringfence`` console script itself; each command group keeps at least one such run, so that
the entry point, its environment handling and its process exit status stay covered.

An exception that escapes a command in process is raised in the test, as it would have ended
the process with a traceback: a test cannot pass on a crash.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from typer.testing import CliRunner

from ringfence.entrypoints.cli.app import app

ringfence = Path(sys.executable).parent / "ringfence"


@dataclass
class Run:
    status: int
    stdout: str
    stderr: str

    @property
    def document(self) -> Any:
        return json.loads(self.stdout)


def _arguments(db: Path | str | None, arguments: tuple[str, ...]) -> list[str]:
    if db is None:
        return list(arguments)
    url = db if isinstance(db, str) else f"sqlite:///{db}"
    return ["--db", url, *arguments]


def run(db: Path | str | None, *arguments: str, env: dict[str, str] | None = None) -> Run:
    """``ringfence [--db sqlite:///DB] ARGUMENTS`` in this process; ``RINGFENCE_DB`` is unset
    unless ``env`` sets it."""
    environment: dict[str, str | None] = {"RINGFENCE_DB": None, **(env or {})}
    result = CliRunner().invoke(
        app, _arguments(db, arguments), env=environment, prog_name="ringfence"
    )
    if result.exception is not None and not isinstance(result.exception, SystemExit):
        raise result.exception
    return Run(result.exit_code, result.stdout, result.stderr)


def run_installed(db: Path | str | None, *arguments: str, env: dict[str, str] | None = None) -> Run:
    """The installed console script in a process of its own, as an operator runs it."""
    environment = {k: v for k, v in os.environ.items() if k != "RINGFENCE_DB"}
    environment.update(env or {})
    finished = subprocess.run(
        [str(ringfence), *_arguments(db, arguments)],
        capture_output=True,
        text=True,
        timeout=120,
        env=environment,
        check=False,
    )
    return Run(finished.returncode, finished.stdout, finished.stderr)


def run_json(db: Path | str | None, *arguments: str, status: int = 0) -> Any:
    result = run(db, *arguments, "--json")
    assert result.status == status, result.stderr or result.stdout
    return result.document


def write_lines(path: Path, objects: list[object]) -> Path:
    lines = [item if isinstance(item, str) else json.dumps(item) for item in objects]
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def copy_of(db: Path, folder: Path, name: str = "copy.db") -> Path:
    """A copy of an SQLite ledger (its WAL and journal key too) that a test may write to."""
    copy = folder / name
    for suffix in ("", "-wal", "-shm", ".journal-key"):
        source = Path(f"{db}{suffix}")
        if source.exists():
            shutil.copy(source, f"{copy}{suffix}")
    return copy


def copy_folder(template: Path, folder: Path) -> None:
    """Everything a module's template ledger folder holds (the database, its journal key, the
    key and input files beside it) into a test's own folder, which it may then change."""
    shutil.copytree(template, folder, dirs_exist_ok=True)
