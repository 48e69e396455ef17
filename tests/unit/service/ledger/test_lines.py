"""service/ledger/lines.py: transfers submitted and accounts imported from JSON-lines files,
one result per line, handed back as each batch becomes durable."""

from __future__ import annotations

import json
from collections.abc import Iterator

import pytest
from tests.support import Custodian

from ringfence.core.errors import InputError, Result
from ringfence.service.ledger import LedgerService
from ringfence.service.ledger.lines import (
    LineResult,
    import_account_lines,
    submit_transfer_lines,
)
from ringfence.service.ports import RawLine


class MemoryLines:
    """A ``LineSource`` over lines held in memory (``None``: a line over the limit)."""

    def __init__(self, lines: list[bytes | None]) -> None:
        self.texts = lines

    def count(self) -> int:
        return len(self.texts)

    def lines(self) -> Iterator[RawLine]:
        for number, text in enumerate(self.texts, 1):
            yield RawLine(number, text)


def deposit(custodian: Custodian, transfer_id: int, amount: str, **more: object) -> bytes:
    line = {
        "id": str(transfer_id),
        "debit_account": str(custodian.wallet()),
        "credit_account": str(custodian.client("alice")),
        "amount": amount,
        "code": "deposit",
        **more,
    }
    return json.dumps(line).encode() + b"\n"


def test_each_line_gets_its_result_once_its_batch_is_durable(
    memory_service: LedgerService, custodian: Custodian
) -> None:
    lines = [deposit(custodian, 100, "1"), b"\n", b"not json\n", deposit(custodian, 101, "2")]
    handed: list[tuple[list[LineResult], int, int]] = []
    submitted = submit_transfer_lines(
        memory_service,
        MemoryLines(lines),
        lambda rows, read, total: handed.append((rows, read, total)),
    )
    assert submitted == 2
    rows = [row for batch, _, _ in handed for row in batch]
    assert [(row.line, row.id, row.result) for row in rows] == [
        (1, 100, Result.ok),
        (3, None, Result.line_malformed),
        (4, 101, Result.ok),
    ]
    assert handed[-1][1:] == (4, 4)
    assert memory_service.balance(custodian.client("alice")).balance == 3 * 10**8


def test_a_refused_line_fails_the_rest_of_its_linked_chain(
    memory_service: LedgerService, custodian: Custodian
) -> None:
    lines = [
        deposit(custodian, 200, "1", flags=["linked"]),
        b'{"id": "201", "flags": ["linked"], "amount": 1.5}\n',
        deposit(custodian, 202, "1"),
        deposit(custodian, 203, "1"),
    ]
    rows: list[LineResult] = []
    submit_transfer_lines(memory_service, MemoryLines(lines), lambda b, _r, _t: rows.extend(b))
    assert [(row.id, row.result) for row in rows] == [
        (200, Result.linked_event_failed),
        (201, rows[1].result),
        (202, Result.linked_event_failed),
        (203, Result.ok),
    ]
    assert not rows[1].result.succeeded


def test_an_over_long_line_is_refused_as_too_long(
    memory_service: LedgerService, custodian: Custodian
) -> None:
    rows: list[LineResult] = []
    source = MemoryLines([None, deposit(custodian, 300, "1")])
    submit_transfer_lines(memory_service, source, lambda b, _r, _t: rows.extend(b))
    assert [row.result for row in rows] == [Result.line_too_long, Result.ok]


def test_accounts_are_imported_line_by_line(
    memory_service: LedgerService, custodian: Custodian
) -> None:
    good = {"id": "9001", "asset": "BTC", "class": "client", "owner": "alice",
            "kind": "available", "pool": "main"}  # fmt: skip
    lines = [
        json.dumps(good).encode(),
        b"\n",
        json.dumps({**good, "id": "9002", "class": "nobody"}).encode(),
        json.dumps(good).encode(),
    ]
    rows, counts = import_account_lines(memory_service, MemoryLines(lines))
    assert [(row.line, row.id, row.result) for row in rows] == [
        (1, 9001, Result.ok),
        (3, None, Result.account_class_invalid),
        (4, 9001, Result.exists),
    ]
    assert counts == {"defined": 1}


def test_a_file_of_too_many_lines_changes_nothing(memory_service: LedgerService) -> None:
    class TooMany(MemoryLines):
        def count(self) -> int:
            raise InputError(Result.batch_too_large, "too many")

    head = memory_service.seq
    with pytest.raises(InputError):
        import_account_lines(memory_service, TooMany([b"{}"]))
    assert memory_service.seq == head


def test_a_line_result_reads_as_json() -> None:
    assert LineResult(3, 7, Result.ok, "").to_json() == {"line": 3, "id": "7", "result": "ok"}
    assert LineResult(4, None, Result.line_malformed, "why").to_json() == {
        "line": 4,
        "id": None,
        "result": "line_malformed",
        "detail": "why",
    }
