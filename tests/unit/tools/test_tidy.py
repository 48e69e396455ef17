"""tools/tidy.py flags long functions, wide lines and floats in the core, and nothing else."""

from __future__ import annotations

import importlib.util
import subprocess
import sys
import textwrap
from pathlib import Path
from types import ModuleType

import pytest

repository_root = Path(__file__).resolve().parents[3]
tidy_path = repository_root / "tools" / "tidy.py"


def load_tidy() -> ModuleType:
    # tools/ is not a package: load the script by path, as `python tools/tidy.py` would run it.
    spec = importlib.util.spec_from_file_location("ringfence_tools_tidy", tidy_path)
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up while building classes.
    spec.loader.exec_module(module)
    return module


tidy = load_tidy()


def write(root: Path, relative: str, text: str) -> Path:
    path = root / relative
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(textwrap.dedent(text), encoding="utf-8")
    return path


def function_source(name: str, lines_count: int, indent: str = "") -> str:
    """A function exactly `lines_count` lines long, `def` line included."""
    body = "".join(f"{indent}    x{index} = {index}\n" for index in range(lines_count - 1))
    return f"{indent}def {name}():\n{body}"


def problems_in(path: Path) -> list[str]:
    return [str(problem) for problem in tidy.check_file(path)]


# Function length.


def test_function_at_the_limit_passes(tmp_path: Path) -> None:
    path = write(tmp_path, "a.py", function_source("fits", tidy.function_lines_max))
    assert problems_in(path) == []


def test_function_over_the_limit_is_listed_as_file_line_name_length(tmp_path: Path) -> None:
    source = "import os\n\n\n" + function_source("too_long", tidy.function_lines_max + 1)
    path = write(tmp_path, "a.py", source)
    assert problems_in(path) == [f"{path}:4:too_long:{tidy.function_lines_max + 1}"]


def test_methods_and_nested_functions_are_named_by_where_they_live(tmp_path: Path) -> None:
    method = function_source("post", 80, indent="    ")
    source = (
        "class Ledger:\n" + method + "\n\ndef outer():\n" + function_source("inner", 75, "    ")
    )
    path = write(tmp_path, "a.py", source)
    problems = problems_in(path)
    assert f"{path}:2:Ledger.post:80" in problems
    assert f"{path}:84:outer:76" in problems
    assert f"{path}:85:outer.inner:75" in problems
    assert len(problems) == 3


def test_async_functions_are_measured(tmp_path: Path) -> None:
    source = function_source("fetch", 71).replace("def ", "async def ", 1)
    path = write(tmp_path, "a.py", source)
    assert problems_in(path) == [f"{path}:1:fetch:71"]


def test_decorator_lines_do_not_count(tmp_path: Path) -> None:
    decorators = "import functools\n\n\n@functools.cache\n@functools.wraps(print)\n"
    path = write(tmp_path, "a.py", decorators + function_source("cached", 70))
    assert problems_in(path) == []


# Line width.


def test_line_at_the_limit_passes_and_one_column_more_fails(tmp_path: Path) -> None:
    fits = "x = '" + "a" * (tidy.line_columns_max - 6) + "'\n"
    too_wide = "y = '" + "a" * (tidy.line_columns_max - 5) + "'\n"
    assert len(fits) - 1 == tidy.line_columns_max
    path = write(tmp_path, "a.py", fits + too_wide)
    assert problems_in(path) == [f"{path}:2: line is 101 columns, more than 100"]


def test_line_width_counts_characters_not_bytes(tmp_path: Path) -> None:
    # 98 characters but over 100 bytes in UTF-8: the limit is about what a reader sees.
    line = "x = '" + "Σ" * 92 + "'\n"
    path = write(tmp_path, "a.py", line)
    assert problems_in(path) == []


def test_wide_comment_outside_the_core_is_flagged_too(tmp_path: Path) -> None:
    path = write(tmp_path, "tools/a.py", "# " + "w" * 120 + "\n")
    assert problems_in(path) == [f"{path}:1: line is 122 columns, more than 100"]


# Floats in the core.

core_file = "src/ringfence/core/money.py"


@pytest.mark.parametrize(
    ("source", "what"),
    [
        ("amount = float(text)\n", "the name `float`"),
        ("amount = 1.5\n", "the literal 1.5"),
        ("amount = 10e8\n", "the literal 1000000000.0"),
        ("amount = 2j\n", "the literal 2j"),
        ("def rate() -> float:\n    return 0\n", "the name `float`"),
        ("convert = float\n", "the name `float`"),
        ("import builtins\nhalf = builtins.float('0.5')\n", "the attribute `.float`"),
    ],
)
def test_float_in_the_core_is_flagged(tmp_path: Path, source: str, what: str) -> None:
    path = write(tmp_path, core_file, source)
    problems = problems_in(path)
    assert len(problems) == 1
    assert what in problems[0]
    assert problems[0].startswith(f"{path}:")
    assert "money is never a float" in problems[0]


