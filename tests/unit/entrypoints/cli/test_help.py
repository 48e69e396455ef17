"""The command line's help, version and completion: every command's ``--help`` is clean at 80
columns, the root's table of words matches the commands, and ``ringfence --help`` loads none
of the commands' heavy dependencies."""

from __future__ import annotations

import pkgutil
import subprocess
import sys
from collections.abc import Iterator
from importlib.metadata import version
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from ringfence.entrypoints.cli import commands
from ringfence.entrypoints.cli.app import app, command_words, load_command

runner = CliRunner()


def command_paths() -> Iterator[list[str]]:
    yield []
    for entry in command_words:
        yield from _walk(load_command(entry.word), [entry.word])


def _walk(command: Any, path: list[str]) -> Iterator[list[str]]:
    yield path
    for name, sub in getattr(command, "commands", {}).items():
        yield from _walk(sub, [*path, name])


def help_text(path: list[str], width: int) -> str:
    result = runner.invoke(app, [*path, "--help"], terminal_width=width)
    assert result.exit_code == 0, result.output
    return result.output


every_command = list(command_paths())


def test_every_command_module_has_its_words_in_the_table() -> None:
    listed = {entry.module for entry in command_words}
    found = {module.name for module in pkgutil.iter_modules(commands.__path__)}
    assert found == listed
    words = [entry.word for entry in command_words]
    assert len(words) == len(set(words))


@pytest.mark.parametrize("entry", command_words, ids=lambda entry: entry.word)
def test_the_table_lists_each_word_with_its_own_first_sentence(entry: Any) -> None:
    assert load_command(entry.word).get_short_help_str(limit=10_000) == entry.summary


@pytest.mark.parametrize("path", every_command, ids=lambda path: " ".join(path) or "ringfence")
def test_help_is_clean_at_80_columns(path: list[str]) -> None:
    text = help_text(path, 80)
    wide = help_text(path, 2_000)
    assert "<bool>" not in text
    assert "``" not in text
    assert not [line for line in text.splitlines() if len(line) > 80]
    # A word cut across two lines (at a hyphen, or folded) leaves pieces that the same help,
    # laid out with room to spare, never shows; a subcommand's summary cut short ends in "...".
    words_wide = set(wide.split())
    assert [word for word in text.split() if word not in words_wide] == []


def test_help_does_not_wrap_inside_a_hyphenated_word() -> None:
    # At this width the root's --journal-key help would break "PATH.journal-key" at its hyphen.
    text = help_text([], 80)
    assert "PATH.journal-key" in text


def test_version() -> None:
    result = runner.invoke(app, ["--version"])
    assert result.exit_code == 0
    assert result.output == f"ringfence {version('ringfence')}\n"


def test_shell_completion_completes_words_and_subcommands() -> None:
    # The install options detect the user's shell; here, the protocol the installed script
    # speaks with the program.
    assert "--install-completion" in help_text([], 80)
    for words, cword, expected in (("ringfence wal", "1", "wallets"),
                                   ("ringfence wallets sc", "2", "scan")):  # fmt: skip
        environment = {"_RINGFENCE_COMPLETE": "complete_bash", "COMP_WORDS": words,
                       "COMP_CWORD": cword}  # fmt: skip
        result = runner.invoke(app, [], env=environment, prog_name="ringfence")
        assert result.output.split() == [expected]


def test_root_help_and_version_import_no_command_and_no_heavy_library() -> None:
    # `ringfence --help` must answer at once: measured with `python -X importtime`
    # (BENCHMARKS.md); here, what it must not load.
    program = (
        "import sys\n"
        "from ringfence.entrypoints.cli.app import app\n"
        "for arguments in (['--help'], ['--version']):\n"
        "    try:\n"
        "        app(arguments, prog_name='ringfence')\n"
        "    except SystemExit:\n"
        "        pass\n"
        "print(' '.join(sorted(sys.modules)))\n"
    )
    done = subprocess.run([sys.executable, "-c", program], capture_output=True, text=True,
                          check=True, timeout=60)  # fmt: skip
    loaded = set(done.stdout.split())
    heavy = {"numpy", "web3", "fastapi", "psycopg", "eth_account", "rich", "pydantic",
             "ringfence.bootstrap", "ringfence.service", "ringfence.adapters",
             "ringfence.entrypoints.cli.output",
             "ringfence.entrypoints.cli.commands.ledger"}  # fmt: skip
    assert loaded & heavy == set()


def test_a_small_command_on_sqlite_loads_neither_postgresql_nor_numpy(tmp_path: Path) -> None:
    # An SQLite ledger needs neither psycopg nor numpy (nor keccak's module): they cost a few
    # tenths of a second of every small command when loaded at module level (BENCHMARKS.md).
    program = (
        "import sys\n"
        "from ringfence.entrypoints.cli.app import app\n"
        f"url = 'sqlite:///{tmp_path / 'small.db'}'\n"
        "for arguments in (['--db', url, 'init'], ['--db', url, 'balances']):\n"
        "    try:\n"
        "        app(arguments, prog_name='ringfence')\n"
        "    except SystemExit as stop:\n"
        "        assert not stop.code, stop.code\n"
        "print(' '.join(sorted(sys.modules)))\n"
    )
    done = subprocess.run([sys.executable, "-c", program], capture_output=True, text=True,
                          check=True, timeout=60)  # fmt: skip
    loaded = set(done.stdout.split())
    assert loaded & {"numpy", "psycopg", "Crypto.Hash.keccak", "web3", "eth_account"} == set()
    assert "ringfence.adapters.storage.sqlite" in loaded
