"""The workflows of JSON-lines files: transfers submitted and accounts imported, line by line.

Each line gets exactly one result (``LineResult``): the code it was refused with while being
parsed, or the ledger's result for it once it is durable. A file is counted before it is read
(one with too many lines is refused before anything changes) and read through the
``LineSource`` port, so memory stays bounded whatever its length: transfers are handed to the
ledger as one stream (``LedgerService.submit_events`` cuts it into batches that keep linked
chains whole) and their results handed back batch by batch, as each becomes durable.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable, Iterator
from dataclasses import dataclass

from ringfence.core import limits
from ringfence.core.errors import InputError, Result
from ringfence.core.ledger import wire
from ringfence.core.ledger.model import AccountDefinition, Transfer, check_id
from ringfence.core.money import Asset
from ringfence.service.ledger.service import LedgerService
from ringfence.service.ports import LineSource, RawLine
from ringfence.service.streams import Refused

__all__ = [
    "LineResult",
    "LinesDurable",
    "import_account_lines",
    "rejections_shown_max",
    "submit_transfer_lines",
]

# The rejected lines a table lists (a JSON document lists every line): from core/limits.py.
rejections_shown_max = limits.rejections_shown_max

# Called after each durable batch: its lines' results, the lines read so far, and the total.
LinesDurable = Callable[[list["LineResult"], int, int], None]


@dataclass(slots=True)
class LineResult:
    """One line's result: its number, the id it names (when it can be told) and its code."""

    line: int
    id: int | None
    result: Result
    detail: str

    def to_json(self) -> dict[str, object]:
        document: dict[str, object] = {
            "line": self.line,
            "id": None if self.id is None else str(self.id),
            "result": self.result.value,
        }
        if self.detail:
            document["detail"] = self.detail
        return document


def submit_transfer_lines(
    ledger: LedgerService,
    source: LineSource,
    durable: LinesDurable,
    screen: Callable[[Transfer], None] | None = None,
) -> int:
    """Submit the transfers of a JSON-lines file, in order; hand each batch's line results to
    ``durable`` as soon as the batch is durable. Returns the number of lines that parsed as
    transfers.

    A line that cannot be parsed, or that ``screen`` refuses (an ``InputError``: the general
    path's refusal of what only the withdrawal lifecycle books), is refused with its code; the
    other events of its linked chain are refused as ``linked_event_failed``, and a chain
    longer than a batch is refused whole (``linked_chain_too_long``).
    """
    total = source.count()
    lookups = _asset_lookups(ledger)
    waiting: deque[LineResult] = deque()  # rows in stream order, until their results come
    parsed = [0, 0]  # lines read, lines that parsed as transfers

    def items() -> Iterator[Transfer | Refused]:
        for line in source.lines():
            parsed[0] = line.number
            if line.is_blank:
                continue
            row, item = _parse_transfer_line(line, *lookups, screen)
            parsed[1] += isinstance(item, Transfer)
            waiting.append(row)
            yield item

    for results in ledger.submit_events(items()):
        rows = []
        for result in results:
            row = waiting.popleft()
            if row.result is Result.ok:  # refused lines keep their code and detail
                row.result = result
            rows.append(row)
        durable(rows, parsed[0], total)
    assert not waiting
    return parsed[1]


def import_account_lines(
    ledger: LedgerService, source: LineSource
) -> tuple[list[LineResult], dict[str, int]]:
    """Define the accounts of a JSON-lines file, one account object per line, in requests of
    ``limits.definitions_per_request_max``. Returns every line's result and the count
    defined."""
    source.count()
    rows: list[LineResult] = []
    pending: list[tuple[LineResult, AccountDefinition]] = []
    for line in source.lines():
        if line.is_blank:
            continue
        row = LineResult(line.number, None, Result.ok, "")
        rows.append(row)
        try:
            definition = wire.parse_account(wire.decode_line(line.text_or_raise()))
        except InputError as error:
            row.result, row.detail = error.code, error.detail
            continue
        row.id = definition.id
        pending.append((row, definition))
        if len(pending) == limits.definitions_per_request_max:
            _define_accounts(ledger, pending)
    _define_accounts(ledger, pending)
    defined = sum(1 for row in rows if row.result is Result.ok)
    return rows, {"defined": defined}


def _define_accounts(
    ledger: LedgerService, pending: list[tuple[LineResult, AccountDefinition]]
) -> None:
    if pending:
        results = ledger.define_accounts([definition for _, definition in pending])
        for (row, _), result in zip(pending, results, strict=True):
            row.result = result
        pending.clear()


def _asset_lookups(ledger: LedgerService) -> tuple[wire.AssetOfAccount, wire.AssetByCode]:
    state = ledger.ledger

    def asset_of_account(account_id: int) -> Asset | None:
        account = state.accounts.get(account_id)
        return None if account is None else state.assets_by_number[account.asset]

    return asset_of_account, state.assets.get


def _parse_transfer_line(
    line: RawLine,
    asset_of_account: wire.AssetOfAccount,
    asset_by_code: wire.AssetByCode,
    screen: Callable[[Transfer], None] | None,
) -> tuple[LineResult, Transfer | Refused]:
    """A line's row (its result still ``ok``) and its transfer, or its refusal."""
    row = LineResult(line.number, None, Result.ok, "")
    decoded: object = None
    try:
        decoded = wire.decode_line(line.text_or_raise())
        transfer = wire.parse_transfer(decoded, asset_of_account, asset_by_code)
        if screen is not None:
            screen(transfer)
    except InputError as error:
        row.result, row.detail = error.code, error.detail
        row.id, linked = _salvage(decoded, line)
        return row, Refused(error.code, linked)
    row.id = transfer.id
    return row, transfer


def _salvage(decoded: object, line: RawLine) -> tuple[int | None, bool]:
    """The id and linked flag of a refused line, as far as they can be told.

    Whether a refused line was meant to be linked decides which events fail with it. When in
    doubt it counts as linked: failing one event too many changes nothing, while committing
    part of a chain would.
    """
    linked = line.names_linked or (line.text is not None and b'"linked"' in line.text)
    transfer_id = None
    if isinstance(decoded, dict):
        flags = decoded.get("flags")
        linked = linked or (isinstance(flags, list) and "linked" in flags)
        try:
            transfer_id = check_id(decoded.get("id"))
        except InputError:
            transfer_id = None
    return transfer_id, linked