def test_float_outside_the_core_passes(tmp_path: Path) -> None:
    source = "amount = float('1.5') * 2.0\n"
    for relative in ["src/ringfence/service/a.py", "src/ringfence/corex/a.py", "core/a.py"]:
        path = write(tmp_path, relative, source)
        assert problems_in(path) == []


def test_float_deeper_in_the_core_is_flagged(tmp_path: Path) -> None:
    path = write(tmp_path, "src/ringfence/core/risk/scan.py", "shock = 0.25\n")
    assert len(problems_in(path)) == 1


def test_float_ok_comment_with_a_reason_allows_that_line_only(tmp_path: Path) -> None:
    source = """\
        shock = 0.25  # float-ok: price shocks are ratios, not money
        margin = float(shock)
    """
    path = write(tmp_path, core_file, source)
    problems = problems_in(path)
    assert len(problems) == 1
    assert problems[0].startswith(f"{path}:2:")


def test_float_ok_comment_without_a_reason_does_not_count(tmp_path: Path) -> None:
    path = write(tmp_path, core_file, "shock = 0.25  # float-ok:\n")
    assert len(problems_in(path)) == 1


def test_float_ok_inside_a_string_does_not_count(tmp_path: Path) -> None:
    path = write(tmp_path, core_file, "shock = (0.25, '# float-ok: not a comment')\n")
    assert len(problems_in(path)) == 1


def test_type_checks_that_reject_floats_pass(tmp_path: Path) -> None:
    source = """\
        def check(value: object) -> int:
            if isinstance(value, float):
                raise TypeError(value)
            if isinstance(value, (bool, float)) or isinstance(value, bool | float):
                raise TypeError(value)
            if issubclass(type(value), float):
                raise TypeError(value)
            match value:
                case float():
                    raise TypeError(value)
                case int():
                    return value
            return 0
    """
    path = write(tmp_path, core_file, source)
    assert problems_in(path) == []


def test_float_inside_an_isinstance_call_but_not_its_type_argument_is_flagged(
    tmp_path: Path,
) -> None:
    path = write(tmp_path, core_file, "ok = isinstance(float('1'), int)\n")
    assert len(problems_in(path)) == 1


def test_the_word_float_in_strings_and_comments_passes(tmp_path: Path) -> None:
    source = '''\
        """Amounts are never a float."""

        # A float here would round a client's balance.
        reason = "amount_must_not_be_float"
        units = 10**8
    '''
    path = write(tmp_path, core_file, source)
    assert problems_in(path) == []


# Walking folders and the command line.


def test_walk_skips_caches_hidden_folders_and_other_files(tmp_path: Path) -> None:
    wide = "# " + "w" * 120 + "\n"
    write(tmp_path, "pkg/__pycache__/a.py", wide)
    write(tmp_path, "pkg/.venv/lib/a.py", wide)
    write(tmp_path, "pkg/ringfence.egg-info/a.py", wide)
    write(tmp_path, "pkg/notes.txt", wide)
    kept = write(tmp_path, "pkg/sub/b.py", "x = 1\n")
    assert list(tidy.iter_python_files([tmp_path / "pkg"])) == [kept]


def test_syntax_error_is_a_problem(tmp_path: Path) -> None:
    path = write(tmp_path, "a.py", "def broken(:\n")
    problems = problems_in(path)
    assert len(problems) == 1
    assert problems[0].startswith(f"{path}:1: syntax error")


def test_main_exits_zero_when_tidy(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    write(tmp_path, "src/ringfence/core/a.py", "units = 10**8\n")
    assert tidy.main([str(tmp_path / "src")]) == 0
    assert "1 files tidy" in capsys.readouterr().out


def test_main_exits_one_and_lists_every_problem(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    core = write(tmp_path, "src/ringfence/core/a.py", "rate = 0.5\n")
    long = write(tmp_path, "src/ringfence/service/b.py", function_source("run", 90))
    assert tidy.main([str(tmp_path / "src")]) == 1
    captured = capsys.readouterr()
    lines = captured.out.splitlines()
    assert lines[0].startswith(f"{core}:1: the literal 0.5 in the core")
    assert lines[1] == f"{long}:1:run:90"
    assert len(lines) == 2
    assert "2 problems in 2 files" in captured.err


def test_main_exits_two_on_bad_usage(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert tidy.main([]) == 2
    assert tidy.main([str(tmp_path / "missing")]) == 2
    assert "no such file or folder" in capsys.readouterr().err


def test_script_runs_standalone_as_make_test_runs_it(tmp_path: Path) -> None:
    write(tmp_path, "src/ringfence/core/a.py", "rate = float('0.5')\n")
    completed = subprocess.run(
        [sys.executable, str(tidy_path), str(tmp_path / "src")],
        capture_output=True,
        text=True,
        check=False,
    )
    assert completed.returncode == 1
    assert "the name `float` in the core" in completed.stdout
