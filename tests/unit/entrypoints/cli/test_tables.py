"""Terminal tables never cut a number: at any terminal width every amount is printed whole,
on one line, however many text columns the table has (they fold instead)."""

from __future__ import annotations

import io

import pytest

from ringfence.entrypoints.cli.output import console, new_table

AMOUNTS = ("340282366920938463463.374607431768211455", "0.000000000000000000", "21212.12345678")


def printed(width: int) -> str:
    table = new_table("account", "asset", "class", "owner", "kind", "pool", "balance",
                      "debits_pending", "credits_pending")  # fmt: skip
    table.add_row("1", "ETH", "custody", "omni-hot-wallet-of-the-firm", "hot", "omni",
                  AMOUNTS[0], AMOUNTS[1], AMOUNTS[1])  # fmt: skip
    table.add_row("2", "BTC", "client", "alice", "available", "omni", AMOUNTS[2], AMOUNTS[1],
                  AMOUNTS[1])  # fmt: skip
    out = console()
    out.file = io.StringIO()
    out.width = width
    out.print(table)
    text = out.file.getvalue()
    assert isinstance(text, str)
    return text


@pytest.mark.parametrize("width", [40, 80, 120, 200])
def test_every_amount_is_printed_whole_on_one_line(width: int) -> None:
    text = printed(width)
    for amount in AMOUNTS:
        assert amount in text, f"{amount} cut at {width} columns:\n{text}"
    assert "omni" in text


def test_a_table_that_fits_keeps_its_text_whole() -> None:
    table = new_table("pool", "asset", "balance")
    table.add_row("omni", "BTC", "0.50000000")
    out = console()
    out.file = io.StringIO()
    out.width = 80
    out.print(table)
    assert "│ omni │ BTC   │ 0.50000000 │" in out.file.getvalue()


@pytest.mark.parametrize(
    "text", ["[/bold]", "[link=https://evil.example]refund[/link]", "[red]x", "a\\[b]"]
)
def test_free_text_is_printed_as_written_never_as_markup(text: str) -> None:
    # Memos, reasons and names come from others: no cell or line is Rich markup.
    table = new_table("memo")
    table.add_row(text)
    out = console()
    out.file = io.StringIO()
    out.width = 120
    out.print(table)
    out.print(f"reason: {text}")
    printed_text = out.file.getvalue()
    assert isinstance(printed_text, str)
    assert f"│ {text}" in printed_text
    assert f"reason: {text}" in printed_text
