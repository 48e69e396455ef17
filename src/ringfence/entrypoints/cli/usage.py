"""Usage errors (an unknown option, a missing argument, a file that is not there), reported as
every other error is: with ``--json``, one JSON document on stdout naming the code.

Typer finds these before any command runs, so they never reach ``output.reported``; the root
group runs the command line through ``reported`` here instead. Kept apart from ``output`` so
that the root command imports nothing heavy.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Callable

import typer

from ringfence.core.errors import Result, exit_status_input


def usage_code(error: typer.TyperException) -> Result:
    """``file_not_found`` for a path argument naming nothing, else ``usage_invalid``."""
    param = getattr(error, "param", None)
    if param is not None and error.message.endswith("does not exist."):
        return Result.file_not_found
    return Result.usage_invalid


def reported(run: Callable[[], object], json_output: bool) -> int:
    """Run the command line (Typer in non-standalone mode) and return its exit status,
    printing a usage error as text on stderr, or as JSON on stdout under ``--json``."""
    try:
        status = run()
    except typer.TyperException as error:  # the usage errors Typer raises
        exit_code = getattr(error, "exit_code", exit_status_input)
        if json_output:
            document = {"ok": False, "error": usage_code(error).value,
                        "detail": error.format_message()}  # fmt: skip
            sys.stdout.write(json.dumps(document, indent=2) + "\n")
        elif hasattr(error, "show"):
            error.show()
        else:
            sys.stderr.write(f"error: {error.format_message()}\n")
        return int(exit_code)
    except typer.Abort:
        sys.stderr.write("Aborted!\n")
        return 1
    return status if isinstance(status, int) else 0
