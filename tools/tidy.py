#!/usr/bin/env python3
"""Checks the house rules that ruff and mypy do not, as TigerBeetle's tidy does.

Usage: python tools/tidy.py PATH...    (folders are walked for .py files)

Rules:
- A function or method is at most `function_lines_max` lines long, counted from its `def` line to
  its last line: a function that does not fit on a screen hides its decisions.
- A line is at most `line_columns_max` columns wide, everywhere.
- In the core (any file under ringfence/core/), the name `float`, a float literal and a complex
  literal are forbidden: money is an exact integer in minor units and must never pass through a
  binary fraction. Type checks that reject floats (`isinstance(value, float)`, `issubclass`,
  `case float():`) are allowed. Numeric code that is not money (the risk engine's scans) may use
  floats on a line that says why, with the comment `# float-ok: <reason>`.

Each problem is printed as one line starting `path:line:`; function lengths print as
`path:line:name:length`. Exit status: 0 when tidy, 1 when any problem is found, 2 on bad usage.
Standard library only, so it runs before anything is installed.
"""

from __future__ import annotations

import ast
import io
import re
import sys
import tokenize
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

function_lines_max = 70
line_columns_max = 100

# The allowance must carry a reason: an empty `# float-ok:` is not enough.
float_allowance_pattern = re.compile(r"#\s*float-ok:\s*\S")
# Folders that hold no source of ours.
skipped_folder_names = frozenset({"__pycache__", "build", "dist", "node_modules"})


@dataclass(frozen=True, order=True)
class Problem:
    """One broken rule at one place; `text` is everything after `path:line:`."""

    path: str
    line: int
    text: str

    def __str__(self) -> str:
        return f"{self.path}:{self.line}:{self.text}"


def is_core_file(path: Path) -> bool:
    """True for files under a `ringfence/core/` folder, where floats are forbidden."""
    parts = path.resolve().parts
    return any(
        parts[index] == "ringfence" and parts[index + 1] == "core"
        for index in range(len(parts) - 2)
    )


def iter_python_files(paths: Iterable[Path]) -> Iterator[Path]:
    """Yields the given .py files, and every .py file under the given folders, in sorted order."""
    for path in paths:
        if path.is_file():
            if path.suffix == ".py":
                yield path
            continue
        for candidate in sorted(path.rglob("*.py")):
            folder_names = candidate.relative_to(path).parts[:-1]
            if any(is_skipped_folder(name) for name in folder_names):
                continue
            yield candidate


def is_skipped_folder(name: str) -> bool:
    return name in skipped_folder_names or name.startswith(".") or name.endswith(".egg-info")


def check_function_lengths(tree: ast.AST, path: str) -> list[Problem]:
    problems: list[Problem] = []

    def visit(node: ast.AST, prefix: str) -> None:
        for child in ast.iter_child_nodes(node):
            if isinstance(child, ast.FunctionDef | ast.AsyncFunctionDef):
                name = prefix + child.name
                assert child.end_lineno is not None
                length = child.end_lineno - child.lineno + 1
                if length > function_lines_max:
                    problems.append(Problem(path, child.lineno, f"{name}:{length}"))
                visit(child, name + ".")
            elif isinstance(child, ast.ClassDef):
                visit(child, prefix + child.name + ".")
            else:
                visit(child, prefix)

    visit(tree, "")
    return problems


def check_line_widths(lines: Sequence[str], path: str) -> list[Problem]:
    problems: list[Problem] = []
    for number, line in enumerate(lines, start=1):
        columns = len(line.rstrip("\r\n"))
        if columns > line_columns_max:
            text = f" line is {columns} columns, more than {line_columns_max}"
            problems.append(Problem(path, number, text))
    return problems


def comments_by_line(source: str) -> dict[int, str]:
    comments: dict[int, str] = {}
    for token in tokenize.generate_tokens(io.StringIO(source).readline):
        if token.type == tokenize.COMMENT:
            comments[token.start[0]] = token.string
    return comments


def float_use(node: ast.AST) -> str | None:
    """Names the float in `node`, or None when `node` is not one."""
    if isinstance(node, ast.Name) and node.id == "float":
        return "the name `float`"
    if isinstance(node, ast.Attribute) and node.attr == "float":
        return "the attribute `.float`"
    if isinstance(node, ast.Constant) and isinstance(node.value, float | complex):
        return f"the literal {node.value!r}"
    return None


def type_check_nodes(tree: ast.AST) -> set[int]:
    """The ids of nodes that only name a type to test against, as in `isinstance(x, float)`.

    Rejecting float input needs the name `float`, and a type test computes nothing with it.
    """
    found: set[int] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Call) and isinstance(node.func, ast.Name):
            if node.func.id in {"isinstance", "issubclass"} and len(node.args) == 2:
                found.update(id(part) for part in ast.walk(node.args[1]))
        elif isinstance(node, ast.MatchClass):
            found.update(id(part) for part in ast.walk(node.cls))
    return found


def check_floats(tree: ast.AST, source: str, path: str) -> list[Problem]:
    comments = comments_by_line(source)
    type_checks = type_check_nodes(tree)
    problems: list[Problem] = []
    for node in ast.walk(tree):
        use = float_use(node)
        if use is None or id(node) in type_checks:
            continue
        line = getattr(node, "lineno", 0)
        if float_allowance_pattern.search(comments.get(line, "")):
            continue
        text = f" {use} in the core: money is never a float (`# float-ok: <reason>` if not money)"
        problems.append(Problem(path, line, text))
    return problems


def check_file(path: Path) -> list[Problem]:
    """Every problem in one file, sorted by line."""
    name = str(path)
    with tokenize.open(path) as stream:  # Honours a PEP 263 coding line.
        source = stream.read()
    problems = check_line_widths(source.splitlines(), name)
    try:
        tree = ast.parse(source, filename=name)
    except SyntaxError as error:
        problems.append(Problem(name, error.lineno or 0, f" syntax error: {error.msg}"))
        return sorted(problems)
    problems.extend(check_function_lengths(tree, name))
    if is_core_file(path):
        problems.extend(check_floats(tree, source, name))
    return sorted(problems)


def check_paths(paths: Iterable[Path]) -> tuple[int, list[Problem]]:
    """Checks every Python file under `paths`; returns how many files, and the problems."""
    files_count = 0
    problems: list[Problem] = []
    for path in iter_python_files(paths):
        files_count += 1
        problems.extend(check_file(path))
    return files_count, problems


def main(arguments: Sequence[str]) -> int:
    if not arguments:
        print(__doc__.strip().splitlines()[2], file=sys.stderr)
        return 2
    paths = [Path(argument) for argument in arguments]
    missing = [str(path) for path in paths if not path.exists()]
    if missing:
        print(f"tidy: no such file or folder: {', '.join(missing)}", file=sys.stderr)
        return 2
    files_count, problems = check_paths(paths)
    for problem in problems:
        print(problem)
    if problems:
        print(f"tidy: {len(problems)} problems in {files_count} files", file=sys.stderr)
        return 1
    print(f"tidy: {files_count} files tidy")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
