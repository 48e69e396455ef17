"""How ``--help`` is laid out: Typer's plain help (no boxes, no ``<bool>`` type labels), wrapped
only between words, with each subcommand's whole first sentence and no reStructuredText.

Click wraps help with the standard ``textwrap``, which also breaks after a hyphen inside a word,
so ``PATH.journal-key`` or ``--as-of`` could be cut across two lines and no longer be copied as
written. The formatter below stops that by hiding in-word hyphens from the wrapper (as U+2011,
the non-breaking hyphen, one column wide like ``-``) and restoring them in what it returns.
Click documents ``HelpFormatter`` and ``Context.formatter_class`` as the place to change how
help is written; Typer keeps Click's formatter as ``typer.Context.formatter_class``.

Docstrings are the commands' help and also the code's documentation, where ````name```` marks
code; help shows it as `name`. A list of subcommands shows each one's first sentence whole,
wrapped, where Click would cut it at the line's end with "...".
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from typing import TYPE_CHECKING, Any

import typer

if TYPE_CHECKING:
    from typer._click import HelpFormatter
else:
    HelpFormatter = typer.Context.formatter_class

non_breaking_hyphen = "\u2011"
_in_word_hyphen = re.compile(r"(?<=\S)-(?=\S)")


def _joined(text: str) -> str:
    return _in_word_hyphen.sub(non_breaking_hyphen, text)


class WordWrapFormatter(HelpFormatter):
    """Click's formatter, never breaking a line inside a word."""

    def write_text(self, text: str) -> None:
        super().write_text(_joined(text))

    def write_dl(
        self, rows: Sequence[tuple[str, str]], col_max: int = 30, col_spacing: int = 2
    ) -> None:
        super().write_dl([(first, _joined(second)) for first, second in rows], col_max,
                         col_spacing)  # fmt: skip

    def write_usage(self, prog: str, args: str = "", prefix: str | None = None) -> None:
        super().write_usage(prog, _joined(args), prefix)

    def getvalue(self) -> str:
        return super().getvalue().replace(non_breaking_hyphen, "-")


class HelpContext(typer.Context):
    formatter_class = WordWrapFormatter


def use_help_context(command: Any) -> Any:
    """``command`` and every command under it made to write their help as above."""
    command.context_class = HelpContext
    command.help = _plain(command.help)
    command.short_help = _plain(command.short_help) or command.get_short_help_str(limit=10_000)
    for param in command.params:
        if getattr(param, "help", None):
            param.help = _plain(param.help)
    for sub in _subcommands(command):
        use_help_context(sub)
    return command


def _plain(text: str | None) -> str | None:
    return None if text is None else text.replace("``", "`")


def _subcommands(command: Any) -> Iterable[Any]:
    return list(getattr(command, "commands", {}).values())
